"""The interval engine: energy per fixed interval (default 15 minutes) from counter samples.

Readings are cleaned first (accounting/counter.py). The energy of each step between two accepted
readings is then apportioned to intervals linearly by time: the engine builds the cumulative
clean energy C(t) at the accepted readings, interpolates it linearly at the interval bounds and
takes differences. Interval energies therefore always add up to C(end) - C(start): the true
consumption (last - first reading, adjusted for restarts and rollovers, minus rejected garbage)
when the samples lie within [start, end].

Completeness of an interval is the fraction of it covered by accepted steps no longer than
`max_gap`; energy from longer steps is spread the same way but marks the interval estimated.
Energy is in the counter's own unit (kWh, m3, GJ, kg).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np

from lingtan.accounting.counter import CleanCounter, CounterRules, Event, Flag, clean_counter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUARTER_HOUR = timedelta(minutes=15)
_US = timedelta(microseconds=1)


class IntervalError(ValueError):
    """Input the interval engine cannot use; the message names the argument and value."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of a cumulative counter at a timezone-aware instant."""

    ts: datetime
    value: float


@dataclass(frozen=True, eq=False)
class SampleArrays:
    """Many readings at once: ts_us int64 microseconds since the epoch (UTC), values float."""

    ts_us: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    end: datetime
    energy: float  # counter unit
    estimated: bool  # some of the energy was spread over a gap longer than max_gap
    completeness: float  # 0..1, fraction of the interval covered by measured steps
    flags: frozenset[Flag] = frozenset()


@dataclass(frozen=True, slots=True)
class Consumption:
    """Total consumption between two instants, with how much of it was measured."""

    start: datetime
    end: datetime
    energy: float
    estimated_energy: float  # part of `energy` spread over gaps
    completeness: float
    flags: frozenset[Flag]


@dataclass(frozen=True, eq=False)
class IntervalSeries:
    """Intervals as arrays (what the engine computes; `intervals()` gives objects)."""

    start: datetime
    interval: timedelta
    energy: np.ndarray
    completeness: np.ndarray
    estimated: np.ndarray
    flag_bits: np.ndarray  # per interval, bit FLAG_BITS[flag] set when the flag applies
    events: tuple[Event, ...] = ()

    def __len__(self) -> int:
        return int(self.energy.size)

    @property
    def end(self) -> datetime:
        return self.start + self.interval * len(self)

    @property
    def total_energy(self) -> float:
        return float(self.energy.sum())

    def flags(self, k: int) -> frozenset[Flag]:
        return _decode(int(self.flag_bits[k]))

    def intervals(self) -> list[Interval]:
        return [
            Interval(
                self.start + self.interval * k,
                self.start + self.interval * (k + 1),
                float(e), bool(est), float(c), _decode(bits),
            )
            for k, (e, c, est, bits) in enumerate(
                zip(self.energy.tolist(), self.completeness.tolist(), self.estimated.tolist(), self.flag_bits.tolist(),
                    strict=True)
            )
        ]


FLAG_BITS: dict[Flag, int] = {f: 1 << i for i, f in enumerate(Flag)}


@cache
def _decode(bits: int) -> frozenset[Flag]:
    return frozenset(f for f, b in FLAG_BITS.items() if bits & b)


def to_us(ts: datetime, what: str = "ts") -> int:
    """Microseconds since the epoch for an aware datetime; naive ones are refused."""
    if not isinstance(ts, datetime):
        raise IntervalError(f"{what} = {ts!r}: expected a timezone-aware datetime")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise IntervalError(f"{what} = {ts.isoformat()}: naive datetime; give a time zone (UTC on the wire)")
    return (ts - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def as_arrays(samples: Iterable[Sample | tuple[datetime, float]] | SampleArrays) -> SampleArrays:
    """Accept Sample objects, (ts, value) pairs or ready arrays."""
    if isinstance(samples, SampleArrays):
        return samples
    ts: list[int] = []
    values: list[float] = []
    for i, s in enumerate(samples):
        t, v = (s.ts, s.value) if isinstance(s, Sample) else s
        ts.append(to_us(t, f"samples[{i}].ts"))
        try:
            values.append(float(v))
        except (TypeError, ValueError) as exc:
            raise IntervalError(f"samples[{i}].value = {v!r}: expected a number") from exc
    return SampleArrays(np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64))


def interval_series(
    samples: Iterable[Sample | tuple[datetime, float]] | SampleArrays,
    start: datetime,
    end: datetime,
    *,
    interval: timedelta = QUARTER_HOUR,
    rollover: float | None = None,
    max_rate_per_h: float | None = None,
    max_gap: timedelta | None = None,
    reset_ratio: float = 0.1,
) -> IntervalSeries:
    """Energy per interval in [start, end) as arrays; see `compute_intervals`."""
    rules = _rules(rollover, max_rate_per_h, reset_ratio)
    start_us, end_us, step_us, gap_us = _grid(start, end, interval, max_gap)
    arrays = as_arrays(samples)
    clean = clean_counter(arrays.ts_us, arrays.values, rules)
    bounds = np.arange(start_us, end_us + 1, step_us, dtype=np.int64)
    energy, covered, gap_time = _apportion(clean, bounds, gap_us)
    completeness = np.clip(np.round(covered / step_us, 9), 0.0, 1.0)  # round off interp noise
    estimated = gap_time > 0
    flags = _flags(clean.events, start_us, step_us, bounds.size - 1, completeness, estimated)
    return IntervalSeries(start, interval, energy, completeness, estimated, flags, clean.events)


def compute_intervals(
    samples: Iterable[Sample | tuple[datetime, float]] | SampleArrays,
    start: datetime,
    end: datetime,
    *,
    interval: timedelta = QUARTER_HOUR,
    rollover: float | None = None,
    max_rate_per_h: float | None = None,
    max_gap: timedelta | None = None,
    reset_ratio: float = 0.1,
) -> list[Interval]:
    """Energy per interval between `start` and `end` from cumulative counter samples.

    start/end: aware datetimes; end - start must be a whole number of intervals.
    rollover: register modulus in counter units; max_rate_per_h: the most the counter can
    advance per hour (steps above it are spikes or rejected); max_gap: longest step still
    counted as measured (default: one interval); reset_ratio: see CounterRules.
    """
    return interval_series(
        samples, start, end, interval=interval, rollover=rollover, max_rate_per_h=max_rate_per_h,
        max_gap=max_gap, reset_ratio=reset_ratio,
    ).intervals()


def consumption(
    samples: Iterable[Sample | tuple[datetime, float]] | SampleArrays,
    start: datetime,
    end: datetime,
    *,
    rollover: float | None = None,
    max_rate_per_h: float | None = None,
    max_gap: timedelta = QUARTER_HOUR,
    reset_ratio: float = 0.1,
) -> Consumption:
    """Total consumption between two arbitrary instants, apportioned linearly like intervals."""
    rules = _rules(rollover, max_rate_per_h, reset_ratio)
    start_us, end_us = to_us(start, "start"), to_us(end, "end")
    if end_us <= start_us:
        raise IntervalError(f"end = {end.isoformat()}: must be after start = {start.isoformat()}")
    gap_us = _positive(max_gap, "max_gap")
    arrays = as_arrays(samples)
    clean = clean_counter(arrays.ts_us, arrays.values, rules)
    bounds = np.asarray([start_us, end_us], dtype=np.int64)
    energy, covered, _ = _apportion(clean, bounds, gap_us)
    est = _estimated_energy(clean, bounds, gap_us)
    flags = {e.flag for e in clean.events if start_us <= e.ts_us < end_us}
    if est > 0:
        flags.add(Flag.GAP)
    completeness = float(min(1.0, round(covered[0] / (end_us - start_us), 9)))
    if completeness == 0 and est == 0:
        flags.add(Flag.NO_DATA)
    return Consumption(start, end, float(energy[0]), est, completeness, frozenset(flags))


def _rules(rollover: float | None, max_rate_per_h: float | None, reset_ratio: float) -> CounterRules:
    try:
        return CounterRules(rollover, max_rate_per_h, reset_ratio)
    except ValueError as exc:
        raise IntervalError(str(exc)) from exc


def _positive(span: timedelta, what: str) -> int:
    if not isinstance(span, timedelta) or span <= timedelta(0):
        raise IntervalError(f"{what} = {span!r}: must be a positive timedelta")
    return span // _US


def _grid(start: datetime, end: datetime, interval: timedelta, max_gap: timedelta | None) -> tuple[int, int, int, int]:
    start_us, end_us = to_us(start, "start"), to_us(end, "end")
    step_us = _positive(interval, "interval")
    gap_us = step_us if max_gap is None else _positive(max_gap, "max_gap")
    if end_us <= start_us:
        raise IntervalError(f"end = {end.isoformat()}: must be after start = {start.isoformat()}")
    if (end_us - start_us) % step_us:
        raise IntervalError(f"end - start = {end - start}: must be a whole number of intervals of {interval}")
    return start_us, end_us, step_us, gap_us


def _cumulative(clean: CleanCounter, gap_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative energy, measured time and gap time at each accepted reading."""
    dt = np.diff(clean.ts_us)
    measured = (dt <= gap_us) & ~clean.rejected
    gap = (dt > gap_us) & ~clean.rejected
    zero = np.zeros(1)
    return (
        np.concatenate([zero, np.cumsum(clean.energy)]),
        np.concatenate([zero, np.cumsum(np.where(measured, dt, 0).astype(np.float64))]),
        np.concatenate([zero, np.cumsum(np.where(gap, dt, 0).astype(np.float64))]),
    )


def _apportion(clean: CleanCounter, bounds: np.ndarray, gap_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy, measured microseconds and gap microseconds in each [bounds[k], bounds[k+1])."""
    k = bounds.size - 1
    if clean.ts_us.size < 2:
        return np.zeros(k), np.zeros(k), np.zeros(k)
    x = clean.ts_us.astype(np.float64)
    b = bounds.astype(np.float64)
    # C(t), M(t), G(t) are piecewise linear between readings and flat outside them, which is
    # exactly what np.interp does (it holds the end values outside the data).
    energy, measured, gap = (np.diff(np.interp(b, x, c)) for c in _cumulative(clean, gap_us))
    return energy, measured, gap


def _estimated_energy(clean: CleanCounter, bounds: np.ndarray, gap_us: int) -> float:
    if clean.ts_us.size < 2:
        return 0.0
    dt = np.diff(clean.ts_us)
    gap = (dt > gap_us) & ~clean.rejected
    c = np.concatenate([np.zeros(1), np.cumsum(np.where(gap, clean.energy, 0.0))])
    return float(np.diff(np.interp(bounds.astype(np.float64), clean.ts_us.astype(np.float64), c))[0])


def _flags(
    events: tuple[Event, ...], start_us: int, step_us: int, count: int, completeness: np.ndarray, estimated: np.ndarray
) -> np.ndarray:
    bits = np.zeros(count, dtype=np.uint16)
    for e in events:
        k = (e.ts_us - start_us) // step_us
        if 0 <= k < count:
            bits[k] |= FLAG_BITS[e.flag]
    bits[estimated] |= FLAG_BITS[Flag.GAP]
    bits[(completeness == 0) & ~estimated] |= FLAG_BITS[Flag.NO_DATA]
    return bits
