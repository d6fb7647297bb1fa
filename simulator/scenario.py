"""Scenario files: per-meter simulation parameters and the park's location, validated on load.

A scenario (`simulator/scenarios/NAME.yaml`, or any path) says what each meter of one park does:
a demand profile (shifts, weekdays, seasons), a PV array, a wind turbine, a battery, EV chargers,
plus the park's location and weather, and faults on a schedule. Meters the scenario does not
name get seeded defaults (`simulator.defaults`). A bad file stops with a message naming the file,
the key and the value, like the platform config. docs/simulator.md describes every key.
"""

import re
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lingtan.kernel.config import ConfigError, format_errors
from lingtan.kernel.park import Carrier, Park, Role

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _hours(value: object) -> object:
    """'07:30' or 7.5 -> 7.5 (hours after local midnight)."""
    if isinstance(value, str):
        m = _HHMM.match(value.strip())
        if not m:
            raise ValueError(f"time {value!r}: write HH:MM (00:00 … 24:00) or hours as a number")
        return int(m.group(1)) + int(m.group(2)) / 60
    return value


Hour = Annotated[float, Field(ge=0, le=24)]


class Shift(_Frozen):
    """A working period: demand is `level` × nameplate from `start` to `end` (local time) on `days`."""

    start: Hour
    end: Hour  # end < start runs past midnight (a night shift)
    level: float = Field(ge=0, le=1.5)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = list(_DAYS[:5])

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        return _hours(value)


class Demand(_Frozen):
    """A consumer (or a green-direct line's delivery): nameplate × activity(t).

    nameplate is kW for electricity and m3/h (gas, water), GJ/h (heat) or kg/h (fuels).
    activity = max(base, level of the shifts running) × season × (1 + noise), in 15-min slots
    of the week, linearly ramped between slots.
    """

    nameplate: float = Field(gt=0)
    base: float = Field(0.3, ge=0, le=1.5, description="activity outside shifts (standby, night)")
    shifts: list[Shift] = [Shift(start=8, end=20, level=0.9)]
    summer: float = Field(0.0, ge=-0.9, le=2, description="extra demand at the peak of summer (late July)")
    winter: float = Field(0.0, ge=-0.9, le=2, description="extra demand at the peak of winter (mid January)")
    noise: float = Field(0.05, ge=0, le=0.5, description="relative amplitude of smooth seeded variation")


class Pv(_Frozen):
    """A PV array behind one inverter meter; clear-sky irradiance (pvlib Ineichen) × clouds."""

    kwp: float = Field(gt=0, description="DC peak power, kWp")
    tilt_deg: float = Field(20.0, ge=0, le=90)
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="180 = facing south")
    ac_kw: float | None = Field(None, gt=0, description="inverter AC limit; default kwp / 1.1")
    performance_ratio: float = Field(0.85, gt=0, le=1, description="wiring, soiling, inverter losses")
    temp_coeff_per_k: float = Field(-0.0037, ge=-0.01, le=0)


class Wind(_Frozen):
    """One wind turbine: a power curve over seeded wind speed."""

    rated_kw: float = Field(gt=0)
    cut_in_ms: float = Field(3.0, gt=0)
    rated_ms: float = Field(11.0, gt=0)
    cut_out_ms: float = Field(25.0, gt=0)
    mean_ms: float | None = Field(None, gt=0, description="mean hub-height wind speed; default weather.wind_mean_ms")

    @model_validator(mode="after")
    def _curve(self) -> "Wind":
        if not self.cut_in_ms < self.rated_ms < self.cut_out_ms:
            raise ValueError(f"need cut_in_ms < rated_ms < cut_out_ms, got {self.cut_in_ms}, "
                             f"{self.rated_ms}, {self.cut_out_ms}")
        return self


class Window(_Frozen):
    start: Hour
    end: Hour

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        return _hours(value)


class Battery(_Frozen):
    """A battery behind one meter (import = charge, export = discharge), AC side.

    Dispatch (docs/simulator.md): charge from on-site surplus; charge from the grid in
    `grid_charge` windows; discharge in `discharge` windows up to the park's net load (never
    exporting). Losses: √efficiency on the way in and on the way out.
    """

    capacity_kwh: float = Field(gt=0)
    max_charge_kw: float = Field(gt=0)
    max_discharge_kw: float = Field(gt=0)
    soc_min_pct: float = Field(10.0, ge=0, le=100)
    soc_max_pct: float = Field(95.0, ge=0, le=100)
    soc_initial_pct: float = Field(50.0, ge=0, le=100)
    round_trip_efficiency: float = Field(0.9, gt=0, le=1)
    # Two cycles a day on a Jiangsu-style industrial time-of-use tariff: charge in the valley
    # (00:00–08:00) and in the flat period (11:00–17:00), discharge in the peaks (08:00–11:00,
    # 17:00–22:00). Check the park's own tariff; these windows are parameters.
    grid_charge: list[Window] = [Window(start=0, end=8), Window(start=11, end=17)]
    grid_charge_kw: float | None = Field(None, gt=0, description="grid charging rate; default max_charge_kw / 2")
    discharge: list[Window] = [Window(start=8, end=11), Window(start=17, end=22)]
    import_margin: float = Field(0.1, ge=0, le=1, description="share of the park's net import a discharging "
                                 "battery leaves to the grid (anti-backflow controllers keep a margin)")

    @model_validator(mode="after")
    def _limits(self) -> "Battery":
        if not self.soc_min_pct < self.soc_max_pct:
            raise ValueError(f"soc_min_pct {self.soc_min_pct} must be below soc_max_pct {self.soc_max_pct}")
        if not self.soc_min_pct <= self.soc_initial_pct <= self.soc_max_pct:
            raise ValueError(f"soc_initial_pct {self.soc_initial_pct} is outside "
                             f"[{self.soc_min_pct}, {self.soc_max_pct}]")
        return self


class Ev(_Frozen):
    """EV chargers behind one meter: a whole number of chargers busy at any time."""

    chargers: int = Field(gt=0, le=10000)
    charger_kw: float = Field(7.0, gt=0, le=1000)
    arrivals: list[Hour] = Field([8.5, 13.0, 18.5], description="local hours when sessions peak")
    session_h: float = Field(2.5, gt=0, le=24, description="spread of a peak, hours")
    utilisation: float = Field(0.45, ge=0, le=1, description="fraction of chargers busy at a peak")
    weekend: float = Field(0.6, ge=0, le=2, description="weekend factor")

    @field_validator("arrivals", mode="before")
    @classmethod
    def _clock_times(cls, value: object) -> object:
        return [_hours(x) for x in value] if isinstance(value, list) else value


class MeterSim(_Frozen):
    """Simulation parameters of one meter; at most one of the physical models."""

    load: Demand | None = None  # enterprise / load / green_direct electricity, or any flow
    flow: Demand | None = None  # alias for non-electric carriers (gas, heat, water, fuels)
    pv: Pv | None = None
    wind: Wind | None = None
    battery: Battery | None = None
    ev: Ev | None = None
    initial: dict[Literal["energy_import_kwh", "energy_export_kwh", "gas_m3", "heat_gj", "water_m3", "fuel_kg"],
                  Annotated[float, Field(ge=0)]] = Field({}, description="counter values at the start")

    @model_validator(mode="after")
    def _one_model(self) -> "MeterSim":
        given = [k for k in ("load", "flow", "pv", "wind", "battery", "ev") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of load, flow, pv, wind, battery, ev; got {given}")
        return self

    @property
    def kind(self) -> str | None:
        for k in ("load", "flow", "pv", "wind", "battery", "ev"):
            if getattr(self, k) is not None:
                return k
        return None


class Location(_Frozen):
    lat: float = Field(31.3, ge=-90, le=90)
    lon: float = Field(120.6, ge=-180, le=180)
    altitude_m: float = Field(5.0, ge=-500, le=9000)


class Weather(_Frozen):
    """Seeded weather: how often it is cloudy, how windy, how warm."""

    cloudiness: float = Field(0.45, ge=0, le=1, description="mean cloud attenuation tendency, 0 clear … 1 overcast")
    plum_rain: bool = Field(True, description="梅雨: cloudier from mid-June to mid-July (Yangtze delta)")
    wind_mean_ms: float = Field(5.5, gt=0, le=30)
    temp_mean_c: float = Field(16.5, ge=-40, le=45, description="annual mean air temperature (Suzhou ≈ 16.5 °C)")
    temp_season_k: float = Field(12.0, ge=0, le=40, description="half the July–January difference")


FaultKind = Literal["offline", "slow", "exception", "reset", "rollover", "spike", "garbage", "clock_skew"]


class FaultSpec(_Frozen):
    """A fault on a schedule. Modes (offline, slow, exception) last from `at` to `until`; reset
    and rollover happen at `at`; spike and garbage hit the first poll at or after `at`;
    clock_skew shifts a gateway's clock by `seconds` for the whole run."""

    kind: FaultKind
    meter: str | None = None
    gateway: str | None = None
    at: datetime | None = None
    until: datetime | None = None
    seconds: float = 0.0  # slow: delay; clock_skew: offset
    code: int = Field(4, ge=1, le=255, description="Modbus exception code (4 = device failure)")
    quantity: str = "energy_import_kwh"  # rollover / spike
    before: float = Field(1.0, ge=0, description="rollover: counter starts this far below the wrap")
    factor: float = 1000.0  # spike: value × factor

    @model_validator(mode="after")
    def _needs(self) -> "FaultSpec":
        if self.kind == "clock_skew":
            if self.gateway is None:
                raise ValueError("clock_skew needs gateway")
        elif self.meter is None:
            raise ValueError(f"{self.kind} needs meter")
        if self.kind in ("reset", "rollover", "spike", "garbage") and self.at is None:
            raise ValueError(f"{self.kind} needs at (a time)")
        for name in ("at", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} {value.isoformat()} needs a time zone (e.g. Z or +08:00)")
        return self


class Defaults(_Frozen):
    """Ranges seeded defaults are drawn from, for meters the scenario does not name."""

    load_kw: tuple[float, float] = (100.0, 600.0)
    flow: tuple[float, float] = (20.0, 80.0)
    pv_kwp: tuple[float, float] = (800.0, 2000.0)
    wind_kw: tuple[float, float] = (300.0, 800.0)
    battery_kw: tuple[float, float] = (200.0, 500.0)
    battery_hours: float = Field(2.0, gt=0)


class Scenario(_Frozen):
    name: str = "defaults"
    description: str = ""
    park: str | None = Field(None, description="park id; default: the config's only park")
    location: Location = Location()
    weather: Weather = Weather()
    history_s: int | None = Field(900, ge=60, le=86400, description="ground-truth snapshot interval; null: none")
    defaults: Defaults = Defaults()
    meters: dict[str, MeterSim] = {}
    faults: list[FaultSpec] = []

    @field_validator("history_s")
    @classmethod
    def _whole_minutes(cls, value: int | None) -> int | None:
        if value is not None and value % 60:
            raise ValueError(f"history_s {value} must be a multiple of 60 (the integration step)")
        return value


_ELECTRIC_ONLY = {"pv": {Role.PV}, "wind": {Role.WIND}, "battery": {Role.STORAGE},
                  "ev": {Role.LOAD, Role.ENTERPRISE}}


def check_against(scenario: Scenario, park: Park, source: str) -> None:
    """Raise ConfigError when the scenario names meters the park lacks or misfits their role."""
    errors = []
    meters = {m.id: m for m in park.meters}
    gateways = {m.gateway for m in park.meters}
    for meter_id, sim in scenario.meters.items():
        m = meters.get(meter_id)
        if m is None:
            errors.append(f"  meters.{meter_id}: park {park.id!r} has no meter {meter_id!r}")
            continue
        kind = sim.kind
        if kind in _ELECTRIC_ONLY and m.role not in _ELECTRIC_ONLY[kind]:
            errors.append(f"  meters.{meter_id}.{kind}: meter has role {m.role}; {kind} fits role "
                          f"{' or '.join(sorted(_ELECTRIC_ONLY[kind]))}")
        if kind == "load" and m.carrier is not Carrier.ELECTRICITY:
            errors.append(f"  meters.{meter_id}.load: meter carries {m.carrier}; use flow for non-electric carriers")
        if kind == "flow" and m.carrier is Carrier.ELECTRICITY:
            errors.append(f"  meters.{meter_id}.flow: meter carries electricity; use load")
        if kind in ("load", "flow") and m.role in (Role.PV, Role.WIND, Role.STORAGE, Role.GRID):
            errors.append(f"  meters.{meter_id}.{kind}: a {m.role} meter cannot have a demand profile")
    for i, f in enumerate(scenario.faults):
        if f.meter is not None and f.meter not in meters:
            errors.append(f"  faults[{i}].meter = {f.meter!r}: park {park.id!r} has no such meter")
        if f.gateway is not None and f.gateway not in gateways:
            errors.append(f"  faults[{i}].gateway = {f.gateway!r}: no meter of park {park.id!r} is on that gateway")
    if errors:
        raise ConfigError(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def parse_scenario(data: object, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from exc


def packaged() -> list[str]:
    """Names of the scenarios shipped in simulator/scenarios/."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("lingtan.simulator.scenarios").iterdir()
                  if p.name.endswith(".yaml"))


def load_scenario(ref: str | Path) -> Scenario:
    """A packaged scenario by name (`jiangsu`) or a YAML file by path."""
    ref = str(ref)
    if "/" not in ref and not ref.endswith((".yaml", ".yml")):
        path = resources.files("lingtan.simulator.scenarios") / f"{ref}.yaml"
        if not path.is_file():
            raise ConfigError(f"simulator.scenario = {ref!r}: no packaged scenario of that name "
                              f"(known: {', '.join(packaged())}) and not a path to a .yaml file")
        return parse_scenario(yaml.safe_load(path.read_text(encoding="utf-8")), f"simulator/scenarios/{ref}.yaml")
    try:
        text = Path(ref).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"simulator.scenario = {ref!r}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{ref}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    return parse_scenario(data, ref)
