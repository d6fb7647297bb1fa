"""The ingest worker: a persistent MQTT session, manual acknowledgement after durable writes.

paho delivers QoS 1 messages into a pending list; every flush validates them against the wire
contract and the park config, writes the good readings to the time-series store, commits dead
letters, newest readings and dirty days to the platform database, and only then acknowledges every
message of the flush. If the store is down nothing is acknowledged: the broker keeps the messages
in the session and stops sending once our Receive Maximum of unacknowledged messages is reached,
so memory stays bounded; it delivers them again on a new connection, and writes are idempotent
(same meter and timestamp overwrite), so every reading lands exactly once in the stored data.

One thread runs paho's loop, validates and acknowledges, so paho is never touched from two
threads. Behind it a pipeline of two more: a writer thread writes a batch to the time-series
store, then a committer thread commits its ledger while the writer already writes the next one;
the loop thread validates the batch after that meanwhile. Under a backlog, batches are cut at
FLUSH_BYTES (or BATCH_MESSAGES), so the store is kept busy. Batches settle in the order their
messages arrived: a failed one, and every one after it, is put back unacknowledged.

A bad message costs one dead letter and is acknowledged with its batch (ingest.ledger keeps a
dead letter the database refuses from blocking the batch). A bad message the broker delivers
as retained (the RETAIN flag: sent because we subscribed, so a copy of one seen live before,
or one published before any worker subscribed) is counted and logged, not dead-lettered again
on every restart. Fresh messages (not redelivered, not retained) with a `sent_at` measure
their gateway's clock: `sent_at` minus the time the message arrived, the largest of a flush
per gateway (queueing only ever makes a clock look behind), kept in `gateway_clock`.
"""

import hashlib
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from operator import attrgetter

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lingtan.ingest.ledger import Ledger, dead_letter
from lingtan.ingest.validation import Rejected, Validator
from lingtan.kernel import contract
from lingtan.kernel.config import Config
from lingtan.store.timeseries.base import Row, SinkRejected, SinkUnavailable

__all__ = ["Ingest", "Rejected"]

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 86400  # the broker keeps our subscription and unacked messages this long
RECEIVE_MAXIMUM = 1000  # unacknowledged messages the broker may have outstanding to one worker (v5)
FLUSH_BYTES = 4 << 20  # flush once this much payload is pending (and at most this much per flush)...
FLUSH_EVERY_S = 0.2  # ...or this long after the previous flush
# At most this many messages per flush: several batches fit in the receive window, so receiving,
# validating and writing overlap under a backlog of small messages too.
BATCH_MESSAGES = RECEIVE_MAXIMUM // 4
_ts_ms = attrgetter("ts_ms")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class Ingest:
    """One worker: one MQTT connection (member of the shared-subscription group), one sink."""

    def __init__(self, config: Config, sink, engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 client_id: str | None = None, partition: tuple[int, int] | None = None) -> None:
        self.config = config
        self.partition = partition
        self.sink = sink
        self.clock = clock
        self.worker = partition[0] if partition else 0
        # Logged in, a worker's client id is its broker user: the broker binds the two (docs/ingest.md)
        self.client_id = (config.ingest.worker_user(self.worker) if config.ingest.logs_in
                          else client_id or config.ingest.client_id)
        self.validator = Validator(config)
        self.ledger = Ledger(config, engine)
        # (connection generation, message): packet ids are only meaningful on their own connection
        self.pending: list[tuple[int, mqtt.MQTTMessage]] = []
        self.pending_bytes = 0
        self.inflight_messages = 0  # taken from `pending` for the writes and commits in progress
        self.inflight_bytes = 0
        self.ready: _Batch | None = None  # taken from `pending` and validated, waiting for the writer
        self.generation = 0
        self.stats: Counter[str] = Counter()  # read by ingest.metrics at scrape time
        self.rejected_by_kind: Counter[str] = Counter()
        self.lag_s = 0.0  # flush time minus measurement time of the newest reading written
        self.store_down_since: float | None = None  # monotonic
        self.stop = threading.Event()
        self.connected = threading.Event()
        self._recent_dead: OrderedDict[bytes, None] = OrderedDict()  # digests, to skip redelivered ones

    @property
    def held(self) -> int:
        """Messages received and not yet acknowledged: pending, the batches being written or
        committed, and the batch ready for the writer."""
        ready = self.ready
        return len(self.pending) + self.inflight_messages + (len(ready.messages) if ready else 0)

    @property
    def held_bytes(self) -> int:
        ready = self.ready
        return self.pending_bytes + self.inflight_bytes + (ready.bytes if ready else 0)

    def parse(self, topic: str, payload: bytes) -> list[Row]:
        """Rows of a readings message, or Rejected naming what is wrong."""
        return self.validator.parse(topic, payload)

    # -- flushing ------------------------------------------------------------------------
    # A flush has three steps: _take (loop thread: take the oldest pending messages and validate
    # them), _settle (write rows, then dead letters / latest / dirty days; in run() split into
    # _write on the writer thread and _commit on the committer thread, so the next batch is
    # written, received and validated meanwhile) and _settled (loop thread: acknowledge, or put
    # the messages back when the store is down). Batches are taken and acknowledged in the order
    # the messages arrived, as MQTT wants PUBACKs.
    def flush(self, client: mqtt.Client | None = None) -> bool:
        """Write and acknowledge everything pending; False (nothing acknowledged) if the store is down."""
        if not self.pending:
            return True
        batch = self._take()
        try:
            rows = self._settle(batch)
        except SinkUnavailable as exc:
            return self._settled(batch, None, exc, client)
        return self._settled(batch, rows, None, client)

    def _bounded(self, messages: list[tuple[int, mqtt.MQTTMessage]]) -> list[tuple[int, mqtt.MQTTMessage]]:
        """At most RECEIVE_MAXIMUM messages of lost connections kept (the newest): memory stays
        bounded through repeated reconnects while the store is down."""
        old = [(g, m) for g, m in messages if g != self.generation]
        if len(old) <= RECEIVE_MAXIMUM:
            return messages
        drop = {id(m) for _, m in old[: len(old) - RECEIVE_MAXIMUM]}
        return [(g, m) for g, m in messages if id(m) not in drop]

    def _take(self, limit_bytes: int | None = None) -> "_Batch":
        """The oldest pending messages (all, or up to `limit_bytes` of payload and BATCH_MESSAGES),
        validated: rows and line protocol of the good ones, dead letters of the others."""
        pending = self.pending
        cut, size = len(pending), self.pending_bytes
        if limit_bytes is not None and (size > limit_bytes or cut > BATCH_MESSAGES):
            cut = size = 0  # pending holds more than a batch: the loop ends inside it
            while size < limit_bytes and cut < BATCH_MESSAGES:
                size += len(pending[cut][1].payload)
                cut += 1
        self.pending, self.pending_bytes = pending[cut:], self.pending_bytes - size
        batch = _Batch(pending[:cut], size, self.clock())
        parse = self.validator.parse_message
        rows, lines, clocks = batch.rows, batch.lines, batch.clocks
        # the receive time of the time policy and the clock offsets: when the batch was taken, at
        # most FLUSH_EVERY_S after its messages arrived unless a backlog is queued
        received_ms = (batch.now - _EPOCH) // _MS
        for _gen, msg in batch.messages:
            try:
                rs, ls, sent_ms = parse(msg.topic, msg.payload, received_ms)
            except Rejected as exc:
                if exc.sent_ms is not None:
                    self._clock(clocks, msg, exc.sent_ms - received_ms)
                if msg.retain:
                    self.stats["retained_rejected"] += 1
                    log.warning("ignored a retained bad message on %s (dead-lettered when it was live): %s",
                                msg.topic, exc)
                    continue
                self._dead_letter(batch.dead, msg, str(exc), exc.kind, batch.now)
                continue
            if sent_ms is not None:
                self._clock(clocks, msg, sent_ms - received_ms)
            batch.parsed.append((msg, len(rows), len(rows) + len(rs)))
            rows.extend(rs)
            lines.extend(ls)
        return batch

    @staticmethod
    def _clock(clocks: dict, msg: mqtt.MQTTMessage, offset_ms: int) -> None:
        """Note a fresh message's clock offset under its topic's park and gateway (which validation
        has checked against the payload and the config by the time it knows `sent_at`)."""
        if msg.dup or msg.retain:
            return  # a redelivered or retained copy waited: its offset says nothing of the clock
        parts = msg.topic.split("/")
        key = (parts[2], parts[3])
        clocks[key] = max(clocks.get(key, -2**62), offset_ms)

    def _untake(self, batch: "_Batch") -> None:
        """Put a batch that was taken but not written back in front of `pending`."""
        self.pending = batch.messages + self.pending
        self.pending_bytes += batch.bytes

    def _settle(self, batch: "_Batch") -> list[Row]:
        """Durably write one batch (SinkUnavailable if a store fails); touches only sink and ledger."""
        rows = self._write(batch)
        self._commit_ledger(batch, rows)
        return rows

    def _commit_ledger(self, batch: "_Batch", rows: list[Row]) -> None:
        clocks = {key: (offset_ms / 1000, batch.now) for key, offset_ms in batch.clocks.items()}
        batch.lost = self.ledger.commit(rows, [d for d, _ in batch.dead], uuid.uuid4().hex, clocks)

    def _settled(self, batch: "_Batch", rows: list[Row] | None, exc: Exception | None,
                 client: mqtt.Client | None) -> bool:
        if exc is not None:
            self.pending = self._bounded(batch.messages + self.pending)
            self.pending_bytes = sum(len(m.payload) for _, m in self.pending)
            self.stats["sink_errors"] += 1
            if self.store_down_since is None:
                self.store_down_since = time.monotonic()
                log.warning("store unavailable, holding %d message(s) unacknowledged: %s", len(self.pending), exc)
            return False
        if self.store_down_since is not None:
            log.info("store is back after %.1f s; writing resumed", time.monotonic() - self.store_down_since)
            self.store_down_since = None
        if client is not None:
            for gen, msg in batch.messages:
                if gen != self.generation:
                    continue  # its connection is gone: a packet id means nothing on the new one
                client.ack(msg.mid, msg.qos)
                self.stats["acked"] += 1
        for letter, (kind, digest) in batch.dead:
            self.rejected_by_kind[kind] += 1
            self._recent_dead[digest] = None
            log.warning("rejected message on %s: %s", letter["topic"], letter["reason"][:500])
        while len(self._recent_dead) > 10_000:
            self._recent_dead.popitem(last=False)
        if rows:
            self.lag_s = (batch.now.timestamp() * 1000 - max(map(_ts_ms, rows))) / 1000
        self.stats["received_bytes"] += batch.bytes
        self.stats["written"] += len(rows)
        self.stats["rejected"] += len(batch.dead)
        self.stats["dead_letters_lost"] += batch.lost
        self.stats["flushes"] += 1
        self.stats["received"] += len(batch.messages)  # last: tests and probes wait on it
        return True

    def _write(self, batch: "_Batch") -> list[Row]:
        """Write all rows at once; if the store refuses the batch, message by message, so one
        message it cannot take is dead-lettered instead of blocking every other one."""
        rows, lines = batch.rows, batch.lines
        if not rows:
            return rows
        try:
            self.sink.write(rows, lines)
            return rows
        except SinkRejected as exc:
            log.warning("store refused a batch of %d readings (%s); writing message by message", len(rows), exc)
        written = []
        for msg, start, end in batch.parsed:
            try:
                self.sink.write(rows[start:end], lines[start:end])
                written.extend(rows[start:end])
            except SinkRejected as exc:
                self._dead_letter(batch.dead, msg, f"the time-series store refused it: {exc}", "store", batch.now)
        return written

    def _dead_letter(self, dead: list, msg: mqtt.MQTTMessage, reason: str, kind: str, now: datetime) -> None:
        digest = hashlib.blake2b(msg.topic.encode("utf-8", "surrogatepass") + b"\0" + msg.payload,
                                 digest_size=16).digest()
        if msg.dup and digest in self._recent_dead:
            return  # recorded already; its acknowledgement was lost with the connection
        dead.append((dead_letter(now, msg.topic, reason, msg.payload), (kind, digest)))

    # -- MQTT ----------------------------------------------------------------------------
    def topics(self) -> list[str]:
        """What this worker subscribes to.

        With `ingest.shared_group` the broker balances one shared subscription across workers.
        Without it, several workers partition the gateways statically: worker i of n takes the
        gateways at positions ≡ i (mod n) of the sorted gateway ids, on plain subscriptions.
        Mosquitto 2.0 restores plain subscriptions of persistent sessions after a restart but
        not shared ones, so static partitioning loses nothing across a broker crash.
        """
        prefix = self.config.mqtt.topic_prefix
        if self.config.ingest.shared_group:
            return [f"$share/{self.config.ingest.shared_group}/{contract.readings_subscription(prefix)}"]
        if self.partition is None or self.partition[1] == 1:
            return [contract.readings_subscription(prefix)]
        i, n = self.partition
        gateways = sorted(self.config.gateways, key=lambda g: g.id)
        return [contract.readings_topic(prefix, g.park, g.id) for k, g in enumerate(gateways) if k % n == i]

    def _client(self) -> mqtt.Client:
        v5 = self.config.mqtt.protocol == "5"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, manual_ack=True,
                             clean_session=None if v5 else False)
        if self.config.ingest.logs_in:
            client.username_pw_set(self.client_id, self.config.ingest.worker_password(self.worker))
        tls = self.config.mqtt.tls
        if tls is not None:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        topics = self.topics()
        topic = ", ".join(topics)

        def on_connect(c, _u, flags, reason, _props):
            if reason.is_failure:
                log.warning("broker refused ingest connection: %s", reason)
                return
            self.generation += 1
            self.stats["connects"] += 1
            c.subscribe([(t, 1) for t in topics])
            self.connected.set()
            log.info("ingest %s subscribed to %s (session present: %s)", self.client_id, topic,
                     flags.session_present)

        def on_disconnect(_c, _u, _flags, reason, _props):
            self.connected.clear()
            # Messages of the lost connection stay pending and are written (writes are idempotent)
            # but never acknowledged: their packet ids mean nothing on the next connection. The
            # broker redelivers them if it still has them; if it crashed before saving them, this
            # write is the only copy left.
            self.generation += 1
            self.pending = self._bounded(self.pending)
            self.pending_bytes = sum(len(m.payload) for _, m in self.pending)
            if not self.stop.is_set():
                log.warning("ingest %s lost the broker (%s); reconnecting", self.client_id, reason)

        def on_message(_c, _u, msg):
            self.pending.append((self.generation, msg))
            self.pending_bytes += len(msg.payload)
            if msg.dup:
                self.stats["redelivered"] += 1

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def run(self, flush_every_s: float = FLUSH_EVERY_S, flush_bytes: int = FLUSH_BYTES) -> None:
        """Consume until `stop` is set. One thread: paho's loop and our flushes interleave."""
        client = self._client()
        if self.config.mqtt.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = RECEIVE_MAXIMUM  # bounds the unacknowledged messages we hold
            client.connect_async(self.config.mqtt.host, self.config.mqtt.port,
                                 keepalive=self.config.mqtt.keepalive_s, clean_start=False, properties=props)
        else:
            client.connect_async(self.config.mqtt.host, self.config.mqtt.port, keepalive=self.config.mqtt.keepalive_s)
        last_flush = time.monotonic()
        retry_at = reconnect_at = 0.0
        delay = 1.0
        writer = ThreadPoolExecutor(1, thread_name_prefix=f"{self.client_id}-writer")
        committer = ThreadPoolExecutor(1, thread_name_prefix=f"{self.client_id}-ledger")
        # Batches in flight, oldest first: at most one being written and one being committed to
        # the ledger (the store takes the next batch meanwhile); each settles in this order.
        inflight: deque[tuple[_Batch, Future]] = deque()
        failed: SinkUnavailable | None = None  # the oldest batch failed: wait for the rest, put all back
        self.ready = None
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if not client.is_connected() and now >= reconnect_at:
                    try:
                        client.reconnect()
                        reconnect_at = now + 5.0  # time for CONNACK before trying again
                        delay = 1.0
                    except OSError as exc:
                        if delay == 1.0:
                            log.warning("broker %s:%d unreachable: %s", self.config.mqtt.host,
                                        self.config.mqtt.port, exc)
                        reconnect_at, delay = now + delay, min(delay * 2, 10.0)
                        self.stop.wait(0.05)
                        continue
                client.loop(timeout=0.005 if inflight or self.pending else 0.05)
                now = time.monotonic()
                failed = self._settle_done(inflight, failed, client)
                if failed is not None and all(f.done() for _, f in inflight):
                    self._put_back(inflight, failed, client)
                    failed, retry_at = None, now + 1.0  # the session stays alive meanwhile
                due = (self.pending_bytes >= flush_bytes or len(self.pending) >= BATCH_MESSAGES
                       or (self.pending and now - last_flush >= flush_every_s))
                if failed is None and len(inflight) < 2 and (self.ready is not None or due) and now >= retry_at:
                    batch = self.ready or self._take(flush_bytes)
                    self.ready = None
                    self.inflight_messages += len(batch.messages)
                    self.inflight_bytes += batch.bytes
                    written = writer.submit(self._write, batch)
                    inflight.append((batch, committer.submit(self._commit, batch, written)))
                    last_flush = now
                elif failed is None and inflight and self.ready is None and due:
                    self.ready = self._take(flush_bytes)  # validated while the others are written
        finally:
            wait([f for _, f in inflight])
            failed = self._settle_done(inflight, failed, client)
            if inflight:  # the oldest failed
                self._put_back(inflight, failed or SinkUnavailable("stopped"), client)
            if self.ready is not None:
                self._untake(self.ready)  # validated again by the last flush below
                self.ready = None
            writer.shutdown()
            committer.shutdown()
            if client.is_connected():
                self.flush(client)  # what is written is acknowledged; the rest is redelivered
            client.disconnect()
            client.loop(timeout=0.5)

    def _commit(self, batch: "_Batch", written: Future) -> list[Row]:
        """The ledger step of a batch, on the committer thread, once its write is durable."""
        rows = written.result()  # the write's SinkUnavailable fails this step too
        self._commit_ledger(batch, rows)
        return rows

    def _settle_done(self, inflight: "deque[tuple[_Batch, Future]]", failed: SinkUnavailable | None,
                     client: mqtt.Client) -> SinkUnavailable | None:
        """Acknowledge the finished batches at the front, in order; at the first failure stop
        and return it (the batches after it are not acknowledged before it is)."""
        while failed is None and inflight and inflight[0][1].done():
            batch, future = inflight[0]
            exc = future.exception()
            if exc is not None:
                if not isinstance(exc, SinkUnavailable):
                    log.error("writing a batch failed unexpectedly; it will be retried", exc_info=exc)
                    exc = SinkUnavailable(f"unexpected {type(exc).__name__}: {exc}")
                return exc
            inflight.popleft()
            self.inflight_messages -= len(batch.messages)
            self.inflight_bytes -= batch.bytes
            self._settled(batch, future.result(), None, client)
        return failed

    def _put_back(self, inflight: "deque[tuple[_Batch, Future]]", exc: SinkUnavailable,
                  client: mqtt.Client) -> None:
        """After a failure: every batch in flight (all finished) and the ready one back in front of
        `pending`, in their order, unacknowledged; written ones are written again (idempotent)."""
        batches = [b for b, _ in inflight]
        inflight.clear()
        if self.ready is not None:
            batches.append(self.ready)
            self.ready = None
        self.inflight_messages = self.inflight_bytes = 0
        held = _Batch([m for b in batches for m in b.messages], sum(b.bytes for b in batches), self.clock())
        self._settled(held, None, exc, client)


class _Batch:
    """Messages taken from `pending` for one flush, and what validating them gave."""

    __slots__ = ("messages", "bytes", "now", "rows", "lines", "parsed", "dead", "clocks", "lost")

    def __init__(self, messages: list, size: int, now: datetime) -> None:
        self.messages = messages  # [(connection generation, MQTTMessage)]
        self.bytes = size
        self.now = now
        self.rows: list[Row] = []  # of every accepted message, in order
        self.lines: list[str] = []  # their line protocol, built while validating (one per row)
        self.parsed: list[tuple[mqtt.MQTTMessage, int, int]] = []  # (message, its rows' start, end)
        self.dead: list[tuple[dict, tuple[str, bytes]]] = []  # (dead letter row, (kind, digest))
        self.clocks: dict[tuple[str, str], int] = {}  # (park, gateway) -> largest clock offset, ms
        self.lost = 0  # dead letters the platform database refused (ingest.ledger)
