"""Activity data: what a park reports for one span of local days of one year, as one validated model.

This is the input of the energy, emissions and indicator calculations. It is written by hand in
a YAML/JSON file (docs/activity-data.md, examples/activity-example.yaml) or filled from meters
by accounting/balance.py. Every quantity carries its unit in its name; fuel keys name the fuel
and the unit it is accounted in (`natural_gas_m3`, `diesel_t`).
"""

import difflib
import re
from collections.abc import Collection
from datetime import date
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from lingtan.accounting.factors import UNITS, FactorSet, Status, default_factors
from lingtan.kernel.park import Frozen

_IDENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # kernel.park.Ident
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class ActivityError(ValueError):
    """Activity data that cannot be used; the message names the source, field and value."""


ExportRule = Literal["by_origin", "literal", "zero"]


class Certificate(Frozen):
    """GECs / green-power trade retired for the period, with where they come from."""

    source: Literal["own_plant", "purchased"] = Field(
        description="own_plant: issued for the park's own generation; purchased: bought from others")
    vintage: int = Field(ge=2000, le=2100, description="year the certified power was generated")
    mwh: NonNeg
    note: str = ""


class Electricity(Frozen):
    """Electricity flows at the park boundary and on site, in kWh; certificates in MWh."""

    grid_import_kwh: NonNeg = 0
    grid_export_kwh: NonNeg = 0
    green_direct_kwh: NonNeg = Field(0, description="绿电直连 / direct-supplied non-fossil power received")
    onsite_generation_kwh: NonNeg = Field(0, description="on-site PV and wind delivered into the park network")
    onsite_fossil_generation_kwh: NonNeg = Field(
        0, description="on-site fossil generation (gas/diesel genset, CHP) delivered; its fuel goes under fuels "
                       "or transformation.inputs")
    storage_charge_kwh: NonNeg = 0
    storage_discharge_kwh: NonNeg = 0
    certificates_mwh: NonNeg = Field(0, description="GECs / green-power trade retired for this period's consumption "
                                                  "(purchased, vintage not stated); see also certificates")
    certificates: list[Certificate] = Field([], description="retired certificates with source and vintage")
    certificates_sold_mwh: NonNeg = Field(0, description="green attributes of exported power sold to others")
    certificates_planned_mwh: NonNeg = Field(0, description="year-end projection only: still to be retired")
    export_rule: ExportRule | None = Field(
        None, description="how exports are valued in E电: by_origin (default), literal (all at the fossil factor) "
                          "or zero (docs/accounting.md)")
    export_factor: Literal["fossil", "green"] | None = Field(
        None, description="older spelling: fossil = export_rule literal, green = export_rule zero")

    @model_validator(mode="after")
    def _rule(self) -> "Electricity":
        if self.export_factor is not None and self.export_rule is not None \
                and self.export_rule != _EXPORT_FACTOR_RULE[self.export_factor]:
            raise ValueError(f"export_factor = {self.export_factor!r} means export_rule "
                             f"{_EXPORT_FACTOR_RULE[self.export_factor]!r}, but export_rule = {self.export_rule!r}; "
                             "give only export_rule")
        return self

    @property
    def certificates_total_mwh(self) -> float:
        return self.certificates_mwh + sum(c.mwh for c in self.certificates)

    @property
    def own_plant_certificates_mwh(self) -> float:
        return sum(c.mwh for c in self.certificates if c.source == "own_plant")

    @property
    def rule(self) -> str:
        """The export rule in force (export_rule, else the older export_factor, else by_origin)."""
        if self.export_rule is not None:
            return self.export_rule
        if self.export_factor is not None:
            return _EXPORT_FACTOR_RULE[self.export_factor]
        return "by_origin"


_EXPORT_FACTOR_RULE = {"fossil": "literal", "green": "zero"}


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
    start: date | None = Field(None, description="first local day covered; absent = 1 January")
    through: date | None = Field(None, description="last local day covered; absent = 31 December")
    completeness: float = Field(1.0, ge=0, le=1, description="measured share of the covered period")
    previous_year: PreviousYear | None = None


class Excluded(Frozen):
    """A guidance indicator the park leaves out, with its reason (annex 3: 说明原因…不纳入验收)."""

    excluded: str = Field(min_length=1, description="the reason")


class Switches(Frozen):
    """Interpretations a park may switch (docs/accounting.md, "Interpretations")."""

    feedstock_in_energy: bool = Field(
        True, description="用作原料 energy counted in 综合能源消费量 (the denominator of 单位能耗碳排放)")


class FactorOverride(Frozen):
    value: NonNeg
    unit: str | None = None
    source: str = Field(min_length=1)
    status: Status = Status.ASSUMPTION


class Output(Frozen):
    """Physical output of an enterprise in the period, for energy and CO2 per unit of product."""

    product: str = Field(min_length=1)
    quantity: float = Field(gt=0, allow_inf_nan=False)
    unit: str = Field(min_length=1, description="e.g. t, m2, pieces")


class EnterpriseActivity(Frozen):
    """One enterprise inside the park: its sub-metered energy, economy and own green power.

    Energy flows are the enterprise's own sub-meters (entered, or filled from meters by
    accounting/enterprises.py); what the park boundary sees beyond their sum is public use and
    losses. Its own certificates and direct contracts are part of the park's (docs/accounting.md, 9).
    """

    name: str = ""
    electricity_kwh: NonNeg = Field(0, description="electricity consumed, from its sub-meters")
    fuels: dict[str, NonNeg] = Field({}, description="用作燃料 from its sub-meters, key <fuel>_<unit>")
    heat: list[HeatFlow] = Field([], description="heat received from the park network, GJ")
    green_direct_kwh: NonNeg = Field(0, description="its own direct green-power contract: part of the park's "
                                                    "electricity.green_direct_kwh attributed to it")
    certificates_mwh: NonNeg = Field(0, description="its own GECs / green-power trade: part of the park's "
                                                    "certificates attributed to it")
    value_added_wan_yuan: NonNeg | None = Field(None, description="industrial value added, 10,000 yuan")
    output: list[Output] = []
    key_energy_user: bool = Field(False, description="declared 重点用能单位")
    completeness: float = Field(1.0, ge=0, le=1, description="measured share of its sub-meter intervals")


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
    indicators: dict[str, float | bool | Excluded] = Field(
        {}, description="reported values of indicators by id, or {excluded: reason} for a guidance indicator")
    provenance: Literal["entered", "metered", "mixed"] = Field(
        "entered", description="where the energy flows come from: entered by hand, metered, or both")
    factors: dict[str, FactorOverride] = Field({}, description="factor values for this year, by key")
    switches: Switches = Switches()
    enterprises: dict[str, EnterpriseActivity] = Field(
        {}, description="enterprises inside the park by id (docs/activity-data.md, Enterprises)")
    key_energy_user_threshold_tce: float = Field(
        5000, gt=0, allow_inf_nan=False,
        description="annual 综合能源消费量 from which an enterprise is flagged as a key energy user")
    key_energy_user_basis: Literal["calorific", "equivalent"] = Field(
        "calorific", description="electricity basis of that energy use: 当量值 (GB/T 2589 statistics) or 等价值")

    @model_validator(mode="after")
    def _dates(self) -> "Activity":
        t = self.period.through
        if t is not None and t.year != self.year:
            raise ValueError(f"period.through = {t.isoformat()}: must be a day of year {self.year}")
        s = self.period.start
        if s is not None and s.year != self.year:
            raise ValueError(f"period.start = {s.isoformat()}: must be a day of year {self.year}")
        if s is not None and t is not None and t < s:
            raise ValueError(f"period.through = {t.isoformat()}: before period.start = {s.isoformat()}")
        for eid in self.enterprises:
            if not _IDENT.match(eid):
                raise ValueError(_bad_enterprise_id(eid))
        for i, c in enumerate(self.electricity.certificates):
            if c.vintage > self.year:
                raise ValueError(f"electricity.certificates[{i}].vintage = {c.vintage}: certificates for power "
                                 f"generated after the accounting year {self.year} cannot be retired for it")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai")
        return value

    @field_validator("indicators")
    @classmethod
    def _no_nan(cls, value: dict[str, Any]) -> dict[str, Any]:
        for k, v in value.items():
            if isinstance(v, float) and v != v:
                raise ValueError(f"indicators.{k} is NaN")
        return value

    @property
    def period_start(self) -> date:
        return self.period.start or date(self.year, 1, 1)

    @property
    def year_to_date(self) -> bool:
        """Whether the period starts on 1 January (a year to date or the full year)."""
        return self.period_start == date(self.year, 1, 1)

    @property
    def period_end(self) -> date:
        """Exclusive end of the covered period."""
        if self.period.through is None:
            return date(self.year + 1, 1, 1)
        return date.fromordinal(self.period.through.toordinal() + 1)

    @property
    def full_year(self) -> bool:
        return self.year_to_date and (self.period.through is None or self.period.through == date(self.year, 12, 31))


def _bad_enterprise_id(eid: object) -> str:
    return (f"enterprises.{eid}: an enterprise id is 1-64 of a-z 0-9 _ - starting with a letter or digit, "
            "as in the park model")


def fuel_key(key: str, fuels: FactorSet | None = None) -> str:
    """The fuel named by an activity key such as `diesel_t`; ActivityError if unknown."""
    table = (fuels or default_factors()).fuels
    for name, fuel in table.items():
        if key == f"{name}_{fuel.unit}":
            return name
    for name in sorted(table, key=len, reverse=True):  # coke_oven_gas before coke
        if key.startswith(name + "_"):
            fuel = table[name]
            raise ActivityError(f"{key}: {name} is accounted in {fuel.unit}; write {name}_{fuel.unit}")
    accepted = [f"{n}_{f.unit}" for n, f in table.items()]
    hint = _FUEL_HINTS.get(key.rsplit("_", 1)[0], "") or _did_you_mean(key, accepted)
    raise ActivityError(f"{key}: unknown fuel{hint}; accepted keys are {', '.join(accepted)}")


# keys newcomers write, and where the quantity belongs
_HINTS = {
    "grid_import_mwh": "'grid_import_kwh', in kWh = MWh x 1000",
    "grid_export_mwh": "'grid_export_kwh', in kWh = MWh x 1000",
    "pv_generation_kwh": "'onsite_generation_kwh', on-site PV and wind delivered",
    "pv_kwh": "'onsite_generation_kwh', on-site PV and wind delivered",
    "wind_kwh": "'onsite_generation_kwh', on-site PV and wind delivered",
    "chp_kwh": "'onsite_fossil_generation_kwh', on-site fossil generation delivered",
    "ccer": "'ccer_tco2', CCER in t CO2",
    "gec_mwh": "'certificates_mwh'", "gecs_mwh": "'certificates_mwh'", "green_certificates_mwh": "'certificates_mwh'",
}
_FUEL_HINTS = {
    "steam": " (steam and hot water are heat: give them under heat.imports as {gj: ...})",
    "heat": " (heat goes under heat.imports / heat.exports as {gj: ...})",
    "electricity": " (electricity goes under electricity: grid_import_kwh etc.)",
    "coal": " (give the kind: raw_coal_t, anthracite_t, coking_coal_t, bituminous_coal_t, lignite_t, washed_coal_t)",
    "gas": " (natural gas is natural_gas_m3; coal gases are coke_oven_gas_m3, blast_furnace_gas_m3, "
           "converter_gas_m3)",
}


def _did_you_mean(key: str, accepted: list[str]) -> str:
    if key in _HINTS:
        return f" (did you mean {_HINTS[key]}?)"
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class reached by following field names (and list indexes) from Activity."""
    model: Any = Activity
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _inner(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner(annotation: Any) -> Any:
    """X from X, X | None, list[X]."""
    for arg in (*get_args(annotation), annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if get_origin(arg) is list:
            return _inner(get_args(arg)[0])
    return annotation


def _explain(err: dict) -> str:
    loc = err["loc"]
    key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    value = err.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else f"<{type(value).__name__}>"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across fields: its message names the fields
        return f"  {msg}"
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is not None:
            accepted = list(model.model_fields)
            msg = f"unknown key{_did_you_mean(str(loc[-1]), accepted)}; accepted keys here: {', '.join(accepted)}"
    return f"  {key or '(top level)'} = {shown}: {msg}"


def _override_errors(overrides: dict, factors: FactorSet) -> list[str]:
    """Factor overrides naming an unknown key or a unit that does not fit the key."""
    known = sorted({f.key for f in factors.factors})
    out = []
    for key, o in overrides.items():
        if key not in known:
            out.append(f"  factors.{key}: unknown factor{_did_you_mean(str(key), known)}; accepted keys: "
                       f"{', '.join(known)}")
            continue
        unit = o.get("unit") if isinstance(o, dict) else None
        if unit is None:
            continue
        current = factors.entries(key)[-1]
        if unit not in UNITS:
            out.append(f"  factors.{key}.unit = {unit!r}: not a known unit; accepted: {', '.join(sorted(UNITS))}")
        elif UNITS[unit][:2] != UNITS[current.unit][:2]:
            fits = sorted(u for u, v in UNITS.items() if v[:2] == UNITS[current.unit][:2])
            out.append(f"  factors.{key}.unit = {unit!r}: {key} is per {current.activity_unit} and yields "
                       f"{UNITS[current.unit][0]}; accepted units: {', '.join(fits)}")
    return out


def parse_activity(data: Any, source: str = "<activity>", factors: FactorSet | None = None,
                   indicator_ids: Collection[str] | None = None, extra_errors: Collection[str] = ()) -> Activity:
    """Validate a parsed activity mapping; ActivityError names source, field and value.

    Every error of the file is reported in one pass: the model's, unknown fuel keys, unknown
    `indicators:` ids when `indicator_ids` (the framework's) is given, and `extra_errors` found by
    the caller (e.g. an unknown framework).
    """
    if not isinstance(data, dict):
        raise ActivityError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    lines: list[str] = [f"  {e}" for e in extra_errors]
    activity = None
    try:
        activity = Activity.model_validate(data)
    except ValidationError as exc:
        lines += [_explain(err) for err in exc.errors()]
    sections = {
        "fuels": data.get("fuels"), "feedstock": data.get("feedstock"), "bunker": data.get("bunker"),
        "transformation.inputs": (data.get("transformation") or {}).get("inputs")
        if isinstance(data.get("transformation"), dict) else None,
        "transformation.outputs": (data.get("transformation") or {}).get("outputs")
        if isinstance(data.get("transformation"), dict) else None,
    }
    if isinstance(data.get("enterprises"), dict):
        for eid, ent in data["enterprises"].items():
            if (not isinstance(eid, str) or not _IDENT.match(eid)) and f"  {_bad_enterprise_id(eid)}" not in lines:
                lines.append(f"  {_bad_enterprise_id(eid)}")
            if isinstance(ent, dict):
                sections[f"enterprises.{eid}.fuels"] = ent.get("fuels")
    for section, quantities in sections.items():
        if not isinstance(quantities, dict):
            continue
        for key, value in quantities.items():
            try:
                fuel_key(str(key), factors)
            except ActivityError as exc:
                lines.append(f"  {section}.{key} = {value!r}: {str(exc).removeprefix(f'{key}: ')}")
    overrides = data.get("factors")
    if isinstance(overrides, dict):
        lines += _override_errors(overrides, factors or default_factors())
    reported = data.get("indicators")
    if indicator_ids is not None and isinstance(reported, dict):
        known = sorted(indicator_ids)
        for key, value in reported.items():
            if key not in indicator_ids:
                lines.append(f"  indicators.{key} = {value!r}: not an indicator id of any shipped framework"
                             f"{_did_you_mean(str(key), known)}; accepted ids: {', '.join(known)}")
    if lines:
        raise ActivityError("\n".join([f"{source}: {len(lines)} error(s)", *lines]))
    assert activity is not None
    return activity
