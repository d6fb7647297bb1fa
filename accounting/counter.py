"""Counter cleaning: raw cumulative counter samples in, accepted energy steps out.

A cumulative counter (kWh, m3, GJ, kg) should only go up. Real ones do not: meters are replaced,
registers wrap, a bad read returns garbage, a gateway resends a sample. `clean_counter` decides
for every step between two readings how much energy it carries, and records what it did as
events. It works on numpy arrays; timestamps are int64 microseconds since the Unix epoch (UTC).

Rules, in the order they are applied (see docs/accounting.md, "Interval engine"):

1. NaN, infinite or negative readings are dropped (INVALID).
2. Samples are sorted by time; of several samples with the same timestamp the first one received
   is kept (exact resends are dropped silently, conflicting ones flagged DUPLICATE).
3. A step is *normal* when the counter did not go down and, if `max_rate_per_h` is set, the step
   implies no more than that rate. Normal steps are energy.
4. A single reading that makes the series abnormal while its neighbours agree with each other
   (up and back down, or down and back up) is garbage: dropped (SPIKE), never energy.
5. A drop that the register modulus explains (ROLLOVER) adds the modulus.
6. A drop to near zero is a counter restart (RESET: meter replaced or reset); the new reading is
   the energy counted since the restart, so energy before and after both count.
7. Any other drop (NEGATIVE) or an upward step above the rate limit that persists (RATE) carries
   no energy; counting resumes from the new level.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

_RATE_TOLERANCE = 1e-9  # relative slack on the rate limit, for float rounding only
_ROLLOVER_WINDOW = 0.1  # without a rate limit: a wrap must go from the top to the bottom 10 %
US_PER_HOUR = 3_600_000_000


class Flag(StrEnum):
    INVALID = "invalid"  # NaN, infinite or negative reading dropped
    DUPLICATE = "duplicate"  # conflicting reading with an already seen timestamp dropped
    SPIKE = "spike"  # single garbage reading dropped
    RESET = "reset"  # counter restarted near zero; counting continues from the new counter
    ROLLOVER = "rollover"  # register wrapped at its modulus; the modulus was added
    RATE = "rate"  # step above max_rate_per_h that persists: no energy for that step
    NEGATIVE = "negative"  # counter went down (no reset, no rollover): no energy for that step
    GAP = "gap"  # readings further apart than max_gap: energy spread over the gap, estimated
    NO_DATA = "no_data"  # no reading covers the interval


@dataclass(frozen=True, slots=True)
class CounterRules:
    """How to read one counter.

    rollover: register modulus in counter units (e.g. 2**32 * 0.01 for a uint32 in 0.01 kWh).
    max_rate_per_h: the most the counter can advance per hour (e.g. rated power in kW for kWh).
    reset_ratio: a drop to at most this fraction of the previous reading is a restart.
    """

    rollover: float | None = None
    max_rate_per_h: float | None = None
    reset_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.rollover is not None and not (np.isfinite(self.rollover) and self.rollover > 0):
            raise ValueError(f"rollover = {self.rollover!r}: must be a positive register modulus")
        if self.max_rate_per_h is not None and not (
            np.isfinite(self.max_rate_per_h) and self.max_rate_per_h > 0
        ):
            raise ValueError(f"max_rate_per_h = {self.max_rate_per_h!r}: must be a positive rate")
        if not 0 < self.reset_ratio < 1:
            raise ValueError(f"reset_ratio = {self.reset_ratio!r}: must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Event:
    """Something the cleaner did at one reading: ts_us is the reading's time, value its value."""

    ts_us: int
    flag: Flag
    value: float


@dataclass(frozen=True, eq=False)
class CleanCounter:
    """Accepted readings and the energy of each step between consecutive accepted readings.

    ts_us has n strictly increasing entries; energy and rejected have n - 1 (one per step).
    A rejected step carries 0 energy and its time counts as not measured.
    """

    ts_us: np.ndarray
    energy: np.ndarray
    rejected: np.ndarray
    events: tuple[Event, ...]

    @property
    def total(self) -> float:
        return float(self.energy.sum())


def clean_counter(ts_us: np.ndarray, values: np.ndarray, rules: CounterRules) -> CleanCounter:
    """Clean one counter series; ts_us int64 microseconds UTC, values in counter units."""
    ts_us = np.asarray(ts_us, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if ts_us.shape != values.shape or ts_us.ndim != 1:
        raise ValueError(f"timestamps and values must be 1-d of equal length, got {ts_us.shape} and {values.shape}")
    events: list[Event] = []

    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        events += [Event(int(t), Flag.INVALID, float(v)) for t, v in zip(ts_us[bad], values[bad], strict=True)]
        ts_us, values = ts_us[~bad], values[~bad]

    if ts_us.size > 1 and not (np.diff(ts_us) > 0).all():
        order = np.argsort(ts_us, kind="stable")  # stable: first received wins on equal ts
        ts_us, values = ts_us[order], values[order]
        repeat = np.zeros(ts_us.size, dtype=bool)
        repeat[1:] = ts_us[1:] == ts_us[:-1]
        if repeat.any():
            kept = np.maximum.accumulate(np.where(repeat, 0, np.arange(ts_us.size)))
            conflict = repeat & (values != values[kept])
            events += [Event(int(t), Flag.DUPLICATE, float(v))
                       for t, v in zip(ts_us[conflict], values[conflict], strict=True)]
            ts_us, values = ts_us[~repeat], values[~repeat]

    if ts_us.size < 2:
        return CleanCounter(ts_us, np.zeros(0), np.zeros(0, dtype=bool), tuple(events))

    step = np.diff(values)
    normal = step >= 0
    if rules.max_rate_per_h is not None:
        hours = np.diff(ts_us) / US_PER_HOUR
        normal &= step <= rules.max_rate_per_h * hours * (1 + _RATE_TOLERANCE)
    if normal.all():  # the common case: a clean, monotonic series
        return CleanCounter(ts_us, step, np.zeros(step.size, dtype=bool), tuple(events))
    return _clean_slow(ts_us, values, rules, events)


def _clean_slow(ts_us: np.ndarray, values: np.ndarray, rules: CounterRules, events: list[Event]) -> CleanCounter:
    t = ts_us.tolist()
    v = values.tolist()
    n = len(t)
    rate = rules.max_rate_per_h
    step = np.diff(values)
    normal_step = step >= 0
    if rate is not None:
        normal_step &= step <= rate * np.diff(ts_us) / US_PER_HOUR * (1 + _RATE_TOLERANCE)
    # a reading needs a decision only next to an abnormal step; runs between are taken whole
    suspicious = np.zeros(n, dtype=bool)
    suspicious[1:] |= ~normal_step
    suspicious[:-1] |= ~normal_step
    visits = np.flatnonzero(suspicious)

    def allowed(i: int, j: int) -> float:
        return float("inf") if rate is None else rate * (t[j] - t[i]) / US_PER_HOUR * (1 + _RATE_TOLERANCE)

    def normal(i: int, j: int) -> bool:
        d = v[j] - v[i]
        return d >= 0 and d <= allowed(i, j)

    kept: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    energy: list[np.ndarray] = []
    rejected: list[np.ndarray] = []
    prev = 0
    i = 1
    while i < n:
        if prev == i - 1 and not suspicious[i]:
            j = int(visits[np.searchsorted(visits, i)]) if visits.size and visits[-1] >= i else n
            kept.append(np.arange(i, j, dtype=np.int64))
            energy.append(step[i - 1 : j - 1])
            rejected.append(np.zeros(j - i, dtype=bool))
            prev, i = j - 1, j
            continue
        ok = normal(prev, i)
        if i + 1 < n and (not ok or not normal(i, i + 1)) and normal(prev, i + 1):
            events.append(Event(t[i], Flag.SPIKE, v[i]))  # the neighbours agree without it
            i += 1
            continue
        if ok:
            e, rej = v[i] - v[prev], False
        elif v[i] >= v[prev]:
            e, rej = 0.0, True
            events.append(Event(t[i], Flag.RATE, v[i]))
        else:
            e, rej, flag = _drop(v[prev], v[i], allowed(prev, i), rules)
            events.append(Event(t[i], flag, v[i]))
        kept.append(np.asarray([i], dtype=np.int64))
        energy.append(np.asarray([e]))
        rejected.append(np.asarray([rej]))
        prev = i
        i += 1
    index = np.concatenate(kept)
    return CleanCounter(
        ts_us[index],
        np.concatenate(energy) if energy else np.zeros(0),
        np.concatenate(rejected) if rejected else np.zeros(0, dtype=bool),
        tuple(sorted(events, key=lambda e: e.ts_us)),
    )


def _drop(before: float, after: float, allowed: float, rules: CounterRules) -> tuple[float, bool, Flag]:
    """Classify a reading lower than the one before it: (energy, rejected, flag)."""
    m = rules.rollover
    if m is not None and before <= m:
        wrapped = after + m - before
        if rules.max_rate_per_h is not None:
            is_wrap = wrapped <= allowed
        else:
            is_wrap = before >= (1 - _ROLLOVER_WINDOW) * m and after <= _ROLLOVER_WINDOW * m
        if is_wrap:
            return wrapped, False, Flag.ROLLOVER
    if after <= rules.reset_ratio * before and after <= allowed:
        return after, False, Flag.RESET
    return 0.0, True, Flag.NEGATIVE
