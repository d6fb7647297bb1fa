"""The accounting service on the incremental path, with the real SQLite time-series store and a
real platform database (SQLite file and PostgreSQL): only changed intervals get new revisions,
the sync feed sends only what changed, finality, aggregates equal to the intervals, and a pass
reads back what arrived, not the day.
"""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DailyEnergy, IntervalEnergy, MonthlyEnergy
from lingtan.store.timeseries.base import Row
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support.configs import config_of, meter, platform

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
PARK = "gw-park"
POLL_S = 15


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.db'}"
    return request.getfixturevalue("postgres").url


class Park:
    """One 100 kW meter read every 15 s: readings go through the store and the ledger as ingest
    writes them, passes of the accounting service, and the sync feed of the API."""

    def __init__(self, tmp_path, db_url: str) -> None:
        data = platform([meter("m1", "bus-1", 1, interval=POLL_S)], [{"id": "bus-1"}], store=db_url,
                        sink={"kind": "sqlite", "path": str(tmp_path / "ts.db")})
        self.config = config_of(data)
        self.engine = make_engine(db_url)
        self.sink = SqliteSink(str(tmp_path / "ts.db"))
        self.ledger = Ledger(self.config, self.engine)
        self.now = T0
        self.rollup = Rollup(self.config, self.sink, self.engine, clock=lambda: self.now)
        with sessions(self.engine).begin() as s:
            _, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="city", now=T0)
        self.client = TestClient(create_app(self.config, self.engine, clock=lambda: self.now),
                                 headers={"Authorization": f"Bearer {key}"})
        self.cursor = None
        self.seq = 0

    def read(self, t: datetime) -> None:
        """The meter's reading at t: 100 kW since T0."""
        self.seq += 1
        kwh = 1000.0 + 100.0 * (t - T0).total_seconds() / 3600
        row = Row(PARK, "m1", int(t.timestamp() * 1000), "gw-1", self.seq, {"energy_import_kwh": kwh})
        self.sink.write([row])
        self.ledger.commit([row], [], token=f"t{self.seq}")
        self.now = max(self.now, t)

    def readings(self, first: datetime, last: datetime) -> None:
        t = first
        while t <= last:
            self.read(t)
            t += timedelta(seconds=POLL_S)

    def poll(self) -> list[dict]:
        """One sync poll, following has_more; keeps the cursor like the city platform does."""
        items = []
        while True:
            params = {"cursor": self.cursor} if self.cursor else {}
            page = self.client.get(f"/api/v1/parks/{PARK}/sync/intervals", params=params)
            page.raise_for_status()
            body = page.json()
            items += body["items"]
            self.cursor = body["next_cursor"]
            if not body["has_more"]:
                return items

    def intervals(self) -> dict[datetime, IntervalEnergy]:
        with sessions(self.engine)() as s:
            rows = s.scalars(select(IntervalEnergy).where(IntervalEnergy.park == PARK)).all()
        return {(r.start if r.start.tzinfo else r.start.replace(tzinfo=UTC)): r for r in rows}


def test_sync_sends_only_what_changed_and_closed_intervals_are_final(tmp_path, db_url):
    p = Park(tmp_path, db_url)
    p.readings(T0, T0 + timedelta(minutes=45))  # three quarter hours, closed by the reading at 10:45
    p.rollup.run_once()
    first = p.poll()
    assert sorted(i["start"] for i in first) == ["2026-06-15T02:00:00Z", "2026-06-15T02:15:00Z",
                                                 "2026-06-15T02:30:00Z"]
    assert all(i["final"] and i["amount"] == pytest.approx(25.0) for i in first)

    # no new readings: a pass changes nothing and the next poll is empty
    p.rollup.run_once()
    assert p.poll() == []

    # readings of the next quarter hour: only it is sent; the closed ones are not re-sent
    p.readings(T0 + timedelta(minutes=45, seconds=15), T0 + timedelta(minutes=52))
    p.rollup.run_once()
    items = p.poll()
    assert [i["start"] for i in items] == ["2026-06-15T02:45:00Z"]
    assert not items[0]["final"] and items[0]["completeness"] < 1
    p.readings(T0 + timedelta(minutes=52, seconds=15), T0 + timedelta(minutes=60))
    p.rollup.run_once()
    items = p.poll()
    assert [(i["start"], i["final"]) for i in items] == [("2026-06-15T02:45:00Z", True)]
    assert items[0]["amount"] == pytest.approx(25.0)
    assert p.poll() == []


def _with_hole(p: Park, hole_start: datetime, hole_end: datetime, until: datetime) -> None:
    t = T0
    while t <= until:
        if not hole_start <= t < hole_end:
            p.read(t)
        t += timedelta(seconds=POLL_S)


def test_late_readings_revise_only_the_intervals_they_touch(tmp_path, db_url):
    p = Park(tmp_path, db_url)
    # a 20-minute hole, longer than max_gap (one quarter hour): 10:15-10:45 are estimated, not final
    _with_hole(p, T0 + timedelta(minutes=20), T0 + timedelta(minutes=40), T0 + timedelta(hours=2))
    p.rollup.run_once()
    p.poll()
    before = p.intervals()
    holed = [T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)]
    for start in holed:
        assert before[start].estimated and not before[start].final
    assert before[T0].final and before[T0 + timedelta(minutes=45)].final

    # the missing readings arrive late (a gateway's spool replays them)
    p.readings(T0 + timedelta(minutes=20), T0 + timedelta(minutes=39, seconds=45))
    p.rollup.run_once()
    items = p.poll()
    assert sorted(i["start"] for i in items) == ["2026-06-15T02:15:00Z", "2026-06-15T02:30:00Z"]
    assert all(i["final"] and not i["estimated"] and "revised_after_final" not in i["flags"] for i in items)
    after = p.intervals()
    for start, row in after.items():
        if start not in holed:
            assert row.revision == before[start].revision, start  # untouched intervals keep theirs
    assert all(r.amount == pytest.approx(25.0) for s, r in after.items() if s < T0 + timedelta(hours=2))


def test_a_final_interval_that_changes_all_the_same_says_so(tmp_path, db_url):
    p = Park(tmp_path, db_url)
    # a 10-minute hole across 10:30 is bridged (shorter than max_gap): both sides complete, final
    _with_hole(p, T0 + timedelta(minutes=25), T0 + timedelta(minutes=35), T0 + timedelta(hours=1))
    p.rollup.run_once()
    p.poll()
    assert p.intervals()[T0 + timedelta(minutes=15)].final and p.intervals()[T0 + timedelta(minutes=30)].final
    # the late readings show the load ran at 200 kW before 10:30 and 0 kW after, not 100 kW throughout
    for k in range(40):
        t = T0 + timedelta(minutes=25, seconds=POLL_S * k)
        minutes = (t - T0).total_seconds() / 60
        kwh = 1000.0 + 100.0 * 25 / 60 + 200.0 * min(minutes - 25, 5) / 60
        p.seq += 1
        row = Row(PARK, "m1", int(t.timestamp() * 1000), "gw-1", p.seq, {"energy_import_kwh": kwh})
        p.sink.write([row])
        p.ledger.commit([row], [], token=f"late{k}")
    p.rollup.run_once()
    items = {i["start"]: i for i in p.poll()}
    assert set(items) == {"2026-06-15T02:15:00Z", "2026-06-15T02:30:00Z"}
    assert items["2026-06-15T02:15:00Z"]["amount"] == pytest.approx(100 * 10 / 60 + 200 * 5 / 60)
    assert items["2026-06-15T02:30:00Z"]["amount"] == pytest.approx(100 * 10 / 60)
    assert all("revised_after_final" in i["flags"] and i["final"] for i in items.values())


def test_incomplete_intervals_become_final_after_the_settling_time(tmp_path, db_url):
    p = Park(tmp_path, db_url)
    p.readings(T0, T0 + timedelta(minutes=20))
    p.rollup.run_once()
    items = p.poll()
    assert [i["final"] for i in sorted(items, key=lambda i: i["start"])] == [True, False]
    p.now = T0 + timedelta(days=p.config.accounting.settle_days, hours=1)
    p.rollup.run_once()
    assert p.rollup.last_pass.finalised == 1
    items = p.poll()
    assert [(i["start"], i["final"]) for i in items] == [("2026-06-15T02:15:00Z", True)]
    p.rollup.run_once()
    assert p.poll() == []


def test_aggregates_equal_the_intervals_and_a_pass_reads_what_arrived(tmp_path, db_url):
    p = Park(tmp_path, db_url)
    # a day and a half with a midnight (16:00 UTC) in it
    p.readings(T0, T0 + timedelta(hours=36))
    p.rollup.run_once()
    with sessions(p.engine)() as s:
        by_day = dict(s.execute(select(IntervalEnergy.day, func.sum(IntervalEnergy.amount))
                                .group_by(IntervalEnergy.day)).all())
        daily = {r.day: r for r in s.scalars(select(DailyEnergy))}
        monthly = s.scalars(select(MonthlyEnergy)).all()
    assert set(daily) == set(by_day) and len(daily) == 2
    for day, total in by_day.items():
        assert daily[day].amount == pytest.approx(total, rel=1e-12)
    assert [m.amount for m in monthly] == [pytest.approx(sum(by_day.values()), rel=1e-12)]
    assert sum(by_day.values()) == pytest.approx(3600.0, rel=1e-9)  # 36 h at 100 kW

    # live: one new reading per pass reads a few readings back, not the day's thousands
    for k in range(1, 6):
        p.read(T0 + timedelta(hours=36, seconds=POLL_S * k))
        p.rollup.run_once()
        stats = p.rollup.last_pass
        assert stats.meters == 1 and stats.windows == 2  # one window per counter: import and export
        assert stats.samples <= 900 / POLL_S + 4  # at most one quarter hour of readings and its neighbours
        assert stats.intervals_written == 1  # the open quarter hour; the closed ones are untouched
