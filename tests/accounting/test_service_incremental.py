"""The accounting service on the incremental path, with the real SQLite time-series store and a
real platform database (SQLite file and PostgreSQL): only changed intervals get new revisions,
the sync feed sends only what changed, finality, aggregates equal to the intervals, and a pass
reads back what arrived, not the day.
"""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DailyEnergy, IntervalEnergy, MonthlyEnergy
from lingtan.store.timeseries.base import Row, windows_one_by_one
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
        # one window: the meter's readings carry energy_import_kwh only, so energy_export_kwh (a
        # counter of its carrier the batch read finds no sample of) is skipped
        assert stats.meters == 1 and stats.windows == 1 and stats.read_alone == 0
        assert stats.samples <= 900 / POLL_S + 4  # at most one quarter hour of readings and its neighbours
        assert stats.intervals_written == 1  # the open quarter hour; the closed ones are untouched


class Fleet:
    """`n` meters read every 15 s into the real SQLite store and the ledger, with a count of the
    store's read calls and of the platform database's statements per pass."""

    def __init__(self, tmp_path, db_url: str, n: int, per_counter: bool = False) -> None:
        tmp_path.mkdir(exist_ok=True)
        meters = [meter(f"m{j}", "bus-1", j + 1, interval=POLL_S) for j in range(n)]
        self.config = config_of(platform(meters, [{"id": "bus-1"}], store=db_url,
                                         sink={"kind": "sqlite", "path": str(tmp_path / "ts.db")}))
        self.engine = make_engine(db_url)
        self.sink = CountedReads(SqliteSink(str(tmp_path / "ts.db")), per_counter)
        self.ledger = Ledger(self.config, self.engine)
        self.now = T0
        self.rollup = Rollup(self.config, self.sink, self.engine, clock=lambda: self.now)
        self.n, self.seq, self.statements = n, 0, 0
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.statements += 1

    def read(self, t: datetime, skip=(), export=()) -> None:
        """Every meter's reading at t (meters in `skip` missing; those in `export` also export)."""
        rows = []
        for j in range(self.n):
            if j in skip:
                continue
            self.seq += 1
            hours = (t - T0).total_seconds() / 3600
            values = {"energy_import_kwh": 1000.0 * j + 100.0 * hours}
            if j in export:
                values["energy_export_kwh"] = 10.0 * hours
            rows.append(Row(PARK, f"m{j}", int(t.timestamp() * 1000), "gw-1", self.seq, values))
        self.sink.write(rows)
        self.ledger.commit(rows, [], token=f"t{self.seq}")
        self.now = max(self.now, t)

    def readings(self, first: datetime, last: datetime, **kw) -> None:
        t = first
        while t <= last:
            self.read(t, **kw)
            t += timedelta(seconds=POLL_S)

    def stored(self) -> dict:
        with sessions(self.engine)() as s:
            intervals = {(r.meter, r.quantity, r.start.replace(tzinfo=UTC)): (r.amount, r.completeness, r.estimated,
                                                                               r.flags, r.final)
                         for r in s.scalars(select(IntervalEnergy))}
            daily = {(r.meter, r.quantity, r.day): (r.amount, r.completeness_sum, r.intervals)
                     for r in s.scalars(select(DailyEnergy))}
            monthly = {(r.meter, r.quantity, r.month): (r.amount, r.completeness_sum, r.intervals)
                       for r in s.scalars(select(MonthlyEnergy))}
        return {"intervals": intervals, "daily": daily, "monthly": monthly}


class CountedReads:
    """The real store, counting its read calls; with per_counter, its batch read is answered by
    the per-counter reads (`windows_one_by_one`), the path the batch read must equal."""

    def __init__(self, inner, per_counter: bool) -> None:
        self.inner, self.per_counter, self.calls = inner, per_counter, 0

    def write(self, rows, lines=None) -> None:
        self.inner.write(rows, lines)

    def series(self, *args):
        self.calls += 1
        return self.inner.series(*args)

    def neighbours(self, *args):
        self.calls += 1
        return self.inner.neighbours(*args)

    def read_windows(self, park, reads, look_back_ms):
        if self.per_counter:
            return windows_one_by_one(self, park, reads, look_back_ms)
        self.calls += 1
        return self.inner.read_windows(park, reads, look_back_ms)

    def close(self) -> None:
        self.inner.close()


def test_a_pass_reads_a_park_in_one_batch_and_writes_it_in_a_few_statements(tmp_path, db_url):
    """Issue 13: a pass's store reads and database statements do not grow with the meters (before,
    nine store reads per counter and a transaction of several statements per meter and counter)."""
    n = 24
    f = Fleet(tmp_path, db_url, n)
    f.readings(T0, T0 + timedelta(minutes=20))
    f.rollup.run_once()
    f.read(T0 + timedelta(minutes=20, seconds=15))
    calls, statements = f.sink.calls, f.statements
    f.rollup.run_once()
    assert f.sink.calls - calls == 1  # one batch read for the park
    # the dirty marks, the stored intervals, the revision counter, the intervals' upsert, a day's and
    # a month's sums and upserts, the marks' delete, the settling sweep: not one per meter
    assert f.statements - statements <= 14, f.statements - statements
    stats = f.rollup.last_pass
    assert stats.meters == n and stats.windows == n and stats.read_alone == 0
    assert stats.intervals_written == n  # each meter's open quarter hour


def test_the_batch_path_equals_reading_counter_by_counter(tmp_path, db_url, request):
    """The same readings (a hole longer than the batch read's look-back, a late replay into it, an
    export counter on one meter, a meter that stops) give the same intervals, flags, finality and
    aggregates on the batch path as on the per-counter reads of the same store."""
    fleets = [Fleet(tmp_path / "batch", db_url, 3), Fleet(tmp_path / "alone", _second_db(request, tmp_path, db_url), 3,
                                                          per_counter=True)]
    hole = (T0 + timedelta(minutes=50), T0 + timedelta(hours=3, minutes=10))  # longer than the hour looked back
    for f in fleets:
        t = T0
        while t <= T0 + timedelta(hours=4):
            f.read(t, skip={1} if hole[0] <= t < hole[1] else (), export={2})
            t += timedelta(seconds=POLL_S)
            if t.minute % 30 == 0 and t.second == 0:
                f.rollup.run_once()
        f.rollup.run_once()
    assert fleets[0].rollup.last_pass.read_alone == 0
    for f in fleets:  # meter 1's spool replays the hole's first hour, then the meters run on
        f.readings(hole[0], hole[0] + timedelta(hours=1), skip={0, 2})
        f.rollup.run_once()
        f.stats = f.rollup.last_pass
        f.readings(T0 + timedelta(hours=4, seconds=15), T0 + timedelta(hours=4, minutes=20), skip={2})
        f.rollup.run_once()
    assert fleets[0].stats.read_alone >= 1  # the replay's end lies in the hole: read alone
    batch, alone = (f.stored() for f in fleets)
    assert batch["intervals"] and batch == alone
    assert any(k[1] == "energy_export_kwh" for k in batch["intervals"])
    assert any(v[2] for v in batch["intervals"].values())  # the rest of the hole is estimated


def _second_db(request, tmp_path, db_url: str) -> str:
    """A second, empty platform database of the same kind."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'platform-2.db'}"
    return request.getfixturevalue("postgres").create_database("lingtan_second")


def test_one_parks_failing_pass_does_not_hold_back_the_other_parks(tmp_path, postgres):
    """A database error in one park's pass (here a PostgreSQL trigger refusing that park's
    intervals) aborted the whole pass, so the parks sorted after it were never accounted and
    no park was finalised. Now that park's dirty days stay for the next pass and the others go on."""
    data = platform([meter("m1", "bus-1", 1, interval=POLL_S, gateway="gw-a")], [{"id": "bus-1"}], park="park-a",
                    gateway="gw-a", store=postgres.url, sink={"kind": "sqlite", "path": str(tmp_path / "ts.db")})
    second = {**data["parks"][0], "id": "park-b", "name": "Park B",
              "meters": [{**data["parks"][0]["meters"][0], "gateway": "gw-b"}]}
    data["parks"].append(second)
    data["gateways"].append({**data["gateways"][0], "id": "gw-b", "park": "park-b"})
    config = config_of(data)
    engine = make_engine(postgres.url)
    sink = SqliteSink(str(tmp_path / "ts.db"))
    ledger = Ledger(config, engine)
    rollup = Rollup(config, sink, engine, clock=lambda: T0 + timedelta(minutes=31))
    seq = 0
    for park, gw in (("park-a", "gw-a"), ("park-b", "gw-b")):
        t = T0
        while t <= T0 + timedelta(minutes=31):
            seq += 1
            kwh = 1000.0 + 100.0 * (t - T0).total_seconds() / 3600
            row = Row(park, "m1", int(t.timestamp() * 1000), gw, seq, {"energy_import_kwh": kwh})
            sink.write([row])
            ledger.commit([row], [], token=f"t{seq}")
            t += timedelta(seconds=POLL_S)
    with engine.begin() as c:
        c.exec_driver_sql("""CREATE FUNCTION refuse_park_a() RETURNS trigger AS $$ BEGIN
            IF NEW.park = 'park-a' THEN RAISE EXCEPTION 'park-a refused by the test'; END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql""")
        c.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON interval_energy FOR EACH ROW "
                          "EXECUTE FUNCTION refuse_park_a()")

    def intervals(park: str) -> int:
        with sessions(engine)() as s:
            return s.scalar(select(func.count()).select_from(IntervalEnergy).where(IntervalEnergy.park == park))

    rollup.run_once()
    assert intervals("park-a") == 0 and intervals("park-b") > 0
    with engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER refuse ON interval_energy")
    rollup.run_once()  # park-a's dirty days were kept: accounted now
    assert intervals("park-a") == intervals("park-b")
