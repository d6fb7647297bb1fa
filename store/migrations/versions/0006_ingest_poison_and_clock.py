"""Dead letters keep payloads that are not text exactly (`payload_raw`); gateways' clock offsets.

PostgreSQL text refuses NUL and bytes that are not UTF-8, so `dead_letter.payload` now holds an
escaped text and `payload_raw` the bytes whenever the two differ. `gateway_clock` holds each
gateway's clock offset as ingest measures it (see ingest.consumer).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letter") as batch:
        batch.add_column(sa.Column("payload_raw", sa.LargeBinary(), nullable=True))
    op.create_table(
        "gateway_clock",
        sa.Column("park", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.String(64), primary_key=True),
        sa.Column("offset_s", sa.Float(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_clock")
    with op.batch_alter_table("dead_letter") as batch:
        batch.drop_column("payload_raw")
