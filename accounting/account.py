"""One park-period's account: the activity data with the energy and emissions computed from it.

`account` applies the activity file's factor overrides (valid for its year only) to the factor
set, then computes energy (tce) and emissions (tCO2). Indicators read only this object.
"""

from dataclasses import dataclass
from datetime import date

from lingtan.accounting.activity import Activity, ActivityError
from lingtan.accounting.emissions import Emissions, emissions
from lingtan.accounting.energy import EnergyUse, energy_use
from lingtan.accounting.factors import Factor, FactorError, FactorSet, Source, default_factors


@dataclass(frozen=True)
class Account:
    activity: Activity
    factors: FactorSet
    energy: EnergyUse
    emissions: Emissions

    @property
    def completeness(self) -> float:
        return self.activity.period.completeness


def with_overrides(activity: Activity, factors: FactorSet) -> FactorSet:
    """Factors with the activity file's overrides added as new versions for its year."""
    for key, o in activity.factors.items():
        try:
            current = factors.entries(key)[-1]
            source_id = f"activity:{key}"
            factors = factors.model_copy(update={"sources": {**factors.sources, source_id: Source(title=o.source)}})
            factors = factors.with_entry(
                Factor(
                    key=key, value=o.value, unit=o.unit or current.unit, valid_from=date(activity.year, 1, 1),
                    valid_to=date(activity.year + 1, 1, 1), version=factors.next_version(key), status=o.status,
                    source=source_id, note="activity data override", oxidation=current.oxidation,
                )
            )
        except (FactorError, ValueError) as exc:
            raise ActivityError(f"factors.{key} = {o.value!r}: {exc}") from None
    return factors


def account(activity: Activity, factors: FactorSet | None = None) -> Account:
    factors = with_overrides(activity, factors or default_factors())
    return Account(activity, factors, energy_use(activity, factors), emissions(activity, factors))
