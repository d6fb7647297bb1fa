"""The hot queries' plans on SQLite and PostgreSQL: none reads the interval table or the daily and
monthly aggregates in full.

Every hot path runs for real: the API's routes through its app (realtime, indicators, series,
meters, sync), the stream's fingerprint, and a pass of the accounting service (recomputing a
meter from stored readings, its aggregates, the settling sweep). A `before_cursor_execute`
listener captures the SQL each one sends, with its parameters, and the test asks the database
for that statement's plan (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN (FORMAT JSON,
VERBOSE)`; neither executes it). So the test follows the code: a query that changes is checked
as it now is.

The data has a city platform's shape, so that the planner has a reason to use an index: twelve
parks of thirteen counters, 15-minute intervals for the last two weeks and a half (~230,000
rows, across a month boundary: on PostgreSQL in two monthly partitions, with this month's next
two and DEFAULT empty, as start-up leaves them), and daily and monthly sums back to January 2025
(~83,000 and ~2,800 rows; the intervals of those older months are left out: no path here reads
them, and it keeps the load short). PostgreSQL has its statistics (VACUUM ANALYZE, as autovacuum
would leave it) and no planner setting is changed; SQLite plans without statistics, as the
platform runs it. Plans, never timings, are asserted.
"""
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, insert, text

from lingtan.accounting.service import PassStats, Rollup
from lingtan.api import live
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.ingest.ledger import Ledger
from lingtan.kernel.config import Config
from lingtan.kernel.localtime import PeriodKind, day_bounds, first_day
from lingtan.store.db import make_engine, sessions, upgrade
from lingtan.store.models import DailyEnergy, Dirty, IntervalEnergy, Latest, MonthlyEnergy, RevisionCounter
from lingtan.store.partitions import ensure_partitions
from lingtan.store.timeseries.base import Row
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support import Postgres
from tests.support.api import NOW, OTHER, PARK, PER_QUARTER, QUARTER, TODAY, ZONE, feed_latest, two_park_config

PARKS = [PARK, OTHER] + [f"park-{i:02d}" for i in range(10)]  # ten more of the demo park's shape
COUNTERS = [(m, q) for m, quantities in PER_QUARTER.items() for q in quantities]
INTERVALS_FROM = date(2026, 5, 31)  # local day: from here to NOW, intervals
HISTORY_FROM = date(2025, 1, 1)  # and from here, daily and monthly sums
WATCHED = ("interval_energy", "energy_daily", "energy_monthly")
_WATCHED_RX = re.compile(r"\b(interval_energy|energy_daily|energy_monthly)\b")


# -- the data ----------------------------------------------------------------------------------
def _days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def _load(engine: Engine, config: Config) -> None:
    """Intervals as the accounting service leaves them (a meter-day at a time, revisions in that
    order, ~1 % of older quarters incomplete and not yet settled, the last two still open), the
    sums of their days and months, and history sums before them; then the newest readings."""
    intervals, daily = [], {}
    revision = 0
    for day in _days(INTERVALS_FROM, TODAY):
        start, _ = day_bounds(day, ZONE)
        for park in PARKS:
            for n, (meter, quantity) in enumerate(COUNTERS):
                for i in range(96):
                    t = start + i * QUARTER
                    if t >= NOW:
                        break
                    open_ = t >= NOW - 2 * QUARTER
                    gap = (i + n + day.day) % 97 == 0  # about one quarter per counter and day
                    completeness = 0.5 if open_ or gap else 1.0
                    amount = PER_QUARTER[meter][quantity] * completeness
                    revision += 1
                    intervals.append(dict(park=park, meter=meter, quantity=quantity, start=t, day=day, amount=amount,
                                          completeness=completeness, estimated=False, flags="", updated_at=t + QUARTER,
                                          revision=revision, final=completeness >= 1.0))
                    acc = daily.setdefault((park, meter, quantity, day), [0.0, 0.0, 0])
                    acc[0] += amount
                    acc[1] += completeness
                    acc[2] += 1
    for day in _days(HISTORY_FROM, INTERVALS_FROM - timedelta(days=1)):
        for park in PARKS:
            for meter, quantity in COUNTERS:
                daily[(park, meter, quantity, day)] = [96 * PER_QUARTER[meter][quantity], 96.0, 96]
    monthly: dict[tuple, list] = {}
    for (park, meter, quantity, day), (amount, comp, n) in daily.items():
        acc = monthly.setdefault((park, meter, quantity, first_day(day, PeriodKind.MONTH)), [0.0, 0.0, 0])
        acc[0] += amount
        acc[1] += comp
        acc[2] += n
    with engine.begin() as c:
        for i in range(0, len(intervals), 20_000):
            c.execute(insert(IntervalEnergy), intervals[i:i + 20_000])
        c.execute(insert(DailyEnergy), [dict(park=p, meter=m, quantity=q, day=d, amount=a, completeness_sum=s,
                                             intervals=n) for (p, m, q, d), (a, s, n) in daily.items()])
        c.execute(insert(MonthlyEnergy), [dict(park=p, meter=m, quantity=q, month=d, amount=a, completeness_sum=s,
                                               intervals=n) for (p, m, q, d), (a, s, n) in monthly.items()])
        c.execute(RevisionCounter.__table__.update().values(value=revision))
        c.execute(insert(Latest), [dict(park=p, meter=m, ts=NOW - timedelta(seconds=5), gateway="gw", values={})
                                   for p in PARKS[2:] for m in PER_QUARTER])
    for park in (PARK, OTHER):
        feed_latest(config, engine, park, NOW - timedelta(seconds=5))
    with engine.begin() as c:  # the days those readings marked: accounted already, as the intervals say
        c.execute(delete(Dirty))


@dataclass
class Platform:
    kind: str  # sqlite or postgresql
    engine: Engine
    config: Config
    client: TestClient
    rollup: Rollup
    sink: SqliteSink

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, object]]]:
        """The statements (with their parameters) the engine sends meanwhile."""
        sent: list[tuple[str, object]] = []

        def listener(_conn, _cursor, statement, parameters, _context, executemany):
            sent.append((statement, parameters[0] if executemany and parameters else parameters))

        event.listen(self.engine, "before_cursor_execute", listener)
        try:
            yield sent
        finally:
            event.remove(self.engine, "before_cursor_execute", listener)


def _platform(url: str, tmp) -> Platform:
    config = two_park_config(url)
    engine = make_engine(url, migrate=False)
    upgrade(engine, today=TODAY)  # as a service starting on TODAY: its month's partitions and the next two
    ensure_partitions(engine, TODAY, since=INTERVALS_FROM - timedelta(days=1))  # and those of the past weeks
    _load(engine, config)
    if engine.dialect.name == "postgresql":  # as autovacuum leaves it: statistics, visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    with sessions(engine).begin() as s:
        _, key = create_key(s, parks=None, scopes=[Scope.READ], name="city", now=NOW)
    sink = SqliteSink(str(tmp / "ts.db"))
    app = create_app(config, engine, clock=lambda: NOW)
    return Platform(engine.dialect.name, engine, config, TestClient(app, headers={"Authorization": f"Bearer {key}"}),
                    Rollup(config, sink, engine, clock=lambda: NOW), sink)


@pytest.fixture(scope="module")
def platforms(tmp_path_factory, _postgres_template) -> Iterator[Callable[[str], Platform]]:
    """Loads a platform of each kind once for the module (the first test that asks for it)."""
    made: dict[str, Platform] = {}
    servers: list[Postgres] = []

    def get(kind: str) -> Platform:
        if kind not in made:
            tmp = tmp_path_factory.mktemp(kind)
            if kind == "postgres":
                servers.append(Postgres(template=_postgres_template))
                servers[-1].start()
                url = servers[-1].url
            else:
                url = f"sqlite:///{tmp / 'platform.db'}"
            made[kind] = _platform(url, tmp)
        return made[kind]

    try:
        yield get
    finally:
        for p in made.values():
            p.sink.close()
            p.engine.dispose()
        for server in servers:
            server.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def loaded(request, platforms) -> Platform:
    return platforms(request.param)


@pytest.fixture
def loaded_pg(platforms) -> Platform:
    return platforms("postgres")


# -- the hot paths -----------------------------------------------------------------------------
def _get(p: Platform, path: str, **params) -> dict | list:
    r = p.client.get(f"/api/v1/parks/{PARK}{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _sync(p: Platform) -> None:
    first = _get(p, "/sync/intervals", limit=1000)  # from the start
    _get(p, "/sync/intervals", limit=1000, cursor=first["next_cursor"])  # and after a cursor


def _fingerprint(p: Platform) -> None:
    with sessions(p.engine)() as s:
        live.fingerprint(s, p.config.park(PARK))


def _accounting_pass(p: Platform) -> None:
    """Readings of the grid meter since midnight arrive (a little more than was accounted), then
    one pass: its intervals and aggregates recomputed, the settling sweep of every park."""
    midnight, _ = day_bounds(TODAY, ZONE)
    rows, t, seq = [], midnight, 0
    while t <= NOW:
        seq += 1
        kwh = 5000.0 + 120.0 * (t - midnight) / QUARTER
        rows.append(Row(PARK, "grid-main", int(t.timestamp() * 1000), "gw-demo", seq,
                        {"energy_import_kwh": kwh, "energy_export_kwh": 10.0}))
        t += timedelta(minutes=5)
    p.sink.write(rows)
    Ledger(p.config, p.engine).commit(rows, [], token="plans")
    assert p.rollup.run_once() == 1  # the one (meter, day) those readings marked
    assert p.rollup.last_pass.intervals_written > 0


@dataclass(frozen=True)
class HotPath:
    name: str
    run: Callable[[Platform], None]
    reads: tuple[str, ...]  # the watched tables it must touch (so the check is never empty)


PATHS = [
    HotPath("realtime (today, month, year)", lambda p: _get(p, "/carbon/realtime"),
            ("interval_energy", "energy_daily", "energy_monthly")),
    HotPath("indicators, this year", lambda p: _get(p, "/indicators/2026"), ("energy_daily", "energy_monthly")),
    HotPath("indicators, last year", lambda p: _get(p, "/indicators/2025"), ("energy_monthly",)),
    HotPath("series, park, hourly, one day", lambda p: _get(p, "/series", step="hour", first=str(TODAY)),
            ("interval_energy",)),
    HotPath("series, meter, 15 minutes, two days (a month boundary)",
            lambda p: _get(p, "/series", scope="meter", id="grid-main", step="15min", first="2026-05-31",
                           last="2026-06-01"), ("interval_energy",)),
    HotPath("series, enterprise, hourly, one day",
            lambda p: _get(p, "/series", scope="enterprise", id="ent-b", step="hour", first=str(TODAY)),
            ("interval_energy",)),
    HotPath("series, park, daily, year to date",
            lambda p: _get(p, "/series", step="day", first="2026-01-01", last=str(TODAY)), ("energy_daily",)),
    HotPath("series, park, monthly, year to date",
            lambda p: _get(p, "/series", step="month", first="2026-01-01", last=str(TODAY)),
            ("energy_daily", "energy_monthly")),
    HotPath("series, park, monthly, last year",
            lambda p: _get(p, "/series", step="month", first="2025-01-01", last="2025-12-31"), ("energy_monthly",)),
    HotPath("meters (today's energy)", lambda p: _get(p, "/meters"), ("energy_daily",)),
    HotPath("sync intervals, first page and after a cursor", _sync, ("interval_energy",)),
    HotPath("stream fingerprint", _fingerprint, ("interval_energy",)),
    # energy_monthly is only upserted (INSERT ... ON CONFLICT on its key): its sums are read from energy_daily
    HotPath("accounting pass: recompute, aggregates, settling sweep", _accounting_pass,
            ("interval_energy", "energy_daily")),
]


# -- plans -------------------------------------------------------------------------------------
def explain(p: Platform, statement: str, parameters) -> object:
    """The plan of one captured statement with its own parameters (nothing is executed)."""
    raw = p.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if p.kind == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON, VERBOSE) " + statement, parameters)
            plan = cursor.fetchone()[0]
            return json.loads(plan) if isinstance(plan, str) else plan
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters or ())
        return [row[3] for row in cursor.fetchall()]
    finally:
        raw.close()


def _pg_nodes(plan) -> Iterator[dict]:
    todo = [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        yield node
        todo += node.get("Plans", [])


def _watched(relation: str) -> bool:
    # interval_energy's partitions are partitions.interval_energy_2026_06, ..._default
    return relation in WATCHED or relation.startswith("interval_energy_")


def _holds_rows(p: Platform, schema: str, relation: str) -> bool:
    with p.engine.connect() as c:
        return c.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{relation}")')).scalar()


def full_scans(p: Platform, plan) -> list[str]:
    """The full reads of a watched table in a plan: SQLite `SCAN t` (with or without an index:
    `SCAN t USING INDEX` reads all of that index); PostgreSQL `Seq Scan` on it or on one of its
    partitions that holds rows. (The planner reads an empty partition, this month's next ones
    or DEFAULT, sequentially: there is nothing to read, and no index would read less.)"""
    if p.kind == "postgresql":
        return [f"Seq Scan on {n['Schema']}.{n['Relation Name']}" for n in _pg_nodes(plan)
                if n["Node Type"] == "Seq Scan" and _watched(n["Relation Name"])
                and _holds_rows(p, n["Schema"], n["Relation Name"])]
    return [d for d in plan if (m := re.match(r"SCAN (\w+)", d)) and _watched(m.group(1))]


def scans(kind: str, plan) -> list[str]:
    """Every read of a watched table or index, one line each (for messages and the docs)."""
    if kind == "postgresql":
        out = []
        for n in _pg_nodes(plan):
            relation, index = n.get("Relation Name"), n.get("Index Name")
            if relation and _watched(relation) or index and index.removeprefix("ix_").startswith(WATCHED):
                out.append(" ".join(filter(None, (n["Node Type"], relation and f"on {relation}",
                                                  index and f"using {index}"))))
        return out
    return [d for d in plan if re.match(r"(SCAN|SEARCH) (\w+)", d) and _watched(d.split()[1])]


def indexes_read(kind: str, plan) -> set[str]:
    if kind == "postgresql":
        return {n["Index Name"] for n in _pg_nodes(plan) if "Index Name" in n}
    return {m.group(1) for d in plan if (m := re.search(r"USING (?:COVERING )?INDEX (\w+)", d))}


def partitions_read(plan) -> set[str]:
    return {n["Relation Name"] for n in _pg_nodes(plan) if n.get("Relation Name", "").startswith("interval_energy_")}


def _dml(statement: str) -> bool:
    return re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", statement, re.I) is not None \
        and _WATCHED_RX.search(statement) is not None


def _interval_selects(sent) -> list[tuple[str, object]]:
    return [(s, a) for s, a in sent if s.lstrip().upper().startswith("SELECT") and "FROM interval_energy" in s]


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_hot_path_reads_no_table_in_full(loaded: Platform, path: HotPath):
    with loaded.capture() as sent:
        path.run(loaded)
    statements = [(s, a) for s, a in sent if _dml(s)]
    touched = {t for s, _ in statements for t in _WATCHED_RX.findall(s)}
    assert set(path.reads) <= touched, f"{path.name} sent no query on {set(path.reads) - touched}"
    problems = []
    for statement, parameters in statements:
        plan = explain(loaded, statement, parameters)
        if full := full_scans(loaded, plan):
            problems.append(f"{statement}\n  parameters {parameters}\n  full scans {full}\n  plan\n    "
                            + "\n    ".join(scans(loaded.kind, plan)))
    assert not problems, f"{path.name} on {loaded.kind}:\n" + "\n\n".join(problems)


def test_settling_sweep_reads_the_index_of_unsettled_intervals_only(loaded: Platform):
    """Not the (park, day) index: that would read a park's whole history on every pass."""
    with loaded.capture() as sent:
        loaded.rollup.finalise(loaded.config.park(OTHER), PassStats())
    [(statement, parameters)] = _interval_selects(sent)
    plan = explain(loaded, statement, parameters)
    unsettled = {"ix_interval_energy_unsettled"}
    if loaded.kind == "postgresql":  # the partitions' own indexes of the partitioned index
        with loaded.engine.connect() as c:
            unsettled |= set(c.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = to_regclass('ix_interval_energy_unsettled')")).scalars())
    read = indexes_read(loaded.kind, plan)
    assert read and read <= unsettled and not full_scans(loaded, plan), scans(loaded.kind, plan)


def test_the_accounting_service_reads_only_the_partitions_of_its_window(loaded_pg: Platform):
    """Its queries name `start` (the partition key): PostgreSQL reads the one or two months of the
    window recomputed (here a local day across the UTC month boundary), none of the others."""
    p, day = loaded_pg, date(2026, 6, 1)
    start, end = day_bounds(day, ZONE)
    readings, t = [], start - QUARTER
    while t <= end + QUARTER:
        kwh = 100.0 + 50.0 * (t - start) / QUARTER
        readings.append(Row(PARK, "ent-a-main", int(t.timestamp() * 1000), "gw-demo", len(readings) + 1,
                            {"energy_import_kwh": kwh}))
        t += timedelta(minutes=5)
    p.sink.write(readings)
    with p.capture() as sent:
        p.rollup.recompute_day(PARK, "ent-a-main", day)
    selects = _interval_selects(sent)
    assert selects
    for statement, parameters in selects:
        read = partitions_read(explain(p, statement, parameters))
        assert read == {"interval_energy_2026_05", "interval_energy_2026_06"}, (statement, read)


def test_series_reads_only_the_partitions_of_its_days(loaded_pg: Platform):
    with loaded_pg.capture() as sent:
        _get(loaded_pg, "/series", scope="meter", id="grid-main", step="15min", first=str(TODAY))
    # the series' own read (the park's fingerprint, lingtan.api.live, is the other, a stream fingerprint path above)
    [(statement, parameters)] = [(q, a) for q, a in _interval_selects(sent) if "max(interval_energy.revision)" not in q]
    assert partitions_read(explain(loaded_pg, statement, parameters)) == {"interval_energy_2026_06"}


def test_the_intervals_lie_in_their_months_partitions(loaded: Platform):
    """On PostgreSQL the plans above are those of monthly partitions: the intervals loaded lie
    in May's and June's, DEFAULT holds none; on SQLite in the one table."""
    with loaded.engine.connect() as c:
        if loaded.kind == "postgresql":
            where = dict(c.execute(text("SELECT tableoid::regclass::text, count(*) FROM interval_energy"
                                        " GROUP BY 1")).all())
            assert set(where) == {"partitions.interval_energy_2026_05", "partitions.interval_energy_2026_06"}, where
        else:
            assert c.execute(text("SELECT type FROM sqlite_master WHERE name = 'interval_energy'")).scalar() == "table"
