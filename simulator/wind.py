"""Wind turbines: a cubic power curve between cut-in and rated speed, flat to cut-out."""

import numpy as np

from lingtan.simulator.cells import Cells
from lingtan.simulator.scenario import Wind
from lingtan.simulator.weather import ParkWeather


class WindSet:
    def __init__(self, keys: list[int], turbines: list[Wind], weather: ParkWeather) -> None:
        self.keys = np.array(keys, dtype=np.uint64)
        self.weather = weather
        self.rated = np.array([w.rated_kw for w in turbines])
        self.cut_in = np.array([w.cut_in_ms for w in turbines])
        self.rated_ms = np.array([w.rated_ms for w in turbines])
        self.cut_out = np.array([w.cut_out_ms for w in turbines])
        self.mean = np.array([w.mean_ms or weather.w.wind_mean_ms for w in turbines])

    def __len__(self) -> int:
        return len(self.rated)

    def power(self, cells: Cells) -> np.ndarray:
        """Output (kW, ≥ 0) per turbine per cell: shape (n, m)."""
        if not len(self):
            return np.zeros((cells.n, 0))
        v = self.weather.wind_speed(cells, self.keys, self.mean)
        ramp = (v ** 3 - self.cut_in ** 3) / (self.rated_ms ** 3 - self.cut_in ** 3)
        p = np.where(v < self.cut_in, 0.0, np.where(v < self.rated_ms, ramp, 1.0))
        p[v >= self.cut_out] = 0.0
        return p * self.rated
