"""Energy series from the interval table, rolled up into park-local 15-minute, hour, day or month
buckets, for one meter, one enterprise or the whole park.

A meter's series is its counters' energy. An enterprise's is the sum of its top-level meters
(sub-meters of its own meters are not counted twice). The park's goes through the accounting
core bucket by bucket (energy balance, tce, CO2), so a series adds up to the realtime figures.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lingtan.kernel.park import GENERATION_ROLES, Park, Role
from lingtan.kernel.quantities import QUANTITIES
from lingtan.api import carbon, schemas
from lingtan.store.models import IntervalEnergy
from lingtan.accounting.service import day_bounds
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
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(last, zone)
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
    while d <= last:
        if step == "day":
            nxt = d + timedelta(days=1)
            label = d.isoformat()
        else:
            nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
            label = f"{d:%Y-%m}"
        s, _ = day_bounds(d, zone)
        e, _ = day_bounds(min(nxt, last + timedelta(days=1)), zone)
        out.append(Bucket(s, e, label))
        d = nxt
    if len(out) > MAX_POINTS:
        raise HTTPException(422, f"{len(out)} points; at most {MAX_POINTS} per request")
    return out


def scope_meters(park: Park, scope: str, ident: str) -> list:
    if scope == "meter":
        try:
            return [park.meter(ident)]
        except KeyError:
            raise HTTPException(404, f"id = {ident!r}: no meter of park {park.id!r}") from None
    if scope == "enterprise":
        mine = [m for m in park.meters if m.enterprise == ident]
        if not any(e.id == ident for e in park.enterprises):
            raise HTTPException(404, f"id = {ident!r}: no enterprise of park {park.id!r}")
        ids = {m.id for m in mine}
        return [m for m in mine if m.parent not in ids]
    return list(park.meters)


def _rows(session: Session, park: Park, meters: list[str], step: str, first: date, last: date):
    """(meter, quantity, bucket key, amount, completeness-sum) from the database."""
    base = [IntervalEnergy.park == park.id, IntervalEnergy.day >= first, IntervalEnergy.day <= last,
            IntervalEnergy.meter.in_(meters)]
    if step in ("15min", "hour"):
        q = select(IntervalEnergy.meter, IntervalEnergy.quantity, IntervalEnergy.start, IntervalEnergy.amount,
                   IntervalEnergy.completeness).where(*base)
        return [(m, qn, aware(s), a, c) for m, qn, s, a, c in session.execute(q)]
    q = (select(IntervalEnergy.meter, IntervalEnergy.quantity, IntervalEnergy.day, func.sum(IntervalEnergy.amount),
                func.sum(IntervalEnergy.completeness))
         .where(*base).group_by(IntervalEnergy.meter, IntervalEnergy.quantity, IntervalEnergy.day))
    return list(session.execute(q))


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
        label = key.isoformat() if step == "day" else f"{key:%Y-%m}"
        return index_of_label.get(label)

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
        m.id for m in meters if m.boundary or m.role in GENERATION_ROLES or m.role is Role.STORAGE]
    points, units = [], {}
    for i, b in enumerate(bs):
        slots = (b.end - b.start) / QUARTER
        comp = (sum(min(1.0, covered[i].get(m, 0.0) / slots) for m in coverage_meters) / len(coverage_meters)
                if coverage_meters else 0.0)
        if scope == "park":
            year = b.start.astimezone(park.zone).year
            if year not in factors:
                factors[year] = carbon.entered_factors(session, park, year)
            values = park_values(park, totals[i], year, factors[year])
            units = PARK_UNITS
        else:
            values: dict[str, float] = {}
            for q in totals[i].values():
                for name, v in q.items():
                    values[name] = values.get(name, 0.0) + v
            units.update({name: QUANTITIES[name].unit for name in values if name in QUANTITIES})
        points.append(schemas.SeriesPoint(start=b.start, end=b.end, label=b.label, values=values,
                                          completeness=round(comp, 6)))
    if scope != "park":
        for m in meters:  # every counter the meter's carrier has, even in an empty range
            for name in _counters(m):
                units.setdefault(name, QUANTITIES[name].unit)
    return schemas.SeriesOut(park=park.id, scope=scope, id=ident, step=step, timezone=park.timezone, first=first,
                             last=last, units=units, points=points)


def _counters(meter) -> list[str]:
    from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
    return sorted(CARRIER_QUANTITIES[meter.carrier.value] & COUNTERS)


def park_values(park: Park, totals: dict[str, dict[str, float]], year: int, factors: dict | None = None
                ) -> dict[str, float]:
    f = carbon.figures(park, totals, year, factors=factors)
    e = f["electricity_kwh"]
    onsite = sum(t.get("energy_export_kwh", 0.0) for m, t in totals.items() if park.meter(m).role in GENERATION_ROLES)
    return {
        "electricity_kwh": f["energy_by_carrier"]["electricity"],
        "grid_import_kwh": e["grid_import"], "grid_export_kwh": e["grid_export"], "pv_kwh": onsite,
        "storage_charge_kwh": e["storage_charge"], "storage_discharge_kwh": e["storage_discharge"],
        "natural_gas_m3": f["energy_by_carrier"].get("natural_gas", 0.0),
        "heat_gj": f["energy_by_carrier"].get("heat", 0.0),
        "energy_tce": f["energy_tce"], "co2_t": f["co2_t"],
    }
