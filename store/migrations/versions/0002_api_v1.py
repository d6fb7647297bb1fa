"""API v1: interval revisions for incremental sync, indicator snapshots, keys, users,
sessions, activity data and the audit log.

Existing intervals get revisions 1..n in the order they were last updated, and the revision
counter starts after them, so a city platform syncing from the start receives every row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interval_energy") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE interval_energy SET revision = numbered.n FROM ("
        " SELECT park AS p, meter AS m, quantity AS q, start AS s,"
        "  ROW_NUMBER() OVER (ORDER BY updated_at, park, meter, quantity, start) AS n"
        " FROM interval_energy) AS numbered"
        " WHERE interval_energy.park = numbered.p AND interval_energy.meter = numbered.m"
        " AND interval_energy.quantity = numbered.q AND interval_energy.start = numbered.s")
    op.create_index("ix_interval_energy_park_revision", "interval_energy", ["park", "revision"])

    counter = op.create_table(
        "revision_counter",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    top = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(revision), 0) FROM interval_energy")).scalar_one()
    op.bulk_insert(counter, [{"name": "revision", "value": int(top)}])

    op.create_table(
        "indicator_result",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("framework", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_index("ix_indicator_result_park_revision", "indicator_result", ["park", "revision"])
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parks", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "app_user",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("parks", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "web_session",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_session_username", "web_session", ["username"])
    op.create_table(
        "activity_record",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("park", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_park", "audit_log", ["park"])


def downgrade() -> None:
    for table in ("audit_log", "activity_record", "web_session", "app_user", "api_key", "indicator_result",
                  "revision_counter"):
        op.drop_table(table)
    op.drop_index("ix_interval_energy_park_revision", "interval_energy")
    with op.batch_alter_table("interval_energy") as batch:
        batch.drop_column("revision")
