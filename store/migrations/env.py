"""Alembic environment: run by api.db.migrate() on a connection it passes in (never a URL)."""

from alembic import context

from lingtan.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
