"""Realtime park figures: power now, and energy, tce, CO2 and intensity for today, month, year.

Energy comes from the interval table (what accounting derived from the meters); the balance,
tce and CO2 come from the pure core, so the API shows exactly what the accounting method says.
"""

from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lingtan.accounting.figures import park_figures
from lingtan.api import schemas
from lingtan.kernel.localtime import days_bounds, month_spans
from lingtan.kernel.park import Carrier, Park, Role
from lingtan.store.models import ActivityRecord, DailyEnergy, Latest, MonthlyEnergy


def period_sums(session: Session, park: Park, first: date, last: date) -> dict[tuple[str, str], list[float]]:
    """(meter, quantity) -> [energy, sum of interval completeness, intervals] over local days
    [first, last], from the monthly and daily aggregates: a year is a dozen rows per counter, summed
    by the database (one row per counter and query)."""
    months, days = month_spans(first, last)
    sums: dict[tuple[str, str], list[float]] = {}
    queries = []
    if months:
        m = MonthlyEnergy
        queries.append(select(m.meter, m.quantity, func.sum(m.amount), func.sum(m.completeness_sum),
                              func.sum(m.intervals))
                       .where(m.park == park.id, m.month.in_(months)).group_by(m.meter, m.quantity))
    if days:
        d = DailyEnergy
        queries.append(select(d.meter, d.quantity, func.sum(d.amount), func.sum(d.completeness_sum),
                              func.sum(d.intervals))
                       .where(d.park == park.id, or_(*(d.day.between(a, b) for a, b in days)))
                       .group_by(d.meter, d.quantity))
    for q in queries:
        for meter, quantity, amount, completeness, n in session.execute(q):
            acc = sums.setdefault((meter, quantity), [0.0, 0.0, 0])
            acc[0] += float(amount)
            acc[1] += float(completeness)
            acc[2] += int(n)
    return sums


def meter_totals(session: Session, park: Park, first: date, last: date) -> tuple[dict, float]:
    """Per meter and counter: energy over local days [first, last]; and the mean completeness of
    their intervals (averaged over the counters)."""
    totals: dict[str, dict[str, float]] = {}
    completeness = []
    for (meter, quantity), (amount, comp, n) in period_sums(session, park, first, last).items():
        totals.setdefault(meter, {})[quantity] = amount
        completeness.append(comp / n if n else 0.0)
    return totals, (sum(completeness) / len(completeness) if completeness else 0.0)


def meter_coverage(session: Session, park: Park, first: date, last: date, now: datetime) -> dict[str, float]:
    """Per meter: measured share (0..1) of local days [first, last], cut at `now`.

    A meter's 15-minute intervals count with their completeness (the best of its counters),
    against every quarter hour of the period that has begun by `now`.
    """
    start, end = days_bounds(first, last, park.zone)
    slots = max(1.0, (min(end, now) - start).total_seconds() / 900)
    covered: dict[str, float] = {}
    for (meter, _q), (_amount, comp, _n) in period_sums(session, park, first, last).items():
        covered[meter] = max(covered.get(meter, 0.0), comp)
    ids = {m.id for m in park.meters}
    return {m: min(1.0, c / slots) for m, c in covered.items() if m in ids}


def entered_factors(session: Session, park: Park, year: int) -> dict:
    """Factor values the park entered for `year` with its activity data (validated on entry)."""
    record = session.get(ActivityRecord, (park.id, year))
    return dict(record.data.get("factors") or {}) if record else {}


def period(session: Session, park: Park, name: str, first: date, last: date, factors: dict) -> schemas.PeriodFigures:
    totals, completeness = meter_totals(session, park, first, last)
    start, end = days_bounds(first, last, park.zone)
    return schemas.PeriodFigures(period=name, start=start, end=end, completeness=round(completeness, 6),
                                 **dict(park_figures(park, totals, first.year, last, factors)))


def carbon_rate_t_per_h(park: Park, latest: dict[str, Latest], year: int, factors: dict | None = None) -> float:
    """CO2 per hour if the boundary flows measured now went on for an hour."""
    hour: dict[str, dict[str, float]] = {}
    for m in park.meters:
        row = latest.get(m.id)
        if row is None or not m.in_balance:
            continue
        v = row.values
        if m.carrier is Carrier.ELECTRICITY:
            p = v.get("power_kw", 0.0)
            hour[m.id] = {"energy_import_kwh": max(p, 0.0), "energy_export_kwh": max(-p, 0.0)}
        elif m.carrier is Carrier.NATURAL_GAS:
            hour[m.id] = {"gas_m3": v.get("gas_flow_m3h", 0.0)}
        elif m.carrier is Carrier.HEAT:
            hour[m.id] = {"heat_gj": max(v.get("heat_power_kw", 0.0), 0.0) * 3.6e-3}  # kWh(th) -> GJ
    return park_figures(park, hour, year, factors=factors).co2_t


def power(park: Park, latest: dict[str, Latest]) -> schemas.PowerOut:
    out = {"grid_kw": 0.0, "pv_kw": 0.0, "wind_kw": 0.0, "storage_kw": 0.0, "load_kw": 0.0, "gas_m3h": 0.0,
           "heat_kw": 0.0}
    for m in park.meters:
        row = latest.get(m.id)
        if row is None:
            continue
        v = row.values
        if m.carrier is Carrier.ELECTRICITY:
            p = v.get("power_kw", 0.0)
            key = {Role.GRID: "grid_kw", Role.PV: "pv_kw", Role.WIND: "wind_kw", Role.STORAGE: "storage_kw",
                   Role.ENTERPRISE: "load_kw", Role.LOAD: "load_kw"}.get(m.role)
            if key in ("pv_kw", "wind_kw"):
                p = abs(p)  # generators' meters read generation as export
            if key and not (key == "load_kw" and m.parent is not None):
                out[key] += p
        elif m.boundary and m.carrier is Carrier.NATURAL_GAS:
            out["gas_m3h"] += v.get("gas_flow_m3h", 0.0)
        elif m.boundary and m.carrier is Carrier.HEAT:
            out["heat_kw"] += v.get("heat_power_kw", 0.0)
    return schemas.PowerOut(**out)
