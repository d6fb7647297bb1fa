"""What ingest commits to the platform database with every flush: dead letters, the newest reading
of each meter, the park-local days accounting must recompute and the gateways' clock offsets.

One transaction per flush. Rows are written in key order, so two workers whose flushes touch
the same meters take PostgreSQL's row locks in the same order and never deadlock. Dead letters
hold wire text made safe for every database (`dead_letter`); if the database still refuses a
flush's dead letters (and is reachable), the flush is written again with each letter in a
savepoint of its own: one the database refuses is rolled back alone, logged and counted as lost,
never retried forever, so a poison message cannot hold back the good readings around it. That
retry is one transaction too, so an outage in its middle commits nothing and the flush's next
attempt stores each letter once.
"""

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, case, func, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from lingtan.kernel.config import Config
from lingtan.kernel.localtime import local_day
from lingtan.store.models import DeadLetter, Dirty, GatewayClock, Latest
from lingtan.store.timeseries.base import Row, SinkUnavailable

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTER_MS = 900_000  # every UTC offset in use is a multiple of 15 minutes


class Ledger:
    def __init__(self, config: Config, engine: Engine) -> None:
        self.engine = engine
        self.zones: dict[str, ZoneInfo] = {p.id: p.zone for p in config.parks}
        self._days: dict[tuple[str, int], date] = {}  # (park, quarter hour) -> local day

    def local_day(self, park: str, ts_ms: int) -> date:
        quarter = ts_ms // _QUARTER_MS
        day = self._days.get((park, quarter))
        if day is None:
            if len(self._days) > 100_000:
                self._days.clear()
            t = _EPOCH + timedelta(milliseconds=quarter * _QUARTER_MS)
            day = self._days[(park, quarter)] = local_day(t, self.zones[park])
        return day

    def _fold(self, rows: list[Row]) -> tuple[dict[tuple[str, str], Row], dict[tuple[str, str, date], list[int]]]:
        """One flush's rows as what the database gets: the newest row of each meter (the first
        of equal times), and each (meter, local day)'s [first_ms, last_ms].

        The per-row work is one dict step per row: the span of each meter first, the local day
        only of its first and last time. A meter whose span crosses a local midnight (one flush
        in a day, per meter, at most) has its rows sorted into days in a second pass.
        """
        spans: dict[tuple[str, str], list] = {}  # (park, meter) -> [first_ms, last_ms, newest row]
        for row in rows:
            key = (row[0], row[1])
            ts = row[2]
            span = spans.get(key)
            if span is None:
                spans[key] = [ts, ts, row]
            elif ts > span[1]:
                span[1] = ts
                span[2] = row
            elif ts < span[0]:
                span[0] = ts
        latest = {key: span[2] for key, span in spans.items()}
        days: dict[tuple[str, str, date], list[int]] = {}
        split = set()
        local_day = self.local_day
        for (park, meter), (first, last, _row) in spans.items():
            day = local_day(park, first)
            if local_day(park, last) == day:
                days[(park, meter, day)] = [first, last]
            else:
                split.add((park, meter))
        if split:
            for park, meter, ts, *_ in rows:
                if (park, meter) in split:
                    key = (park, meter, local_day(park, ts))
                    span = days.get(key)
                    if span is None:
                        days[key] = [ts, ts]
                    else:
                        span[0], span[1] = min(span[0], ts), max(span[1], ts)
        return latest, days

    def commit(self, rows: list[Row], dead: list[dict], token: str,
               clocks: dict[tuple[str, str], tuple[float, datetime]] | None = None) -> int:
        """Dead letters (rows made by `dead_letter`), Latest, Dirty and the gateways' clock offsets
        (`clocks`: (park, gateway) -> (offset_s, measured_at)) in one transaction; SinkUnavailable
        if the database fails. Returns how many dead letters the database refused (see above)."""
        latest, days = self._fold(rows)
        # accounting recomputes the intervals around [first_ms, last_ms], across midnight if need be
        dirty = [{"park": park, "meter": meter, "day": day, "token": token, "first_ms": first, "last_ms": last}
                 for (park, meter, day), (first, last) in sorted(days.items())]
        newest = [{"park": r.park, "meter": r.meter, "ts": _EPOCH + timedelta(milliseconds=r.ts_ms),
                   "gateway": r.gateway, "values": r.values} for _, r in sorted(latest.items())]
        offsets = [{"park": park, "gateway": gateway, "offset_s": offset_s, "measured_at": at}
                   for (park, gateway), (offset_s, at) in sorted((clocks or {}).items())]
        try:
            self._write(dirty, newest, offsets, dead)
            return 0
        except Exception as exc:  # the platform database is part of "durably written"
            if not dead or _unreachable(exc):
                raise SinkUnavailable(f"platform database: {exc}") from exc
            log.warning("the platform database refused a flush's dead letters (%s); committing the flush "
                        "with each dead letter tried alone", _brief(exc))
        try:
            return self._write_each(dirty, newest, offsets, dead)
        except Exception as exc:
            raise SinkUnavailable(f"platform database: {exc}") from exc

    def _write(self, dirty: list[dict], newest: list[dict], offsets: list[dict], dead: list[dict]) -> None:
        with self.engine.begin() as c:  # Core, not the ORM: ~10x less overhead per row
            if dead:
                c.execute(insert(DeadLetter), dead)
            _write_rows(c, dirty, newest, offsets)

    def _write_each(self, dirty: list[dict], newest: list[dict], offsets: list[dict], dead: list[dict]) -> int:
        """The flush with each dead letter in a savepoint of its own, all in one transaction: a letter
        the database refuses is rolled back alone, logged and counted (returned); an outage on the
        way commits nothing (SinkUnavailable), so the flush's retry stores every letter once."""
        lost = 0
        with self.engine.begin() as c:
            if c.dialect.name == "sqlite" and not c.connection.dbapi_connection.in_transaction:
                # pysqlite opens its transaction only before DML; a SAVEPOINT first would commit alone
                c.exec_driver_sql("BEGIN")
            _write_rows(c, dirty, newest, offsets)
            for letter in dead:
                try:
                    with c.begin_nested():
                        c.execute(insert(DeadLetter), [letter])
                except Exception as exc:
                    if _unreachable(exc):
                        raise
                    lost += 1
                    log.error("dead letter lost: the platform database refused it (%s); topic %s, gateway %s, "
                              "reason: %s", _brief(exc), letter["topic"], letter["gateway"], letter["reason"][:300])
        return lost


def _write_rows(c, dirty: list[dict], newest: list[dict], offsets: list[dict]) -> None:
    dialect = c.dialect.name
    if dirty:
        c.execute(_upsert_dirty(dialect), dirty)
    if newest:
        c.execute(_newer_latest(dialect), newest)
    if offsets:
        c.execute(_newer_clock(dialect), offsets)


def safe_text(text: str, limit: int) -> str:
    """`text` as every database's text column holds it, at most `limit` characters: NUL (which
    PostgreSQL text refuses) and lone surrogates (which are not encodable UTF-8, yet valid JSON
    as `\\ud800`) written as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\0", "\\x00")[:limit]


def payload_text(payload: bytes) -> tuple[str, bytes | None]:
    """A payload as dead-letter text, and the bytes themselves where that text is not their exact
    UTF-8 decoding (NUL, bytes that are not UTF-8; escaped as \\xNN in the text)."""
    try:
        text = payload.decode("utf-8")
        if "\0" not in text:
            return text, None
    except UnicodeDecodeError:
        pass
    return payload.decode("utf-8", "backslashreplace").replace("\0", "\\x00"), payload


def dead_letter(received_at: datetime, topic: str, reason: str, payload: bytes) -> dict:
    """One `dead_letter` row: wire text made safe (safe_text), the payload cut at 64 KiB."""
    parts = topic.split("/")
    text, raw = payload_text(payload[:65536])
    return {"received_at": received_at, "topic": safe_text(topic, 512), "reason": safe_text(reason, 2000),
            "park": safe_text(parts[2], 64) if len(parts) > 2 else None,
            "gateway": safe_text(parts[3], 64) if len(parts) > 3 else None,
            "payload": text, "payload_raw": raw}


def _unreachable(exc: Exception) -> bool:
    """The database is down or the connection lost (retry the flush), rather than refusing data."""
    if not isinstance(exc, sa_exc.SQLAlchemyError):
        return True
    if getattr(exc, "connection_invalidated", False):
        return True
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError))


def _brief(exc: Exception) -> str:
    """The driver's words, without the statement and parameters SQLAlchemy appends (the payload)."""
    return safe_text(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], 300)


def _upsert_dirty(dialect: str):
    """Mark a (park, meter, day) dirty with a new token (lingtan.accounting.service compares tokens)
    and widen its span of new readings; a span of NULL (the whole day) stays the whole day."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Dirty)
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)

    def widen(column, pick):
        return case((column.is_(None), None), else_=pick(column, stmt.excluded[column.key]))

    return stmt.on_conflict_do_update(index_elements=["park", "meter", "day"], set_={
        "token": stmt.excluded.token, "first_ms": widen(Dirty.first_ms, least),
        "last_ms": widen(Dirty.last_ms, greatest)})


def _newer_latest(dialect: str):
    """INSERT a meter's newest reading, or UPDATE it where the stored one is not newer."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Latest)
    return stmt.on_conflict_do_update(
        index_elements=["park", "meter"],
        set_={"ts": stmt.excluded.ts, "gateway": stmt.excluded.gateway, "values": stmt.excluded["values"]},
        where=Latest.ts <= stmt.excluded.ts)


def _newer_clock(dialect: str):
    """INSERT or UPDATE a gateway's clock offset unless the stored one was measured later."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(GatewayClock)
    return stmt.on_conflict_do_update(
        index_elements=["park", "gateway"],
        set_={"offset_s": stmt.excluded.offset_s, "measured_at": stmt.excluded.measured_at},
        where=GatewayClock.measured_at <= stmt.excluded.measured_at)
