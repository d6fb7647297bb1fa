"""Consumers: electricity loads, gas / heat / water flows and EV chargers, vectorised over meters.

Each consumer has a weekly template of activity in quarter-hour slots built from its shifts
(or, for EV chargers, from arrival peaks), ramped linearly between slots, times a seasonal
factor, times (1 + seeded smooth noise). Power = nameplate × activity, evaluated for a block
of cells and all consumers at once.
"""

import numpy as np

from lingtan.simulator import noise
from lingtan.simulator.cells import SLOTS_PER_WEEK, Cells, season
from lingtan.simulator.scenario import Demand, Ev

_DAY_INDEX = {d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
_SLOT_HOURS = (np.arange(SLOTS_PER_WEEK) + 0.5) / 4  # slot centres, hours after Monday 00:00
NOISE_PERIOD_S = 900.0  # knots of the smooth variation
SUMMER_PEAK_DAY = 205  # ~24 July, hottest in the Yangtze delta
WINTER_PEAK_DAY = 15


def shift_template(d: Demand) -> np.ndarray:
    """Activity per quarter hour of the week (672,) from base level and shifts."""
    level = np.full(SLOTS_PER_WEEK, d.base)
    for s in d.shifts:
        length = (s.end - s.start) % 24 or 24.0
        for day in s.days:
            begin = _DAY_INDEX[day] * 24 + s.start
            inside = (_SLOT_HOURS - begin) % 168 < length
            level[inside] = np.maximum(level[inside], s.level)
    return level


def ev_template(ev: Ev) -> np.ndarray:
    """Fraction of chargers busy per quarter hour of the week: Gaussian peaks at arrival hours."""
    hours = _SLOT_HOURS % 24
    busy = np.zeros(SLOTS_PER_WEEK)
    sigma = ev.session_h / 2
    for a in ev.arrivals:
        d = (hours - a + 12) % 24 - 12
        busy += np.exp(-0.5 * (d / sigma) ** 2)
    busy = ev.utilisation * np.minimum(busy, 1.0)
    busy[_SLOT_HOURS >= 5 * 24] *= ev.weekend
    return np.minimum(busy, 1.0)


class DemandSet:
    """All consumers of one park: nameplates (m,), templates (m, 672), season and noise factors."""

    def __init__(self, keys: list[int], demands: list[Demand | Ev]) -> None:
        self.keys = np.array(keys, dtype=np.uint64)
        m = len(demands)
        self.nameplate = np.empty(m)
        self.template = np.empty((m, SLOTS_PER_WEEK))
        self.summer = np.zeros(m)
        self.winter = np.zeros(m)
        self.noise = np.empty(m)
        self.steps = np.zeros(m)  # > 0: activity comes in whole units (chargers)
        for i, d in enumerate(demands):
            if isinstance(d, Ev):
                self.nameplate[i] = d.chargers * d.charger_kw
                self.template[i] = ev_template(d)
                self.noise[i] = 0.25
                self.steps[i] = d.chargers
            else:
                self.nameplate[i] = d.nameplate
                self.template[i] = shift_template(d)
                self.summer[i], self.winter[i], self.noise[i] = d.summer, d.winter, d.noise
        self._quantised = np.flatnonzero(self.steps)

    def __len__(self) -> int:
        return len(self.nameplate)

    def power(self, cells: Cells) -> np.ndarray:
        """Power (kW) or flow (unit/h) of every consumer in every cell: shape (n, m), ≥ 0."""
        if not len(self):
            return np.zeros((cells.n, 0))
        pos = cells.minute_of_week / 15 - 0.5
        i0 = np.floor(pos).astype(np.int64)
        f = (pos - i0)[:, None]
        lo = self.template[:, i0 % SLOTS_PER_WEEK].T
        hi = self.template[:, (i0 + 1) % SLOTS_PER_WEEK].T
        activity = lo + (hi - lo) * f
        doy = cells.day_of_year
        if self.summer.any() or self.winter.any():
            activity *= 1 + np.outer(season(doy, SUMMER_PEAK_DAY), self.summer) \
                + np.outer(season(doy, WINTER_PEAK_DAY), self.winter)
        activity *= 1 + self.noise * noise.smooth(self.keys, cells.mid_s, NOISE_PERIOD_S)
        np.maximum(activity, 0.0, out=activity)
        if len(self._quantised):
            q = self._quantised
            steps = self.steps[q]
            activity[:, q] = np.minimum(np.round(activity[:, q] * steps), steps) / steps
        return activity * self.nameplate
