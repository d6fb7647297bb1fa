"""The ingest worker: a persistent MQTT v5 session, manual acknowledgement after durable writes.

paho delivers QoS 1 messages into a pending list; every flush validates them against the wire
contract and the park config, writes the good readings to the time-series store and the bad
messages to the dead-letter table, and only then acknowledges every message of the flush. If the
store is down nothing is acknowledged: the broker keeps the messages in the session (bounded by
its in-flight window) and delivers them again, and writes are idempotent (same meter and
timestamp overwrite), so every reading lands exactly once in the stored data.
"""

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from accounting import contract
from accounting.config import Config
from api.db import sessions, upsert
from api.models import DeadLetter, Dirty, Latest
from gateway.publisher import password_of
from ingest.rows import Row, SinkUnavailable

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 86400  # the broker keeps our subscription and unacked messages this long


class Rejected(ValueError):
    """A message that is not accepted; the text says why."""


class Ingest:
    def __init__(self, config: Config, sink, engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 client_id: str | None = None) -> None:
        self.config = config
        self.sink = sink
        self.sessions = sessions(engine)
        self.clock = clock
        self.client_id = client_id or config.ingest.client_id
        self.meters = {(p.id, m.id): m for p in config.parks for m in p.meters}
        self.gateways = {g.id: g for g in config.gateways}
        self.zones = {p.id: p.zone for p in config.parks}
        self.pending: list[mqtt.MQTTMessage] = []
        self.stats: Counter[str] = Counter()
        self.lag_s = 0.0
        self.stop = threading.Event()
        self.connected = threading.Event()

    # -- validation ----------------------------------------------------------------------
    def parse(self, topic: str, payload: bytes) -> list[Row]:
        """Rows of a readings message, or Rejected naming what is wrong."""
        if len(payload) > self.config.ingest.max_payload_bytes:
            raise Rejected(f"payload of {len(payload)} bytes exceeds ingest.max_payload_bytes "
                           f"({self.config.ingest.max_payload_bytes})")
        try:
            message = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Rejected(f"payload is not JSON: {exc}") from None
        try:
            contract.validate_readings(message)
        except contract.ContractError as exc:
            raise Rejected(f"contract v{contract.VERSION}: {exc}") from None
        park, gateway = message["park"], message["gateway"]
        parts = topic.split("/")
        if len(parts) != 5 or parts[2] != park or parts[3] != gateway:
            raise Rejected(f"topic {topic!r} does not match park {park!r} / gateway {gateway!r} of the payload")
        gw = self.gateways.get(gateway)
        if gw is None or gw.park != park:
            raise Rejected(f"gateway {gateway!r} is not configured for park {park!r}")
        rows = []
        for i, r in enumerate(message["readings"]):
            meter = self.meters.get((park, r["meter"]))
            if meter is None or meter.gateway != gateway:
                raise Rejected(f"readings[{i}].meter = {r['meter']!r}: not a meter of gateway {gateway!r} "
                               f"in park {park!r}")
            ts = contract.parse_utc(r["ts"])
            rows.append(Row(park, r["meter"], int(ts.timestamp() * 1000), gateway, r["seq"], r["values"]))
        return rows

    # -- flushing ------------------------------------------------------------------------
    def flush(self, client: mqtt.Client | None = None) -> bool:
        """Write and acknowledge everything pending; False (nothing acknowledged) if the store is down."""
        if not self.pending:
            return True
        batch = self.pending
        rows: list[Row] = []
        dead: list[dict] = []
        now = self.clock()
        for msg in batch:
            try:
                rows.extend(self.parse(msg.topic, msg.payload))
            except Rejected as exc:
                parts = msg.topic.split("/")
                dead.append({"received_at": now, "topic": msg.topic[:512], "reason": str(exc)[:2000],
                             "park": parts[2][:64] if len(parts) > 2 else None,
                             "gateway": parts[3][:64] if len(parts) > 3 else None,
                             "payload": msg.payload[:65536].decode("utf-8", "replace")})
        try:
            if rows:
                self.sink.write(rows)
            self._record(rows, dead)
        except SinkUnavailable as exc:
            self.stats["sink_errors"] += 1
            if self.stats["sink_errors"] == 1 or self.stats["sink_errors"] % 100 == 0:
                log.warning("store unavailable, holding %d message(s) unacknowledged: %s", len(batch), exc)
            return False
        if self.stats["sink_errors"]:
            log.info("store is back; writing resumed")
            self.stats["sink_errors"] = 0
        if client is not None:
            for msg in batch:
                client.ack(msg.mid, msg.qos)
        self.pending = []
        self.stats["received"] += len(batch)
        self.stats["written"] += len(rows)
        self.stats["rejected"] += len(dead)
        if rows:
            self.lag_s = (now.timestamp() * 1000 - max(r.ts_ms for r in rows)) / 1000
        for d in dead:
            log.warning("rejected message on %s: %s", d["topic"], d["reason"])
        return True

    def _record(self, rows: list[Row], dead: list[dict]) -> None:
        """Dead letters, newest reading per meter, and which local days need accounting."""
        latest: dict[tuple[str, str], Row] = {}
        dirty = set()
        for r in rows:
            key = (r.park, r.meter)
            if key not in latest or r.ts_ms > latest[key].ts_ms:
                latest[key] = r
            ts = datetime.fromtimestamp(r.ts_ms / 1000, UTC)
            day = ts.astimezone(self.zones[r.park]).date()
            dirty.add((r.park, r.meter, day))
            dirty.add((r.park, r.meter, day - timedelta(days=1)))  # energy across midnight
        try:
            with self.sessions.begin() as s:
                if dead:
                    s.add_all(DeadLetter(**d) for d in dead)
                token = uuid.uuid4().hex
                upsert(s, Dirty, [{"park": p, "meter": m, "day": d, "token": token} for p, m, d in dirty], ["token"])
                for (park, meter), r in latest.items():
                    current = s.get(Latest, (park, meter))
                    ts = datetime.fromtimestamp(r.ts_ms / 1000, UTC)
                    if current is None:
                        s.add(Latest(park=park, meter=meter, ts=ts, gateway=r.gateway, values=r.values))
                    elif _aware(current.ts) <= ts:
                        current.ts, current.gateway, current.values = ts, r.gateway, r.values
        except Exception as exc:  # the platform database is part of "durably written"
            raise SinkUnavailable(f"platform database: {exc}") from exc

    # -- MQTT ----------------------------------------------------------------------------
    def _client(self) -> mqtt.Client:
        v5 = self.config.mqtt.protocol == "5"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, manual_ack=True,
                             clean_session=None if v5 else False)
        creds = self.config.ingest.mqtt
        if creds.username:
            client.username_pw_set(creds.username, password_of(creds))
        tls = self.config.mqtt.tls
        if tls is not None:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        topic = contract.readings_subscription(self.config.mqtt.topic_prefix)
        if self.config.ingest.shared_group:
            topic = f"$share/{self.config.ingest.shared_group}/{topic}"

        def on_connect(c, _u, _flags, reason, _props):
            if reason.is_failure:
                log.warning("broker refused ingest connection: %s", reason)
                return
            c.subscribe(topic, qos=1)
            self.connected.set()
            log.info("ingest %s subscribed to %s", self.client_id, topic)

        def on_disconnect(_c, _u, _flags, reason, _props):
            self.connected.clear()
            # unacknowledged messages of the lost connection are redelivered on the resumed
            # session; their old packet ids must not be acknowledged on the new connection
            self.pending.clear()
            if not self.stop.is_set():
                log.warning("ingest lost the broker (%s); paho reconnects", reason)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = lambda _c, _u, msg: self.pending.append(msg)
        client.reconnect_delay_set(1, 30)
        return client

    def run(self, flush_every_s: float = 0.2, batch: int = 2000) -> None:
        """Consume until `stop` is set. One thread: paho's loop and our flushes interleave."""
        client = self._client()
        if self.config.mqtt.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = 1000  # bounds the unacknowledged messages we hold in memory
            client.connect_async(self.config.mqtt.host, self.config.mqtt.port,
                                 keepalive=self.config.mqtt.keepalive_s, clean_start=False, properties=props)
        else:
            client.connect_async(self.config.mqtt.host, self.config.mqtt.port, keepalive=self.config.mqtt.keepalive_s)
        last_flush = time.monotonic()
        retry_at = reconnect_at = 0.0
        delay = 1.0
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if not client.is_connected() and now >= reconnect_at:
                    try:
                        client.reconnect()
                        reconnect_at = now + 5.0  # time for CONNACK before trying again
                        delay = 1.0
                    except OSError as exc:
                        log.warning("broker %s:%d unreachable: %s", self.config.mqtt.host, self.config.mqtt.port, exc)
                        reconnect_at, delay = now + delay, min(delay * 2, 30.0)
                        self.stop.wait(0.05)
                        continue
                client.loop(timeout=0.05)
                now = time.monotonic()
                due = len(self.pending) >= batch or (self.pending and now - last_flush >= flush_every_s)
                if due and now >= retry_at:
                    if self.flush(client):
                        retry_at = 0.0
                    else:
                        retry_at = now + 1.0  # keep the MQTT session alive while the store recovers
                    last_flush = now
        finally:
            if client.is_connected():
                self.flush(client)
            client.disconnect()
            client.loop(timeout=0.5)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)
