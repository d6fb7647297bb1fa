"""Platform database tables (SQLAlchemy 2): what ingest and accounting derive, what people enter.

The schema is owned by Alembic (store/migrations/); a change here needs a migration there.
Rows the city platform syncs incrementally (`IntervalEnergy`, `IndicatorResult`) carry a
`revision` drawn from one counter inside the writing transaction (see `_assign_revisions`), so
revisions become visible in commit order and "everything after revision r" is a safe cursor.
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    event,
    false,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class DeadLetter(Base):
    """A message ingest could not accept, kept with the reason and the raw payload."""

    __tablename__ = "dead_letter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    topic: Mapped[str] = mapped_column(String(512))
    park: Mapped[str | None] = mapped_column(String(64), index=True)
    gateway: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    # The payload as text: UTF-8, with NUL and bytes that are not UTF-8 written as \x.. escapes
    # (PostgreSQL text holds neither). Where that text is not the payload's exact decoding,
    # `payload_raw` holds the bytes themselves (else NULL). Both cut at 64 KiB.
    payload: Mapped[str] = mapped_column(Text)
    payload_raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class GatewayClock(Base):
    """How far a gateway's clock is from ingest's: its last readings message's `sent_at` minus the
    time ingest received it (positive: the gateway is ahead; queueing delay makes it look behind)."""

    __tablename__ = "gateway_clock"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    offset_s: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Latest(Base):
    """The newest reading of each meter: values, time, and the gateway that sent it."""

    __tablename__ = "latest"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    gateway: Mapped[str] = mapped_column(String(64))
    values: Mapped[dict] = mapped_column(JSON)


class Dirty(Base):
    """A park-local day of one meter that received readings since accounting last looked."""

    __tablename__ = "dirty"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))  # renewed on every marking; see lingtan.accounting.service
    # UTC epoch ms of the earliest and latest reading that arrived for the day; NULL: the whole day
    first_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Revisioned:
    """Mixin: a row the city platform syncs by revision."""

    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class IntervalEnergy(Revisioned, Base):
    """Energy (in the counter's contract unit) of one meter, quantity and 15-minute interval."""

    __tablename__ = "interval_energy"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(32), primary_key=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # park-local calendar day
    amount: Mapped[float] = mapped_column(Float)
    completeness: Mapped[float] = mapped_column(Float)
    estimated: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # complete and closed when written, or past the settling time: docs/api.md, "Finality"
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # On PostgreSQL the table is partitioned by month of `start` (migration 0004,
    # lingtan.store.partitions); the key holds `start`, as a partitioned table's key must.
    __table_args__ = (Index("ix_interval_energy_park_revision", "park", "revision"),
                      Index("ix_interval_energy_park_day", "park", "day"),
                      # the few intervals not yet final, for the settling sweep. Its predicate is the
                      # sweep's `final.is_(False)` as each dialect renders it: a partial index is used
                      # only by a query that states its predicate (migration 0005)
                      Index("ix_interval_energy_unsettled", "park", "day", postgresql_where=text("final IS false"),
                            sqlite_where=text("final IS 0")))


class DailyEnergy(Base):
    """Energy of one meter and counter over one park-local day, summed from its intervals.

    Kept by the accounting service in the same transaction as the intervals (and so is
    MonthlyEnergy), so today, month, year to date and long series read a handful of rows
    instead of every 15-minute row.
    """

    __tablename__ = "energy_daily"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    amount: Mapped[float] = mapped_column(Float)
    completeness_sum: Mapped[float] = mapped_column(Float)  # sum over its intervals: quarter hours measured
    intervals: Mapped[int] = mapped_column(Integer)  # interval rows stored

    __table_args__ = (Index("ix_energy_daily_park_day", "park", "day"),)


class MonthlyEnergy(Base):
    """Energy of one meter and counter over one park-local month (sum of its DailyEnergy rows)."""

    __tablename__ = "energy_monthly"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first local day
    amount: Mapped[float] = mapped_column(Float)
    completeness_sum: Mapped[float] = mapped_column(Float)
    intervals: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_energy_monthly_park_month", "park", "month"),)


class IndicatorResult(Revisioned, Base):
    """The latest evaluation of one indicator of a park's framework for one year (a snapshot).

    Rewritten only when the result changed (`digest`), so its revision marks a real revision.
    """

    __tablename__ = "indicator_result"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    framework: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_indicator_result_park_revision", "park", "revision"),)


class RevisionCounter(Base):
    """One row per counter; `revision` is the only one. Updating it locks it until commit."""

    __tablename__ = "revision_counter"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    """An API key: only the SHA-256 of the key is stored; `id` is its public, non-secret part."""

    __tablename__ = "api_key"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    parks: Mapped[str] = mapped_column(Text)  # comma-separated park ids, or "*" for every park
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated: read, write, admin
    # comma-separated enterprise ids of its one park; null: not bound to enterprises (docs/api.md)
    enterprises: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class User(Base):
    """A person who logs in to the dashboard; the password is kept as an Argon2id hash."""

    __tablename__ = "app_user"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    parks: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(100))
    enterprises: Mapped[str | None] = mapped_column(Text, nullable=True)  # as ApiKey.enterprises
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A dashboard login: the SHA-256 of the session cookie's random token."""

    __tablename__ = "web_session"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ActivityRecord(Base):
    """Activity data a park entered for one year (the non-metered part of accounting.Activity)."""

    __tablename__ = "activity_record"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class AuditEntry(Base):
    """Who changed what and when: one row per accepted change, with the before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    park: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    changes: Mapped[list] = mapped_column(JSON)  # [{"path": "economy.x", "before": 1, "after": 2}]


@event.listens_for(Session, "before_flush")
def _assign_revisions(session: Session, _context, _instances) -> None:
    """Give every new or changed revisioned row the next revisions, in the flushing transaction.

    The counter row stays locked until commit (PostgreSQL row lock; SQLite has one writer), so
    a reader that has seen revision r will never later find a committed row with revision <= r.
    """
    rows = [o for o in session.new if isinstance(o, Revisioned)]
    rows += [o for o in session.dirty if isinstance(o, Revisioned) and session.is_modified(o)]
    if not rows:
        return
    top = session.connection().execute(
        update(RevisionCounter).where(RevisionCounter.name == "revision")
        .values(value=RevisionCounter.value + len(rows)).returning(RevisionCounter.value)).scalar_one()
    for i, row in enumerate(rows):
        row.revision = top - len(rows) + 1 + i


class Alarm(Revisioned, Base):
    """One alarm of a park (docs/alarms.md): a rule's condition on one subject (meter, gateway, park).

    `state` runs pending (condition seen, `for_s` not yet over) → raised → acknowledged → cleared;
    at most one row per (park, rule, subject) is not cleared. `clearing_since` is when the condition
    last went away; if it comes back before `clear_s` the alarm stays and `flaps` counts it.
    Revisioned, so the city platform syncs alarms like intervals.
    """

    __tablename__ = "alarm"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # meter or gateway id, or the park id
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # condition first seen
    raised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    clearing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    flaps: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_alarm_park_revision", "park", "revision"),
                      Index("ix_alarm_open", "park", "rule", "subject", "state"))


class AlarmNotification(Base):
    """One notification of one alarm event to one channel: the outbox, retried with backoff."""

    __tablename__ = "alarm_notification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # raised, cleared
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_alarm_notification_due", "status", "next_at"),)


class GatewayStatus(Base):
    """A gateway's last status message (retained, and its MQTT last will): online or offline."""

    __tablename__ = "gateway_status"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the message's own time
    spooled: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dropped: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    spool_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KeuReport(Base):
    """A key energy user's monthly report, filed (lingtan.api.reports.submissions): who and when.

    One row per enterprise and month: the first filing counts for on time / late; the audit log
    keeps every submission."""

    __tablename__ = "keu_report"
    park: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # park-local "2026-11"
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))  # of the report as filed; "" if the platform had no data
