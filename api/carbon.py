"""Realtime park figures: power now, and energy, tce, CO2 and intensity for today, month, year.

Energy comes from the interval table (what accounting derived from the meters); the balance,
tce and CO2 come from the pure core, so the API shows exactly what the accounting method says.
"""

from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lingtan.accounting.account import account
from lingtan.accounting.activity import Activity, Period
from lingtan.accounting.balance import park_balance
from lingtan.kernel.park import Carrier, Park, Role
from lingtan.api import schemas
from lingtan.store.models import ActivityRecord, IntervalEnergy, Latest
from lingtan.accounting.service import day_bounds


def meter_totals(session: Session, park: Park, first: date, last: date) -> tuple[dict, float]:
    """Per meter and counter: energy over local days [first, last]; and mean completeness."""
    rows = session.execute(
        select(IntervalEnergy.meter, IntervalEnergy.quantity, func.sum(IntervalEnergy.amount),
               func.avg(IntervalEnergy.completeness))
        .where(IntervalEnergy.park == park.id, IntervalEnergy.day >= first, IntervalEnergy.day <= last)
        .group_by(IntervalEnergy.meter, IntervalEnergy.quantity)).all()
    totals: dict[str, dict[str, float]] = {}
    completeness = []
    for meter, quantity, amount, comp in rows:
        totals.setdefault(meter, {})[quantity] = float(amount)
        completeness.append(float(comp or 0))
    return totals, (sum(completeness) / len(completeness) if completeness else 0.0)


def figures(park: Park, totals: dict, year: int, through: date | None = None, factors: dict | None = None) -> dict:
    """Energy by carrier, electricity split, tce and CO2 of meter totals, by the pure core, with the
    park's factor values for the year (`factors`, from its activity data) over the defaults."""
    bal = park_balance(park, totals)
    base = Activity(park=park.id, year=year, framework=park.framework, park_type=park.park_type,
                    period=Period(through=through), factors=factors or {})
    result = account(bal.to_activity(base))
    split = result.energy.electricity
    energy_tce = result.energy.total_tce
    co2 = result.emissions.total_co2_t
    return {
        "energy_by_carrier": {
            "electricity": split.consumption_kwh,
            **{k.removesuffix("_m3").removesuffix("_t"): v for k, v in bal.fuels.items()},
            "heat": sum(h.gj for h in bal.heat.imports) - sum(h.gj for h in bal.heat.exports),
        },
        "electricity_kwh": {
            "grid_import": bal.electricity.grid_import_kwh, "grid_export": bal.electricity.grid_export_kwh,
            "grid_consumed": split.grid_kwh, "green_direct": split.green_direct_kwh,
            "onsite_renewable": split.onsite_renewable_kwh, "certificates": split.certificate_kwh,
            "storage_charge": bal.electricity.storage_charge_kwh,
            "storage_discharge": bal.electricity.storage_discharge_kwh,
        },
        "energy_tce": energy_tce,
        "energy_tce_calorific": result.energy.total_calorific_tce,
        "co2_t": co2,
        "co2_by_source_t": {
            "electricity": result.emissions.electricity_co2_t, "fuels": result.emissions.fuel_co2_t,
            "heat": result.emissions.heat_co2_t, "process": result.emissions.process_co2_t,
            "transformation": result.emissions.transformation_co2_t,
        },
        "intensity_t_per_tce": co2 / energy_tce if energy_tce > 0 else None,
    }


def meter_coverage(session: Session, park: Park, first: date, last: date, now: datetime) -> dict[str, float]:
    """Per meter: measured share (0..1) of local days [first, last], cut at `now`.

    A meter's 15-minute intervals count with their completeness (the best of its counters),
    against every quarter hour of the period that has begun by `now`.
    """
    start, _ = day_bounds(first, park.zone)
    _, end = day_bounds(last, park.zone)
    slots = max(1.0, (min(end, now) - start).total_seconds() / 900)
    rows = session.execute(
        select(IntervalEnergy.meter, IntervalEnergy.quantity, func.sum(IntervalEnergy.completeness))
        .where(IntervalEnergy.park == park.id, IntervalEnergy.day >= first, IntervalEnergy.day <= last)
        .group_by(IntervalEnergy.meter, IntervalEnergy.quantity)).all()
    covered: dict[str, float] = {}
    for meter, _q, total in rows:
        covered[meter] = max(covered.get(meter, 0.0), float(total or 0))
    ids = {m.id for m in park.meters}
    return {m: min(1.0, c / slots) for m, c in covered.items() if m in ids}


def entered_factors(session: Session, park: Park, year: int) -> dict:
    """Factor values the park entered for `year` with its activity data (validated on entry)."""
    record = session.get(ActivityRecord, (park.id, year))
    return dict(record.data.get("factors") or {}) if record else {}


def period(session: Session, park: Park, name: str, first: date, last: date, factors: dict) -> schemas.PeriodFigures:
    totals, completeness = meter_totals(session, park, first, last)
    start, _ = day_bounds(first, park.zone)
    _, end = day_bounds(last, park.zone)
    return schemas.PeriodFigures(period=name, start=start, end=end, completeness=round(completeness, 6),
                                 **figures(park, totals, first.year, last, factors))


def carbon_rate_t_per_h(park: Park, latest: dict[str, Latest], year: int, factors: dict | None = None) -> float:
    """CO2 per hour if the boundary flows measured now went on for an hour."""
    hour: dict[str, dict[str, float]] = {}
    for m in park.meters:
        row = latest.get(m.id)
        if row is None or not (m.boundary or m.role in (Role.PV, Role.WIND, Role.STORAGE)):
            continue
        v = row.values
        if m.carrier is Carrier.ELECTRICITY:
            p = v.get("power_kw", 0.0)
            hour[m.id] = {"energy_import_kwh": max(p, 0.0), "energy_export_kwh": max(-p, 0.0)}
        elif m.carrier is Carrier.NATURAL_GAS:
            hour[m.id] = {"gas_m3": v.get("gas_flow_m3h", 0.0)}
        elif m.carrier is Carrier.HEAT:
            hour[m.id] = {"heat_gj": max(v.get("heat_power_kw", 0.0), 0.0) * 3.6e-3}  # kWh(th) -> GJ
    return figures(park, hour, year, factors=factors)["co2_t"]


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


def realtime(park: Park, session: Session, now: datetime) -> schemas.Realtime:
    today = now.astimezone(park.zone).date()
    latest = {r.meter: r for r in session.scalars(select(Latest).where(Latest.park == park.id))}
    p = power(park, latest)
    factors = entered_factors(session, park, today.year)  # today, month and year share the year
    return schemas.Realtime(
        park=park.id, time=now.astimezone(UTC), power=p,
        carbon_rate_t_per_h=carbon_rate_t_per_h(park, latest, today.year, factors),
        today=period(session, park, "today", today, today, factors),
        month=period(session, park, "month", today.replace(day=1), today, factors),
        year=period(session, park, "year", today.replace(month=1, day=1), today, factors),
        meters_reporting=len(latest), meters_total=len(park.meters))
