"""Platform database tables (SQLAlchemy 2): what accounting derives and what people enter."""

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
    payload: Mapped[str] = mapped_column(Text)  # raw, decoded as UTF-8 with replacement


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
    token: Mapped[str] = mapped_column(String(32))  # renewed on every marking; see api.rollup


class IntervalEnergy(Base):
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
