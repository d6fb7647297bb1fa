"""PostgreSQL: the interval table partitioned by month (declarative RANGE partitioning on `start`).

The existing table is renamed aside, a partitioned `interval_energy` with the same columns
(types, NOT NULL, server defaults: `CREATE TABLE ... LIKE`) takes its name, with one partition
per UTC month that holds rows and a DEFAULT partition, all in the schema `partitions`
(lingtan.store.partitions names them and makes the months to come). The rows
are copied as they are (revisions, finality and `updated_at` unchanged, so the city platform's
sync cursor stays valid and nothing is re-sent), then the primary key and the indexes are built
on the parent, which builds them on every partition, and the old table is dropped: all in the
migration's one transaction. Grants made by hand on the old table are not carried over.

The key (park, meter, quantity, start) already holds the partition key, as PostgreSQL requires.
On SQLite this migration does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "partitions"  # lingtan.store.partitions.SCHEMA, fixed here as of this revision
OLD = "interval_energy_unpartitioned"
COLUMNS = "park, meter, quantity, start, day, amount, completeness, estimated, flags, updated_at, revision, final"
KEY = ["park", "meter", "quantity", "start"]
INDEXES = [("ix_interval_energy_day", ["day"], None), ("ix_interval_energy_park_revision", ["park", "revision"], None),
           ("ix_interval_energy_park_day", ["park", "day"], None),
           ("ix_interval_energy_unsettled", ["park", "day"], "NOT final")]


def _next_month(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1)


def _build_key_and_indexes() -> None:
    op.create_primary_key("interval_energy_pkey", "interval_energy", KEY)
    for name, columns, where in INDEXES:
        op.create_index(name, "interval_energy", columns, postgresql_where=sa.text(where) if where else None)


def _set_aside(partition_by: str) -> None:
    """Rename the current table to OLD, take its name with a copy of its columns (partitioned by
    `partition_by`, or not), and free the names of OLD's key and indexes (they are schema-wide)."""
    op.rename_table("interval_energy", OLD)
    op.execute(f"CREATE TABLE interval_energy (LIKE {OLD} INCLUDING DEFAULTS) {partition_by}")
    for name, _columns, _where in INDEXES:
        op.drop_index(name, table_name=OLD)
    op.drop_constraint("interval_energy_pkey", OLD, type_="primary")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("PARTITION BY RANGE (start)")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    present = bind.execute(sa.text(  # the months the data covers, and no others
        f"SELECT DISTINCT CAST(date_trunc('month', start AT TIME ZONE 'UTC') AS DATE) FROM {OLD}")).scalars()
    for month in sorted(present):
        op.execute(f"CREATE TABLE {SCHEMA}.interval_energy_{month.year:04d}_{month.month:02d}"
                   f" PARTITION OF interval_energy FOR VALUES FROM ('{month.isoformat()} 00:00:00+00')"
                   f" TO ('{_next_month(month).isoformat()} 00:00:00+00')")
    op.execute(f"CREATE TABLE {SCHEMA}.interval_energy_default PARTITION OF interval_energy DEFAULT")
    op.execute(f"INSERT INTO interval_energy ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
    _build_key_and_indexes()  # after the copy: one sorted build per partition, not row by row
    op.drop_table(OLD)
    op.execute("ANALYZE interval_energy")  # autovacuum never analyses a partitioned parent


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("")  # OLD is now the partitioned table; dropping it drops its partitions
    op.execute(f"INSERT INTO interval_energy ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
    _build_key_and_indexes()
    op.drop_table(OLD)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA}")  # RESTRICT: only if nothing else was put there
