"""The partial index of unsettled intervals, with the predicate the settling sweep's query has.

0003 made `ix_interval_energy_unsettled` WHERE `NOT final`. The sweep (accounting.service
finalise) asks `final IS false` (PostgreSQL) / `final IS 0` (SQLite), which is how SQLAlchemy
renders `IntervalEnergy.final.is_(False)`. Neither planner uses a partial index unless the query
states the index's predicate (SQLite compares the terms; PostgreSQL does not prove `NOT final`
from `final IS false`), so both read the whole (park, day) index of a park up to the cut-off on
every pass, the park's entire history. Rebuilt here with the query's own predicate (the same
rows: `final` is NOT NULL); tests/store/test_query_plans.py checks the sweep uses it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAME = "ix_interval_energy_unsettled"


def _rebuild(postgresql: str, sqlite: str) -> None:
    op.drop_index(NAME, table_name="interval_energy")
    op.create_index(NAME, "interval_energy", ["park", "day"], postgresql_where=sa.text(postgresql),
                    sqlite_where=sa.text(sqlite))


def upgrade() -> None:
    _rebuild("final IS false", "final IS 0")


def downgrade() -> None:
    _rebuild("NOT final", "NOT final")
