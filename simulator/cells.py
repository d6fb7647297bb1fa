"""The integration grid: one-minute cells on the UTC epoch, and their park-local calendar.

Power and flows are constant within a cell and evaluated at its midpoint; cell k covers
[60·k, 60·k + 60) epoch seconds. Because cells sit on the epoch, every signal is a pure
function of the cell index, whatever the pattern of calls that advanced the model.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

CELL_S = 60  # integration step, seconds
SLOTS_PER_WEEK = 7 * 96  # quarter hours


@dataclass(frozen=True)
class Cells:
    """n consecutive cells starting at cell index k0, with local-time features in `zone`."""

    k0: int
    n: int
    zone: str

    @cached_property
    def mid_s(self) -> np.ndarray:
        return (np.arange(self.k0, self.k0 + self.n, dtype=np.float64) * CELL_S) + CELL_S / 2

    @cached_property
    def _local(self) -> pd.DatetimeIndex:
        return pd.to_datetime(self.mid_s, unit="s", utc=True).tz_convert(self.zone)

    @cached_property
    def minute_of_week(self) -> np.ndarray:
        lt = self._local
        return (lt.day_of_week.to_numpy() * 1440 + lt.hour.to_numpy() * 60 + lt.minute.to_numpy()
                + lt.second.to_numpy() / 60).astype(np.float64)

    @cached_property
    def hour(self) -> np.ndarray:
        """Local hour of day, fractional."""
        return (self.minute_of_week % 1440) / 60

    @cached_property
    def weekend(self) -> np.ndarray:
        return self.minute_of_week >= 5 * 1440

    @cached_property
    def day_of_year(self) -> np.ndarray:
        """Local day of year, fractional (1.0 = 1 January 00:00)."""
        return self._local.day_of_year.to_numpy() + self.hour / 24


def season(day_of_year: np.ndarray, peak_day: float) -> np.ndarray:
    """max(0, cos) bump peaking at `peak_day`: 1 at the peak, 0 for half the year."""
    return np.maximum(0.0, np.cos(2 * np.pi * (day_of_year - peak_day) / 365.25))
