"""Daily and monthly energy per meter and counter, interval finality, the (park, day) index,
and the span of new readings of a dirty day.

Existing intervals are summed into the two aggregate tables and keep their revisions; an
interval already complete is marked final without a new revision (a city platform that synced
it has its value); the accounting service's settling sweep finalises the incomplete ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _aggregate(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("meter", sa.String(64), primary_key=True),
        sa.Column("quantity", sa.String(32), primary_key=True),
        sa.Column(period, sa.Date(), primary_key=True),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("completeness_sum", sa.Float(), nullable=False),
        sa.Column("intervals", sa.Integer(), nullable=False),
    )
    op.create_index(f"ix_{name}_park_{period}", name, ["park", period])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("interval_energy") as batch:
        batch.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_interval_energy_park_day", "interval_energy", ["park", "day"])
    op.create_index("ix_interval_energy_unsettled", "interval_energy", ["park", "day"],
                    postgresql_where=sa.text("NOT final"), sqlite_where=sa.text("NOT final"))
    with op.batch_alter_table("dirty") as batch:
        batch.add_column(sa.Column("first_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("last_ms", sa.BigInteger(), nullable=True))

    _aggregate("energy_daily", "day")
    _aggregate("energy_monthly", "month")
    op.execute(
        "INSERT INTO energy_daily (park, meter, quantity, day, amount, completeness_sum, intervals)"
        " SELECT park, meter, quantity, day, SUM(amount), SUM(completeness), COUNT(*)"
        " FROM interval_energy GROUP BY park, meter, quantity, day")
    month = "CAST(date_trunc('month', day) AS DATE)" if dialect == "postgresql" else "date(day, 'start of month')"
    op.execute(
        "INSERT INTO energy_monthly (park, meter, quantity, month, amount, completeness_sum, intervals)"
        f" SELECT park, meter, quantity, {month}, SUM(amount), SUM(completeness_sum), SUM(intervals)"
        f" FROM energy_daily GROUP BY park, meter, quantity, {month}")
    op.execute("UPDATE interval_energy SET final = (completeness >= 1.0)")


def downgrade() -> None:
    op.drop_table("energy_monthly")
    op.drop_table("energy_daily")
    with op.batch_alter_table("dirty") as batch:
        batch.drop_column("last_ms")
        batch.drop_column("first_ms")
    op.drop_index("ix_interval_energy_unsettled", "interval_energy")
    op.drop_index("ix_interval_energy_park_day", "interval_energy")
    with op.batch_alter_table("interval_energy") as batch:
        batch.drop_column("final")
