"""Roll-ups of intervals into the park-local calendar periods of lingtan.kernel.localtime.

Days, months and years start at local midnight of the park's time zone (default Asia/Shanghai),
so a Chinese calendar year starts at 16:00 UTC on 31 December. Completeness of a period is the
measured share of the *whole* period: a month with data for its first ten days is about a third
complete, which is what year-to-date figures need.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from lingtan.accounting.intervals import Interval, IntervalError, IntervalSeries, from_us, to_us
from lingtan.kernel.localtime import (
    PeriodKind,
    elapsed_share,
    first_day,
    label,
    local_day,
    local_midnight,
    next_first_day,
)

__all__ = ["PeriodKind", "PeriodTotal", "elapsed_share", "period_of", "periods_between", "rollup"]


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    kind: PeriodKind
    label: str  # "2025-03-01", "2025-03" or "2025", in park local time
    start: datetime  # aware, park local time
    end: datetime
    energy: float  # counter unit
    estimated_energy: float  # part of energy spread over gaps
    completeness: float  # measured share of the whole period, 0..1


def period_of(ts: datetime, kind: PeriodKind, zone: ZoneInfo) -> tuple[str, datetime, datetime]:
    """The local calendar period containing ts: (label, start, end) with aware local bounds."""
    to_us(ts, "ts")
    first = first_day(local_day(ts, zone), kind)
    return label(first, kind), local_midnight(first, zone), local_midnight(next_first_day(first, kind), zone)


def periods_between(start: datetime, end: datetime, kind: PeriodKind,
                    zone: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """Every local calendar period overlapping [start, end)."""
    if to_us(end, "end") <= to_us(start, "start"):
        raise IntervalError(f"end = {end.isoformat()}: must be after start = {start.isoformat()}")
    out = []
    first = first_day(local_day(start, zone), kind)
    while local_midnight(first, zone) < end:
        nxt = next_first_day(first, kind)
        out.append((label(first, kind), local_midnight(first, zone), local_midnight(nxt, zone)))
        first = nxt
    return out


def rollup(intervals: IntervalSeries | Sequence[Interval], kind: PeriodKind, zone: ZoneInfo) -> list[PeriodTotal]:
    """Sum intervals into the local calendar periods they fall in.

    Every period overlapping the intervals is returned, with completeness measured against the
    whole period. Intervals must not straddle a period boundary (15-minute intervals starting on
    a quarter hour never do for whole-quarter-hour UTC offsets such as +08:00).
    """
    starts, ends, energy, completeness, estimated = _columns(intervals)
    if starts.size == 0:
        return []
    periods = periods_between(from_us(starts[0]), from_us(ends[-1]), kind, zone)
    bounds = np.asarray([to_us(p[1]) for p in periods] + [to_us(periods[-1][2])], dtype=np.int64)
    index = np.searchsorted(bounds, starts, side="right") - 1
    if (ends > bounds[index + 1]).any():
        k = int(np.flatnonzero(ends > bounds[index + 1])[0])
        raise IntervalError(f"interval starting {from_us(starts[k]).isoformat()} straddles a {kind} boundary "
                            f"in {zone.key}")
    n = len(periods)
    length = (ends - starts).astype(np.float64)
    e = np.bincount(index, weights=energy, minlength=n)
    est = np.bincount(index, weights=np.where(estimated, energy, 0.0), minlength=n)
    covered = np.bincount(index, weights=completeness * length, minlength=n)
    span = np.diff(bounds).astype(np.float64)
    return [
        PeriodTotal(kind, label, ps, pe, float(e[i]), float(est[i]), float(min(1.0, round(covered[i] / span[i], 9))))
        for i, (label, ps, pe) in enumerate(periods)
    ]


def _columns(intervals: IntervalSeries | Sequence[Interval]):
    if isinstance(intervals, IntervalSeries):
        step = intervals.interval // timedelta(microseconds=1)
        starts = to_us(intervals.start) + step * np.arange(len(intervals), dtype=np.int64)
        return starts, starts + step, intervals.energy, intervals.completeness, intervals.estimated
    ivs = sorted(intervals, key=lambda i: i.start)
    return (
        np.asarray([to_us(i.start) for i in ivs], dtype=np.int64),
        np.asarray([to_us(i.end) for i in ivs], dtype=np.int64),
        np.asarray([i.energy for i in ivs], dtype=np.float64),
        np.asarray([i.completeness for i in ivs], dtype=np.float64),
        np.asarray([i.estimated for i in ivs], dtype=bool),
    )
