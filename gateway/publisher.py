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

import aiomqtt

from lingtan.gateway.spool import Spool
from lingtan.kernel import contract
from lingtan.kernel.config import Gateway, Mqtt

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 30.0


class Publisher:
    def __init__(self, gateway: Gateway, mqtt: Mqtt, spool: Spool, clock,
                 reconnect_max_s: float = RECONNECT_MAX_S) -> None:
        self.gateway = gateway
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
        self._status_sent: tuple[int, int] | None = None  # (spooled, dropped) last published

    def _status(self, state: str) -> bytes:
        return json.dumps({"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                           "state": state, "ts": contract.utc_text(self.clock()),
                           "spooled": len(self.spool), "dropped": self.spool.dropped}).encode()

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
                    await self._drain(client)
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

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        spooled, dropped = len(self.spool), self.spool.dropped
        await client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        self._status_sent = (spooled, dropped)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            if self._health_dirty.is_set():
                self._health_dirty.clear()
                payload = {"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                           "ts": contract.utc_text(self.clock()), "meters": list(self.health.values())}
                await client.publish(self.health_topic, json.dumps(payload).encode(), qos=1, retain=True)
            batch = self.spool.peek(self.gateway.publish_batch)
            if not batch:
                if self._status_sent != (0, self.spool.dropped):
                    await self._publish_status(client)  # backlog sent, or readings were dropped
                    continue
                self.wakeup.clear()
                waiters = [asyncio.create_task(self.wakeup.wait()), asyncio.create_task(self._health_dirty.wait())]
                done, pending = await asyncio.wait(waiters, timeout=5, return_when=asyncio.FIRST_COMPLETED)
                for t in pending:
                    t.cancel()
                continue
            message = {"v": contract.VERSION, "park": self.gateway.park, "gateway": self.gateway.id,
                       "sent_at": contract.utc_text(self.clock()), "readings": batch}
            await client.publish(self.readings_topic, json.dumps(message, separators=(",", ":")).encode(),
                                 qos=1, timeout=30)
            self.spool.ack(batch[-1]["seq"])
