"""Seeded park weather: clear-sky index (clouds), air temperature and hub-height wind speed.

A stylised weather generator, not a climatology: daily cloud cover drawn around
`weather.cloudiness` (cloudier in the 梅雨 plum-rain season, mid-June to mid-July), with fast
variability strongest on partly cloudy days; a seasonal and diurnal temperature; Weibull-shaped
wind speeds (k = 2) with slow and gusty components, windier in winter and spring. All are pure
functions of time for a seed (see simulator.noise).
"""

import math

import numpy as np

from lingtan.simulator import noise
from lingtan.simulator.cells import Cells, season
from lingtan.simulator.scenario import Weather

PLUM_RAIN_PEAK_DAY = 182  # ~1 July
_WEIBULL_K = 2.0


class ParkWeather:
    def __init__(self, weather: Weather, seed: int, park_id: str) -> None:
        self.w = weather
        self._day = np.array([noise.key(seed, park_id, "clouds-daily")], dtype=np.uint64)
        self._fast = np.array([noise.key(seed, park_id, "clouds-fast")], dtype=np.uint64)
        self._wind = np.array([noise.key(seed, park_id, "wind-slow")], dtype=np.uint64)

    def cloud_cover(self, t_s: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
        """0 (clear) … 1 (overcast), shape (n,)."""
        u = (noise.smooth(self._day, t_s, 86400.0)[:, 0] + 1) / 2
        cover = self.w.cloudiness * 2 * u ** 1.3
        if self.w.plum_rain:
            cover += 0.35 * season(day_of_year, PLUM_RAIN_PEAK_DAY) ** 8
        return np.clip(cover, 0.0, 1.0)

    def clear_sky_index(self, cells: Cells) -> np.ndarray:
        """Fraction of clear-sky irradiance reaching the ground, shape (n,)."""
        cover = self.cloud_cover(cells.mid_s, cells.day_of_year)
        fast = noise.smooth(self._fast, cells.mid_s, 300.0)[:, 0]
        kc = 1 - 0.75 * cover + 0.35 * 4 * cover * (1 - cover) * fast
        return np.clip(kc, 0.08, 1.08)

    def air_temp_c(self, cells: Cells) -> np.ndarray:
        doy = cells.day_of_year
        seasonal = self.w.temp_season_k * np.cos(2 * np.pi * (doy - 205) / 365.25)
        diurnal = 4.0 * np.cos(2 * np.pi * (cells.hour - 15) / 24)
        return self.w.temp_mean_c + seasonal + diurnal

    def wind_speed(self, cells: Cells, keys: np.ndarray, mean_ms: np.ndarray) -> np.ndarray:
        """Hub-height wind speed (m/s) per turbine, shape (n, m): shared weather + local gusts."""
        slow = (noise.smooth(self._wind, cells.mid_s, 6 * 3600.0)[:, 0] + 1) / 2
        gust = noise.smooth(keys, cells.mid_s, 600.0)
        u = np.clip(0.85 * slow[:, None] + 0.15 * (gust + 1) / 2, 1e-6, 0.999)
        scale = mean_ms / math.gamma(1 + 1 / _WEIBULL_K)
        shape = (-np.log1p(-u)) ** (1 / _WEIBULL_K)
        windy = 1 + 0.15 * np.cos(2 * np.pi * (cells.day_of_year - 45) / 365.25)
        return shape * scale * windy[:, None]
