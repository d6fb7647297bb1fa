"""Offline evaluation: one activity-data mapping in, the full result out as a JSON-ready dict.

This is what `lingtan account FILE` prints: energy (tce, both bases), the electricity split,
emissions line by line with the factor and source of each line, every indicator of the chosen
framework, the core indicator's year-to-date value and year-end projection when the data cover
part of a year, the interpretations in force with a warning for every verdict that changes under
a plausible alternative (accounting/switches.py), and the factors used. Bad input raises
ActivityError (a ValueError) naming the field and value.
"""

from dataclasses import asdict
from datetime import timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from lingtan.accounting.account import Account, account
from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.enterprises import enterprise_account
from lingtan.accounting.factors import FactorError, FactorSet, default_factors
from lingtan.accounting.framework import Framework, FrameworkError
from lingtan.accounting.indicators import MANDATORY, evaluate_framework, load_framework
from lingtan.accounting.projection import gap_to_target, year_end_outlook
from lingtan.accounting.resources import framework_names
from lingtan.accounting.switches import interpretations, verdict_warnings


def evaluate(data: dict, source: str, factors: FactorSet | None = None) -> dict[str, Any]:
    """Evaluate an activity-data mapping (parsed YAML/JSON) read from `source`."""
    factors = factors or default_factors()
    name = data.get("framework", "national") if isinstance(data, dict) else "national"
    framework, problems = None, []
    try:
        framework = load_framework(name) if isinstance(name, str) else None
    except FrameworkError as exc:
        problems.append(f"framework = {name!r}: {exc}")
    reported = data.get("indicators") if isinstance(data, dict) else None
    if framework is not None and isinstance(reported, dict):
        kinds = {i.id: i.kind for i in framework.indicators}
        for key, value in reported.items():
            if isinstance(value, dict) and "excluded" in value and kinds.get(key) in MANDATORY:
                problems.append(f"indicators.{key}.excluded = {value['excluded']!r}: {key} is a {kinds[key]} "
                                f"indicator of framework {framework.id!r}; annex 3 lets a park exclude only "
                                "guidance indicators, with a reason")
    # a typo is refused; an id of another framework is kept (one file may serve several) and noted
    ids = set().union(*(_reported_ids(load_framework(n)) for n in framework_names()))
    activity = parse_activity(data, source, factors, indicator_ids=ids, extra_errors=problems)
    a = activity
    assert framework is not None  # a framework that is not a string fails validation above
    try:
        try:
            acct = account(activity, factors)
        except ActivityError as exc:
            raise ActivityError(f"{source}: {exc}") from None
        outlook = None
        if not a.full_year and any(i.id == "carbon_per_energy" for i in framework.indicators):
            outlook = year_end_outlook(acct, framework, ZoneInfo(a.timezone), horizon=a.horizon, variant=a.variant)
        # part of a year: tiers of annual energy use are chosen by the projected year
        tier_energy = None if outlook is None else outlook.projected_energy_tce
        results = evaluate_framework(framework, acct, horizon=a.horizon, variant=a.variant, energy_tce=tier_energy)
        warnings = verdict_warnings(framework, acct, results, horizon=a.horizon, variant=a.variant,
                                    energy_tce=tier_energy)
        stated = interpretations(acct, framework)
        firms = enterprise_account(acct) if a.enterprises else None
    except (FactorError, FrameworkError) as exc:
        raise ActivityError(f"{source}: {exc}") from None
    indicators = []
    for r in results:
        row = _jsonable(asdict(r))
        row["verdict_alternatives"] = [_jsonable(asdict(w)) for w in warnings if w.indicator == r.id]
        indicators.append(row)

    return {
        "source": source,
        "park": a.park,
        "name": a.name,
        "year": a.year,
        "period": {
            "start": a.period_start.isoformat(),
            "through": (a.period_end - timedelta(days=1)).isoformat(),
            "days": (a.period_end - a.period_start).days,
            "full_year": a.full_year,
            "year_to_date": a.year_to_date,
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
        "indicators": indicators,
        "interpretations": _jsonable(stated),
        "warnings": [w.message for w in warnings] + [
            f"indicators.{k}: not an indicator of framework {framework.id!r}; ignored"
            for k in a.indicators if k not in _reported_ids(framework)],
        "core_outlook": None if outlook is None else _jsonable({
            "indicator": outlook.indicator, "through": outlook.through, "ytd": asdict(outlook.ytd),
            "scale": outlook.scale, "method": outlook.method, "projected": asdict(outlook.projected),
            "projected_energy_tce": outlook.projected_energy_tce, "projected_co2_t": outlook.projected_co2_t,
            "gap_to_target": gap_to_target(outlook),
        }),
        "factors": _factors_used(acct),
        "enterprises": None if firms is None else enterprises_result(firms),
    }


def enterprises_result(firms) -> dict[str, Any]:
    """The enterprise account as JSON: by id, the unallocated remainder and the park totals."""
    out = _jsonable(asdict(firms))
    out["by_id"] = {}
    for f, row in zip(firms.enterprises, out.pop("enterprises"), strict=True):
        row["total_co2_t"] = f.total_co2_t
        row["electricity"]["green_kwh"] = f.electricity.green_kwh
        row["per_output"] = {o["product"]: o for o in row["per_output"]}
        out["by_id"][f.id] = row
    out["key_energy_users"] = [f.id for f in firms.enterprises if f.key_user.key_energy_user]
    out["enterprises_total"] = {  # over enterprises only; + unallocated = the park figure
        "electricity_kwh": sum(f.electricity_kwh for f in firms.enterprises),
        "energy_tce": sum(f.energy_tce for f in firms.enterprises),
        "energy_calorific_tce": sum(f.energy_calorific_tce for f in firms.enterprises),
        "co2_t": sum(f.total_co2_t for f in firms.enterprises),
    }
    return out


def _reported_ids(framework: Framework) -> set[str]:
    """The keys an activity file may report under `indicators:` for `framework`."""
    return {i.id for i in framework.indicators} | {
        str(v) for i in framework.indicators for t in (i, *i.targets) for k, v in t.params.items() if k == "key"}


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
        "export_rule": None if m.export_rule is None else asdict(m.export_rule),
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
