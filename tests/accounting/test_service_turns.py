"""The accounting service working off a backlog of two parks (the service was down while ingest went
on marking dirty days), on the real SQLite time-series store and a real SQLite platform database: a
long catch-up touches the heartbeat after every committed day, stops within a day's transaction
when the service is told to stop, lets the parks take turns day by day, and hands what is over a
pass's share of days to the next pass, which follows at once.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from lingtan.accounting.service import Rollup
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DailyEnergy, Dirty
from lingtan.store.timeseries.base import Row
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support.configs import config_of, meter, platform

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
END = T0 + timedelta(days=3)  # the backlog touches four local days, 15 to 18 June
PARKS = ("park-a", "park-b")
POLL_S = 600
DAYS = 4


class Store:
    """The real store, keeping the park of every batch read; `at_read(k)` runs before the k-th
    (1-based) batch read is answered."""

    def __init__(self, inner: SqliteSink, at_read=None) -> None:
        self.inner, self.at_read, self.parks = inner, at_read, []

    def series(self, *args):
        return self.inner.series(*args)

    def neighbours(self, *args):
        return self.inner.neighbours(*args)

    def read_windows(self, park, reads, look_back_ms):
        self.parks.append(park)
        if self.at_read is not None:
            self.at_read(len(self.parks))
        return self.inner.read_windows(park, reads, look_back_ms)


@pytest.fixture(scope="module")
def readings(tmp_path_factory):
    """Three days of 10-minute readings of a 100 kW meter in each of two parks, never accounted."""
    path = tmp_path_factory.mktemp("turns") / "ts.db"
    rows, t = [], T0
    while t <= END:
        rows += [Row(park, "m1", int(t.timestamp() * 1000), f"gw-{park}", 0,
                     {"energy_import_kwh": 100.0 * (t - T0).total_seconds() / 3600}) for park in PARKS]
        t += timedelta(seconds=POLL_S)
    SqliteSink(str(path)).write(rows)
    return path, rows


class Platform:
    def __init__(self, tmp_path, readings, at_read=None, **rollup) -> None:
        ts_path, rows = readings
        self.heartbeat = tmp_path / "heartbeat"
        data = platform([meter("m1", "bus-1", 1, interval=POLL_S, gateway="gw-park-a")], [{"id": "bus-1"}],
                        park="park-a", gateway="gw-park-a", store=f"sqlite:///{tmp_path / 'platform.db'}",
                        sink={"kind": "sqlite", "path": str(ts_path)},
                        accounting={"heartbeat_file": str(self.heartbeat), "interval_s": 3600})
        data["parks"].append({"id": "park-b", "name": "Test park park-b",
                              "meters": [meter("m1", "bus-1", 1, interval=POLL_S, gateway="gw-park-b")]})
        data["gateways"].append({"id": "gw-park-b", "park": "park-b", "buses": [{"id": "bus-1"}]})
        self.config = config_of(data)
        self.engine = make_engine(self.config.store.url)
        ledger = Ledger(self.config, self.engine)
        for k in range(0, len(rows), 12):  # what ingest marked dirty while accounting was down
            ledger.commit(rows[k:k + 12], [], token=f"t{k}")
        self.store = Store(SqliteSink(str(ts_path)), at_read)
        self.rollup = Rollup(self.config, self.store, self.engine, clock=lambda: END,
                             **{"days_per_transaction": 1, **rollup})

    def dirty(self) -> dict[str, int]:
        with sessions(self.engine)() as s:
            return dict(s.execute(select(Dirty.park, func.count()).group_by(Dirty.park)).all())

    def days_done(self) -> dict[str, set]:
        with sessions(self.engine)() as s:
            out: dict[str, set] = {park: set() for park in PARKS}
            for park, day in s.execute(select(DailyEnergy.park, DailyEnergy.day)):
                out[park].add(day)
            return out


def test_a_catch_up_touches_the_heartbeat_after_every_day_and_stops_after_the_day_under_way(tmp_path, readings):
    seen = []

    def at_read(k: int) -> None:
        # the heartbeat is removed at every batch read: before the next one it must be back
        seen.append(p.heartbeat.exists())
        p.heartbeat.unlink(missing_ok=True)
        if k == 3:
            p.rollup.stop.set()

    p = Platform(tmp_path, readings, at_read)
    assert p.dirty() == {park: DAYS for park in PARKS}
    p.rollup.run_once()
    assert seen == [False, True, True]  # touched after the first and the second day's transaction
    assert p.heartbeat.exists()  # and after the third
    # stopped after the third day's transaction (the parks taking turns): what was done stays
    # committed, the rest stays dirty for the next start
    assert len(p.store.parks) == 3
    assert p.dirty() == {"park-a": DAYS - 2, "park-b": DAYS - 1}
    done = p.days_done()  # a day's window reaches into the next day (up to the reading after it)
    assert T0.date() + timedelta(days=1) in done["park-a"] and T0.date() in done["park-b"]
    assert T0.date() + timedelta(days=3) not in done["park-a"] | done["park-b"]


def test_parks_take_turns_and_a_pass_leaves_what_is_over_its_share_to_the_next(tmp_path, readings):
    p = Platform(tmp_path, readings)
    p.rollup.run_once(days_per_park=2)  # the loop's passes are bounded so; tools' take everything
    assert p.store.parks == ["park-a", "park-b", "park-a", "park-b"]  # a day each in turn
    assert p.dirty() == {park: DAYS - 2 for park in PARKS}
    assert p.rollup.backlog
    p.rollup.run_once()
    assert p.dirty() == {}
    assert not p.rollup.backlog
    assert p.rollup.last_pass.meters == 2


def test_the_run_loop_goes_on_at_once_while_a_backlog_is_left(tmp_path, readings):
    # a day per pass and an hour between passes: the backlog is done only if passes with work
    # left follow each other without the pause
    done = threading.Event()
    p = Platform(tmp_path, readings, at_read=lambda k: k == 2 * DAYS and done.set(), days_per_pass=1)
    worker = threading.Thread(target=p.rollup.run, daemon=True)
    worker.start()
    try:
        assert done.wait(15), p.store.parks
    finally:
        p.rollup.stop.set()
        worker.join(15)
    assert not worker.is_alive()
    assert p.dirty() == {}
