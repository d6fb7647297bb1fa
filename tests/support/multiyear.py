"""A platform with more than one year of data, for the year-on-year and base-year comparisons and
the dashboard's history: `tests.support.api`'s two parks, the demo park declaring a base year.

`multiyear_platform` adds the same local day as the API tests' DAY in the previous year and in the
base year, with every interval scaled (0.8 and 0.5 of PER_QUARTER), so changes are worked by hand.
`seed_history` adds daily and monthly aggregates with a seasonal shape over a long span, for
month and year views that would take a year of 15-minute rows otherwise: the aggregates are what
the accounting service keeps from the intervals, written here directly as test data.
"""

import math
from datetime import date, timedelta

from lingtan.accounting.service import update_aggregates
from lingtan.api.auth import Scope, create_user
from lingtan.kernel.localtime import PeriodKind, first_day
from lingtan.store.db import sessions
from lingtan.store.models import DailyEnergy, IntervalEnergy, MonthlyEnergy
from tests.support.api import (
    NOW,
    PARK,
    PER_QUARTER,
    TODAY,
    ZONE,
    Platform,
    local_midnight_utc,
    make_platform,
    two_park_config,
    write_intervals,
)

BASE_YEAR = 2024
DAY = date(2026, 6, 14)  # the API tests' full local day
SCALES = {2025: 0.8, BASE_YEAR: 0.5}  # of PER_QUARTER, on DAY's date in that year


def multiyear_platform(db_url: str, base_year: int | None = BASE_YEAR) -> Platform:
    """`make_platform`'s platform, the demo park with `base_year`, and DAY's date in 2025 and 2024."""
    config = two_park_config(db_url)
    parks = [p.model_copy(update={"base_year": base_year}) if p.id == PARK else p for p in config.parks]
    platform = make_platform(db_url, config=config.model_copy(update={"parks": parks}))
    for year, scale in SCALES.items():
        start = local_midnight_utc(DAY.replace(year=year))
        write_intervals(platform.engine, PARK, start, start + timedelta(days=1), scale=scale)
    return platform


USER, PASSWORD = "manager", "zero-carbon-2026"  # a park manager of the dashboard platform


def dashboard_platform(db_url: str) -> Platform:
    """`multiyear_platform` with a history for the dashboard: daily aggregates from 2025-01-01 to
    yesterday, today (until NOW) and the same day of 2025 (at 0.9) with a daily shape in 15-minute
    intervals, and a read-only user USER."""
    platform = multiyear_platform(db_url)
    last_year = TODAY.replace(year=2025)
    interval_days = {DAY, TODAY, DAY.replace(year=2025), last_year}
    seed_history(platform.engine, PARK, date(2025, 1, 1), TODAY - timedelta(days=1), skip=interval_days)
    shaped_day(platform.engine, PARK, TODAY, until=NOW)
    shaped_day(platform.engine, PARK, last_year, scale=0.9)
    with sessions(platform.engine).begin() as s:
        create_user(s, username=USER, password=PASSWORD, parks=[PARK], scopes=[Scope.READ], now=NOW)
    return platform


def season(day: date) -> float:
    """A park's seasonal load, 0.75..1.25: highest in summer (air conditioning) and winter."""
    return 1 + 0.25 * math.cos(4 * math.pi * (day.timetuple().tm_yday - 20) / 365)


def seed_history(engine, park: str, first: date, last: date, skip: set[date] = frozenset()) -> None:
    """Daily and monthly aggregates of every PER_QUARTER counter over local days [first, last]
    (but `skip`, the days with intervals), a full day's PER_QUARTER energy shaped by `season`, 96
    complete intervals a day. The months of skipped days are then summed again by the service's own
    code (from their intervals and the seeded days), as are days written later with `shaped_day`."""
    daily = []
    d = first
    while d <= last:
        if d not in skip:
            f = season(d) * (1 + 0.08 * math.sin(d.toordinal() / 2.3))  # and a little day-to-day weather
            daily += [DailyEnergy(park=park, meter=m, quantity=q, day=d, amount=amount * 96 * f,
                                  completeness_sum=96.0, intervals=96)
                      for m, quantities in PER_QUARTER.items() for q, amount in quantities.items()]
        d += timedelta(days=1)
    months: dict[tuple, list[float]] = {}
    for r in daily:
        acc = months.setdefault((r.meter, r.quantity, first_day(r.day, PeriodKind.MONTH)), [0.0, 0.0, 0])
        acc[0] += r.amount
        acc[1] += r.completeness_sum
        acc[2] += r.intervals
    with sessions(engine).begin() as s:
        s.add_all(daily)
        s.add_all(MonthlyEnergy(park=park, meter=m, quantity=q, month=month, amount=a, completeness_sum=c,
                                intervals=n) for (m, q, month), (a, c, n) in months.items()
                  if not any(first_day(d, PeriodKind.MONTH) == month for d in skip))
        for meter, quantities in PER_QUARTER.items():
            for q in quantities:
                update_aggregates(s, park, ZONE, meter, q, {d for d in skip if first <= d <= last})


def shaped_day(engine, park: str, day: date, until=None, scale: float = 1.0) -> None:
    """Replace `day`'s intervals of every PER_QUARTER counter (up to `until`, UTC) with a daily
    shape: PV peaking at noon, a morning load peak; the grid covers the rest. Aggregates follow."""
    start = local_midnight_utc(day)
    end = min(start + timedelta(days=1), until or start + timedelta(days=1))
    rows = []
    t = start
    while t < end:
        hour = (t - start).total_seconds() / 3600
        pv = max(0.0, math.sin(math.pi * (hour - 6) / 12)) * 45 * scale
        shape = (0.7 + 0.5 * math.exp(-((hour - 10) ** 2) / 8) + 0.3 * math.exp(-((hour - 15) ** 2) / 6)) * scale
        for meter, quantities in PER_QUARTER.items():
            for q, amount in quantities.items():
                if meter == "pv-roof":
                    value = pv if q == "energy_export_kwh" else 0.0
                elif meter == "grid-main":
                    value = 0.0 if q == "energy_export_kwh" else max(0.0, 140 * shape - pv)
                else:
                    value = amount * shape
                rows.append(IntervalEnergy(park=park, meter=meter, quantity=q, start=t, day=day, amount=value,
                                           completeness=1.0, estimated=False, flags="", updated_at=NOW))
        t += timedelta(minutes=15)
    with sessions(engine).begin() as s:
        s.query(IntervalEnergy).filter(IntervalEnergy.park == park, IntervalEnergy.day == day).delete()
        s.add_all(rows)
        for meter, quantities in PER_QUARTER.items():
            for q in quantities:
                update_aggregates(s, park, ZONE, meter, q, {day})
