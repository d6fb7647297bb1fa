"""PV output: pvlib clear-sky irradiance on each array's plane, times the seeded clear-sky index.

Solar position (NREL SPA, numpy) and Ineichen clear-sky irradiance with the Linke turbidity
climatology shipped with pvlib are computed on 5-minute knots on the epoch and interpolated to
the cells, once per orientation (tilt, azimuth) for all arrays sharing it. Transposition is
isotropic; cell temperature = air + POA × 25/800 K (NOCT 45 °C); AC power is clipped at the
inverter limit. Source: pvlib-python (Holmgren et al., JOSS 2018), docs/simulator.md.
"""

import warnings

import numpy as np
import pandas as pd
import pvlib

from lingtan.simulator.cells import Cells
from lingtan.simulator.scenario import Location, Pv
from lingtan.simulator.weather import ParkWeather

KNOT_S = 300
WINDOW_KNOTS = 7 * 288  # clear-sky irradiance is computed a week at a time and cached


class PvSet:
    """All PV arrays of one park."""

    def __init__(self, arrays: list[Pv], location: Location, weather: ParkWeather) -> None:
        self.site = pvlib.location.Location(location.lat, location.lon, tz="UTC", altitude=location.altitude_m)
        self.weather = weather
        self.kwp = np.array([a.kwp for a in arrays])
        self.ac_kw = np.array([a.ac_kw or a.kwp / 1.1 for a in arrays])
        self.pr = np.array([a.performance_ratio for a in arrays])
        self.gamma = np.array([a.temp_coeff_per_k for a in arrays])
        self.orientations: dict[tuple[float, float], list[int]] = {}
        for i, a in enumerate(arrays):
            self.orientations.setdefault((a.tilt_deg, a.azimuth_deg), []).append(i)
        months = pd.date_range("2001-01-15", periods=12, freq="MS", tz="UTC") + pd.Timedelta(days=14)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._linke = pvlib.clearsky.lookup_linke_turbidity(months, location.lat, location.lon).to_numpy()
        self._cache: tuple[np.ndarray, np.ndarray] | None = None  # knot times, POA (knots, arrays)

    def __len__(self) -> int:
        return len(self.kwp)

    def _turbidity(self, times: pd.DatetimeIndex) -> pd.Series:
        doy = times.day_of_year.to_numpy()
        mid_month = (np.arange(12) + 0.5) * 365.25 / 12
        values = np.interp(doy, mid_month, self._linke, period=365.25)
        return pd.Series(values, index=times)

    def _knots(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Clear-sky POA (W/m²) per array on knots k0 … k1 (at least a week of them)."""
        k1 = max(k1, k0 + WINDOW_KNOTS)
        knots_s = np.arange(k0, k1 + 1, dtype=np.float64) * KNOT_S
        times = pd.to_datetime(knots_s, unit="s", utc=True)
        with warnings.catch_warnings():  # pvlib 0.16 still calls pandas' deprecated dayofyear
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            sun = self.site.get_solarposition(times)
            sky = self.site.get_clearsky(times, model="ineichen", solar_position=sun,
                                         linke_turbidity=self._turbidity(times))
        zenith, azimuth = sun["apparent_zenith"].to_numpy(), sun["azimuth"].to_numpy()
        dni, ghi, dhi = (sky[c].to_numpy() for c in ("dni", "ghi", "dhi"))
        poa = np.zeros((len(knots_s), len(self)))
        for (tilt, surface_azimuth), idx in self.orientations.items():
            values = pvlib.irradiance.get_total_irradiance(
                tilt, surface_azimuth, zenith, azimuth, dni, ghi, dhi, model="isotropic")["poa_global"]
            poa[:, idx] = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0).clip(min=0.0)[:, None]
        return knots_s, poa

    def poa_clear(self, t_s: np.ndarray) -> np.ndarray:
        """Clear-sky plane-of-array irradiance (W/m²) per array at epoch seconds t_s: (n, m)."""
        k0, k1 = int(np.floor(t_s[0] / KNOT_S)), int(np.ceil(t_s[-1] / KNOT_S))
        if self._cache is None or k0 * KNOT_S < self._cache[0][0] or k1 * KNOT_S > self._cache[0][-1]:
            self._cache = self._knots(k0, k1)
        knots_s, poa = self._cache
        pos = np.interp(t_s, knots_s, np.arange(len(knots_s), dtype=np.float64))
        i0 = np.minimum(pos.astype(np.int64), len(knots_s) - 2)
        f = (pos - i0)[:, None]
        return poa[i0] * (1 - f) + poa[i0 + 1] * f

    def power(self, cells: Cells) -> np.ndarray:
        """AC output (kW, ≥ 0) per array per cell: shape (n, m)."""
        if not len(self):
            return np.zeros((cells.n, 0))
        poa = self.poa_clear(cells.mid_s) * self.weather.clear_sky_index(cells)[:, None]
        t_cell = self.weather.air_temp_c(cells)[:, None] + poa * (25.0 / 800.0)
        dc = self.kwp * poa / 1000.0 * (1 + self.gamma * (t_cell - 25.0)) * self.pr
        return np.minimum(np.maximum(dc, 0.0), self.ac_kw)
