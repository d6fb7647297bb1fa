"""Energy in tonnes of standard coal (tce): 综合能源消费量 from activity data.

Two bases are kept side by side: 等价值 (electricity at the equivalent value, as the national
core indicator requires) and 当量值 (electricity at its calorific value, 0.1229 kgce/kWh, as the
Jiangsu/Wuxi "per value added" indicators require). Fuels, heat and transformation are the same
on both bases. Each line names the factor used, so a result can be traced to its source.
"""

from dataclasses import dataclass

from lingtan.accounting.activity import Activity, fuel_key
from lingtan.accounting.balance import ElectricitySplit, split_electricity
from lingtan.accounting.factors import Factor, FactorSet


@dataclass(frozen=True, slots=True)
class EnergyLine:
    item: str  # e.g. "electricity", "fuels.natural_gas_m3", "heat.imports[0]"
    quantity: float
    unit: str
    factor: float  # tce per unit
    factor_key: str
    energy_tce: float  # 等价值 basis


@dataclass(frozen=True)
class EnergyUse:
    """综合能源消费量 of one period, tce."""

    total_tce: float  # electricity at 等价值
    total_calorific_tce: float  # electricity at 当量值
    electricity: ElectricitySplit
    electricity_tce: float  # 等价值
    electricity_calorific_tce: float
    non_fossil_tce: float  # green electricity (等价值) + non-fossil heat + non-fossil fuels
    natural_gas_tce: float
    feedstock_tce: float
    transformation_tce: float
    lines: tuple[EnergyLine, ...]
    feedstock_in_total: bool = True  # switches.feedstock_in_energy; feedstock lines are listed either way

    @property
    def terminal_calorific_tce(self) -> float:
        """Terminal (final) energy use, 当量值: total without feedstock and transformation losses."""
        feedstock = self.feedstock_tce if self.feedstock_in_total else 0.0
        return self.total_calorific_tce - feedstock - self.transformation_tce


NATURAL_GAS = frozenset({"natural_gas", "lng"})  # annex 4: 天然气包括气态天然气、液化天然气


def period_factor(factors: FactorSet, activity: Activity, key: str) -> Factor:
    return factors.for_period(key, activity.period_start, activity.period_end)


def energy_use(activity: Activity, factors: FactorSet) -> EnergyUse:
    split = split_electricity(activity.electricity)
    lines: list[EnergyLine] = []

    def add(item: str, quantity: float, unit: str, key: str, sign: float = 1.0) -> float:
        f = period_factor(factors, activity, key)
        if f.activity_unit != unit:
            raise ValueError(f"factor {key!r} is per {f.activity_unit}, {item} is in {unit}")
        tce = sign * quantity * f.per_unit
        lines.append(EnergyLine(item, sign * quantity, unit, f.per_unit, key, tce))
        return tce

    equivalent = period_factor(factors, activity, "tce.electricity.equivalent").per_unit
    calorific = period_factor(factors, activity, "tce.electricity.calorific").per_unit
    # on-site fossil power is secondary energy of fuels counted below: not counted again when
    # consumed, and deducted as an energy output when exported (docs/accounting.md, 3)
    electric_kwh = split.consumption_kwh - activity.electricity.onsite_fossil_generation_kwh
    if activity.electricity.onsite_fossil_generation_kwh:
        electricity_tce = add("electricity.consumption (less on-site fossil generation)", electric_kwh, "kWh",
                              "tce.electricity.equivalent")
    else:
        electricity_tce = add("electricity.consumption", electric_kwh, "kWh", "tce.electricity.equivalent")

    fuels_tce = gas_tce = non_fossil_fuel_tce = 0.0
    for section, sign in (("fuels", 1.0), ("feedstock", 1.0), ("bunker", 1.0)):
        for key, qty in getattr(activity, section).items():
            name = fuel_key(key, factors)
            tce = add(f"{section}.{key}", qty, factors.fuels[name].unit, f"tce.{name}", sign)
            fuels_tce += tce
            if name in NATURAL_GAS:
                gas_tce += tce
            if not factors.fuels[name].fossil:  # biomass, hydrogen: clean energy (Jiangxi 指标解释2)
                non_fossil_fuel_tce += tce
    feedstock_tce = sum(line.energy_tce for line in lines if line.item.startswith("feedstock."))
    transformation_tce = 0.0
    for section, sign in (("inputs", 1.0), ("outputs", -1.0)):
        for key, qty in getattr(activity.transformation, section).items():
            name = fuel_key(key, factors)
            transformation_tce += add(f"transformation.{section}.{key}", qty, factors.fuels[name].unit, f"tce.{name}",
                                      sign)

    heat_tce = non_fossil_heat_tce = 0.0
    for section, sign in (("imports", 1.0), ("exports", -1.0)):
        for i, flow in enumerate(getattr(activity.heat, section)):
            tce = add(f"heat.{section}[{i}]", flow.gj, "GJ", "tce.heat", sign)
            heat_tce += tce
            if flow.non_fossil:
                non_fossil_heat_tce += tce

    feedstock_in = activity.switches.feedstock_in_energy
    rest = fuels_tce - (0.0 if feedstock_in else feedstock_tce) + transformation_tce + heat_tce
    return EnergyUse(
        total_tce=electricity_tce + rest,
        total_calorific_tce=electric_kwh * calorific + rest,
        electricity=split,
        electricity_tce=electricity_tce,
        electricity_calorific_tce=electric_kwh * calorific,
        non_fossil_tce=split.green_kwh * equivalent + non_fossil_heat_tce + non_fossil_fuel_tce,
        natural_gas_tce=gas_tce,
        feedstock_tce=feedstock_tce,
        transformation_tce=transformation_tce,
        lines=tuple(lines),
        feedstock_in_total=feedstock_in,
    )
