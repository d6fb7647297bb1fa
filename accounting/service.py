"""The accounting service: turns raw counter readings into 15-minute interval energy.

Ingest marks every (park, meter, local day) that received readings as dirty, together with the
day before (energy between the last reading before midnight and the first after it is split
across both days). This loop recomputes each dirty day from the time-series store with the pure
interval engine and replaces that day's intervals, so late, replayed and out-of-order readings
revise exactly the days they touch. Recomputing a day is idempotent.
"""

import logging
import threading
from pathlib import Path
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import delete, select

from lingtan.kernel.config import Config
from lingtan.accounting.intervals import compute_intervals
from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
from lingtan.store.db import sessions
from lingtan.store.models import Dirty, IntervalEnergy
from lingtan.kernel import profile as profiles
from lingtan.store.timeseries.base import SinkUnavailable

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=15)


def day_bounds(day, zone) -> tuple[datetime, datetime]:
    """A park-local calendar day as a UTC half-open range."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


class Rollup:
    def __init__(self, config: Config, sink, engine, clock=lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.sink = sink
        self.sessions = sessions(engine)
        self.clock = clock
        self.stop = threading.Event()

    def samples(self, park: str, meter: str, quantity: str, start: datetime, end: datetime):
        s_ms, e_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        before, _ = self.sink.neighbours(park, meter, quantity, s_ms)
        _, after = self.sink.neighbours(park, meter, quantity, e_ms)
        rows = ([before] if before else []) + self.sink.series(park, meter, quantity, s_ms, e_ms)
        rows += [after] if after else []
        return [(datetime.fromtimestamp(t / 1000, UTC), v) for t, v in rows]

    def recompute_day(self, park_id: str, meter_id: str, day) -> int:
        park = self.config.park(park_id)
        meter = park.meter(meter_id)
        start, end = day_bounds(day, park.zone)
        now = self.clock()
        rows = []
        profile = profiles.load(meter.profile)
        # a step longer than this is spread over the gap and flagged estimated
        max_gap = max(INTERVAL, timedelta(seconds=3 * meter.poll_interval_s))
        for quantity in sorted(CARRIER_QUANTITIES[meter.carrier.value] & COUNTERS):
            samples = self.samples(park_id, meter_id, quantity, start, end)
            if not samples:
                continue
            for iv in compute_intervals(samples, start, end, interval=INTERVAL, max_gap=max_gap,
                                        rollover=profiles.counter_modulus(profile, quantity)):
                if iv.energy == 0 and iv.completeness == 0:
                    continue
                rows.append(IntervalEnergy(
                    park=park_id, meter=meter_id, quantity=quantity, start=iv.start, day=day,
                    amount=iv.energy, completeness=iv.completeness, estimated=iv.estimated,
                    flags=",".join(sorted(iv.flags))[:200], updated_at=now))
        with self.sessions.begin() as s:
            s.execute(delete(IntervalEnergy).where(IntervalEnergy.park == park_id, IntervalEnergy.meter == meter_id,
                                                   IntervalEnergy.day == day))
            s.add_all(rows)
        return len(rows)

    def run_once(self) -> int:
        """Recompute every dirty day; returns how many (meter, day) pairs were done."""
        with self.sessions() as s:
            dirty = s.execute(select(Dirty.park, Dirty.meter, Dirty.day, Dirty.token)).all()
        done = 0
        for park_id, meter_id, day, token in dirty:
            try:
                self.config.park(park_id).meter(meter_id)
            except KeyError:
                log.warning("dirty day for unknown meter %s/%s ignored", park_id, meter_id)
            else:
                self.recompute_day(park_id, meter_id, day)
                done += 1
            with self.sessions.begin() as s:
                # a reading that arrived while we computed renewed the token: the day stays dirty
                s.execute(delete(Dirty).where(Dirty.park == park_id, Dirty.meter == meter_id, Dirty.day == day,
                                              Dirty.token == token))
        return done

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
