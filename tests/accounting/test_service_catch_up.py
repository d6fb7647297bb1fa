"""The accounting service working off a backlog of days (the service was down while ingest went on
marking dirty days), on the real SQLite time-series store and a real SQLite platform database: one
bounded batch read and one transaction per park and local day, not one read and transaction over
the whole outage; a crash in the middle keeps the days done and the next pass does the rest; and
the intervals are those of one pass over everything, their sum the counters' difference.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from lingtan.accounting.service import PassStats, Rollup
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DailyEnergy, Dirty, IntervalEnergy, MonthlyEnergy
from lingtan.store.timeseries.base import Row, SinkUnavailable
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support.configs import config_of, meter, platform

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
END = T0 + timedelta(days=3)  # the backlog touches four local days, 15 to 18 June
PARK = "gw-park"
POLL_S = 60
METERS = 2
DAY_MS = 86_400_000


class Reads:
    """The real store, keeping every batch read's requests; `fail_at` makes that batch read raise
    SinkUnavailable (the store going away in the middle of a backlog)."""

    def __init__(self, inner: SqliteSink, fail_at: int | None = None) -> None:
        self.inner, self.fail_at, self.batches = inner, fail_at, []

    def write(self, rows, lines=None) -> None:
        self.inner.write(rows, lines)

    def series(self, *args):
        return self.inner.series(*args)

    def neighbours(self, *args):
        return self.inner.neighbours(*args)

    def read_windows(self, park, reads, look_back_ms):
        if len(self.batches) + 1 == self.fail_at:
            self.fail_at = None
            raise SinkUnavailable("the test's store went away")
        self.batches.append(reads)
        return self.inner.read_windows(park, reads, look_back_ms)


@pytest.fixture(scope="module")
def backlog(tmp_path_factory):
    """Three days of minute readings of two 100 kW meters in one SQLite store, never accounted."""
    path = tmp_path_factory.mktemp("backlog") / "ts.db"
    sink = SqliteSink(str(path))
    t, hours = T0, []
    while t <= END:
        hours.append([Row(PARK, f"m{j}", int(t.timestamp() * 1000), "gw-1", 0,
                          {"energy_import_kwh": 1000.0 * j + 100.0 * (t - T0).total_seconds() / 3600})
                      for j in range(METERS)])
        t += timedelta(seconds=POLL_S)
    rows = [r for batch in hours for r in batch]
    sink.write(rows)
    return path, [rows[i:i + 60 * METERS] for i in range(0, len(rows), 60 * METERS)]


class Platform:
    def __init__(self, tmp_path, backlog, fail_at: int | None = None) -> None:
        ts_path, flushes = backlog
        tmp_path.mkdir(exist_ok=True)
        meters = [meter(f"m{j}", "bus-1", j + 1, interval=POLL_S) for j in range(METERS)]
        self.config = config_of(platform(meters, [{"id": "bus-1"}], store=f"sqlite:///{tmp_path / 'platform.db'}",
                                         sink={"kind": "sqlite", "path": str(ts_path)}))
        self.engine = make_engine(self.config.store.url)
        ledger = Ledger(self.config, self.engine)
        for k, rows in enumerate(flushes):  # what ingest marked dirty while accounting was down
            ledger.commit(rows, [], token=f"t{k}")
        self.sink = Reads(SqliteSink(str(ts_path)), fail_at)
        self.rollup = Rollup(self.config, self.sink, self.engine, clock=lambda: END, days_per_transaction=1)
        self.commits = 0
        event.listen(self.engine, "commit", self._commit)

    def _commit(self, _conn) -> None:
        self.commits += 1

    def dirty(self) -> int:
        with sessions(self.engine)() as s:
            return s.scalar(select(func.count()).select_from(Dirty))

    def stored(self) -> dict:
        with sessions(self.engine)() as s:
            return {
                "intervals": {(r.meter, r.quantity, r.start.replace(tzinfo=UTC)): (
                    r.amount, r.completeness, r.estimated, r.flags, r.final)
                    for r in s.scalars(select(IntervalEnergy))},
                "daily": {(r.meter, r.quantity, r.day): (r.amount, r.completeness_sum, r.intervals)
                          for r in s.scalars(select(DailyEnergy))},
                "monthly": {(r.meter, r.quantity, r.month): (r.amount, r.completeness_sum, r.intervals)
                            for r in s.scalars(select(MonthlyEnergy))}}


def _in_one_go(tmp_path, backlog) -> dict:
    """The whole backlog as one read and one transaction (what a pass did before): the reference."""
    p = Platform(tmp_path, backlog)
    with sessions(p.engine)() as s:
        marks = s.execute(select(Dirty)).scalars().all()
        items = []
        for m in p.config.park(PARK).meters:
            mine = [d for d in marks if d.meter == m.id]
            items.append((m, [(d.first_ms, d.last_ms) for d in mine], [(d.day, d.token) for d in mine]))
    p.rollup.recompute_park(p.config.park(PARK), items, PassStats())
    assert len(p.sink.batches) == 1 and p.dirty() == 0
    return p.stored()


def _same(got: dict, reference: dict) -> None:
    """The same rows with the same values; energy equal but for float rounding (the interval engine
    apportions from its window's first sample, so another window start rounds a last bit apart)."""
    for table in ("intervals", "daily", "monthly"):
        assert got[table].keys() == reference[table].keys(), table
        for key, (amount, *rest) in reference[table].items():
            assert got[table][key][0] == pytest.approx(amount, rel=1e-12, abs=1e-9), (table, key)
            assert got[table][key][1:] == tuple(rest), (table, key)


def test_a_backlog_of_days_is_worked_off_a_day_per_read_and_transaction(tmp_path, backlog):
    reference = _in_one_go(tmp_path / "reference", backlog)
    p = Platform(tmp_path / "chunked", backlog)
    assert p.dirty() == 4 * METERS
    commits = p.commits
    p.rollup.run_once()
    assert p.dirty() == 0
    # one batch read per local day, each of about a day (a day of spans and a few polls either side)
    assert len(p.sink.batches) == 4
    for reads in p.sink.batches:
        assert {r.meter for r in reads} == {f"m{j}" for j in range(METERS)}
        assert max(r.end_ms for r in reads) - min(r.start_ms for r in reads) <= DAY_MS + 3_600_000
    assert p.commits - commits >= 4 + 1  # a transaction per day, and the settling sweep
    assert p.rollup.last_pass.meters == METERS
    got = p.stored()
    _same(got, reference)
    for j in range(METERS):  # energy conserved: the intervals add up to the counter's difference
        total = sum(v[0] for k, v in got["intervals"].items() if k[0] == f"m{j}")
        assert total == pytest.approx(100.0 * 72, rel=1e-9)
        assert sum(v[0] for k, v in got["daily"].items() if k[0] == f"m{j}") == pytest.approx(total, rel=1e-12)


def test_a_backlog_interrupted_mid_way_keeps_the_days_done_and_finishes_next_pass(tmp_path, backlog):
    reference = _in_one_go(tmp_path / "reference", backlog)
    p = Platform(tmp_path / "crash", backlog, fail_at=3)
    with pytest.raises(SinkUnavailable):
        p.rollup.run_once()
    assert p.dirty() == 2 * METERS  # the first two days were committed with their marks
    with sessions(p.engine)() as s:
        days = set(s.scalars(select(DailyEnergy.day)))
    assert days == {T0.date(), T0.date() + timedelta(days=1), T0.date() + timedelta(days=2)}  # 16th's end is 17th
    p.rollup.run_once()
    assert p.dirty() == 0
    _same(p.stored(), reference)
