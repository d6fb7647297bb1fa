"""The park-local calendar: local days, months and years, and their bounds as instants.

Days, months and years start at local midnight in the park's time zone (default Asia/Shanghai),
so a Chinese calendar day starts at 16:00 UTC the day before. Ingest marks the local days a
reading touches, the accounting service recomputes them, and the API and the accounting core
sum them into months and years: all of them ask this module.
"""

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PeriodKind(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


def local_day(t: datetime, zone: ZoneInfo) -> date:
    """The park-local calendar day an instant falls on."""
    return t.astimezone(zone).date()


def local_midnight(d: date, zone: ZoneInfo) -> datetime:
    """Start of local day `d`, aware, in the park's zone."""
    return datetime.combine(d, time(0), tzinfo=zone)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A park-local calendar day as a UTC half-open range."""
    return days_bounds(day, day, zone)


def days_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local days [first, last] as a UTC half-open range."""
    start = local_midnight(first, zone)
    end = local_midnight(last + timedelta(days=1), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def first_day(d: date, kind: PeriodKind) -> date:
    """First day of the day, month or year containing `d`."""
    if kind is PeriodKind.DAY:
        return d
    if kind is PeriodKind.MONTH:
        return d.replace(day=1)
    return date(d.year, 1, 1)


def next_first_day(d: date, kind: PeriodKind) -> date:
    """First day of the period after the one starting on `d`."""
    if kind is PeriodKind.DAY:
        return d + timedelta(days=1)
    if kind is PeriodKind.MONTH:
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date(d.year + 1, 1, 1)


def month_spans(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """Local days [first, last] as whole months (their first days) and the day ranges left at
    either end, so that a sum over them reads monthly aggregates where it can."""
    months, days = [], []
    d = first
    while d <= last:
        month = first_day(d, PeriodKind.MONTH)
        following = next_first_day(month, PeriodKind.MONTH)
        end = following - timedelta(days=1)
        if d == month and end <= last:
            months.append(month)
        else:
            days.append((d, min(end, last)))
        d = following
    return months, days


def label(d: date, kind: PeriodKind) -> str:
    """"2025-03-01", "2025-03" or "2025"."""
    return {PeriodKind.DAY: d.isoformat(), PeriodKind.MONTH: f"{d:%Y-%m}", PeriodKind.YEAR: f"{d:%Y}"}[kind]


def year_bounds(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local calendar year as aware local bounds."""
    return local_midnight(date(year, 1, 1), zone), local_midnight(date(year + 1, 1, 1), zone)


def elapsed_share(year: int, through: date, zone: ZoneInfo) -> float:
    """Share of the local calendar year that has passed by the end of local day `through`."""
    start, end = year_bounds(year, zone)
    if not date(year, 1, 1) <= through <= date(year, 12, 31):
        raise ValueError(f"through = {through.isoformat()}: must be a day of {year}")
    cut = local_midnight(through + timedelta(days=1), zone)
    return (cut - start) / (end - start)
