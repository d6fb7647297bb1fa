"""Clocks: real time, or accelerated by a factor from a settable start (the simulator, soaks and
the gateway's --clock-* flags), or moved by hand (tests and batch runs).

The clock is injected everywhere periodic work happens, so tests never sleep for the clock.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class SimClock:
    """sim_now = start + (wall_now − wall_start) × speed."""

    start: datetime
    speed: float = 1.0
    wall: Callable[[], float] = time.monotonic
    wall_start: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        if self.wall_start < 0:
            self.wall_start = self.wall()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self.wall() - self.wall_start) * self.speed)

    def real_seconds(self, sim_seconds: float) -> float:
        """Real seconds that pass while `sim_seconds` of simulated time pass."""
        return sim_seconds / self.speed


def wall_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """Simulated time that moves only when told to: for tests and batch runs (`speed` is 0)."""

    speed = 0.0

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self.start = start
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, t: datetime) -> None:
        if t < self._now:
            raise ValueError(f"time runs forward: {t.isoformat()} is before {self._now.isoformat()}")
        self._now = t

    def advance(self, seconds: float) -> datetime:
        self.set(self._now + timedelta(seconds=seconds))
        return self._now
