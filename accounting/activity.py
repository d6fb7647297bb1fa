"""Activity data: what a park reports for one year (or year to date), as one validated model.

This is the input of the energy, emissions and indicator calculations. It is written by hand in
a YAML/JSON file (docs/activity-data.md, examples/activity-example.yaml) or filled from meters
by accounting/balance.py. Every quantity carries its unit in its name; fuel keys name the fuel
and the unit it is accounted in (`natural_gas_m3`, `diesel_t`).
"""

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import Field, ValidationError, field_validator, model_validator

from lingtan.accounting.factors import FactorSet, Status, default_factors
from lingtan.kernel.config import format_errors
from lingtan.kernel.park import Frozen

NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class ActivityError(ValueError):
    """Activity data that cannot be used; the message names the source, field and value."""


class Electricity(Frozen):
    """Electricity flows at the park boundary and on site, in kWh; certificates in MWh."""

    grid_import_kwh: NonNeg = 0
    grid_export_kwh: NonNeg = 0
    green_direct_kwh: NonNeg = Field(0, description="绿电直连 / direct-supplied non-fossil power received")
    onsite_generation_kwh: NonNeg = Field(0, description="on-site PV and wind delivered into the park network")
    storage_charge_kwh: NonNeg = 0
    storage_discharge_kwh: NonNeg = 0
    certificates_mwh: NonNeg = Field(0, description="GECs / green-power trade retired for this period's consumption")
    certificates_sold_mwh: NonNeg = Field(0, description="green attributes of exported power sold to others")
    certificates_planned_mwh: NonNeg = Field(0, description="year-end projection only: still to be retired")
    export_factor: Literal["fossil", "green"] = Field(
        "fossil", description="how exported power without sold green attributes is valued (docs/accounting.md)"
    )


class HeatFlow(Frozen):
    gj: NonNeg
    non_fossil: bool = False
    factor_tco2_per_gj: NonNeg | None = Field(None, description="measured factor; default 0.11 (fossil)")
    note: str = ""


class Heat(Frozen):
    imports: list[HeatFlow] = []
    exports: list[HeatFlow] = []


class Transformation(Frozen):
    """加工转换: fuels put in and carbon-bearing secondary energy taken out (oxidation 100 %)."""

    inputs: dict[str, NonNeg] = {}
    outputs: dict[str, NonNeg] = {}


class ProcessLine(Frozen):
    product: str = Field(min_length=1)
    output_t: NonNeg
    factor_tco2_per_t: NonNeg
    factor_source: str = Field(min_length=1, description="where the product factor comes from")


class Offsets(Frozen):
    ccer_tco2: NonNeg = Field(0, description="CCER bought and cancelled against this year's emissions")


class Economy(Frozen):
    industrial_value_added_wan_yuan: NonNeg | None = None


class Waste(Frozen):
    solid_generated_t: NonNeg | None = None
    solid_utilised_t: NonNeg | None = None


class Water(Frozen):
    fresh_intake_m3: NonNeg | None = None
    reused_m3: NonNeg | None = None


class Capacity(Frozen):
    storage_kwh: NonNeg | None = None
    demand_response_kw: NonNeg | None = None
    max_load_kw: NonNeg | None = None


class PreviousYear(Frozen):
    """For the seasonal year-end projection: last year's energy to the same date and in full."""

    energy_tce_same_period: float = Field(gt=0)
    energy_tce_full_year: float = Field(gt=0)


class Period(Frozen):
    through: date | None = Field(None, description="last local day covered; absent = the whole year")
    completeness: float = Field(1.0, ge=0, le=1, description="measured share of the covered period")
    previous_year: PreviousYear | None = None


class FactorOverride(Frozen):
    value: NonNeg
    unit: str | None = None
    source: str = Field(min_length=1)
    status: Status = Status.ASSUMPTION


class Activity(Frozen):
    park: str = Field(min_length=1)
    name: str = ""
    year: int = Field(ge=2000, le=2100)
    framework: str = "national"
    park_type: Literal["chemical", "non_chemical"] = "non_chemical"
    timezone: str = Field("Asia/Shanghai", description="park local time for calendar periods")
    variant: str | None = Field(None, description="framework variant, e.g. the Yangzhou park")
    horizon: str | None = Field(None, description="framework horizon, e.g. near / far / 2030")
    period: Period = Period()
    electricity: Electricity = Electricity()
    fuels: dict[str, NonNeg] = Field({}, description="用作燃料 (combustion), key <fuel>_<unit>")
    feedstock: dict[str, NonNeg] = Field({}, description="用作原料: energy, no combustion CO2")
    bunker: dict[str, NonNeg] = Field({}, description="international aviation/shipping fuel, listed separately")
    transformation: Transformation = Transformation()
    heat: Heat = Heat()
    process: list[ProcessLine] = []
    offsets: Offsets = Offsets()
    economy: Economy = Economy()
    waste: Waste = Waste()
    water: Water = Water()
    capacity: Capacity = Capacity()
    enterprises_total: int | None = Field(None, ge=0)
    enterprises_on_platform: int | None = Field(None, ge=0)
    indicators: dict[str, float | bool] = Field({}, description="reported values of indicators by id")
    factors: dict[str, FactorOverride] = Field({}, description="factor values for this year, by key")

    @model_validator(mode="after")
    def _dates(self) -> "Activity":
        t = self.period.through
        if t is not None and t.year != self.year:
            raise ValueError(f"period.through = {t.isoformat()}: must be a day of year {self.year}")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai")
        return value

    @field_validator("indicators")
    @classmethod
    def _no_nan(cls, value: dict[str, float | bool]) -> dict[str, float | bool]:
        for k, v in value.items():
            if not isinstance(v, bool) and v != v:
                raise ValueError(f"indicators.{k} is NaN")
        return value

    @property
    def period_start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def period_end(self) -> date:
        """Exclusive end of the covered period."""
        if self.period.through is None:
            return date(self.year + 1, 1, 1)
        return date.fromordinal(self.period.through.toordinal() + 1)

    @property
    def full_year(self) -> bool:
        return self.period.through is None or self.period.through == date(self.year, 12, 31)


def fuel_key(key: str, fuels: FactorSet | None = None) -> str:
    """The fuel named by an activity key such as `diesel_t`; ActivityError if unknown."""
    table = (fuels or default_factors()).fuels
    for name, fuel in table.items():
        if key == f"{name}_{fuel.unit}":
            return name
    for name, fuel in table.items():
        if key.startswith(name + "_"):
            raise ActivityError(f"{key}: {name} is accounted in {fuel.unit}; write {name}_{fuel.unit}")
    accepted = ", ".join(f"{n}_{f.unit}" for n, f in table.items())
    raise ActivityError(f"{key}: unknown fuel; accepted keys are {accepted}")


def parse_activity(data: Any, source: str = "<activity>", factors: FactorSet | None = None) -> Activity:
    """Validate a parsed activity mapping; ActivityError names source, field and value."""
    if not isinstance(data, dict):
        raise ActivityError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        activity = Activity.model_validate(data)
    except ValidationError as exc:
        raise ActivityError(format_errors(exc, source)) from exc
    sections = {
        "fuels": activity.fuels, "feedstock": activity.feedstock, "bunker": activity.bunker,
        "transformation.inputs": activity.transformation.inputs,
        "transformation.outputs": activity.transformation.outputs,
    }
    for section, quantities in sections.items():
        for key, value in quantities.items():
            try:
                fuel_key(key, factors)
            except ActivityError as exc:
                raise ActivityError(f"{source}: {section}.{exc} (value {value!r})") from None
    return activity
