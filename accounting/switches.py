"""The interpretations one account was made under, and the verdicts that hang on one of them.

Annex 4 and annex 3 leave choices open: how exports are valued, whether feedstock is part of
综合能源消费量, which 等价值 coefficient converts electricity, whether natural gas is clean energy.
`interpretations` states the choice in force for an account, each with where it is switched.
`verdict_warnings` recomputes the framework under each plausible alternative and reports every
indicator whose met / not_met verdict changes, with the alternative and the value it gives.
docs/accounting.md ("Interpretations") lists them.
"""

from dataclasses import dataclass
from typing import Any

from lingtan.accounting.account import Account, account
from lingtan.accounting.activity import Activity, FactorOverride
from lingtan.accounting.factors import Status
from lingtan.accounting.framework import Framework
from lingtan.accounting.indicators import IndicatorResult, evaluate_framework
from lingtan.accounting.indicators import Status as Verdict

CALORIFIC = "tce.electricity.calorific"
EQUIVALENT = "tce.electricity.equivalent"
JUDGED = (Verdict.MET, Verdict.NOT_MET)


@dataclass(frozen=True, slots=True)
class VerdictWarning:
    indicator: str
    status: str
    value: float | bool | None
    alternative: str  # what was changed, e.g. "tce.electricity.equivalent = 0.1229 kgce/kWh (当量值)"
    alternative_status: str
    alternative_value: float | bool | None

    @property
    def message(self) -> str:
        return (f"{self.indicator}: {self.status} ({_fmt(self.value)}) as accounted, {self.alternative_status} "
                f"({_fmt(self.alternative_value)}) with {self.alternative}")


def interpretations(acct: Account, framework: Framework) -> dict[str, Any]:
    """The choices in force for `acct`, each with its alternative and where it is switched."""
    a = acct.activity
    m = acct.emissions
    eq = acct.factors.for_period(EQUIVALENT, a.period_start, a.period_end)
    clean = [dict(i.params) for i in framework.indicators if i.metric == "clean_energy_share"]
    used = sorted({line.factor_key for line in acct.energy.lines}
                  | {line.factor_source.split(" ")[0] for line in m.lines if line.factor_source.startswith("co2.")})
    weak = []
    for key in used:
        f = acct.factors.for_period(key, a.period_start, a.period_end)
        if f.status in (Status.UNCONFIRMED, Status.ASSUMPTION):
            weak.append({"key": key, "value": f.value, "unit": f.unit, "status": str(f.status), "note": f.note})
    return {
        "export_rule": {
            "used": m.export_rule.rule if m.export_rule else a.electricity.rule,
            "other": m.export_rule.other_rule if m.export_rule else None,
            "electricity_co2_t_other_rule": m.export_rule.other_rule_electricity_co2_t if m.export_rule else None,
            "switch": "electricity.export_rule (by_origin | literal | zero)",
        },
        "feedstock_in_energy": {
            "used": a.switches.feedstock_in_energy, "feedstock_tce": acct.energy.feedstock_tce,
            "switch": "switches.feedstock_in_energy",
        },
        "electricity_equivalent_value": {
            "value": eq.value, "unit": eq.unit, "status": str(eq.status), "source": eq.source, "note": eq.note,
            "switch": f"factors.{EQUIVALENT}",
        },
        "clean_energy_natural_gas": {
            "used": any(p.get("include_natural_gas") for p in clean) if clean else None,
            "switch": f"framework {framework.id!r} (indicator params include_natural_gas)",
        },
        "unconfirmed_factors": weak,
    }


def alternatives(acct: Account) -> list[tuple[str, Activity]]:
    """Plausible alternative readings of `acct`'s activity: (label, activity)."""
    a = acct.activity
    out: list[tuple[str, Activity]] = []
    eq = acct.factors.for_period(EQUIVALENT, a.period_start, a.period_end)
    cal = acct.factors.for_period(CALORIFIC, a.period_start, a.period_end)
    if eq.status in (Status.UNCONFIRMED, Status.ASSUMPTION) and eq.per_unit != cal.per_unit:
        override = FactorOverride(value=cal.value, unit=cal.unit, source="alternative: electricity at 当量值",
                                  status=cal.status)
        label = f"{EQUIVALENT} = {cal.value} {cal.unit} (当量值; in force {eq.value} {eq.unit}, status {eq.status})"
        out.append((label, a.model_copy(update={"factors": {**a.factors, EQUIVALENT: override}})))
    if acct.emissions.export_rule is not None and a.electricity.grid_export_kwh > 0:
        other = acct.emissions.export_rule.other_rule
        electricity = a.electricity.model_copy(update={"export_rule": other, "export_factor": None})
        out.append((f"electricity.export_rule = {other}", a.model_copy(update={"electricity": electricity})))
    if a.feedstock:
        flipped = not a.switches.feedstock_in_energy
        out.append((f"switches.feedstock_in_energy = {str(flipped).lower()}",
                    a.model_copy(update={"switches": a.switches.model_copy(update={"feedstock_in_energy": flipped})})))
    return out


def verdict_warnings(framework: Framework, acct: Account, results: list[IndicatorResult], *,
                     horizon: str | None = None, variant: str | None = None,
                     energy_tce: float | None = None) -> list[VerdictWarning]:
    """Every judged indicator whose verdict changes under one plausible alternative."""
    base = {r.id: r for r in results if r.status in JUDGED}
    if not base:
        return []
    warnings = []
    for label, activity in alternatives(acct):
        other = account(activity, acct.factors)
        for r in evaluate_framework(framework, other, horizon=horizon, variant=variant, energy_tce=energy_tce):
            mine = base.get(r.id)
            if mine is not None and r.status in JUDGED and r.status != mine.status:
                warnings.append(VerdictWarning(r.id, str(mine.status), mine.value, label, str(r.status), r.value))
    return warnings


def _fmt(value: float | bool | None) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
