"""The park model: a park, its enterprises and its meters, with carriers and roles as enums.

This is what the accounting core needs to know about a park; where a meter is reached on the
wire (gateway, bus, Modbus unit, device profile) is part of the same declaration so that one
file describes the park for every service.
"""

import difflib
from collections.abc import Iterable
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
"""Identifiers appear in MQTT topics and URLs, so they are restricted to a safe alphabet."""


class Problem(NamedTuple):
    """One thing wrong in a config: where (a pydantic location, list entries by index), the value, why."""

    loc: tuple
    value: Any
    message: str


class Problems(ValueError):
    """Every problem a cross-reference validator found, raised together so that all are reported."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest of `choices` (difflib), or ''."""
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Carrier(StrEnum):
    ELECTRICITY = "electricity"
    NATURAL_GAS = "natural_gas"
    HEAT = "heat"  # steam or hot water, metered in GJ
    DIESEL = "diesel"
    GASOLINE = "gasoline"
    LPG = "lpg"
    RAW_COAL = "raw_coal"
    WATER = "water"  # 耗能工质, not an energy carrier for the core indicator


class Role(StrEnum):
    GRID = "grid"  # connection to the public grid: import and export counters
    GREEN_DIRECT = "green_direct"  # 绿电直连: direct-supplied non-fossil power into the park
    PV = "pv"  # on-site photovoltaic generation
    WIND = "wind"  # on-site wind generation
    FOSSIL_GENERATION = "fossil_generation"  # on-site gas/diesel/coal genset or CHP: export = power delivered
    STORAGE = "storage"  # battery: import = charge, export = discharge
    SUPPLY = "supply"  # boundary supply of a non-electric carrier (gas, heat, water main)
    ENTERPRISE = "enterprise"  # consumption sub-meter of one enterprise
    LOAD = "load"  # other consumption sub-meter (public, EV chargers, ...)


GENERATION_ROLES = frozenset({Role.PV, Role.WIND})  # on-site renewable generation


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Enterprise(Frozen):
    id: Ident
    name: str
    industry: str = ""


class ModbusAddress(Frozen):
    """Where a meter answers: which bus of its gateway and which Modbus unit id (or, on a
    DL/T 645 bus, which meter address: the 12-digit number on the nameplate)."""

    bus: Ident
    unit: int = Field(0, ge=0, le=247)
    address: str | None = Field(None, pattern=r"^[0-9]{1,12}$", description="DL/T 645 meter address (dlt645 buses)")

    @model_validator(mode="before")
    @classmethod
    def _unit_or_address(cls, data):
        if isinstance(data, dict) and "unit" not in data and "address" not in data:
            raise ValueError("give the Modbus unit (unit: 1-247) or the DL/T 645 meter address (address: 12 digits)")
        return data


class Meter(Frozen):
    id: Ident
    name: str = ""
    carrier: Carrier
    role: Role
    boundary: bool = Field(description="true when the meter sits on the park boundary")
    enterprise: Ident | None = None
    parent: Ident | None = Field(None, description="meter this one is a sub-meter of")
    non_fossil: bool = Field(False, description="heat from non-fossil sources counts 0 tCO2")
    gateway: Ident
    modbus: ModbusAddress
    profile: Ident = Field(description="device profile name, see kernel/profiles")
    poll_interval_s: float = Field(5.0, gt=0, le=3600)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        from lingtan.kernel.profile import profile_names  # the profile module imports this one

        known = profile_names()
        if value not in known:
            raise ValueError(f"no device profile of that name; shipped profiles: {', '.join(known)}"
                             f"{did_you_mean(value, known)}")
        return value

    @property
    def in_balance(self) -> bool:
        """Whether the meter measures a flow of the park energy balance: a boundary meter, on-site
        generation or storage (sub-meters measure inside the boundary and only split it)."""
        return (self.boundary or self.role in GENERATION_ROLES
                or self.role in (Role.STORAGE, Role.FOSSIL_GENERATION))


class Park(Frozen):
    id: Ident
    name: str
    timezone: str = "Asia/Shanghai"
    framework: Ident = "national"
    park_type: str = Field("non_chemical", pattern=r"^(chemical|non_chemical)$")
    # The year later years are compared with (the Jiangxi plan's 基准年; a park's application names
    # its own). None: comparisons are with the previous year only.
    base_year: int | None = Field(None, ge=2000, le=2100)
    enterprises: list[Enterprise] = []
    meters: list[Meter]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai")
        return value

    @model_validator(mode="after")
    def _references(self) -> "Park":
        problems = _unique("enterprises", [e.id for e in self.enterprises])
        problems += _unique("meters", [m.id for m in self.meters])
        enterprises = [e.id for e in self.enterprises]
        meters = [m.id for m in self.meters]
        for i, m in enumerate(self.meters):
            at = ("meters", i)
            if m.enterprise is not None and m.enterprise not in enterprises:
                problems.append(Problem(at + ("enterprise",), m.enterprise, "enterprise not declared in this park; "
                                        f"declared: {', '.join(enterprises) or 'none'}"
                                        f"{did_you_mean(m.enterprise, enterprises)}"))
            if m.parent is not None and m.parent not in meters:
                problems.append(Problem(at + ("parent",), m.parent, "parent meter not declared in this park"
                                        f"{did_you_mean(m.parent, meters)}"))
            if m.role is Role.ENTERPRISE and m.enterprise is None:
                problems.append(Problem(at + ("role",), m.role.value, "role enterprise needs an enterprise"))
            if m.role in (Role.GRID, Role.GREEN_DIRECT, Role.SUPPLY) and not m.boundary:
                problems.append(Problem(at + ("boundary",), m.boundary, f"role {m.role} sits on the boundary: "
                                        "set boundary: true"))
            electric = m.role not in (Role.SUPPLY, Role.ENTERPRISE, Role.LOAD)
            if electric and m.carrier is not Carrier.ELECTRICITY:
                problems.append(Problem(at + ("carrier",), m.carrier.value, f"role {m.role} needs carrier electricity"))
        if problems:
            raise Problems(problems)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _meters_by_id(self) -> dict[str, Meter]:
        return {m.id: m for m in self.meters}

    def meter(self, meter_id: str) -> Meter:
        """The meter of that id (KeyError if none): a dict look-up, called per meter and bucket."""
        return self._meters_by_id[meter_id]


def _unique(what: str, ids: list[str]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for i, ident in enumerate(ids):
        if ident in seen:
            out.append(Problem((what, i, "id"), ident, "id declared twice"))
        seen.add(ident)
    return out
