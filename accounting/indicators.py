"""The one generic evaluator of indicator frameworks.

For each indicator of a framework it picks the target that applies (horizon, variant, park
type, tier of annual energy use), obtains the value through the indicator's metric and compares.
Status is one of met / not_met / insufficient_data / not_applicable; every result carries value,
target, unit, period and the completeness of the data behind it.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cache

from lingtan.accounting.account import Account
from lingtan.accounting.activity import Excluded
from lingtan.accounting.framework import (
    Comparator,
    Framework,
    FrameworkError,
    Indicator,
    Kind,
    Target,
    framework_data,
    parse_framework,
)
from lingtan.accounting.metrics import ENERGY_METRICS, METRICS, Missing

MANDATORY = frozenset({Kind.CORE, Kind.CONSTRAINT})  # cannot be excluded
_TOLERANCE = 1e-9  # relative; a value equal to its target (after float rounding) meets it


class Status(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    INSUFFICIENT_DATA = "insufficient_data"
    NOT_APPLICABLE = "not_applicable"
    EXCLUDED = "excluded"  # a guidance indicator the park left out, with its reason (annex 3)


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    id: str
    number: int | None
    name: str
    kind: str
    status: Status
    value: float | bool | None
    target: float | None
    target_text: str
    comparator: str
    unit: str
    period: str
    completeness: float
    horizon: str | None
    note: str = ""
    source: str = "entered"  # metered | entered | mixed: where the value's data come from
    metered_completeness: float | None = None  # completeness of the metered part (None: nothing metered)
    excluded: str | None = None  # the park's reason for leaving the indicator out


@cache
def load_framework(name: str) -> Framework:
    """A shipped framework (accounting/frameworks/<name>.yaml), validated."""
    return parse_framework(framework_data(name), f"accounting/frameworks/{name}.yaml", frozenset(METRICS))


def period_label(account: Account) -> str:
    a = account.activity
    if a.full_year:
        return str(a.year)
    return f"{a.period_start.isoformat()}..{(a.period_end - timedelta(days=1)).isoformat()}"


def select_target(
    ind: Indicator, *, horizon: str | None, variant: str | None, park_type: str, energy_tce: float
) -> Target | None:
    for t in ind.targets:
        if t.horizon is not None and t.horizon != horizon:
            continue
        if t.variant is not None and t.variant != variant:
            continue
        if t.park_type is not None and t.park_type != park_type:
            continue
        if t.energy_tce_min is not None and energy_tce < t.energy_tce_min:
            continue
        if t.energy_tce_max is not None and energy_tce >= t.energy_tce_max:
            continue
        return t
    return None


def compare(value: float, comparator: Comparator, target: float) -> bool:
    slack = _TOLERANCE * max(1.0, abs(target))
    if comparator is Comparator.LE:
        return value <= target + slack
    if comparator is Comparator.GE:
        return value >= target - slack
    return abs(value - target) <= slack


def evaluate_indicator(
    ind: Indicator,
    account: Account,
    *,
    horizon: str | None = None,
    variant: str | None = None,
    energy_tce: float | None = None,
    min_completeness: float = 0.95,
) -> IndicatorResult:
    """Evaluate one indicator. energy_tce (default: the account's) selects the tier."""
    a = account.activity
    tier_energy = account.energy.total_tce if energy_tce is None else energy_tce
    target = select_target(ind, horizon=horizon, variant=variant, park_type=a.park_type, energy_tce=tier_energy)
    metric = (target.metric if target and target.metric else None) or ind.metric
    params = {"key": ind.id, **ind.params, **(target.params if target else {})}
    completeness = account.completeness if metric in ENERGY_METRICS else 1.0
    source = a.provenance if metric in ENERGY_METRICS else "entered"
    exclusion = a.indicators.get(params["key"])
    reason = exclusion.excluded if isinstance(exclusion, Excluded) else None

    def result(status: Status, value: float | bool | None, note: str = "") -> IndicatorResult:
        return IndicatorResult(
            ind.id, ind.number, ind.name, str(ind.kind), status, value,
            target.value if target else None, target.text if target else "", str(ind.comparator), ind.unit,
            period_label(account), completeness, horizon, "; ".join(n for n in (note, ind.note) if n),
            source, None if source == "entered" else account.completeness, reason,
        )

    if reason is not None:
        if ind.kind in MANDATORY:
            return result(Status.INSUFFICIENT_DATA, None, f"a {ind.kind} indicator cannot be excluded "
                                                          f"(annex 3 lets a park exclude guidance indicators)")
        return result(Status.EXCLUDED, None, f"excluded by the park: {reason}")

    try:
        value = METRICS[metric](account, params)
    except Missing as exc:
        value, missing = None, f"needs {exc.args[0]}"
    else:
        missing = ""
    if ind.comparator is Comparator.INFO:
        return result(Status.NOT_APPLICABLE, value, "requirement stated without a figure to check")
    if target is None:
        given = [f"energy {tier_energy:.0f} tce", f"park type {a.park_type}"]
        given += [f"{k} {v}" for k, v in (("horizon", horizon), ("variant", variant)) if v is not None]
        why = f"no target applies ({', '.join(given)})"
        return result(Status.NOT_APPLICABLE, value, why)
    if value is None:
        return result(Status.INSUFFICIENT_DATA, None, missing)
    if completeness < min_completeness:
        return result(Status.INSUFFICIENT_DATA, value, f"data completeness {completeness:.3f} < {min_completeness}")
    if ind.comparator is Comparator.QUALITATIVE:
        if not isinstance(value, bool):
            return result(Status.INSUFFICIENT_DATA, value, f"indicators.{params['key']} must be true or false")
        return result(Status.MET if value else Status.NOT_MET, value)
    if isinstance(value, bool):
        return result(Status.INSUFFICIENT_DATA, value, f"indicators.{params['key']} must be a number")
    return result(Status.MET if compare(float(value), ind.comparator, target.value) else Status.NOT_MET, float(value))


def evaluate_framework(
    framework: Framework,
    account: Account,
    *,
    horizon: str | None = None,
    variant: str | None = None,
    energy_tce: float | None = None,
    min_completeness: float = 0.95,
) -> list[IndicatorResult]:
    """Every indicator of `framework` on `account` (horizon defaults to the framework's)."""
    horizon = horizon or framework.default_horizon
    if horizon is not None and horizon not in framework.horizons:
        raise FrameworkError(f"horizon = {horizon!r}: framework {framework.id!r} has horizons {framework.horizons}")
    if variant is not None and variant not in framework.variants:
        raise FrameworkError(f"variant = {variant!r}: framework {framework.id!r} has variants "
                             f"{sorted(framework.variants)}")
    return [
        evaluate_indicator(
            ind, account, horizon=horizon, variant=variant, energy_tce=energy_tce, min_completeness=min_completeness
        )
        for ind in framework.indicators
    ]
