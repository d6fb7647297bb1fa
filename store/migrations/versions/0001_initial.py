"""Initial schema: dead letters, latest readings, dirty days, interval energy.

Exactly what `Base.metadata.create_all` made before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("park", sa.String(64), nullable=True),
        sa.Column("gateway", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.create_index("ix_dead_letter_received_at", "dead_letter", ["received_at"])
    op.create_index("ix_dead_letter_park", "dead_letter", ["park"])
    op.create_table(
        "latest",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("meter", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
    )
    op.create_table(
        "dirty",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("meter", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
    )
    op.create_table(
        "interval_energy",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("meter", sa.String(64), primary_key=True),
        sa.Column("quantity", sa.String(32), primary_key=True),
        sa.Column("start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("completeness", sa.Float(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_interval_energy_day", "interval_energy", ["day"])


def downgrade() -> None:
    op.drop_table("interval_energy")
    op.drop_table("dirty")
    op.drop_table("latest")
    op.drop_table("dead_letter")
