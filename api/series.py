"""Energy series from the interval table, rolled up into park-local 15-minute, hour, day or month
buckets, for one meter, one enterprise or the whole park.

A meter's series is its counters' energy. An enterprise's is the sum of the meters the enterprise
account counts for it (`counted_meters`: a sub-meter below its own meter is not counted twice).
The park's goes through the accounting core bucket by bucket (energy balance, tce, CO2), so a
series adds up to the realtime figures.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import HTTPException
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lingtan.accounting.balance import counted_meters
from lingtan.accounting.figures import park_figures
from lingtan.api import carbon, schemas
from lingtan.kernel.localtime import PeriodKind, days_bounds, label, month_spans, next_first_day
from lingtan.kernel.park import GENERATION_ROLES, Park
from lingtan.kernel.quantities import QUANTITIES
from lingtan.store.models import DailyEnergy, IntervalEnergy, MonthlyEnergy
from lingtan.store.timeutil import aware

MAX_POINTS = 3000  # per request; documented in docs/api.md
QUARTER = timedelta(minutes=15)
PARK_UNITS = {
    "electricity_kwh": "kWh", "grid_import_kwh": "kWh", "grid_export_kwh": "kWh", "pv_kwh": "kWh",
    "storage_charge_kwh": "kWh", "storage_discharge_kwh": "kWh", "natural_gas_m3": "m3", "heat_gj": "GJ",
    "energy_tce": "tce", "co2_t": "tCO2",
}


@dataclass(frozen=True)
class Bucket:
    start: datetime  # UTC
    end: datetime
    label: str


def buckets(park: Park, step: str, first: date, last: date) -> list[Bucket]:
    zone = park.zone
    start, end = days_bounds(first, last, zone)
    out: list[Bucket] = []
    if step in ("15min", "hour"):
        width = QUARTER if step == "15min" else timedelta(hours=1)
        n = int((end - start) / width)
        if n > MAX_POINTS:
            raise HTTPException(422, f"step = {step!r} from {first} to {last} makes {n} points; at most {MAX_POINTS} "
                                "per request: shorten the range or use a coarser step")
        for i in range(n):
            s = start + i * width
            out.append(Bucket(s, s + width, s.astimezone(zone).strftime("%Y-%m-%dT%H:%M")))
        return out
    d = first
    kind = PeriodKind.DAY if step == "day" else PeriodKind.MONTH
    while d <= last:
        nxt = next_first_day(d, kind)
        s, e = days_bounds(d, min(nxt - timedelta(days=1), last), zone)
        out.append(Bucket(s, e, label(d, kind)))
        d = nxt
    if len(out) > MAX_POINTS:
        raise HTTPException(422, f"{len(out)} points; at most {MAX_POINTS} per request")
    return out


def no_enterprise(park: Park, ident: str | None) -> str:
    return f"id = {ident!r}: no enterprise of park {park.id!r}"


def scope_meters(park: Park, scope: str, ident: str) -> list:
    if scope == "meter":
        try:
            return [park.meter(ident)]
        except KeyError:
            raise HTTPException(404, f"id = {ident!r}: no meter of park {park.id!r}") from None
    if scope == "enterprise":
        if not any(e.id == ident for e in park.enterprises):
            raise HTTPException(404, no_enterprise(park, ident))
        return [park.meter(m) for m, owner in counted_meters(park).items() if owner == ident]
    return list(park.meters)


def _rows(session: Session, park: Park, meters: list[str], step: str, first: date, last: date):
    """(meter, quantity, bucket key, amount, completeness-sum) from the database: 15-minute rows for
    the 15min and hour steps, the daily and monthly aggregates for the day and month steps."""
    if step in ("15min", "hour"):
        start, end = days_bounds(first, last, park.zone)  # the same rows; lets PostgreSQL read only their months
        q = select(IntervalEnergy.meter, IntervalEnergy.quantity, IntervalEnergy.start, IntervalEnergy.amount,
                   IntervalEnergy.completeness).where(
            IntervalEnergy.park == park.id, IntervalEnergy.day >= first, IntervalEnergy.day <= last,
            IntervalEnergy.start >= start, IntervalEnergy.start < end, IntervalEnergy.meter.in_(meters))
        return [(m, qn, aware(s), a, c) for m, qn, s, a, c in session.execute(q)]
    months, days = month_spans(first, last) if step == "month" else ([], [(first, last)])
    rows = []
    if months:
        rows += session.execute(
            select(MonthlyEnergy.meter, MonthlyEnergy.quantity, MonthlyEnergy.month, MonthlyEnergy.amount,
                   MonthlyEnergy.completeness_sum)
            .where(MonthlyEnergy.park == park.id, MonthlyEnergy.month.in_(months),
                   MonthlyEnergy.meter.in_(meters))).all()
    if days:
        rows += session.execute(
            select(DailyEnergy.meter, DailyEnergy.quantity, DailyEnergy.day, DailyEnergy.amount,
                   DailyEnergy.completeness_sum)
            .where(DailyEnergy.park == park.id, or_(*(DailyEnergy.day.between(a, b) for a, b in days)),
                   DailyEnergy.meter.in_(meters))).all()
    return rows


def series(session: Session, park: Park, scope: str, ident: str, step: str, first: date,
           last: date) -> schemas.SeriesOut:
    if last < first:
        raise HTTPException(422, f"last = {last}: must not be before first = {first}")
    bs = buckets(park, step, first, last)
    meters = scope_meters(park, scope, ident)
    ids = [m.id for m in meters]
    origin = bs[0].start if bs else None
    width = QUARTER if step == "15min" else timedelta(hours=1)
    index_of_label = {b.label: i for i, b in enumerate(bs)}

    def bucket_of(key) -> int | None:
        if step in ("15min", "hour"):
            i = int((key - origin) / width)
            return i if 0 <= i < len(bs) else None
        return index_of_label.get(label(key, PeriodKind.DAY if step == "day" else PeriodKind.MONTH))

    totals: list[dict[str, dict[str, float]]] = [defaultdict(dict) for _ in bs]
    covered: list[dict[str, float]] = [defaultdict(float) for _ in bs]
    per_quantity: list[dict[tuple[str, str], float]] = [defaultdict(float) for _ in bs]
    factors: dict[int, dict] = {}  # the park's entered factor values, by year
    for meter, quantity, key, amount, comp in _rows(session, park, ids, step, first, last):
        i = bucket_of(key)
        if i is None:
            continue
        t = totals[i][meter]
        t[quantity] = t.get(quantity, 0.0) + float(amount)
        per_quantity[i][(meter, quantity)] += float(comp or 0)
    for i, pq in enumerate(per_quantity):
        for (meter, _q), c in pq.items():
            covered[i][meter] = max(covered[i][meter], c)

    coverage_meters = ids if scope != "park" else [
        m.id for m in meters if m.in_balance]
    points: list[schemas.SeriesPoint] = []
    units = dict(PARK_UNITS) if scope == "park" else {  # every counter the meters' carriers have
        name: QUANTITIES[name].unit for m in meters for name in _counters(m)}
    for i, b in enumerate(bs):
        slots = (b.end - b.start) / QUARTER
        comp = (sum(min(1.0, covered[i].get(m, 0.0) / slots) for m in coverage_meters) / len(coverage_meters)
                if coverage_meters else 0.0)
        values: dict[str, float | None]
        if not totals[i]:  # nothing measured (a future bucket, a gap): null, never a measured-looking 0
            values = dict.fromkeys(units)
        elif scope == "park":
            year = b.start.astimezone(park.zone).year
            if year not in factors:
                factors[year] = carbon.entered_factors(session, park, year)
            values = park_values(park, totals[i], year, factors[year])
        else:
            values = {}
            for q in totals[i].values():
                for name, v in q.items():
                    values[name] = (values.get(name) or 0.0) + v
            units.update({name: QUANTITIES[name].unit for name in values if name in QUANTITIES})
        points.append(schemas.SeriesPoint(start=b.start, end=b.end, label=b.label, values=values,
                                          completeness=round(comp, 6)))
    return schemas.SeriesOut(park=park.id, scope=scope, id=ident, step=step, timezone=park.timezone, first=first,
                             last=last, units=units, points=points)


def _counters(meter) -> list[str]:
    from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
    return sorted(CARRIER_QUANTITIES[meter.carrier.value] & COUNTERS)


def park_values(park: Park, totals: dict[str, dict[str, float]], year: int, factors: dict | None = None
                ) -> dict[str, float]:
    f = park_figures(park, totals, year, factors=factors)
    e = f.electricity_kwh
    onsite = sum(t.get("energy_export_kwh", 0.0) for m, t in totals.items() if park.meter(m).role in GENERATION_ROLES)
    return {
        "electricity_kwh": f.energy_by_carrier["electricity"],
        "grid_import_kwh": e.grid_import, "grid_export_kwh": e.grid_export, "pv_kwh": onsite,
        "storage_charge_kwh": e.storage_charge, "storage_discharge_kwh": e.storage_discharge,
        "natural_gas_m3": f.energy_by_carrier.get("natural_gas", 0.0),
        "heat_gj": f.energy_by_carrier.get("heat", 0.0),
        "energy_tce": f.energy_tce, "co2_t": f.co2_t,
    }
