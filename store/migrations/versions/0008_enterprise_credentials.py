"""Enterprise credentials: API keys and users optionally bound to enterprises of their park.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # null: a park-level credential, as every credential made before this revision
    op.add_column("api_key", sa.Column("enterprises", sa.Text(), nullable=True))
    op.add_column("app_user", sa.Column("enterprises", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("enterprises")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("enterprises")
