"""One park-period's account: the activity data with the energy and emissions computed from it.

`account` applies the activity file's factor overrides (valid for its year only) to the factor
set, then computes energy (tce) and emissions (tCO2). Indicators read only this object.
"""

from dataclasses import dataclass
from datetime import date

from lingtan.accounting.activity import Activity, ActivityError
from lingtan.accounting.balance import split_electricity
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


def check_certificates(activity: Activity) -> None:
    """Refuse own-plant certificates that would count the park's own power twice.

    On-site renewable power consumed in the park already counts at 0 (self-consumption); only the
    certificates of its exported power can be retired against grid power (docs/accounting.md, 4).
    """
    e = activity.electricity
    own_kwh = e.own_plant_certificates_mwh * 1000
    if not own_kwh:
        return
    split = split_electricity(e)
    exported = split.export_of_generation_kwh - min(e.certificates_sold_mwh * 1000, split.export_of_generation_kwh)
    if own_kwh > exported * (1 + 1e-9):
        first = next(i for i, c in enumerate(e.certificates) if c.source == "own_plant")
        raise ActivityError(
            f"electricity.certificates[{first}] (source own_plant): {own_kwh / 1000:,.3f} MWh of own-plant "
            f"certificates, but only {exported / 1000:,.3f} MWh of on-site renewable generation left the park "
            f"(exported {split.export_of_generation_kwh / 1000:,.3f} MWh, of which certificates_sold_mwh "
            f"{e.certificates_sold_mwh:,.3f}); the {split.onsite_renewable_kwh / 1000:,.3f} MWh consumed on site "
            "already count at 0 as self-consumption and their certificates cannot be claimed again"
        )


def account(activity: Activity, factors: FactorSet | None = None) -> Account:
    check_certificates(activity)
    factors = with_overrides(activity, factors or default_factors())
    return Account(activity, factors, energy_use(activity, factors), emissions(activity, factors))
