"""Readings messages → rows: the wire contract, the park config's identities and the store's limits.

Every message is checked against the contract's JSON Schema (kernel.contract, compiled once)
and against the config: the topic's park and gateway must be the payload's, the gateway must be
configured for that park and every meter must be a meter of that gateway. On top of the contract,
values the stores cannot hold are refused here, so one bad message can never block the stream by
making the store refuse a whole batch: times outside 2000–2199 or not on the calendar, sequence
numbers beyond int64, non-finite numbers. And the time policy: a reading stamped more than
`ingest.max_clock_ahead_s` after the time ingest received its message is refused with the whole
message (kind `clock`), so a gateway with a wrong clock can never pin a meter's `latest` in the
future; readings of the past are accepted whatever their age (backfill from a gateway's spool).

The common case goes through a fast path that checks the same rules with plain comparisons
(about 2 µs per reading instead of ~10 µs for the generated schema code), parses each distinct
time once per message and builds each reading's line protocol in the same pass over its values.
It is strictly narrower than the schema: anything it does not accept falls through to the full
schema, which stays the authority and words every rejection.
"""

import math
import re
import sys
from datetime import UTC, datetime, timedelta

import orjson

from lingtan.kernel import contract
from lingtan.kernel.config import Config
from lingtan.kernel.quantities import QUANTITIES
from lingtan.store.timeseries.base import Row, lines, tag_prefix

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
MIN_TS_MS = (datetime(2000, 1, 1, tzinfo=UTC) - EPOCH) // MS
MAX_TS_MS = (datetime(2200, 1, 1, tzinfo=UTC) - EPOCH) // MS
MAX_SEQ = 2**63 - 1  # the stores keep seq as a signed 64-bit integer

# ASCII digits only and no trailing newline: stricter than the schema's pattern, never looser
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", re.ASCII)
_TOP_REQUIRED = frozenset({"v", "park", "gateway", "readings"})
_TOP_ALLOWED = _TOP_REQUIRED | {"sent_at"}
_HUGE = sys.float_info.max
_BOUNDS = {q.name: (-_HUGE if q.minimum is None else q.minimum, _HUGE if q.maximum is None else q.maximum)
           for q in QUANTITIES.values()}


class Rejected(ValueError):
    """A message that is not accepted; the text says what is wrong, where, and what is accepted.

    `kind` is a short fixed word for counting (metrics): size, json, contract, identity, value, store.
    """

    def __init__(self, reason: str, kind: str = "contract", sent_ms: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.sent_ms = sent_ms  # the message's sent_at (epoch ms), when the rest of it was valid



def ts_ms(text: str) -> int:
    """Milliseconds since the epoch of a contract time, exactly (sub-millisecond digits dropped).

    ValueError if it is not a real calendar time or lies outside 2000-01-01 … 2199-12-31.
    """
    t = (datetime.fromisoformat(text) - EPOCH) // MS
    if not MIN_TS_MS <= t < MAX_TS_MS:
        raise ValueError("it must lie between 2000-01-01 and 2199-12-31")
    return t


class Validator:
    """Turns one readings message into rows, or raises Rejected naming the problem."""

    def __init__(self, config: Config) -> None:
        self.max_payload_bytes = config.ingest.max_payload_bytes
        ahead = config.ingest.max_clock_ahead_s
        self.max_ahead_ms = None if ahead is None else int(ahead * 1000)
        self.gateway_park = {g.id: g.park for g in config.gateways}
        self.meters: dict[tuple[str, str], frozenset[str]] = {}
        for p in config.parks:
            for m in p.meters:
                self.meters[(p.id, m.gateway)] = self.meters.get((p.id, m.gateway), frozenset()) | {m.id}
        # every meter's line-protocol tag prefix, by (park, gateway): also the fast path's meter check
        self.prefixes: dict[tuple[str, str], dict[str, str]] = {
            (park, gateway): {m: tag_prefix(park, m) for m in ids} for (park, gateway), ids in self.meters.items()}

    def parse(self, topic: str, payload: bytes) -> list[Row]:
        """Rows of a readings message, or Rejected naming what is wrong."""
        return self.parse_lines(topic, payload)[0]

    def parse_lines(self, topic: str, payload: bytes, received_ms: int | None = None) -> tuple[list[Row], list[str]]:
        """Rows of a readings message and their line protocol, one text per row exactly as
        `store.timeseries.base.lines` builds it; or Rejected naming what is wrong. With
        `received_ms` (when ingest received it, epoch ms) the time policy applies."""
        parsed = self.parse_message(topic, payload, received_ms)
        return parsed[0], parsed[1]

    def parse_message(self, topic: str, payload: bytes,
                      received_ms: int | None = None) -> tuple[list[Row], list[str], int | None]:
        """As parse_lines, and the message's `sent_at` in epoch ms (None without one), which
        measures the gateway's clock."""
        if len(payload) > self.max_payload_bytes:
            raise Rejected(f"payload of {len(payload)} bytes exceeds ingest.max_payload_bytes "
                           f"({self.max_payload_bytes})", "size")
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise Rejected(f"payload is not JSON (UTF-8, no NaN or Infinity): {exc}", "json") from None
        limit = MAX_TS_MS if received_ms is None or self.max_ahead_ms is None else received_ms + self.max_ahead_ms
        built: list[str] = []
        rows = self._fast(topic, message, built, limit)
        if rows is not None:
            return rows, built, _sent_ms(message)
        try:
            rows = self._checked(topic, message, received_ms, limit)
        except Rejected as exc:
            if exc.kind == "clock":  # the rest was valid: its sent_at still tells the gateway's clock
                exc.sent_ms = _sent_ms(message)
            raise
        return rows, lines(rows), _sent_ms(message)

    # -- the common case ----------------------------------------------------------------
    def _fast(self, topic: str, message, built: list[str] | None = None, limit: int = MAX_TS_MS) -> list[Row] | None:
        """Rows if the message is plainly valid (and their lines appended to `built`), None if
        anything needs a closer look (`built` may then hold some lines: discard it)."""
        if type(message) is not dict or not _TOP_REQUIRED <= message.keys() <= _TOP_ALLOWED:
            return None
        try:
            return self._fast_rows(topic, message, [] if built is None else built, limit)
        except (KeyError, TypeError, ValueError):  # unhashable id, unknown quantity, not a calendar date
            return None

    def _fast_rows(self, topic: str, message: dict, built: list[str], limit: int) -> list[Row] | None:
        """One pass over the readings: check each, make its row and its line-protocol text."""
        v, park, gateway, readings = message["v"], message["park"], message["gateway"], message["readings"]
        if type(v) is not int or v != contract.VERSION or type(readings) is not list:
            return None
        if not 1 <= len(readings) <= 10000:
            return None
        if type(park) is not str or type(gateway) is not str or self.gateway_park.get(gateway) != park:
            return None
        if topic != f"{topic[:topic.find('/')]}/v{contract.VERSION}/{park}/{gateway}/readings":
            return None
        sent_at = message.get("sent_at")
        if sent_at is not None and (type(sent_at) is not str or not _TS.fullmatch(sent_at)):
            return None
        prefixes = self.prefixes.get((park, gateway))
        if prefixes is None:
            return None
        rows = []
        append = rows.append
        line = built.append
        new_row = tuple.__new__
        bounds = _BOUNDS
        fullmatch = _TS.fullmatch
        # A gateway stamps many readings with the same time: each distinct text is checked and
        # parsed once per message. Only valid times are kept; keys are str, so a hit is a str.
        times: dict[str, tuple[int, str]] = {}  # ts text -> (epoch ms, the line's time suffix)
        for r in readings:
            if type(r) is not dict or len(r) != 4:
                return None
            meter, ts, seq, values = r["meter"], r["ts"], r["seq"], r["values"]  # KeyError: not these 4
            prefix = prefixes.get(meter)  # None: not a meter of this gateway
            if prefix is None or type(seq) is not int or not 0 <= seq <= MAX_SEQ:
                return None
            if type(values) is not dict or not values:
                return None
            t = times.get(ts)
            if t is None:
                if type(ts) is not str or not fullmatch(ts):
                    return None
                ms = ts_ms(ts)
                if ms > limit:
                    return None  # ahead of the receive time: the checked path words it
                t = times[ts] = (ms, f" {ms}\n")
            fields = ""
            for name, value in values.items():
                lo, hi = bounds[name]  # KeyError: an unknown quantity
                if (type(value) is not float and type(value) is not int) or not lo <= value <= hi:
                    return None
                fields = f"{fields}{name}={value!r},"  # as base.lines: repr, the order sent
            append(new_row(Row, (park, meter, t[0], gateway, seq, values)))  # Row(...) without its Python frame
            line(f"{prefix}{fields}seq={seq}i{t[1]}")
        return rows

    # -- everything else: the schema words the reason -----------------------------------
    def _checked(self, topic: str, message, received_ms: int | None = None, limit: int = MAX_TS_MS) -> list[Row]:
        try:
            contract.validate_readings(message)
        except contract.ContractError as exc:
            raise Rejected(f"contract v{contract.VERSION}: {exc}") from None
        park, gateway = message["park"], message["gateway"]
        parts = topic.split("/")
        if len(parts) != 5 or parts[2] != park or parts[3] != gateway:
            raise Rejected(f"topic {topic!r} does not match park {park!r} / gateway {gateway!r} of the payload",
                           "identity")
        if self.gateway_park.get(gateway) != park:
            raise Rejected(f"gateway {gateway!r} is not configured for park {park!r}", "identity")
        meters = self.meters.get((park, gateway), frozenset())
        rows = []
        for i, r in enumerate(message["readings"]):
            if r["meter"] not in meters:
                raise Rejected(f"readings[{i}].meter = {r['meter']!r}: not a meter of gateway {gateway!r} "
                               f"in park {park!r}", "identity")
            try:
                t = ts_ms(r["ts"])
            except ValueError as exc:
                raise Rejected(f"readings[{i}].ts = {r['ts']!r}: not a valid UTC time ({exc})", "value") from None
            if t > limit:
                raise Rejected(
                    f"readings[{i}].ts = {r['ts']!r}: {(t - received_ms) / 1000:.0f} s ahead of the time ingest "
                    f"received the message ({contract.utc_text(EPOCH + received_ms * MS)}); at most "
                    f"ingest.max_clock_ahead_s ({self.max_ahead_ms / 1000:g} s) ahead is accepted: "
                    f"is the gateway's clock right?", "clock")
            if r["seq"] > MAX_SEQ:
                raise Rejected(f"readings[{i}].seq = {r['seq']}: it must be at most {MAX_SEQ} (int64)", "value")
            for name, value in r["values"].items():
                if isinstance(value, bool) or not math.isfinite(value):
                    raise Rejected(f"readings[{i}].values.{name} = {value!r}: it must be a finite number", "value")
            append_values = {k: float(v) for k, v in r["values"].items()}
            rows.append(Row(park, r["meter"], t, gateway, r["seq"], append_values))
        return rows


def _sent_ms(message: dict) -> int | None:
    """The message's `sent_at` in epoch ms; None if absent or not a calendar time (it is only
    informational: the gateway's clock, never a reason to refuse its readings)."""
    sent_at = message.get("sent_at")
    if sent_at is None:
        return None
    try:
        return ts_ms(sent_at)
    except ValueError:
        return None
