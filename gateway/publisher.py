"""Publishing: drain the spool to the broker in order, QoS 1, one batch in flight at a time.

A batch is deleted from the spool only after the broker's PUBACK, so a broker outage, a network
cut or a gateway crash at any point leaves the batch in the spool to be sent again; duplicates
from such a replay carry the same (gateway, seq) and are recognisable downstream. The gateway's
status topic is retained: `online` on connect (again when a backlog has been sent or the spool
dropped readings, so `spooled` and `dropped` stay current), `offline` as the last will.
"""

import asyncio
import json
import logging
import sqlite3

import aiomqtt

from lingtan.gateway.spool import Spool
from lingtan.kernel import contract
from lingtan.kernel.config import Gateway, Mqtt

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 30.0


class Publisher:
    def __init__(self, gateway: Gateway, mqtt: Mqtt, spool: Spool, clock,
                 reconnect_max_s: float = RECONNECT_MAX_S, max_payload_bytes: int = 1_048_576) -> None:
        self.gateway = gateway
        self.max_bytes = max_payload_bytes  # ingest refuses larger messages; each one is measured exactly
        self._oversized: int | None = None
        self.mqtt = mqtt
        self.spool = spool
        self.clock = clock
        self.reconnect_max_s = reconnect_max_s
        self._password = gateway.mqtt.password()  # a missing variable stops the start-up
        prefix = mqtt.topic_prefix
        self.readings_topic = contract.readings_topic(prefix, gateway.park, gateway.id)
        self.status_topic = contract.status_topic(prefix, gateway.park, gateway.id)
        self.health_topic = contract.health_topic(prefix, gateway.park, gateway.id)
        self.wakeup = asyncio.Event()
        self.health: dict[str, dict] = {}
        self._health_dirty = asyncio.Event()
        self.connected = False
        self._broker_state: str | None = None  # "up" | "down", for one log line per change
        self._status_sent: tuple | None = None  # (spooled, dropped, spool error) last published

    def _status(self, state: str) -> bytes:
        status = {"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                  "state": state, "ts": contract.utc_text(self.clock()),
                  "spooled": len(self.spool), "dropped": self.spool.dropped}
        if self.spool.error:
            status["spool_error"] = self.spool.error
        return json.dumps(status).encode()

    def _status_key(self) -> tuple:
        return len(self.spool), self.spool.dropped, self.spool.error

    def _client(self) -> aiomqtt.Client:
        tls = None
        if self.mqtt.tls is not None:
            tls = aiomqtt.TLSParameters(ca_certs=self.mqtt.tls.ca_file, certfile=self.mqtt.tls.cert_file,
                                        keyfile=self.mqtt.tls.key_file)
        return aiomqtt.Client(
            self.mqtt.host, self.mqtt.port,
            username=self.gateway.mqtt.username, password=self._password,
            identifier=f"lingtan-gw-{self.gateway.id}",
            protocol=aiomqtt.ProtocolVersion.V5 if self.mqtt.protocol == "5" else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.status_topic, self._status("offline"), qos=1, retain=True),
            keepalive=self.mqtt.keepalive_s, tls_params=tls, timeout=10,
        )

    def report_health(self, meter_health: dict) -> None:
        self.health[meter_health["meter"]] = meter_health
        self._health_dirty.set()

    async def run(self) -> None:
        """Connect, drain, and on any broker trouble wait and reconnect; forever."""
        delay = 1.0
        where = f"{self.mqtt.host}:{self.mqtt.port}{' (TLS)' if self.mqtt.tls else ''}"
        while True:
            try:
                async with self._client() as client:
                    self.connected = True
                    self._broker_state = "up"
                    log.info("connected to broker %s as %s; %d reading(s) spooled", where,
                             self.gateway.mqtt.username or "anonymous", len(self.spool))
                    delay = 1.0
                    await self._publish_status(client)
                    await self._drain_while_connected(client)
            except aiomqtt.MqttError as exc:
                if self._broker_state != "down":
                    what = "connection to broker lost" if self.connected else "broker unreachable"
                    log.warning("%s %s (%s); spooling readings until it is back", what, where, exc)
                    self._broker_state = "down"
                else:
                    log.debug("broker %s still unreachable: %s", where, exc)
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)

    def _message(self, batch: list[dict]) -> bytes:
        message = {"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                   "sent_at": contract.utc_text(self.clock()), "readings": batch}
        return json.dumps(message, separators=(",", ":")).encode()

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        key = self._status_key()
        await client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        self._status_sent = key

    async def _drain_while_connected(self, client: aiomqtt.Client) -> None:
        """Drain until the connection is lost. aiomqtt does not end a publish's wait for its PUBACK
        when the connection drops (keepalive timeout, reset): it waits out the publish timeout, 30 s.
        Its message iterator ends at once with MqttError instead, so racing the two reconnects as
        soon as the client knows. A batch whose PUBACK never came stays spooled and is sent again
        (ingest keeps one reading per gateway and seq)."""
        drain = asyncio.create_task(self._drain(client))
        watch = asyncio.create_task(self._until_disconnected(client))
        try:
            done, _ = await asyncio.wait({drain, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drain, watch):
                task.cancel()
            await asyncio.gather(drain, watch, return_exceptions=True)
        for task in done:
            task.result()  # the MqttError that ended the connection

    @staticmethod
    async def _until_disconnected(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # the gateway subscribes to nothing: this ends only by MqttError
            pass

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            if self._health_dirty.is_set():
                self._health_dirty.clear()
                payload = {"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                           "ts": contract.utc_text(self.clock()), "meters": list(self.health.values())}
                await client.publish(self.health_topic, json.dumps(payload).encode(), qos=1, retain=True)
            batch = self.spool.peek(self.gateway.publish_batch)
            if not batch:
                if self._status_sent != (0, self.spool.dropped, self.spool.error):
                    await self._publish_status(client)  # backlog sent, readings dropped, disk trouble
                    continue
                self.wakeup.clear()
                waiters = [asyncio.create_task(self.wakeup.wait()), asyncio.create_task(self._health_dirty.wait())]
                done, pending = await asyncio.wait(waiters, timeout=5, return_when=asyncio.FIRST_COMPLETED)
                for t in pending:
                    t.cancel()
                continue
            body = self._message(batch)
            while len(body) > self.max_bytes and len(batch) > 1:  # cap in bytes: halve until it fits
                batch = batch[: len(batch) // 2]
                body = self._message(batch)
            if len(body) > self.max_bytes:  # one reading alone is too large (check-config refuses such
                if self._oversized != batch[0]["seq"]:  # a config); it stays in the spool, never dropped unsent
                    log.error("reading seq %d makes a %d-byte message, above ingest.max_payload_bytes (%d); "
                              "it waits in the spool: raise ingest.max_payload_bytes", batch[0]["seq"], len(body),
                              self.max_bytes)
                    self._oversized = batch[0]["seq"]
                await asyncio.sleep(30)
                continue
            await client.publish(self.readings_topic, body, qos=1, timeout=30)
            try:
                self.spool.ack(batch[-1]["seq"])
            except sqlite3.OperationalError as exc:  # a full disk: sent again later, harmless downstream
                log.warning("spool: cannot delete %d published reading(s) (%s); they will be sent again",
                            len(batch), exc)
                await asyncio.sleep(1)
