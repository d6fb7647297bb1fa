"""Datetimes from the platform database: SQLite hands back naive UTC, PostgreSQL aware."""

from datetime import UTC, datetime


def aware(t: datetime) -> datetime:
    """The same instant, timezone-aware (naive values from SQLite are UTC)."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
