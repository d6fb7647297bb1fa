"""Alembic migrations on real SQLite and PostgreSQL: an empty database, a populated one at the
first revision, and a database made by the pre-migration `create_all`; the migrated schema must
match the models exactly."""

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, create_engine, insert, select, text

from lingtan.store.db import current_revision, head_revision, make_engine, sessions, upgrade
from lingtan.store.models import Base, IntervalEnergy, RevisionCounter


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("postgres").url


def assert_matches_models(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff


def test_empty_database_is_migrated_to_head(url):
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    assert_matches_models(engine)
    make_engine(url).dispose()  # a second start is a no-op
    with sessions(engine)() as s:
        assert s.get(RevisionCounter, "revision").value == 0
    engine.dispose()


def test_populated_database_at_0001_keeps_its_data_and_gets_revisions(url):
    engine = make_engine(url, migrate=False)
    upgrade(engine, "0001")
    t0 = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    tables = MetaData()
    tables.reflect(engine)
    iv = tables.tables["interval_energy"]
    rows = [{"park": "p", "meter": "m", "quantity": "energy_import_kwh", "start": t0 + i * timedelta(minutes=15),
             "day": date(2026, 3, 2), "amount": float(i), "completeness": 1.0, "estimated": False, "flags": "",
             "updated_at": t0 + timedelta(hours=5) - i * timedelta(minutes=1)} for i in range(5)]
    with engine.begin() as conn:
        conn.execute(insert(iv), rows)
        conn.execute(insert(tables.tables["latest"]), [{"park": "p", "meter": "m", "ts": t0, "gateway": "g",
                                                        "values": {"power_kw": 1.5}}])
        conn.execute(insert(tables.tables["dead_letter"]), [{"received_at": t0, "topic": "t", "park": "p",
                                                             "gateway": "g", "reason": "r", "payload": "{}"}])
        conn.execute(insert(tables.tables["dirty"]),
                     [{"park": "p", "meter": "m", "day": date(2026, 3, 2), "token": "x"}])
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert_matches_models(engine)
    with sessions(engine)() as s:
        got = s.execute(select(IntervalEnergy.amount, IntervalEnergy.revision).order_by(IntervalEnergy.revision)).all()
        # revisions follow updated_at: the last-updated row (amount 0) gets the highest
        assert got == [(4.0, 1), (3.0, 2), (2.0, 3), (1.0, 4), (0.0, 5)]
        assert s.get(RevisionCounter, "revision").value == 5
        assert s.execute(text('SELECT "values" FROM latest')).scalar() in ({"power_kw": 1.5}, '{"power_kw": 1.5}')
        assert s.execute(text("SELECT count(*) FROM dead_letter")).scalar() == 1
        assert s.execute(text("SELECT count(*) FROM dirty")).scalar() == 1
    # a row written after the migration continues the sequence
    with sessions(engine).begin() as s:
        s.add(IntervalEnergy(park="p", meter="m", quantity="energy_import_kwh", start=t0 - timedelta(minutes=15),
                             day=date(2026, 3, 2), amount=9.0, completeness=1.0, updated_at=t0))
    with sessions(engine)() as s:
        assert s.execute(select(IntervalEnergy.revision).where(IntervalEnergy.amount == 9.0)).scalar() == 6
    engine.dispose()


def test_database_made_by_create_all_before_migrations_is_adopted(url):
    old = MetaData()  # the four tables as create_all made them (no alembic_version, none of the later columns)
    later = {"revision", "final", "first_ms", "last_ms", "payload_raw"}  # added by 0002, 0003 and 0006
    for name in ("dead_letter", "latest", "dirty", "interval_energy"):
        t = Base.metadata.tables[name]
        Table(name, old, *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, index=c.index,
                                  autoincrement=c.autoincrement) for c in t.columns if c.name not in later])
    engine = create_engine(url)
    old.create_all(engine)
    engine.dispose()
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    assert_matches_models(engine)
    engine.dispose()
