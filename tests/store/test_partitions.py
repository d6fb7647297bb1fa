"""The interval table's monthly partitions on a real PostgreSQL: migration 0004 converts a
populated database at 0003 (rows, revisions and sums unchanged, each row in its UTC month's
partition), start-up and `ensure_partitions` make the months to come, rows of a month without a
partition wait in DEFAULT and move into the month's partition when it is made, and the
accounting service writes into the partitions. On SQLite the same migration changes nothing.
"""

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update

from lingtan.accounting.service import Rollup
from lingtan.ingest.ledger import Ledger
from lingtan.store import partitions
from lingtan.store.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from lingtan.store.models import Base, IntervalEnergy
from lingtan.store.timeseries.base import Row
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support.api import PARK, PER_QUARTER, local_midnight_utc, write_intervals
from tests.support.configs import config_of, meter, platform

TODAY = date(2026, 6, 15)  # the day the upgrading service starts
COUNTERS = sum(len(q) for q in PER_QUARTER.values())  # of the demo park's meters
COLUMNS = "park, meter, quantity, start, day, amount, completeness, estimated, flags, updated_at, revision, final"


def _populated_at_0003(url: str):
    """Intervals (with their daily and monthly sums, by the service's own code) in April, May and
    June UTC: two local days across the April/May boundary (local May 1 starts at 16:00 UTC on
    April 30) and one day in June; April's marked final."""
    engine = make_engine(url, migrate=False)
    upgrade(engine, "0003", today=TODAY)
    write_intervals(engine, PARK, local_midnight_utc(date(2026, 4, 30)), local_midnight_utc(date(2026, 5, 2)))
    write_intervals(engine, PARK, local_midnight_utc(date(2026, 6, 14)), local_midnight_utc(date(2026, 6, 15)))
    with engine.begin() as c:
        c.execute(update(IntervalEnergy).where(IntervalEnergy.start < datetime(2026, 5, 1, tzinfo=UTC))
                  .values(final=True))
    return engine


def _state(engine) -> dict:
    with engine.connect() as c:
        return {
            "intervals": c.execute(text(f"SELECT {COLUMNS} FROM interval_energy ORDER BY park, meter, quantity,"
                                        " start")).all(),
            "daily": c.execute(text("SELECT * FROM energy_daily ORDER BY park, meter, quantity, day")).all(),
            "monthly": c.execute(text("SELECT * FROM energy_monthly ORDER BY park, meter, quantity, month")).all(),
            "sums": c.execute(text("SELECT day, sum(amount), count(*) FROM interval_energy GROUP BY day"
                                   " ORDER BY day")).all(),
            "counter": c.execute(text("SELECT value FROM revision_counter")).scalar(),
        }


def _where(engine) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(text("SELECT tableoid::regclass::text, count(*) FROM interval_energy GROUP BY 1")).all())


def _children(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"
                                  " WHERE inhparent = 'interval_energy'::regclass")).scalars())


def _assert_matches_models(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff


def test_populated_database_is_partitioned_by_month_and_keeps_its_rows(postgres):
    engine = _populated_at_0003(postgres.url)
    before = _state(engine)
    assert len(before["intervals"]) == 3 * 96 * COUNTERS and before["counter"] == len(before["intervals"])

    upgrade(engine, today=TODAY)
    assert current_revision(engine) == head_revision()
    assert _state(engine) == before  # every column of every row, revisions included; sums; the counter
    _assert_matches_models(engine)

    with engine.connect() as c:
        c.execute(text("SET TimeZone = 'UTC'"))
        strategy, key = c.execute(text(
            "SELECT pt.partstrat, a.attname FROM pg_partitioned_table pt JOIN pg_attribute a"
            " ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]"
            " WHERE pt.partrelid = 'interval_energy'::regclass")).one()
        bounds = c.execute(text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class"
                                " WHERE oid = 'partitions.interval_energy_2026_05'::regclass")).scalar()
    assert (strategy, key) == ("r", "start")
    assert bounds == "FOR VALUES FROM ('2026-05-01 00:00:00+00') TO ('2026-06-01 00:00:00+00')"
    # the months of the data, this month and the next two (start-up), and DEFAULT
    assert _children(engine) == {f"partitions.interval_energy_{m}" for m in
                                 ("2026_04", "2026_05", "2026_06", "2026_07", "2026_08", "default")}
    with engine.connect() as c:
        for where, start in c.execute(text("SELECT tableoid::regclass::text, start FROM interval_energy")):
            utc = start.astimezone(UTC)
            assert where == f"partitions.interval_energy_{utc.year:04d}_{utc.month:02d}", (where, start)
    # local April 30 and May 1 are 16:00 UTC April 29 to 16:00 UTC May 1: 32 hours in April
    assert _where(engine) == {"partitions.interval_energy_2026_04": 32 * 4 * COUNTERS,
                              "partitions.interval_energy_2026_05": 16 * 4 * COUNTERS,
                              "partitions.interval_energy_2026_06": 96 * COUNTERS}
    engine.dispose()


def test_downgrade_gives_back_the_one_table_with_the_same_rows(postgres):
    engine = _populated_at_0003(postgres.url)
    before = _state(engine)
    upgrade(engine, today=TODAY)
    with engine.begin() as c:
        command.downgrade(alembic_config(c), "0003")
    with engine.connect() as c:
        assert not partitions.is_partitioned(c)
        assert c.execute(text("SELECT to_regnamespace('partitions')")).scalar() is None
    assert _state(engine) == before
    upgrade(engine, today=TODAY)  # and up again
    assert _state(engine) == before and len(_where(engine)) == 3
    engine.dispose()


class OneMeter:
    """One 100 kW meter read every 15 s, through the store and ingest's ledger, and passes of the
    real accounting service."""

    def __init__(self, tmp_path, url: str, keep_partitions: bool = True) -> None:
        data = platform([meter("m1", "bus-1", 1, interval=15)], [{"id": "bus-1"}], store=url,
                        sink={"kind": "sqlite", "path": str(tmp_path / "ts.db")})
        self.config = config_of(data)
        self.engine = make_engine(url, migrate=False)
        upgrade(self.engine, today=TODAY)
        self.sink = SqliteSink(str(tmp_path / "ts.db"))
        self.ledger = Ledger(self.config, self.engine)
        self.now = datetime(2026, 6, 15, tzinfo=UTC)
        self.rollup = Rollup(self.config, self.sink, self.engine, clock=lambda: self.now,
                             keep_partitions=keep_partitions)
        self.seq = 0

    def hour(self, start: datetime) -> None:
        """Readings from `start` for an hour and a quarter, then a pass."""
        rows = []
        for i in range(5 * 60 + 1):
            t = start + timedelta(seconds=15 * i)
            self.seq += 1
            rows.append(Row("gw-park", "m1", int(t.timestamp() * 1000), "gw-1", self.seq,
                            {"energy_import_kwh": 1000.0 + 100.0 * (t - start).total_seconds() / 3600}))
        self.sink.write(rows)
        self.ledger.commit(rows, [], token=f"t{self.seq}")
        self.now = start + timedelta(hours=2)
        self.rollup.run_once()

    def intervals(self, start: datetime, end: datetime) -> list[tuple]:
        with self.engine.connect() as c:
            return c.execute(text("SELECT tableoid::regclass::text, start, amount, revision FROM interval_energy"
                                  " WHERE start >= :a AND start < :b ORDER BY start"), {"a": start, "b": end}).all()


def test_accounting_writes_a_new_month_into_its_partition(tmp_path, postgres):
    m = OneMeter(tmp_path, postgres.url)
    july = datetime(2026, 7, 20, 2, tzinfo=UTC)  # made ahead at start-up
    m.hour(july)
    rows = m.intervals(july, july + timedelta(hours=2))
    assert len(rows) == 5 and {r[0] for r in rows} == {"partitions.interval_energy_2026_07"}
    assert rows[0][2] == pytest.approx(25.0)


def test_rows_of_a_month_without_partition_wait_in_default_and_move_when_it_is_made(tmp_path, postgres):
    m = OneMeter(tmp_path, postgres.url, keep_partitions=False)  # no daily upkeep: DEFAULT's turn
    october = datetime(2026, 10, 5, 2, tzinfo=UTC)  # beyond the months made ahead
    m.hour(october)
    waiting = m.intervals(october, october + timedelta(hours=2))
    assert len(waiting) == 5 and {r[0] for r in waiting} == {"partitions.interval_energy_default"}

    # PostgreSQL would refuse CREATE TABLE ... PARTITION OF for October now (DEFAULT holds rows
    # of it); ensure_partitions moves them into the new partition instead
    assert partitions.ensure_partitions(m.engine, date(2026, 10, 1)) == ["partitions.interval_energy_2026_10"]
    moved = m.intervals(october, october + timedelta(hours=2))
    assert [r[1:] for r in moved] == [r[1:] for r in waiting]  # same rows, same revisions
    assert {r[0] for r in moved} == {"partitions.interval_energy_2026_10"}
    assert _where(m.engine).get("partitions.interval_energy_default") is None

    m.hour(october + timedelta(hours=3))  # and new rows of October go straight there
    assert set(_where(m.engine)) == {"partitions.interval_energy_2026_10"}
    assert partitions.ensure_partitions(m.engine, date(2026, 10, 1)) == []  # nothing left to do


def test_months_with_rows_in_default_get_their_partitions_at_start_up(tmp_path, postgres):
    """Late rows of an old month (before the oldest partition) land in DEFAULT; the next start-up
    gives that month its partition, whatever the months it was asked for."""
    m = OneMeter(tmp_path, postgres.url, keep_partitions=False)  # no daily upkeep: DEFAULT's turn
    old = datetime(2025, 2, 10, 2, tzinfo=UTC)
    m.hour(old)
    assert set(_where(m.engine)) == {"partitions.interval_energy_default"}
    upgrade(m.engine, today=TODAY)
    assert set(_where(m.engine)) == {"partitions.interval_energy_2025_02"}


def test_start_up_that_cannot_lock_default_starts_all_the_same(tmp_path, postgres, monkeypatch, caplog):
    """A long query holding DEFAULT does not keep a service from starting: the partitions wait for
    the next start-up (rows of new months meanwhile go to DEFAULT)."""
    engine = make_engine(postgres.url, migrate=False)
    upgrade(engine, today=TODAY)
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM interval_energy"))  # its transaction holds a lock on every partition
        with caplog.at_level(logging.WARNING, "lingtan.store.partitions"):
            upgrade(engine, today=date(2026, 11, 2))
        assert "interval partitions not created" in caplog.text
    assert "partitions.interval_energy_2026_11" not in _children(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine, today=date(2026, 11, 2))  # the next start-up makes them
    assert {"partitions.interval_energy_2026_11", "partitions.interval_energy_2027_01"} <= _children(engine)
    engine.dispose()


def test_on_sqlite_the_partitioning_migration_changes_nothing(tmp_path):
    engine = _populated_at_0003(f"sqlite:///{tmp_path / 'm.db'}")
    before = _state(engine)
    with engine.connect() as c:
        schema = c.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY name")).all()
    upgrade(engine, "0004", today=TODAY)
    assert current_revision(engine) == "0004"
    with engine.connect() as c:
        assert c.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY name")).all() == schema
    assert _state(engine) == before
    assert partitions.ensure_partitions(engine, TODAY) == []
    upgrade(engine, today=TODAY)
    _assert_matches_models(engine)
    assert _state(engine) == before
    engine.dispose()


def test_the_accounting_service_keeps_the_partitions_ahead_once_a_day(tmp_path, postgres):
    """A service that runs for months: its first pass of each UTC day makes the months ahead, and
    moves rows that reached DEFAULT meanwhile into their month."""
    m = OneMeter(tmp_path, postgres.url)
    october = datetime(2026, 10, 5, 2, tzinfo=UTC)  # beyond the months made at start-up
    m.hour(october)
    assert set(_where(m.engine)) == {"partitions.interval_energy_2026_10"}
    assert {"partitions.interval_energy_2026_11", "partitions.interval_energy_2026_12"} <= _children(m.engine)
