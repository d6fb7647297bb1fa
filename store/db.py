"""The platform database engine: the one place SQLAlchemy engines are made and migrated.

`make_engine` opens SQLite (WAL) or PostgreSQL and brings the schema to the newest Alembic
revision (store/migrations/). Several services may start at once against one database: on
PostgreSQL an advisory lock serialises their migrations; SQLite takes its write lock. On
PostgreSQL every migrating start also makes the interval table's partitions for this month and
the next ones (lingtan.store.partitions), in the same transaction and under the same lock.
"""

import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path

logging.getLogger("alembic").setLevel(logging.WARNING)  # before alembic logs its plugins at import

from alembic import command  # noqa: E402
from alembic.config import Config as AlembicConfig  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from lingtan.store.partitions import ensure_ahead  # noqa: E402

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x4C54_0001  # pg_advisory_lock key: "LT" + 1
log = logging.getLogger(__name__)


def make_engine(url: str, *, migrate: bool = True) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10,
                               max_overflow=40)

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
    if migrate:
        upgrade(engine)
    return engine


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, target: str = "head", *, today: date | None = None) -> None:
    """Bring the database to `target`; a pre-migration (create_all) database is stamped 0001 first.

    Then, on PostgreSQL, the interval partitions from `today`'s UTC month (default: the wall
    clock's) through MONTHS_AHEAD months later (lingtan.store.partitions.ensure_ahead).
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables and "interval_energy" in tables:
            command.stamp(alembic_config(conn), "0001")
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), target)
        after = MigrationContext.configure(conn).get_current_revision()
        if after != before:
            log.info("platform database migrated from %s to %s", before or "empty", after)
        ensure_ahead(conn, today or datetime.now(UTC).date())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upsert(session: Session, model, rows: list[dict], update: list[str]) -> None:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(model)
    keys = [c.name for c in model.__table__.primary_key.columns]
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.execute(stmt, rows)


def _main(argv: list[str]) -> int:
    """`python -m api.db revision MESSAGE`: autogenerate a migration against a scratch SQLite DB."""
    if len(argv) != 2 or argv[0] != "revision":
        print("usage: python -m api.db revision MESSAGE", file=sys.stderr)
        return 2
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/scratch.db")
        with engine.begin() as conn:
            command.revision(alembic_config(conn), message=argv[1], autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
