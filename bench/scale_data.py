"""The scale benchmark's park and its history, written straight into the platform database.

A park of N meters (simulator.fleet.fleet_config: one grid connection, PV inverters, batteries,
enterprise electricity, gas, steam and water sub-meters under their supply meters), polled every
15 s, and D days of 15-minute intervals ending at NOW: amounts from a load shape (working hours,
weekends), a PV curve (sun, season) and a battery schedule (charge 02-06 h, discharge 18-22 h);
the grid meter carries the balance. Every interval has completeness 1, final true, and the
revisions count up in time order as the accounting service would give them.

PostgreSQL is filled with INSERT ... SELECT over generate_series (the amount formula is SQL);
SQLite with executemany in big transactions (the same formula in numpy). The daily and monthly
sums are then made with GROUP BY, and `spot_check` proves a sample of them equal to what
lingtan.accounting.service.update_aggregates computes from the same rows.
"""

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, func, insert, select, text

from lingtan.accounting.service import update_aggregates
from lingtan.kernel.config import Config, parse_config
from lingtan.kernel.localtime import PeriodKind, first_day
from lingtan.simulator.fleet import fleet_config
from lingtan.store.db import sessions
from lingtan.store.models import DailyEnergy, IntervalEnergy, Latest, MonthlyEnergy

GENERATOR = 1  # bump when the data change: it is part of the cache key
ZONE_NAME = "Asia/Shanghai"
ZONE = ZoneInfo(ZONE_NAME)
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 14:00 in Asia/Shanghai: "now" of every run
TODAY = date(2026, 11, 25)
QUARTER = timedelta(minutes=15)
POLL_S = 15.0

# What each meter counts (and so what the interval table holds): an enterprise's electricity
# sub-meter its import only (its export counter reads 0 for ever); grid, PV and storage both ways.
_COUNTED = {"electricity": ("energy_import_kwh",), "natural_gas": ("gas_m3",), "heat": ("heat_gj",),
            "water": ("water_m3",)}


@dataclass(frozen=True)
class Counter:
    idx: int  # position in the park's counter list: revision = slot * len(counters) + idx + 1
    meter: str
    quantity: str
    kind: str  # load | supply | pv_export | pv_import | bess_charge | bess_discharge | grid_import | grid_export
    base: float  # load, supply: mean power (counter unit per hour); pv: kWp; bess: kW


def park_config(meters: int, park_id: str, db_url: str, gateway_prefix: str = "") -> dict:
    """The fleet park as a config mapping, every meter polled every 15 s."""
    data = fleet_config(meters=meters, park_id=park_id)
    for gw in data["gateways"]:
        gw["id"] = gateway_prefix + gw["id"]
        gw["spool"] = {"path": f"/tmp/{gw['id']}-spool.db"}  # never opened by the platform
    for m in data["parks"][0]["meters"]:
        m["gateway"] = gateway_prefix + m["gateway"]
        m["poll_interval_s"] = POLL_S
    data["store"] = {"url": db_url}
    return data


def merge_configs(*parts: dict) -> dict:
    out = {"parks": [], "gateways": [], "store": parts[0]["store"]}
    for p in parts:
        out["parks"] += p["parks"]
        out["gateways"] += p["gateways"]
    return out


def parse(data: dict) -> Config:
    return parse_config(data, "bench-scale")


def counters(park) -> tuple[list[Counter], dict[str, float]]:
    """The park's counters with their load parameters (deterministic per meter id)."""
    out: list[Counter] = []
    sums = {"electricity": 0.0, "natural_gas": 0.0, "heat": 0.0, "water": 0.0}
    pv = bess = 0.0
    rng = random.Random(7)
    params = {}
    for m in park.meters:
        if m.role.value == "enterprise":
            base = {"electricity": rng.uniform(10, 100), "natural_gas": rng.uniform(5, 60),
                    "heat": rng.uniform(0.2, 2.0), "water": rng.uniform(0.5, 8)}[m.carrier.value]
            sums[m.carrier.value] += base
            params[m.id] = base
        elif m.role.value == "pv":
            params[m.id] = rng.uniform(200, 500)
            pv += params[m.id]
        elif m.role.value == "storage":
            params[m.id] = 1000.0
            bess += 1000.0
    for m in park.meters:
        role, carrier = m.role.value, m.carrier.value
        if role == "enterprise":
            kinds = [(q, "load", params[m.id]) for q in _COUNTED[carrier]]
        elif role == "supply":
            kinds = [(q, "supply", 1.03 * sums[carrier]) for q in _COUNTED[carrier]]
        elif role == "pv":
            kinds = [("energy_export_kwh", "pv_export", params[m.id]), ("energy_import_kwh", "pv_import", params[m.id])]
        elif role == "storage":
            kinds = [("energy_import_kwh", "bess_charge", params[m.id]),
                     ("energy_export_kwh", "bess_discharge", params[m.id])]
        elif role == "grid":
            # the balance: the sub-meters' load less PV plus the battery, as the shape parameters
            kinds = [("energy_import_kwh", "grid_import", 0.0), ("energy_export_kwh", "grid_export", 0.0)]
        else:
            continue
        for q, kind, base in kinds:
            out.append(Counter(len(out), m.id, q, kind, base))
    grid = {"load": sums["electricity"], "pv": pv, "bess": bess}
    return out, grid


# -- the amount formula, once in SQL and once in numpy ---------------------------------------
# local hour h (fractional), weekend flag w, day of year d, noise n in [0, 1)
#   shape = (w ? 0.6 : 1) * (0.4 + 0.6 * max(0, sin(pi (h - 6) / 14)))
#   sun   = max(0, sin(pi (h - 6) / 12)) * (0.8 + 0.2 cos(2 pi (d - 172) / 365))
#   load, supply: base/4 * shape * (0.95 + 0.1 n)      pv_export: base/4 * sun * (0.9 + 0.1 n)
#   pv_import: base/4 * 0.002 when sun = 0             bess: base/4 in 02-06 h (charge), 0.9 base/4 in 18-22 h
#   grid: net = L/4 shape - 0.95 PV/4 sun + B/4 [02-06] - 0.9 B/4 [18-22]; import max(net, 0), export max(-net, 0)
_SQL_AMOUNT = """
CASE c.kind
 WHEN 'load' THEN c.base / 4 * s.shape * (0.95 + 0.1 * ((s.i * 7919 + c.idx * 104729) % 1009) / 1009.0)
 WHEN 'supply' THEN c.base / 4 * s.shape * (0.95 + 0.1 * ((s.i * 7919 + c.idx * 104729) % 1009) / 1009.0)
 WHEN 'pv_export' THEN c.base / 4 * s.sun * (0.9 + 0.1 * ((s.i * 7919 + c.idx * 104729) % 1009) / 1009.0)
 WHEN 'pv_import' THEN CASE WHEN s.sun = 0 THEN c.base / 4 * 0.002 ELSE 0 END
 WHEN 'bess_charge' THEN CASE WHEN s.h >= 2 AND s.h < 6 THEN c.base / 4 ELSE 0 END
 WHEN 'bess_discharge' THEN CASE WHEN s.h >= 18 AND s.h < 22 THEN 0.9 * c.base / 4 ELSE 0 END
 WHEN 'grid_import' THEN GREATEST(s.net, 0)
 ELSE GREATEST(-s.net, 0)
END"""

_SQL_INSERT = f"""
INSERT INTO interval_energy (park, meter, quantity, start, day, amount, completeness, estimated, flags,
                             updated_at, final, revision)
SELECT :park, c.meter, c.quantity, s.ts, s.day, {_SQL_AMOUNT}, 1.0, false, '', s.ts + interval '15 minutes 3 seconds',
       true, :rev0 + s.i * :k + c.idx + 1
FROM (
  SELECT i, ts, day, h, shape, sun,
         :load / 4 * shape - 0.95 * :pv / 4 * sun
           + CASE WHEN h >= 2 AND h < 6 THEN :bess / 4 ELSE 0 END
           - CASE WHEN h >= 18 AND h < 22 THEN 0.9 * :bess / 4 ELSE 0 END AS net
  FROM (
    SELECT i, ts, lt::date AS day, h,
           (CASE WHEN extract(isodow FROM lt) >= 6 THEN 0.6 ELSE 1 END)
             * (0.4 + 0.6 * GREATEST(0, sin(pi() * (h - 6) / 14))) AS shape,
           GREATEST(0, sin(pi() * (h - 6) / 12)) * (0.8 + 0.2 * cos(2 * pi() * (extract(doy FROM lt) - 172) / 365))
             AS sun
    FROM (
      SELECT i, ts, ts AT TIME ZONE :zone AS lt,
             extract(hour FROM ts AT TIME ZONE :zone) + extract(minute FROM ts AT TIME ZONE :zone) / 60.0 AS h
      FROM (SELECT g.i, CAST(:t0 AS timestamptz) + g.i * interval '15 minutes' AS ts
            FROM generate_series(CAST(:i0 AS bigint), CAST(:i1 AS bigint) - 1) AS g(i)) AS slots
    ) AS local_slots
  ) AS shaped
) AS s CROSS JOIN bench_counter AS c
"""


def _numpy_amounts(cs: list[Counter], grid: dict, slots: np.ndarray, t0: datetime) -> tuple[np.ndarray, list]:
    """amount[slot, counter] by the formula above (the SQLite path)."""
    ts = [t0 + int(i) * QUARTER for i in slots]
    lt = [t.astimezone(ZONE) for t in ts]
    h = np.array([t.hour + t.minute / 60 for t in lt])
    w = np.array([t.isoweekday() >= 6 for t in lt])
    d = np.array([t.timetuple().tm_yday for t in lt])
    shape = np.where(w, 0.6, 1.0) * (0.4 + 0.6 * np.maximum(0, np.sin(np.pi * (h - 6) / 14)))
    sun = np.maximum(0, np.sin(np.pi * (h - 6) / 12)) * (0.8 + 0.2 * np.cos(2 * np.pi * (d - 172) / 365))
    charge = (h >= 2) & (h < 6)
    discharge = (h >= 18) & (h < 22)
    net = grid["load"] / 4 * shape - 0.95 * grid["pv"] / 4 * sun + np.where(charge, grid["bess"] / 4, 0) \
        - np.where(discharge, 0.9 * grid["bess"] / 4, 0)
    out = np.empty((len(slots), len(cs)))
    for j, c in enumerate(cs):
        b = c.base / 4
        noise = ((slots * 7919 + c.idx * 104729) % 1009) / 1009.0
        if c.kind in ("load", "supply"):
            out[:, j] = b * shape * (0.95 + 0.1 * noise)
        elif c.kind == "pv_export":
            out[:, j] = b * sun * (0.9 + 0.1 * noise)
        elif c.kind == "pv_import":
            out[:, j] = np.where(sun == 0, b * 0.002, 0.0)
        elif c.kind == "bess_charge":
            out[:, j] = np.where(charge, b, 0.0)
        elif c.kind == "bess_discharge":
            out[:, j] = np.where(discharge, 0.9 * b, 0.0)
        elif c.kind == "grid_import":
            out[:, j] = np.maximum(net, 0)
        else:
            out[:, j] = np.maximum(-net, 0)
    return out, ts


def history_start(days: int) -> datetime:
    """UTC start of the history: local midnight `days` days before today."""
    d = TODAY - timedelta(days=days)
    return datetime(d.year, d.month, d.day, tzinfo=ZONE).astimezone(UTC)


def fill_intervals(engine: Engine, park, days: int, rev0: int, say=print) -> int:
    """Intervals of `park` from local midnight `days` days ago to NOW; returns the rows written."""
    cs, grid = counters(park)
    t0 = history_start(days)
    n_slots = int((NOW - t0) / QUARTER)
    chunk = max(1, 1_000_000 // len(cs))  # slots per transaction: ~1 million rows
    started = time.perf_counter()
    for i0 in range(0, n_slots, chunk):
        i1 = min(n_slots, i0 + chunk)
        if engine.dialect.name == "postgresql":
            with engine.begin() as c:
                c.execute(text("CREATE TEMP TABLE IF NOT EXISTS bench_counter (idx int, meter text, quantity text, "
                               "kind text, base float8) ON COMMIT DROP"))
                c.execute(text("INSERT INTO bench_counter VALUES (:idx, :meter, :quantity, :kind, :base)"),
                          [c_.__dict__ for c_ in cs])
                c.execute(text(_SQL_INSERT), {"park": park.id, "rev0": rev0, "k": len(cs), "zone": park.timezone,
                                              "t0": t0, "i0": i0, "i1": i1, **grid})
        else:
            slots = np.arange(i0, i1)
            amounts, ts = _numpy_amounts(cs, grid, slots, t0)
            rows = []
            for si, t in zip(slots, ts, strict=True):
                start = t.strftime("%Y-%m-%d %H:%M:%S.000000")
                updated = (t + QUARTER + timedelta(seconds=3)).strftime("%Y-%m-%d %H:%M:%S.000000")
                day = t.astimezone(ZONE).date().isoformat()
                row = amounts[si - i0]
                base = rev0 + int(si) * len(cs) + 1
                rows += [(park.id, c.meter, c.quantity, start, day, float(row[j]), 1.0, 0, "", updated, 1, base + j)
                         for j, c in enumerate(cs)]
            raw = engine.raw_connection()
            try:
                raw.executemany("INSERT INTO interval_energy (park, meter, quantity, start, day, amount, completeness,"
                                " estimated, flags, updated_at, final, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                rows)
                raw.commit()
            finally:
                raw.close()
        done = i1 * len(cs)
        rate = done / (time.perf_counter() - started)
        if i1 == n_slots or (i0 // chunk) % 5 == 4:
            say(f"  {park.id}: {done:,} of {n_slots * len(cs):,} interval rows ({rate:,.0f}/s)")
    return n_slots * len(cs)


def fill_aggregates(engine: Engine, park) -> tuple[int, int]:
    """energy_daily and energy_monthly of `park` from its intervals, by GROUP BY."""
    month = "date_trunc('month', day)::date" if engine.dialect.name == "postgresql" else "strftime('%Y-%m-01', day)"
    with engine.begin() as c:
        daily = c.execute(text(
            "INSERT INTO energy_daily (park, meter, quantity, day, amount, completeness_sum, intervals) "
            "SELECT park, meter, quantity, day, sum(amount), sum(completeness), count(*) FROM interval_energy "
            "WHERE park = :p GROUP BY park, meter, quantity, day"), {"p": park.id}).rowcount
        monthly = c.execute(text(
            "INSERT INTO energy_monthly (park, meter, quantity, month, amount, completeness_sum, intervals) "
            f"SELECT park, meter, quantity, {month}, sum(amount), sum(completeness_sum), sum(intervals) "
            f"FROM energy_daily WHERE park = :p GROUP BY park, meter, quantity, {month}"), {"p": park.id}).rowcount
    return daily, monthly


def spot_check(engine: Engine, park, samples: int = 6, seed: int = 3) -> list[str]:
    """Recompute a few (meter, counter, day) aggregates with the accounting service's own
    update_aggregates on the same rows (then roll back) and compare; returns the mismatches."""
    cs, _ = counters(park)
    rng = random.Random(seed)
    with sessions(engine)() as s:
        days = sorted(s.scalars(select(DailyEnergy.day).where(DailyEnergy.park == park.id).distinct()))
    picks = [(rng.choice(cs), d) for d in [days[0], days[-1], *rng.sample(days, min(samples - 2, len(days)))]]
    bad = []

    def rows(s, c, day):
        daily = s.execute(select(DailyEnergy.amount, DailyEnergy.completeness_sum, DailyEnergy.intervals).where(
            DailyEnergy.park == park.id, DailyEnergy.meter == c.meter, DailyEnergy.quantity == c.quantity,
            DailyEnergy.day == day)).one()
        monthly = s.execute(select(MonthlyEnergy.amount, MonthlyEnergy.completeness_sum, MonthlyEnergy.intervals)
                            .where(MonthlyEnergy.park == park.id, MonthlyEnergy.meter == c.meter,
                                   MonthlyEnergy.quantity == c.quantity,
                                   MonthlyEnergy.month == first_day(day, PeriodKind.MONTH))).one()
        return tuple(daily) + tuple(monthly)

    for c, day in picks:
        s = sessions(engine)()
        try:
            ours = rows(s, c, day)
            update_aggregates(s, park.id, park.zone, c.meter, c.quantity, {day})
            s.flush()
            service = rows(s, c, day)
        finally:
            s.rollback()
            s.close()
        if not all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(ours, service, strict=True)):
            bad.append(f"{c.meter}/{c.quantity}/{day}: GROUP BY {ours} != update_aggregates {service}")
    return bad


def latest_values(meter, power_kw: float) -> dict[str, float]:
    carrier, role = meter.carrier.value, meter.role.value
    if carrier == "electricity":
        v = {"power_kw": power_kw, "energy_import_kwh": 1.2e6, "energy_export_kwh": 0.0, "voltage_v": 231.0,
             "current_a": abs(power_kw) / 0.69, "frequency_hz": 50.0, "power_factor": 0.95}
        if role == "storage":
            v["soc_pct"] = 55.0
        return v
    if carrier == "natural_gas":
        return {"gas_flow_m3h": power_kw, "gas_m3": 3.4e5}
    if carrier == "heat":
        return {"heat_power_kw": power_kw * 200, "heat_gj": 2.1e4}
    return {"water_flow_m3h": power_kw, "water_m3": 8.8e4}


def fill_latest(engine: Engine, park, now: datetime = NOW) -> int:
    """A newest reading for every meter, 0-14 s old."""
    rows = []
    for i, m in enumerate(park.meters):
        power = 4000.0 if m.role.value == "grid" else (-300.0 if m.role.value == "pv" else 20.0 + i % 50)
        rows.append({"park": park.id, "meter": m.id, "ts": now - timedelta(seconds=i % 15), "gateway": m.gateway,
                     "values": latest_values(m, power)})
    with engine.begin() as c:
        c.execute(insert(Latest), rows)
    return len(rows)


def set_revision_counter(engine: Engine) -> int:
    with engine.begin() as c:
        top = c.execute(select(func.coalesce(func.max(IntervalEnergy.revision), 0))).scalar_one()
        c.execute(text("UPDATE revision_counter SET value = :v WHERE name = 'revision'"), {"v": top})
    return int(top)


def analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


def database_bytes(engine: Engine) -> int:
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            return int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        return int(c.execute(text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"))
                   .scalar_one())
