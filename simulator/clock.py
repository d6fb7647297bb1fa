"""Simulated time: real time, or accelerated by a factor, from a settable start.

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
