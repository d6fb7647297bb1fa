"""The accounting service: turns raw counter readings into 15-minute interval energy, and keeps
the daily and monthly sums of it.

Ingest marks every (park, meter, local day) that received readings as dirty, with the span of
their timestamps. Each pass recomputes, per meter and counter, only the intervals that span can
change: from the interval holding the stored reading just before it to the one holding the
reading just after it (energy between two readings is apportioned between them). It reads
those readings from the time-series store, runs the pure interval engine on them, and in one
transaction writes the intervals whose values changed (unchanged ones keep their revision, so
the city platform's sync sees only real revisions), the daily and monthly aggregates of the days
touched, and clears the dirty marks it consumed. Recomputing is idempotent: late, replayed and
out-of-order readings revise exactly the intervals they touch.

A dirty day without a span (marked before spans existed) is recomputed whole.

Finality: an interval is final once complete (every second of it measured, so a reading at or
after its end is stored); an incomplete one becomes final when its local day is older than
`accounting.settle_days`. A final interval that changes after all is rewritten with the flag
`revised_after_final` and a new revision (docs/api.md, "Finality").
"""

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from lingtan.accounting.intervals import Interval, compute_intervals
from lingtan.kernel import profile as profiles
from lingtan.kernel.config import Config
from lingtan.kernel.localtime import PeriodKind, day_bounds, first_day, local_day, next_first_day
from lingtan.kernel.park import Meter, Park
from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
from lingtan.store.db import sessions
from lingtan.store.models import DailyEnergy, Dirty, IntervalEnergy, MonthlyEnergy
from lingtan.store.partitions import MONTHS_AHEAD, add_months, ensure_partitions
from lingtan.store.timeseries.base import SinkUnavailable, TimeSeriesStore

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=15)
_INTERVAL_MS = 900_000
_MERGE_MS = 86_400_000  # spans of one meter less than a day apart are recomputed as one window
REVISED_AFTER_FINAL = "revised_after_final"
SWEEP_LIMIT = 5000  # intervals finalised per park and pass


@dataclass
class PassStats:
    """What one pass did: the work is proportional to these, not to the history stored."""

    meters: int = 0  # (park, meter) pairs recomputed
    windows: int = 0  # (meter, counter, window) recomputations
    samples: int = 0  # readings read back from the time-series store
    intervals_written: int = 0  # inserted or changed (new revisions)
    intervals_unchanged: int = 0
    finalised: int = 0


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def windows(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge reading spans (first_ms, last_ms) lying less than a day apart."""
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= _MERGE_MS:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def update_aggregates(s: Session, park_id: str, zone: ZoneInfo, meter_id: str, quantity: str,
                      days: set[date]) -> None:
    """Recompute a meter counter's daily sums of local `days` from their intervals, then their
    months' sums, in the caller's transaction (after the intervals were written)."""
    s.flush()
    for day in days:
        start, end = day_bounds(day, zone)
        sums = s.execute(
            select(func.sum(IntervalEnergy.amount), func.sum(IntervalEnergy.completeness), func.count())
            .where(IntervalEnergy.park == park_id, IntervalEnergy.meter == meter_id,
                   IntervalEnergy.quantity == quantity, IntervalEnergy.start >= start,
                   IntervalEnergy.start < end)).one()
        _put(s, DailyEnergy, dict(park=park_id, meter=meter_id, quantity=quantity, day=day), sums)
    s.flush()
    for month in {first_day(d, PeriodKind.MONTH) for d in days}:
        sums = s.execute(
            select(func.sum(DailyEnergy.amount), func.sum(DailyEnergy.completeness_sum),
                   func.sum(DailyEnergy.intervals))
            .where(DailyEnergy.park == park_id, DailyEnergy.meter == meter_id, DailyEnergy.quantity == quantity,
                   DailyEnergy.day >= month, DailyEnergy.day < next_first_day(month, PeriodKind.MONTH))).one()
        _put(s, MonthlyEnergy, dict(park=park_id, meter=meter_id, quantity=quantity, month=month), sums)


def _put(s: Session, table, key: dict, sums) -> None:
    """Store (amount, completeness sum, intervals) under key, or remove the row when there are none."""
    amount, completeness, n = sums
    row = s.get(table, key)
    if not n:
        if row is not None:
            s.delete(row)
        return
    if row is None:
        row = table(**key)
        s.add(row)
    row.amount, row.completeness_sum, row.intervals = float(amount), float(completeness or 0), int(n)


class Rollup:
    def __init__(self, config: Config, sink: TimeSeriesStore, engine: Engine,
                 clock=lambda: datetime.now(UTC), keep_partitions: bool = True) -> None:
        self.config = config
        self.sink = sink
        self.engine = engine
        self.sessions = sessions(engine)
        self.clock = clock
        # once a UTC day, the next months' interval partitions (off where a timer does it)
        self._partitions_checked: date | None = None if keep_partitions else date.max
        self.stop = threading.Event()
        self.last_pass = PassStats()

    # -- reading back ------------------------------------------------------------------------
    def _window_samples(self, park: str, meter: str, quantity: str, first_ms: int, last_ms: int,
                        stats: PassStats) -> tuple[datetime, datetime, list[tuple[datetime, float]]] | None:
        """The interval-aligned window that readings in [first_ms, last_ms] can change, with the
        readings in it and one on each side; None when there are none."""
        before, _ = self.sink.neighbours(park, meter, quantity, first_ms)
        _, after = self.sink.neighbours(park, meter, quantity, last_ms + 1)
        t0 = before[0] if before else first_ms
        t1 = after[0] if after else last_ms
        start_ms = t0 - t0 % _INTERVAL_MS
        end_ms = t1 - t1 % _INTERVAL_MS + _INTERVAL_MS
        rows = self.sink.series(park, meter, quantity, start_ms, end_ms)
        head, _ = self.sink.neighbours(park, meter, quantity, start_ms)
        _, tail = self.sink.neighbours(park, meter, quantity, end_ms)
        rows = ([head] if head else []) + rows + ([tail] if tail else [])
        stats.samples += len(rows)
        if not rows:
            return None
        return _utc(start_ms), _utc(end_ms), [(_utc(t), v) for t, v in rows]

    # -- recomputing ---------------------------------------------------------------------------
    def _intervals(self, meter: Meter, quantity: str, start: datetime, end: datetime, samples) -> list[Interval]:
        # a step longer than this is spread over the gap and flagged estimated
        max_gap = max(INTERVAL, timedelta(seconds=3 * meter.poll_interval_s))
        modulus = profiles.counter_modulus(profiles.load(meter.profile), quantity)
        return [iv for iv in compute_intervals(samples, start, end, interval=INTERVAL, max_gap=max_gap,
                                               rollover=modulus)
                if not (iv.energy == 0 and iv.completeness == 0)]

    def _write(self, s: Session, park: Park, meter: Meter, quantity: str, start: datetime, end: datetime,
               computed: list[Interval], now: datetime, stats: PassStats) -> set[date]:
        """Bring the stored intervals of [start, end) to `computed`; returns the local days touched."""
        stored = {r.start if r.start.tzinfo else r.start.replace(tzinfo=UTC): r for r in s.scalars(
            select(IntervalEnergy).where(IntervalEnergy.park == park.id, IntervalEnergy.meter == meter.id,
                                         IntervalEnergy.quantity == quantity, IntervalEnergy.start >= start,
                                         IntervalEnergy.start < end))}
        days: set[date] = set()
        for iv in computed:
            flags = ",".join(sorted(iv.flags))
            row = stored.pop(iv.start, None)
            if row is not None and (row.amount, row.completeness, row.estimated) == (iv.energy, iv.completeness,
                                                                                      iv.estimated) \
                    and set(filter(None, row.flags.split(","))) - {REVISED_AFTER_FINAL} == set(iv.flags):
                stats.intervals_unchanged += 1
                continue
            day = local_day(iv.start, park.zone)
            days.add(day)
            stats.intervals_written += 1
            if row is None:
                s.add(IntervalEnergy(park=park.id, meter=meter.id, quantity=quantity, start=iv.start, day=day,
                                     amount=iv.energy, completeness=iv.completeness, estimated=iv.estimated,
                                     flags=flags[:200], updated_at=now, final=iv.completeness >= 1.0))
                continue
            if row.final:  # it was declared final and changed all the same: say so
                flags = ",".join(sorted({*iv.flags, REVISED_AFTER_FINAL}))
            row.amount, row.completeness, row.estimated = iv.energy, iv.completeness, iv.estimated
            row.flags, row.updated_at = flags[:200], now
            row.final = row.final or iv.completeness >= 1.0
        for row in stored.values():  # intervals the readings no longer support
            days.add(row.day)
            s.delete(row)
        return days

    def recompute(self, park: Park, meter: Meter, spans: list[tuple[int, int]], consumed: list[tuple[date, str]],
                  stats: PassStats) -> None:
        """Recompute one meter's intervals around `spans` and clear the dirty marks `consumed`
        ((day, token) pairs) in the same transaction."""
        now = self.clock()
        work = []
        for quantity in sorted(CARRIER_QUANTITIES[meter.carrier.value] & COUNTERS):
            for first_ms, last_ms in windows(spans):
                stats.windows += 1
                found = self._window_samples(park.id, meter.id, quantity, first_ms, last_ms, stats)
                if found is not None:
                    start, end, samples = found
                    work.append((quantity, start, end, self._intervals(meter, quantity, start, end, samples)))
        with self.sessions.begin() as s:
            for quantity, start, end, computed in work:
                days = self._write(s, park, meter, quantity, start, end, computed, now, stats)
                update_aggregates(s, park.id, park.zone, meter.id, quantity, days)
            for day, token in consumed:
                # a reading that arrived meanwhile renewed the token: the day stays dirty
                s.execute(delete(Dirty).where(Dirty.park == park.id, Dirty.meter == meter.id, Dirty.day == day,
                                              Dirty.token == token))

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
    def run_once(self) -> int:
        """Recompute every dirty meter; returns how many (meter, day) marks were consumed."""
        stats = PassStats()
        with self.sessions() as s:
            dirty = s.execute(select(Dirty.park, Dirty.meter, Dirty.day, Dirty.token, Dirty.first_ms,
                                     Dirty.last_ms)).all()
        by_meter: dict[tuple[str, str], list] = defaultdict(list)
        for row in dirty:
            by_meter[(row.park, row.meter)].append(row)
        done = 0
        for (park_id, meter_id), marks in by_meter.items():
            try:
                park = self.config.park(park_id)
                meter = park.meter(meter_id)
            except KeyError:
                log.warning("dirty day for unknown meter %s/%s ignored", park_id, meter_id)
                with self.sessions.begin() as s:
                    s.execute(delete(Dirty).where(Dirty.park == park_id, Dirty.meter == meter_id))
                continue
            spans = []
            for m in marks:
                if m.first_ms is None:  # the whole day
                    start, end = day_bounds(m.day, park.zone)
                    spans.append((_ms(start), _ms(end) - 1))
                else:
                    spans.append((m.first_ms, m.last_ms))
            self.recompute(park, meter, spans, [(m.day, m.token) for m in marks], stats)
            stats.meters += 1
            done += len(marks)
        for park in self.config.parks:
            self.finalise(park, stats)
        self._partitions_ahead()
        self.last_pass = stats
        return done

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
            try:
                self.run_once()
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
                if self.config.accounting.heartbeat_file:
                    Path(self.config.accounting.heartbeat_file).touch()
            self.stop.wait(self.config.accounting.interval_s)
