"""A park's headline figures for one period, from metered totals, as one typed result.

Meter totals go through the energy balance and the annex-4 account; what comes out is what the
API shows for today, the month, the year and every point of a park series, and what the soak
compares with ground truth: energy by carrier, the electricity flows and split, tce on both
bases, CO2 by source and the core indicator 单位能耗碳排放.
"""

from collections.abc import Mapping
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from lingtan.accounting.account import account
from lingtan.accounting.activity import Activity, Period
from lingtan.accounting.balance import park_balance
from lingtan.kernel.park import Park


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ElectricityFlows(_Figures):
    """kWh over the period."""

    grid_import: float
    grid_export: float
    grid_consumed: float = Field(description="grid power consumed in the park (certificate-covered part included)")
    green_direct: float
    onsite_renewable: float = Field(description="on-site generation consumed in the park")
    onsite_fossil: float = Field(0.0, description="on-site fossil generation (CHP, genset) consumed in the park")
    certificates: float = Field(description="grid power covered by GECs / green-power trade")
    storage_charge: float
    storage_discharge: float


class Co2BySource(_Figures):
    """tCO2 over the period, by the terms of annex 4."""

    electricity: float
    fuels: float
    heat: float
    process: float
    transformation: float


class ParkFigures(_Figures):
    energy_by_carrier: dict[str, float] = Field(description="counter units: kWh, m3, GJ, kg")
    electricity_kwh: ElectricityFlows
    energy_tce: float = Field(description="综合能源消费量, electricity at 等价值")
    energy_tce_calorific: float = Field(description="electricity at 当量值")
    co2_t: float
    co2_by_source_t: Co2BySource
    intensity_t_per_tce: float | None = Field(description="单位能耗碳排放, tCO2/tce")
    export_rule: str = Field("by_origin", description="how exports were valued in E电 (docs/accounting.md, 4)")
    electricity_co2_other_rule_t: float | None = Field(
        None, description="E电 under the other export rule (literal if by_origin was used), for comparison")
    equivalent_value_status: str = Field("A", description="status of the 等价值 coefficient used (A = assumption)")


def park_figures(park: Park, totals: Mapping[str, Mapping[str, float]], year: int, through: date | None = None,
                 factors: Mapping | None = None) -> ParkFigures:
    """Figures of per-meter counter totals ({meter: {quantity: amount}}) for a period of `year`
    ending on local day `through`, with the park's factor values for the year (`factors`, from
    its activity data) over the shipped defaults."""
    bal = park_balance(park, totals)
    base = Activity(park=park.id, year=year, framework=park.framework, park_type=park.park_type,
                    period=Period(through=through), factors=dict(factors or {}))
    result = account(bal.to_activity(base))
    split = result.energy.electricity
    energy_tce = result.energy.total_tce
    co2 = result.emissions.total_co2_t
    rule = result.emissions.export_rule
    eq = result.factors.for_period("tce.electricity.equivalent", base.period_start, base.period_end)
    return ParkFigures(
        energy_by_carrier={
            "electricity": split.consumption_kwh,
            **{k.removesuffix("_m3").removesuffix("_t"): v for k, v in bal.fuels.items()},
            "heat": sum(h.gj for h in bal.heat.imports) - sum(h.gj for h in bal.heat.exports),
        },
        electricity_kwh=ElectricityFlows(
            grid_import=bal.electricity.grid_import_kwh, grid_export=bal.electricity.grid_export_kwh,
            grid_consumed=split.grid_kwh, green_direct=split.green_direct_kwh,
            onsite_renewable=split.onsite_renewable_kwh, onsite_fossil=split.onsite_fossil_kwh,
            certificates=split.certificate_kwh,
            storage_charge=bal.electricity.storage_charge_kwh, storage_discharge=bal.electricity.storage_discharge_kwh,
        ),
        energy_tce=energy_tce,
        energy_tce_calorific=result.energy.total_calorific_tce,
        co2_t=co2,
        co2_by_source_t=Co2BySource(
            electricity=result.emissions.electricity_co2_t, fuels=result.emissions.fuel_co2_t,
            heat=result.emissions.heat_co2_t, process=result.emissions.process_co2_t,
            transformation=result.emissions.transformation_co2_t,
        ),
        intensity_t_per_tce=co2 / energy_tce if energy_tce > 0 else None,
        export_rule=rule.rule if rule else "by_origin",
        electricity_co2_other_rule_t=rule.other_rule_electricity_co2_t if rule else None,
        equivalent_value_status=str(eq.status),
    )
