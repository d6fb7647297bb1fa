"""Alarms (`alarm`), their notification outbox (`alarm_notification`) and gateways' last status.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("park", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", _TS, nullable=False),
        sa.Column("raised_at", _TS, nullable=True),
        sa.Column("acked_at", _TS, nullable=True),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("cleared_at", _TS, nullable=True),
        sa.Column("clearing_since", _TS, nullable=True),
        sa.Column("flaps", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_index("ix_alarm_park_revision", "alarm", ["park", "revision"])
    op.create_index("ix_alarm_open", "alarm", ["park", "rule", "subject", "state"])
    op.create_table(
        "alarm_notification",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _TS, nullable=False),
        sa.Column("last_error", sa.String(300), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
    )
    op.create_index("ix_alarm_notification_alarm_id", "alarm_notification", ["alarm_id"])
    op.create_index("ix_alarm_notification_due", "alarm_notification", ["status", "next_at"])
    op.create_table(
        "gateway_status",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("spooled", sa.BigInteger(), nullable=True),
        sa.Column("dropped", sa.BigInteger(), nullable=True),
        sa.Column("spool_error", sa.String(200), nullable=True),
        sa.Column("received_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_status")
    op.drop_index("ix_alarm_notification_due", "alarm_notification")
    op.drop_index("ix_alarm_notification_alarm_id", "alarm_notification")
    op.drop_table("alarm_notification")
    op.drop_index("ix_alarm_park_revision", "alarm")
    op.drop_index("ix_alarm_open", "alarm")
    op.drop_table("alarm")
