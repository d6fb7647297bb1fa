"""Conversion and emission factors: effective-dated, versioned, each with its source.

A factor is never edited in place. `change_factor` adds a new version covering a date range,
returns the new set together with a change record (what, when, by whom — passed in, never read
from a clock) and the date spans whose effective value changed, so the caller can recompute
exactly those periods. Lookups choose, for a date, the highest version whose range covers it.
Values are stored in the unit of their source and converted once, here, to tce or tCO2 per
activity unit (kWh, m3, t, GJ).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from lingtan.accounting.resources import package_yaml
from lingtan.kernel.config import format_errors
from lingtan.kernel.park import Frozen


class FactorError(ValueError):
    """A factor that is missing, ambiguous for a period, or badly declared."""


class Status(StrEnum):
    PRIMARY = "P"  # confirmed against the primary policy text
    SECONDARY = "S"  # confirmed in a secondary source
    CODE = "S-code"  # found only in third-party code
    UNCONFIRMED = "U"
    ASSUMPTION = "A"  # must be configurable per park and year


# unit as written -> (what it yields, activity unit, multiplier to "tce or tCO2 per activity unit")
UNITS: dict[str, tuple[str, str, float]] = {
    "kgce/kWh": ("tce", "kWh", 1e-3),
    "kgce/m3": ("tce", "m3", 1e-3),
    "kgce/kg": ("tce", "t", 1.0),
    "tce/t": ("tce", "t", 1.0),
    "kgce/MJ": ("tce", "GJ", 1.0),
    "kgce/GJ": ("tce", "GJ", 1e-3),
    "kgCO2/kWh": ("tCO2", "kWh", 1e-3),
    "tCO2/MWh": ("tCO2", "kWh", 1e-3),
    "kgCO2/Nm3": ("tCO2", "m3", 1e-3),
    "kgCO2/m3": ("tCO2", "m3", 1e-3),
    "tCO2/t": ("tCO2", "t", 1.0),
    "tCO2/GJ": ("tCO2", "GJ", 1.0),
}


class Source(Frozen):
    title: str
    url: str | None = None


class Fuel(Frozen):
    unit: Literal["t", "m3"]
    fossil: bool
    clean_nbs: bool = Field(description="清洁能源 in the NBS convention (natural gas counts)")
    name: str


class Factor(Frozen):
    key: str = Field(pattern=r"^(tce|co2)\.[a-z_]+(\.[a-z_]+)?$")
    value: float = Field(ge=0)
    unit: str
    valid_from: date
    valid_to: date | None = Field(None, description="exclusive; null = open-ended")
    version: int = Field(1, ge=1)
    status: Status
    source: str
    note: str = ""
    oxidation: float | None = Field(None, gt=0, le=1, description="carbon oxidation rate in `value`")

    @model_validator(mode="after")
    def _check(self) -> "Factor":
        if self.unit not in UNITS:
            raise ValueError(f"factor {self.key!r}: unit {self.unit!r} is not one of {sorted(UNITS)}")
        yields = UNITS[self.unit][0]
        if yields != ("tce" if self.key.startswith("tce.") else "tCO2"):
            raise ValueError(f"factor {self.key!r}: unit {self.unit!r} yields {yields}, not what the key names")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(f"factor {self.key!r}: valid_to {self.valid_to} must be after "
                             f"valid_from {self.valid_from}")
        return self

    @property
    def activity_unit(self) -> str:
        return UNITS[self.unit][1]

    @property
    def per_unit(self) -> float:
        """tce or tCO2 per activity unit (kWh, m3, t or GJ)."""
        return self.value * UNITS[self.unit][2]

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class Span:
    """Dates [start, end); end None = open-ended."""

    start: date
    end: date | None

    def years(self, until: int) -> list[int]:
        last = until if self.end is None else (self.end - timedelta(days=1)).year
        return list(range(self.start.year, min(last, until) + 1))


class FactorChange(Frozen):
    """The audit record of one factor change and the periods it affects."""

    key: str
    new: Factor
    previous: tuple[Factor, ...] = Field(description="entries that were effective somewhere in the new range")
    changed_at: datetime
    changed_by: str = Field(min_length=1)
    reason: str = ""
    affected: tuple[tuple[date, date | None], ...] = Field(description="spans whose effective value changed")

    def affected_years(self, until: int) -> list[int]:
        """Calendar years to recompute (open-ended spans are cut at `until`)."""
        return sorted({y for s, e in self.affected for y in Span(s, e).years(until)})


class FactorSet(Frozen):
    document: str
    sources: dict[str, Source]
    fuels: dict[str, Fuel]
    factors: tuple[Factor, ...]

    @model_validator(mode="after")
    def _check(self) -> "FactorSet":
        seen: set[tuple[str, int]] = set()
        for f in self.factors:
            if f.source not in self.sources:
                raise ValueError(f"factor {f.key!r}: source {f.source!r} is not in the sources table")
            if (f.key, f.version) in seen:
                raise ValueError(f"factor {f.key!r}: version {f.version} is declared twice")
            seen.add((f.key, f.version))
        for name in self.fuels:
            for kind in ("tce", "co2"):
                if not any(f.key == f"{kind}.{name}" for f in self.factors):
                    raise ValueError(f"fuel {name!r}: no {kind}.{name} factor")
        return self

    def entries(self, key: str) -> list[Factor]:
        found = [f for f in self.factors if f.key == key]
        if not found:
            raise FactorError(f"factor {key!r}: unknown; known keys are {sorted({f.key for f in self.factors})}")
        return found

    def at(self, key: str, day: date) -> Factor:
        """The factor effective on `day` (highest version covering it)."""
        live = [f for f in self.entries(key) if f.covers(day)]
        if not live:
            raise FactorError(f"factor {key!r}: no value is effective on {day.isoformat()}")
        return max(live, key=lambda f: f.version)

    def for_period(self, key: str, start: date, end: date) -> Factor:
        """The single factor effective throughout [start, end); refuses a period it changes in."""
        first = self.at(key, start)
        for day in self._breaks(key, start, end):
            other = self.at(key, day)
            if other != first:
                raise FactorError(
                    f"factor {key!r} changes on {day.isoformat()} within {start.isoformat()}..{end.isoformat()}"
                    f" ({first.value} {first.unit} v{first.version} -> {other.value} {other.unit} v{other.version});"
                    " account the period in parts"
                )
        return first

    def _breaks(self, key: str, start: date, end: date | None) -> list[date]:
        days = {d for f in self.entries(key) for d in (f.valid_from, f.valid_to) if d is not None}
        return sorted(d for d in days if start < d and (end is None or d < end))

    def with_entry(self, factor: Factor) -> "FactorSet":
        """A new set with `factor` added (its source must be in the sources table)."""
        return FactorSet.model_validate(
            {**self.model_dump(), "factors": [*(f.model_dump() for f in self.factors), factor.model_dump()]}
        )

    def next_version(self, key: str) -> int:
        return 1 + max((f.version for f in self.factors if f.key == key), default=0)


def parse_factors(data: Any, source: str = "<factors>") -> FactorSet:
    """Validate a parsed factors mapping; FactorError names the file, key and value."""
    try:
        return FactorSet.model_validate(data)
    except ValidationError as exc:
        raise FactorError(format_errors(exc, source)) from exc


@cache
def default_factors() -> FactorSet:
    """The factors shipped in accounting/factors.yaml."""
    return parse_factors(package_yaml("factors.yaml"), "accounting/factors.yaml")


def change_factor(
    factors: FactorSet,
    key: str,
    value: float,
    *,
    valid_from: date,
    valid_to: date | None = None,
    unit: str | None = None,
    status: Status | str,
    source: str,
    changed_at: datetime,
    changed_by: str,
    reason: str = "",
    note: str = "",
    new_source: Mapping[str, str] | None = None,
) -> tuple[FactorSet, FactorChange]:
    """Add a new version of `key` for [valid_from, valid_to); return the new set and the record.

    `new_source` ({"title": ..., "url": ...}) registers `source` if it is not yet in the table.
    """
    if changed_at.tzinfo is None:
        raise FactorError(f"changed_at = {changed_at.isoformat()}: naive datetime; give a time zone")
    old = factors.entries(key)
    if new_source is not None and source not in factors.sources:
        factors = FactorSet.model_validate(
            {**factors.model_dump(), "sources": {**factors.model_dump()["sources"], source: dict(new_source)}}
        )
    try:
        new = Factor(
            key=key, value=value, unit=unit or old[-1].unit, valid_from=valid_from, valid_to=valid_to,
            version=factors.next_version(key), status=Status(status), source=source, note=note,
            oxidation=old[-1].oxidation,
        )
        updated = factors.with_entry(new)
    except (ValidationError, ValueError) as exc:
        raise FactorError(f"factor {key!r} = {value!r}: {exc}") from exc
    spans: list[tuple[date, date | None]] = []
    points = [valid_from, *factors._breaks(key, valid_from, valid_to)]
    for i, a in enumerate(points):
        b = points[i + 1] if i + 1 < len(points) else valid_to
        try:
            before = factors.at(key, a).per_unit
        except FactorError:
            before = None
        if before != new.per_unit:
            if spans and spans[-1][1] == a:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
    previous = tuple(
        f for f in old
        if (valid_to is None or f.valid_from < valid_to) and (f.valid_to is None or f.valid_to > valid_from)
    )
    record = FactorChange(
        key=key, new=new, previous=previous, changed_at=changed_at, changed_by=changed_by, reason=reason,
        affected=tuple(spans),
    )
    return updated, record
