"""Time-of-use split: electricity by the tariff periods (尖峰平谷) of an effective-dated provincial calendar.

A calendar is data (accounting/tou-<id>.yaml, validated on load): versions with `valid_from` /
`valid_to` (local dates, end exclusive), each with windows covering the local day exactly on
15-minute bounds, and optional month-dependent overrides (`sharp`, 尖峰) laid over them. A
15-minute interval is booked whole to the period in force at its local start; intervals on days
no version covers are reported as `outside_kwh`, never dropped.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator, model_validator

from lingtan.accounting.factors import Status
from lingtan.accounting.resources import package_yaml
from lingtan.kernel.park import GENERATION_ROLES, Frozen, Park, Role

STEP_MIN = 15


class TouError(ValueError):
    """A calendar or input the split cannot use; the message names the field and value."""


class TouPeriod(StrEnum):
    SHARP = "sharp"  # 尖峰
    PEAK = "peak"  # 峰
    FLAT = "flat"  # 平
    VALLEY = "valley"  # 谷


def _minutes(value: str) -> int:
    h, _, m = value.partition(":")
    if not (h.isdigit() and m.isdigit() and len(m) == 2):
        raise ValueError(f"{value!r}: write HH:MM")
    total = int(h) * 60 + int(m)
    if int(m) >= 60 or total > 24 * 60 or total % STEP_MIN:
        raise ValueError(f"{value!r}: must be a time of day from 00:00 to 24:00 on a {STEP_MIN}-minute bound")
    return total


class Window(Frozen):
    start: str = Field(description="HH:MM local, inclusive")
    end: str = Field(description="HH:MM local, exclusive; 24:00 for midnight")
    period: TouPeriod

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _minutes(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> "Window":
        if _minutes(self.end) <= _minutes(self.start):
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    @property
    def span(self) -> range:
        return range(_minutes(self.start), _minutes(self.end), STEP_MIN)


class Override(Frozen):
    months: list[int] = Field(min_length=1)
    windows: list[Window] = Field(min_length=1)

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        bad = [m for m in value if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months {bad}: must be 1-12")
        return value


class Version(Frozen):
    valid_from: date
    valid_to: date | None = Field(None, description="exclusive; null = still in force")
    windows: list[Window]
    sharp: list[Override] = Field([], description="windows laid over the day in the listed months")

    @model_validator(mode="after")
    def _cover(self) -> "Version":
        seen: dict[int, str] = {}
        for w in self.windows:
            for minute in w.span:
                if minute in seen:
                    raise ValueError(f"window {w.start}-{w.end} overlaps {seen[minute]}")
                seen[minute] = f"{w.start}-{w.end}"
        missing = [m for m in range(0, 24 * 60, STEP_MIN) if m not in seen]
        if missing:
            raise ValueError(f"windows leave {missing[0] // 60:02d}:{missing[0] % 60:02d} uncovered; "
                             "they must cover 00:00-24:00")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is not after valid_from {self.valid_from}")
        return self


class Source(Frozen):
    title: str = Field(min_length=1)          # in Chinese, as the document is named
    title_en: str = ""                        # the same in English, for English reports
    url: str | None = None
    status: Status
    note: str = ""


class TouCalendar(Frozen):
    id: str
    name: str
    region: str
    timezone: str = "Asia/Shanghai"
    source: Source
    versions: list[Version] = Field(min_length=1)

    @model_validator(mode="after")
    def _dated(self) -> "TouCalendar":
        ordered = sorted(self.versions, key=lambda v: v.valid_from)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.valid_to is None or a.valid_to > b.valid_from:
                raise ValueError(f"versions from {a.valid_from} and {b.valid_from} overlap; give the earlier a "
                                 f"valid_to of at most {b.valid_from}")
        return self

    def version_on(self, day: date) -> Version | None:
        return next((v for v in self.versions
                     if v.valid_from <= day and (v.valid_to is None or day < v.valid_to)), None)

    def period_at(self, local: datetime) -> TouPeriod | None:
        """The period in force at a local time (None: no version covers the day)."""
        v = self.version_on(local.date())
        if v is None:
            return None
        minute = local.hour * 60 + local.minute
        for o in v.sharp:
            if local.month in o.months:
                for w in o.windows:
                    if _minutes(w.start) <= minute < _minutes(w.end):
                        return w.period
        return next(w.period for w in v.windows if _minutes(w.start) <= minute < _minutes(w.end))


def parse_calendar(data: object, source: str) -> TouCalendar:
    try:
        return TouCalendar.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                 for e in exc.errors()]
        raise TouError("\n".join([f"{source}: {len(lines)} error(s)", *lines])) from None


def shipped_calendar(calendar_id: str = "jiangsu") -> TouCalendar:
    """A calendar shipped as accounting/tou-<id>.yaml."""
    name = f"tou-{calendar_id}.yaml"
    try:
        data = package_yaml(name)
    except FileNotFoundError:
        raise TouError(f"time-of-use calendar {calendar_id!r}: no accounting/{name}; shipped: jiangsu") from None
    return parse_calendar(data, f"accounting/{name}")


@dataclass(frozen=True)
class TouSplit:
    kwh: dict[TouPeriod, float]
    outside_kwh: float  # intervals on days no calendar version covers

    @property
    def total_kwh(self) -> float:
        return sum(self.kwh.values()) + self.outside_kwh


def tou_split(calendar: TouCalendar, intervals: Iterable[tuple[datetime, float]]) -> TouSplit:
    """kWh by tariff period from (interval start, kWh) pairs of 15-minute intervals.

    Starts must be timezone-aware; each interval is booked whole to the period at its local start
    (windows lie on 15-minute bounds, so no interval straddles two periods).
    """
    zone = ZoneInfo(calendar.timezone)
    kwh = dict.fromkeys(TouPeriod, 0.0)
    outside = 0.0
    for i, (start, energy) in enumerate(intervals):
        if start.tzinfo is None:
            raise TouError(f"intervals[{i}].start = {start.isoformat()}: must be timezone-aware (UTC on the wire)")
        local = start.astimezone(zone)
        if local.minute % STEP_MIN or local.second or local.microsecond:
            raise TouError(f"intervals[{i}].start = {start.isoformat()}: not on a {STEP_MIN}-minute bound")
        period = calendar.period_at(local)
        if period is None:
            outside += energy
        else:
            kwh[period] += energy
    return TouSplit(kwh, outside)


def tou_by_enterprise(
    calendar: TouCalendar,
    intervals: Mapping[str, Iterable[tuple[datetime, float]]],
    meters: Mapping[str, str],
) -> dict[str, TouSplit]:
    """Per enterprise: the split of the summed intervals of its counted electricity meters.

    intervals: {meter id: [(start, kWh)]}; meters: {meter id: enterprise id}, e.g. the electricity
    meters of `enterprises.counted_meters`.
    """
    summed: dict[str, dict[datetime, float]] = {}
    for mid, rows in intervals.items():
        eid = meters.get(mid)
        if eid is None:
            continue
        acc = summed.setdefault(eid, {})
        for start, energy in rows:
            acc[start] = acc.get(start, 0.0) + energy
    return {eid: tou_split(calendar, acc.items()) for eid, acc in sorted(summed.items())}


# sign of each (role, counter) in the park's electricity consumption (accounting/balance.py):
# grid import - grid export + green direct (net) + on-site generation delivered
_CONSUMPTION_SIGNS = {
    (Role.GRID, "energy_import_kwh"): 1.0, (Role.GRID, "energy_export_kwh"): -1.0,
    (Role.GREEN_DIRECT, "energy_import_kwh"): 1.0, (Role.GREEN_DIRECT, "energy_export_kwh"): -1.0,
    (Role.FOSSIL_GENERATION, "energy_export_kwh"): 1.0,
    **{(r, "energy_export_kwh"): 1.0 for r in GENERATION_ROLES},
}


def park_consumption_intervals(
    park: Park, intervals: Mapping[str, Mapping[str, Iterable[tuple[datetime, float]]]],
) -> list[tuple[datetime, float]]:
    """The park's electricity consumption per interval from {meter id: {counter: [(start, delta)]}}."""
    roles = {m.id: m.role for m in park.meters}
    acc: dict[datetime, float] = {}
    for mid, counters in intervals.items():
        if mid not in roles:
            raise TouError(f"intervals[{mid!r}]: meter is not declared in park {park.id!r}")
        for name, rows in counters.items():
            sign = _CONSUMPTION_SIGNS.get((roles[mid], name))
            if sign is None:
                continue
            for start, energy in rows:
                acc[start] = acc.get(start, 0.0) + sign * energy
    return sorted(acc.items())


def day_periods(calendar: TouCalendar, day: date) -> list[tuple[time, TouPeriod | None]]:
    """The 96 quarter hours of a local day with their period (for display)."""
    start = datetime.combine(day, time(0))
    out = []
    for q in range(24 * 60 // STEP_MIN):
        t = start + timedelta(minutes=q * STEP_MIN)
        out.append((t.time(), calendar.period_at(t)))
    return out
