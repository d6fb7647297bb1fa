"""Offline evaluation: one activity-data mapping in, the full result out as a JSON-ready dict.

This is what `lingtan account FILE` prints: energy (tce, both bases), the electricity split,
emissions line by line with the factor and source of each line, every indicator of the chosen
framework, the core indicator's year-to-date value and year-end projection when the data cover
part of a year, and the factors used. Bad input raises ActivityError (a ValueError) naming the
field and value.
"""

from dataclasses import asdict
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from lingtan.accounting.account import Account, account
from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.factors import FactorError, FactorSet, default_factors
from lingtan.accounting.framework import FrameworkError
from lingtan.accounting.indicators import evaluate_framework, load_framework
from lingtan.accounting.projection import year_end_outlook


def evaluate(data: dict, source: str, factors: FactorSet | None = None) -> dict[str, Any]:
    """Evaluate an activity-data mapping (parsed YAML/JSON) read from `source`."""
    factors = factors or default_factors()
    activity = parse_activity(data, source, factors)
    a = activity
    try:
        framework = load_framework(a.framework)
    except FrameworkError as exc:
        raise ActivityError(f"{source}: framework = {a.framework!r}: {exc}") from None
    try:
        acct = account(activity, factors)
        outlook = None
        if not a.full_year and any(i.id == "carbon_per_energy" for i in framework.indicators):
            outlook = year_end_outlook(acct, framework, ZoneInfo(a.timezone), horizon=a.horizon, variant=a.variant)
        # part of a year: tiers of annual energy use are chosen by the projected year
        tier_energy = None if outlook is None else outlook.projected_energy_tce
        results = evaluate_framework(framework, acct, horizon=a.horizon, variant=a.variant, energy_tce=tier_energy)
    except (FactorError, FrameworkError) as exc:
        raise ActivityError(f"{source}: {exc}") from None

    return {
        "source": source,
        "park": a.park,
        "name": a.name,
        "year": a.year,
        "period": {
            "start": a.period_start.isoformat(),
            "through": a.period.through.isoformat() if a.period.through else f"{a.year}-12-31",
            "full_year": a.full_year,
            "completeness": a.period.completeness,
            "timezone": a.timezone,
        },
        "framework": {
            "id": framework.id, "name": framework.name, "source": framework.source.model_dump(),
            "horizon": a.horizon or framework.default_horizon, "variant": a.variant,
        },
        "energy": _energy(acct),
        "electricity": _electricity(acct),
        "emissions": _emissions(acct),
        "indicators": [_jsonable(asdict(r)) for r in results],
        "core_outlook": None if outlook is None else _jsonable({
            "indicator": outlook.indicator, "through": outlook.through, "ytd": asdict(outlook.ytd),
            "scale": outlook.scale, "method": outlook.method, "projected": asdict(outlook.projected),
            "projected_energy_tce": outlook.projected_energy_tce, "projected_co2_t": outlook.projected_co2_t,
        }),
        "factors": _factors_used(acct),
    }


def _energy(acct: Account) -> dict[str, Any]:
    e = acct.energy
    return {
        "total_tce": e.total_tce,
        "total_calorific_tce": e.total_calorific_tce,
        "electricity_tce": e.electricity_tce,
        "electricity_calorific_tce": e.electricity_calorific_tce,
        "non_fossil_tce": e.non_fossil_tce,
        "natural_gas_tce": e.natural_gas_tce,
        "feedstock_tce": e.feedstock_tce,
        "transformation_tce": e.transformation_tce,
        "lines": [asdict(line) for line in e.lines],
    }


def _electricity(acct: Account) -> dict[str, Any]:
    s = acct.energy.electricity
    out = _jsonable(asdict(s))
    out["flags"] = sorted(str(f) for f in s.flags)
    out["green_kwh"] = s.green_kwh
    out["direct_green_kwh"] = s.direct_green_kwh
    return out


def _emissions(acct: Account) -> dict[str, Any]:
    m = acct.emissions
    return {
        "total_co2_t": m.total_co2_t,
        "energy_co2_t": m.energy_co2_t,
        "fuel_co2_t": m.fuel_co2_t,
        "transformation_co2_t": m.transformation_co2_t,
        "electricity_co2_t": m.electricity_co2_t,
        "heat_co2_t": m.heat_co2_t,
        "process_co2_t": m.process_co2_t,
        "bunker_co2_t": m.bunker_co2_t,
        "offsets_ccer_tco2": m.offsets_tco2,
        "lines": [asdict(line) for line in m.lines],
    }


def _factors_used(acct: Account) -> list[dict[str, Any]]:
    keys = {line.factor_key for line in acct.energy.lines} | {"tce.electricity.equivalent", "tce.electricity.calorific"}
    keys |= {line.factor_source.split(" ")[0] for line in acct.emissions.lines if line.factor_source.startswith("co2.")}
    a = acct.activity
    out = []
    for key in sorted(keys):
        f = acct.factors.for_period(key, a.period_start, a.period_end)
        src = acct.factors.sources[f.source]
        out.append({
            "key": key, "value": f.value, "unit": f.unit, "per_unit": f.per_unit, "activity_unit": f.activity_unit,
            "version": f.version, "status": str(f.status), "source": f.source, "source_title": src.title,
            "source_url": src.url, "note": f.note,
        })
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Enum):
        return value.value  # enums
    return value
