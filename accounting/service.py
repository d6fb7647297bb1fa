"""The accounting service: turns raw counter readings into 15-minute interval energy, and keeps
the daily and monthly sums of it.

Ingest marks every (park, meter, local day) that received readings as dirty, with the span of
their timestamps. Each pass recomputes, per meter and counter, only the intervals that span can
change: from the interval holding the stored reading just before it to the one holding the
reading just after it (energy between two readings is apportioned between them).

A pass works a park a chunk of local days of dirty marks at a time (oldest first, about
METER_DAYS_PER_TRANSACTION meter-days each, each chunk its own batch read and transaction, so a
crash mid-way keeps the chunks already committed), the parks taking turns chunk by chunk, so one
park's backlog does not hold back the others. In the service loop a pass takes at most
`days_per_pass` days of each park (at least one chunk): a backlog after an outage is worked off over
several passes that follow each other without a pause, with the settling sweep between them. After
every committed chunk a pass touches the heartbeat file and returns if the service is stopping, so
a long catch-up stays alive to the health check and stops within one chunk's transaction. It reads every
dirty meter's window back with one batch read of the time-series store
(`TimeSeriesStore.read_windows`: the samples around the spans plus a bounded look-back, a few
round trips for the whole park), works
out each counter's window from what it got, and reads a counter alone (the per-counter path,
`neighbours` and `series`) only where the batch read cannot decide it (a gap longer than the
look-back); a counter with no sample near the spans is one the meter does not publish and is
skipped. It runs the pure interval engine on the samples and, in one transaction per park and day,
writes the intervals whose values changed (one multi-row upsert; unchanged ones keep their
revision, so the city platform's sync sees only real revisions), recomputes the daily and monthly
aggregates of the (meter, counter, day)s touched with one grouped query each, and clears the dirty
marks it consumed. Upserts go in sorted key order, so two writers on PostgreSQL take row locks in
the same order and cannot deadlock. Recomputing is idempotent: late, replayed and out-of-order
readings revise exactly the intervals they touch.

A dirty day without a span (marked before spans existed) is recomputed whole.

Finality: an interval is final once complete (every second of it measured, so a reading at or
after its end is stored); an incomplete one becomes final when its local day is older than
`accounting.settle_days`. A final interval that changes after all is rewritten with the flag
`revised_after_final` and a new revision (docs/api.md, "Finality").
"""

import bisect
import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lingtan.accounting.intervals import Interval, compute_intervals
from lingtan.kernel import profile as profiles
from lingtan.kernel.config import Config
from lingtan.kernel.localtime import PeriodKind, day_bounds, first_day, local_day, next_first_day
from lingtan.kernel.park import Meter, Park
from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
from lingtan.store.db import sessions
from lingtan.store.models import DailyEnergy, Dirty, IntervalEnergy, MonthlyEnergy, RevisionCounter
from lingtan.store.partitions import MONTHS_AHEAD, add_months, ensure_partitions
from lingtan.store.timeseries.base import SinkUnavailable, TimeSeriesStore, WindowRead, WindowSamples

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=15)
_INTERVAL_MS = 900_000
_MERGE_MS = 86_400_000  # spans of one meter less than a day apart are recomputed as one window
_LOOK_BACK_MS = 3_600_000  # how far before its window a batch read looks for the reading before it
_KEYS_PER_STATEMENT = 500  # (meter, counter) pairs per grouped aggregate query
REVISED_AFTER_FINAL = "revised_after_final"
SWEEP_LIMIT = 5000  # intervals finalised per park and pass
# a backlog (after an outage of the service) is worked off in chunks of local days per park and
# transaction, oldest first, each committed with its dirty marks: each read and transaction stays
# bounded whatever the outage lasted, and a crash loses only the transaction under way. A chunk
# holds about this many meter-days (a 1,000-meter park: 2 days; the 10-meter demo park: 200), so
# a small park's year is not cut into 365 transactions that cost twice the CPU of a few
METER_DAYS_PER_TRANSACTION = 2000
# the service loop's passes take at most this many local days per park (the parks take turns, a
# day each); what is left waits for the next pass, which follows at once. The time of a pass is
# bounded by this, and the heartbeat and the stop event are looked at after every day besides
DAYS_PER_PASS = 7


@dataclass
class PassStats:
    """What one pass did: the work is proportional to these, not to the history stored."""

    meters: int = 0  # (park, meter) pairs recomputed
    windows: int = 0  # (meter, counter, window) recomputations
    samples: int = 0  # readings the recomputations used (in their windows and one on each side)
    read_alone: int = 0  # windows the batch read could not decide, read counter by counter
    intervals_written: int = 0  # inserted or changed (new revisions)
    intervals_unchanged: int = 0
    finalised: int = 0


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _floor(ms: int) -> int:
    return ms - ms % _INTERVAL_MS


def windows(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge reading spans (first_ms, last_ms) lying less than a day apart."""
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= _MERGE_MS:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


class _Undecided(Exception):
    """The batch read did not see far enough to answer; the counter is read alone."""


class _Seen:
    """One counter's samples from a batch read: exactly all the stored ones in [lo, hi)."""

    def __init__(self, got: WindowSamples, start_ms: int, look_back_ms: int) -> None:
        self.rows = ([got.before] if got.before else []) + got.samples + ([got.after] if got.after else [])
        self.ts = [t for t, _ in self.rows]
        # no `before`: none in the look-back, and nothing known earlier
        self.lo = got.before[0] if got.before else start_ms - look_back_ms
        self.hi = got.after[0] + 1 if got.after else math.inf  # no `after`: there is none at all

    def last_before(self, ms: int) -> tuple[int, float]:
        i = bisect.bisect_left(self.ts, ms)
        if ms > self.hi or i == 0:
            raise _Undecided
        return self.rows[i - 1]

    def first_from(self, ms: int) -> tuple[int, float] | None:
        i = bisect.bisect_left(self.ts, ms)
        if ms < self.lo or (i == len(self.rows) and self.hi != math.inf):
            raise _Undecided
        return self.rows[i] if i < len(self.rows) else None

    def between(self, a_ms: int, b_ms: int) -> list[tuple[int, float]]:
        if a_ms < self.lo or b_ms > self.hi:
            raise _Undecided
        return self.rows[bisect.bisect_left(self.ts, a_ms):bisect.bisect_left(self.ts, b_ms)]


def _window_of(seen, first_ms: int, last_ms: int) -> tuple[int, int, list[tuple[int, float]]]:
    """The interval-aligned window readings in [first_ms, last_ms] can change, with the samples in
    it and one on each side. `seen` is a _Seen, or the store itself read counter by counter."""
    before = seen.last_before(first_ms)
    after = seen.first_from(last_ms + 1)
    t0 = before[0] if before else first_ms
    t1 = after[0] if after else last_ms
    start_ms, end_ms = _floor(t0), _floor(t1) + _INTERVAL_MS
    head, tail = seen.last_before(start_ms), seen.first_from(end_ms)
    return start_ms, end_ms, ([head] if head else []) + seen.between(start_ms, end_ms) + ([tail] if tail else [])


class _Alone:
    """The per-counter reads of one counter (two `neighbours` and a `series`), in _Seen's terms."""

    def __init__(self, sink: TimeSeriesStore, park: str, meter: str, quantity: str) -> None:
        self.sink, self.key = sink, (park, meter, quantity)

    def last_before(self, ms: int):
        return self.sink.neighbours(*self.key, ms)[0]

    def first_from(self, ms: int):
        return self.sink.neighbours(*self.key, ms)[1]

    def between(self, a_ms: int, b_ms: int):
        return self.sink.series(*self.key, a_ms, b_ms)


# -- aggregates ----------------------------------------------------------------------------------
def _upsert(s: Session, table, keys: tuple[str, ...], rows: list[dict]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of rows, in the given (sorted) order: one statement
    the driver sends as few multi-row inserts."""
    if not rows:
        return
    conn = s.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={c: stmt.excluded[c] for c in rows[0] if c not in keys})
    conn.execute(stmt, rows)


def _delete_keys(s: Session, table, keys: tuple[str, ...], rows: list[tuple]) -> None:
    if rows:
        cols = table.__table__.c
        s.connection().execute(delete(table.__table__).where(*(cols[k] == bindparam(f"k_{k}") for k in keys)),
                  [{f"k_{k}": v for k, v in zip(keys, row, strict=True)} for row in rows])


def _chunks(items: list, n: int = _KEYS_PER_STATEMENT):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _roll_up(s: Session, park_id: str, source, at, sums: tuple, target, period: str,
             keys: dict[date, set[tuple[str, str]]], bounds) -> None:
    """Recompute the `target` rows (keyed by `period`) of the (meter, counter) pairs of each period
    in `keys` as the grouped `sums` (amount, completeness, intervals) of the `source` rows whose
    `at` lies in `bounds(period)`: one grouped query per period and chunk of pairs, then one upsert,
    and one delete of the sums that are gone, in sorted key order."""
    rows, gone = [], []
    for start in sorted(keys):
        lo, hi = bounds(start)
        pairs = sorted(keys[start])
        found = {}
        for chunk in _chunks(pairs):
            found.update({(m, q): row for m, q, *row in s.execute(
                select(source.meter, source.quantity, *sums)
                .where(source.park == park_id, at >= lo, at < hi, tuple_(source.meter, source.quantity).in_(chunk))
                .group_by(source.meter, source.quantity))})
        for m, q in pairs:
            row = found.get((m, q))
            if row and row[2]:
                rows.append({"park": park_id, "meter": m, "quantity": q, period: start, "amount": float(row[0]),
                             "completeness_sum": float(row[1] or 0), "intervals": int(row[2])})
            else:
                gone.append((park_id, m, q, start))
    rows.sort(key=lambda r: (r["meter"], r["quantity"], r[period]))
    gone.sort()
    _upsert(s, target, ("park", "meter", "quantity", period), rows)
    _delete_keys(s, target, ("park", "meter", "quantity", period), gone)


def update_aggregates_of(s: Session, park_id: str, zone: ZoneInfo, touched: set[tuple[str, str, date]]) -> None:
    """Recompute the daily sums of the (meter, counter, local day)s `touched` from their
    intervals, then their months' sums from the daily ones, set-based (one grouped query per day
    and month, one upsert per table), in the caller's transaction after the intervals were written."""
    by_day: dict[date, set[tuple[str, str]]] = defaultdict(set)
    by_month: dict[date, set[tuple[str, str]]] = defaultdict(set)
    for meter, quantity, day in touched:
        by_day[day].add((meter, quantity))
        by_month[first_day(day, PeriodKind.MONTH)].add((meter, quantity))
    iv, daily = IntervalEnergy, DailyEnergy
    _roll_up(s, park_id, iv, iv.start, (func.sum(iv.amount), func.sum(iv.completeness), func.count()),
             DailyEnergy, "day", by_day, lambda day: day_bounds(day, zone))
    _roll_up(s, park_id, daily, daily.day,
             (func.sum(daily.amount), func.sum(daily.completeness_sum), func.sum(daily.intervals)),
             MonthlyEnergy, "month", by_month, lambda month: (month, next_first_day(month, PeriodKind.MONTH)))


def update_aggregates(s: Session, park_id: str, zone: ZoneInfo, meter_id: str, quantity: str,
                      days: set[date]) -> None:
    """Recompute a meter counter's daily sums of local `days` from their intervals, then their
    months' sums, in the caller's transaction (after the intervals were written)."""
    s.flush()
    update_aggregates_of(s, park_id, zone, {(meter_id, quantity, d) for d in days})


_IV_KEY = ("park", "meter", "quantity", "start")


@dataclass
class _Work:
    """One recomputed window of one counter: the intervals [start, end) should hold."""

    meter: Meter
    quantity: str
    start: datetime
    end: datetime
    computed: list[Interval]


def _by_days(park: Park, marked: list[tuple[Meter, list]], days: int):
    """The dirty marks of a park's meters ((meter, marks) each) as the `items` of recompute_park,
    `days` local days of marks at a time, oldest first."""
    dates = sorted({m.day for _, marks in marked for m in marks})
    for chunk in _chunks(dates, max(1, days)):
        first, last = chunk[0], chunk[-1]
        items = []
        for meter, marks in marked:
            mine = [m for m in marks if first <= m.day <= last]
            if not mine:
                continue
            spans = []
            for m in mine:
                if m.first_ms is None:  # the whole day
                    start, end = day_bounds(m.day, park.zone)
                    spans.append((_ms(start), _ms(end) - 1))
                else:
                    spans.append((m.first_ms, m.last_ms))
            items.append((meter, spans, [(m.day, m.token) for m in mine]))
        yield items


class Rollup:
    def __init__(self, config: Config, sink: TimeSeriesStore, engine: Engine,
                 clock=lambda: datetime.now(UTC), keep_partitions: bool = True,
                 days_per_transaction: int | None = None, days_per_pass: int = DAYS_PER_PASS,
                 on_day=None) -> None:
        self.config = config
        self.sink = sink
        self.engine = engine
        self.sessions = sessions(engine)
        self.clock = clock
        self.days_per_transaction = days_per_transaction  # None: METER_DAYS_PER_TRANSACTION over the meters
        self.days_per_pass = days_per_pass
        self.on_day = on_day  # called after every committed day's transaction (tools and tests)
        self.backlog = False  # the last pass left dirty days for the next one (no pause before it)
        # once a UTC day, the next months' interval partitions (off where a timer does it)
        self._partitions_checked: date | None = None if keep_partitions else date.max
        self.stop = threading.Event()
        self.last_pass = PassStats()
        self._failing_parks: set[str] = set()  # parks whose last pass failed (logged once)

    # -- reading back ------------------------------------------------------------------------
    def _read(self, park: Park, items: list[tuple[Meter, list[tuple[int, int]]]], stats: PassStats) -> list[_Work]:
        """Every counter window of the meters `items` (meter, spans), from one batch read of the park."""
        plan, reads = [], []
        for meter, spans in items:
            quantities = tuple(sorted(CARRIER_QUANTITIES[meter.carrier.value] & COUNTERS))
            # a margin of a few polls on each side, so the reading before and after is inside
            margin_ms = max(60_000, int(3_000 * meter.poll_interval_s))
            for first_ms, last_ms in windows(spans):
                plan.append((meter, first_ms, last_ms))
                reads.append(WindowRead(meter.id, quantities, _floor(first_ms - margin_ms),
                                        _floor(last_ms + margin_ms) + _INTERVAL_MS))
        got = self.sink.read_windows(park.id, reads, _LOOK_BACK_MS) if reads else []
        work = []
        for (meter, first_ms, last_ms), read, per_quantity in zip(plan, reads, got, strict=True):
            for quantity in read.quantities:
                found = per_quantity[quantity]
                if found.before is None and found.after is None and not found.samples:
                    continue  # a counter this meter does not publish (no sample near the spans)
                stats.windows += 1
                try:
                    start_ms, end_ms, rows = _window_of(_Seen(found, read.start_ms, _LOOK_BACK_MS), first_ms, last_ms)
                except _Undecided:
                    stats.read_alone += 1
                    start_ms, end_ms, rows = _window_of(_Alone(self.sink, park.id, meter.id, quantity),
                                                        first_ms, last_ms)
                stats.samples += len(rows)
                if rows:
                    start, end = _utc(start_ms), _utc(end_ms)
                    samples = [(_utc(t), v) for t, v in rows]
                    work.append(_Work(meter, quantity, start, end, self._intervals(meter, quantity, start, end,
                                                                                   samples)))
        return work

    # -- recomputing ---------------------------------------------------------------------------
    def _intervals(self, meter: Meter, quantity: str, start: datetime, end: datetime, samples) -> list[Interval]:
        # a step longer than this is spread over the gap and flagged estimated
        max_gap = max(INTERVAL, timedelta(seconds=3 * meter.poll_interval_s))
        modulus = profiles.counter_modulus(profiles.load(meter.profile), quantity)
        return [iv for iv in compute_intervals(samples, start, end, interval=INTERVAL, max_gap=max_gap,
                                               rollover=modulus)
                if not (iv.energy == 0 and iv.completeness == 0)]

    def _stored(self, s: Session, park: Park, work: list[_Work]) -> dict[tuple, dict]:
        """The stored intervals of the windows of `work`, by (meter, quantity, start): one query
        per distinct window (a pass's windows are mostly the same quarter hour or two)."""
        by_window: dict[tuple[datetime, datetime], set[tuple[str, str]]] = defaultdict(set)
        for w in work:
            by_window[(w.start, w.end)].add((w.meter.id, w.quantity))
        iv = IntervalEnergy
        stored = {}
        for (start, end), pairs in by_window.items():
            for chunk in _chunks(sorted(pairs)):
                for r in s.execute(select(iv.meter, iv.quantity, iv.start, iv.day, iv.amount, iv.completeness,
                                          iv.estimated, iv.flags, iv.final)
                                   .where(iv.park == park.id, iv.start >= start, iv.start < end,
                                          tuple_(iv.meter, iv.quantity).in_(chunk))).mappings():
                    r = dict(r)
                    if r["start"].tzinfo is None:  # SQLite keeps UTC without the zone
                        r["start"] = r["start"].replace(tzinfo=UTC)
                    stored[(r["meter"], r["quantity"], r["start"])] = r
        return stored

    def _write(self, s: Session, park: Park, work: list[_Work], now: datetime, stats: PassStats) -> None:
        """Bring the stored intervals of every window of `work` to what was computed, then the
        aggregates of the days touched; in the caller's transaction."""
        stored = self._stored(s, park, work)
        by_counter: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for key in stored:
            by_counter[key[:2]].append(key)
        changed: dict[tuple, dict] = {}  # key -> the row to upsert
        removed: set[tuple] = set()
        touched: set[tuple[str, str, date]] = set()
        for w in work:
            inside = {k for k in by_counter[(w.meter.id, w.quantity)] if k in stored and w.start <= k[2] < w.end}
            for iv in w.computed:
                key = (w.meter.id, w.quantity, iv.start)
                inside.discard(key)
                row = stored.get(key)
                if row is not None and (row["amount"], row["completeness"], row["estimated"]) == (
                        iv.energy, iv.completeness, iv.estimated) \
                        and set(filter(None, row["flags"].split(","))) - {REVISED_AFTER_FINAL} == set(iv.flags):
                    stats.intervals_unchanged += 1
                    continue
                stats.intervals_written += 1
                flags = ",".join(sorted(iv.flags))
                if row is None:
                    day, final = local_day(iv.start, park.zone), iv.completeness >= 1.0
                else:
                    day, final = row["day"], row["final"] or iv.completeness >= 1.0
                    if row["final"]:  # it was declared final and changed all the same: say so
                        flags = ",".join(sorted({*iv.flags, REVISED_AFTER_FINAL}))
                new = dict(meter=w.meter.id, quantity=w.quantity, start=iv.start, day=day, amount=iv.energy,
                           completeness=iv.completeness, estimated=iv.estimated, flags=flags[:200], final=final)
                if key not in stored:
                    by_counter[key[:2]].append(key)
                stored[key] = changed[key] = new
                removed.discard(key)
                touched.add((w.meter.id, w.quantity, day))
            for key in inside:  # intervals the readings no longer support
                touched.add((key[0], key[1], stored[key]["day"]))
                del stored[key]
                changed.pop(key, None)
                removed.add(key)
        if changed:
            keys = sorted(changed)
            counter = RevisionCounter.__table__.c
            top = s.connection().execute(update(RevisionCounter.__table__).where(counter.name == "revision")
                                         .values(value=counter.value + len(keys))
                                         .returning(counter.value)).scalar_one()
            _upsert(s, IntervalEnergy, _IV_KEY,
                    [dict(park=park.id, **changed[k], updated_at=now, revision=top - len(keys) + 1 + i)
                     for i, k in enumerate(keys)])
        _delete_keys(s, IntervalEnergy, _IV_KEY, [(park.id, *k) for k in sorted(removed)])
        update_aggregates_of(s, park.id, park.zone, touched)

    def recompute_park(self, park: Park, items: list[tuple[Meter, list[tuple[int, int]], list[tuple[date, str]]]],
                       stats: PassStats) -> None:
        """Recompute the intervals around the spans of several meters of one park ((meter, spans,
        consumed) each) and clear the dirty marks `consumed` ((day, token) pairs), in one transaction."""
        now = self.clock()
        work = self._read(park, [(meter, spans) for meter, spans, _ in items], stats)
        with self.sessions.begin() as s:
            self._write(s, park, work, now, stats)
            marks = sorted((meter.id, day, token) for meter, _, consumed in items for day, token in consumed)
            if marks:
                # a reading that arrived meanwhile renewed the token: the day stays dirty
                dirty = Dirty.__table__.c
                s.connection().execute(
                    delete(Dirty.__table__).where(dirty.park == park.id, dirty.meter == bindparam("k_meter"),
                                                  dirty.day == bindparam("k_day"), dirty.token == bindparam("k_token")),
                    [dict(k_meter=m, k_day=d, k_token=t) for m, d, t in marks])

    def recompute(self, park: Park, meter: Meter, spans: list[tuple[int, int]], consumed: list[tuple[date, str]],
                  stats: PassStats) -> None:
        """Recompute one meter's intervals around `spans` and clear the dirty marks `consumed`
        ((day, token) pairs) in the same transaction."""
        self.recompute_park(park, [(meter, spans, consumed)], stats)

    def recompute_day(self, park_id: str, meter_id: str, day: date) -> None:
        """Recompute one whole local day of a meter (for tools and tests)."""
        park = self.config.park(park_id)
        start, end = day_bounds(day, park.zone)
        self.recompute(park, park.meter(meter_id), [(_ms(start), _ms(end) - 1)], [], PassStats())

    # -- finality ------------------------------------------------------------------------------
    def finalise(self, park: Park, stats: PassStats) -> None:
        """Mark incomplete intervals final once their local day is past the settling time."""
        cutoff = local_day(self.clock(), park.zone) - timedelta(days=self.config.accounting.settle_days)
        with self.sessions.begin() as s:
            rows = list(s.scalars(select(IntervalEnergy).where(
                IntervalEnergy.park == park.id, IntervalEnergy.final.is_(False), IntervalEnergy.day <= cutoff)
                .limit(SWEEP_LIMIT)))
            for row in rows:
                row.final = True
            stats.finalised += len(rows)

    # -- the loop ------------------------------------------------------------------------------
    def run_once(self, days_per_park: int | None = None) -> int:
        """Recompute every dirty meter, at most `days_per_park` local days of each park (None: all,
        for tools; the loop passes `days_per_pass` and sets `backlog` when days are left); returns
        how many (meter, day) marks were consumed."""
        stats = PassStats()
        with self.sessions() as s:
            dirty = s.execute(select(Dirty.park, Dirty.meter, Dirty.day, Dirty.token, Dirty.first_ms,
                                     Dirty.last_ms)).all()
        by_park: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for row in dirty:
            by_park[row.park][row.meter].append(row)
        done = 0
        unavailable: list[SinkUnavailable] = []
        failed: list[str] = []
        turns = []  # per park with marks: [park, its days' items, transactions left this pass]
        recomputed: set[tuple[str, str]] = set()
        for park_id in sorted(by_park):
            marked = []
            for meter_id, marks in sorted(by_park[park_id].items()):
                try:
                    park = self.config.park(park_id)
                    meter = park.meter(meter_id)
                except KeyError:
                    log.warning("dirty day for unknown meter %s/%s ignored", park_id, meter_id)
                    with self.sessions.begin() as s:
                        s.execute(delete(Dirty).where(Dirty.park == park_id, Dirty.meter == meter_id))
                    continue
                marked.append((meter, marks))
            if marked:
                park = self.config.park(park_id)
                chunk = self.days_per_transaction or max(1, METER_DAYS_PER_TRANSACTION // len(marked))
                per_pass = math.inf if days_per_park is None else max(1, days_per_park // chunk)
                turns.append([park, _by_days(park, marked, chunk), per_pass])
        self.backlog = stopping = False
        while turns and not stopping:  # the parks take turns, a day's transaction each
            for turn in list(turns):
                park, days, left = turn
                try:
                    items = next(days, None)
                    if items is None:
                        turns.remove(turn)
                        continue
                    if left == 0:  # this park's share of the pass is used up: the next pass goes on
                        self.backlog = True
                        turns.remove(turn)
                        continue
                    self.recompute_park(park, items, stats)
                except SinkUnavailable as exc:  # the store is down: every park would fail alike
                    unavailable.append(exc)
                    turns.remove(turn)
                    continue
                except Exception as exc:  # one park's trouble must not hold back the other parks
                    failed.append(park.id)
                    turns.remove(turn)
                    if park.id not in self._failing_parks:
                        log.exception("accounting of park %s failed; its dirty days stay and are retried: %s",
                                      park.id, exc)
                    continue
                turn[2] -= 1
                recomputed.update((park.id, meter.id) for meter, _, _ in items)
                done += sum(len(consumed) for _, _, consumed in items)
                self._beat()
                if self.on_day is not None:
                    self.on_day(park.id, items)
                if self.stop.is_set():  # stopping: the days committed stay, the rest stay dirty
                    stopping = True
                    break
        stats.meters = len(recomputed)
        for park_id in set(self._failing_parks) - set(failed):
            log.info("accounting of park %s works again", park_id)
        self._failing_parks = set(failed)
        if unavailable and len(unavailable) + len(failed) == sum(1 for p in by_park if by_park[p]):
            raise unavailable[0]  # nothing got through: the run loop waits for the store
        if stopping:
            self.last_pass = stats
            return done
        for park in self.config.parks:
            self.finalise(park, stats)
        self._partitions_ahead()
        self.last_pass = stats
        return done

    def _beat(self) -> None:
        """Touch the heartbeat file (the health check's sign of progress), where one is configured."""
        if self.config.accounting.heartbeat_file:
            Path(self.config.accounting.heartbeat_file).touch()

    def _partitions_ahead(self) -> None:
        """Once a UTC day: the next months' interval partitions (PostgreSQL; nothing on SQLite), so a
        service that runs for months never writes into the DEFAULT partition."""
        today = self.clock().astimezone(UTC).date()
        if self._partitions_checked in (today, date.max):
            return
        ensure_partitions(self.engine, add_months(today, MONTHS_AHEAD), since=today)
        self._partitions_checked = today

    def run(self) -> None:
        store_down = False
        while not self.stop.is_set():
            more = False
            try:
                self.run_once(self.days_per_pass)
            except SinkUnavailable as exc:  # an outage: one line when it starts, one when it ends
                if not store_down:
                    log.warning("time-series store unavailable, accounting waits: %s", exc)
                store_down = True
            except Exception:  # keep the service alive; the day stays dirty and is retried
                log.exception("accounting pass failed; retrying")
            else:
                if store_down:
                    log.info("time-series store is back; accounting resumed")
                store_down = False
                self._beat()
                more = self.backlog
            # a backlog left for the next pass: go on at once (the stop event still ends the loop)
            self.stop.wait(0 if more else self.config.accounting.interval_s)
