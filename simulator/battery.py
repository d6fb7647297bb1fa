"""Batteries: the dispatch rule and the state of charge, with losses on the way in and out.

Dispatch, per one-minute cell, battery by battery in config order (docs/simulator.md):

1. on-site surplus (generation + green direct > load): charge with it, so the park does not
   export what it could store;
2. otherwise, inside a `grid_charge` window (valley tariff): charge from the grid at
   `grid_charge_kw`;
3. otherwise, inside a `discharge` window (peak tariff) and while the park imports: discharge up
   to (1 − import_margin) × the park's net import — a battery never pushes power out of the park;
4. otherwise idle.

Every rate is capped by the power limits and by the energy room left between the SoC limits
for the whole cell, so SoC never leaves [soc_min, soc_max]. The meter sits on the AC side:
charging stores p·√η, discharging draws p/√η from the cells, so over a cycle the meter's import
(charge) exceeds its export (discharge) by the round-trip losses.
"""

import math

import numpy as np

from lingtan.simulator.cells import CELL_S, Cells
from lingtan.simulator.scenario import Battery, Window

_DT_H = CELL_S / 3600


def _mask(windows: list[Window]) -> np.ndarray:
    """Quarter hours of the local day (96,) inside any of the windows."""
    centres = (np.arange(96) + 0.5) / 4
    out = np.zeros(96, dtype=bool)
    for w in windows:
        length = (w.end - w.start) % 24 or 24.0
        out |= (centres - w.start) % 24 < length
    return out


class BatterySet:
    def __init__(self, specs: list[Battery]) -> None:
        self.capacity_kwh = np.array([b.capacity_kwh for b in specs])
        self.min_kwh = np.array([b.capacity_kwh * b.soc_min_pct / 100 for b in specs])
        self.max_kwh = np.array([b.capacity_kwh * b.soc_max_pct / 100 for b in specs])
        self.initial_kwh = np.array([b.capacity_kwh * b.soc_initial_pct / 100 for b in specs])
        self.eta_in = np.array([math.sqrt(b.round_trip_efficiency) for b in specs])
        self.eta_out = self.eta_in.copy()
        self.max_charge_kw = np.array([b.max_charge_kw for b in specs])
        self.max_discharge_kw = np.array([b.max_discharge_kw for b in specs])
        self.grid_charge_kw = np.array([min(b.grid_charge_kw or b.max_charge_kw / 2, b.max_charge_kw) for b in specs])
        self.charge_slots = np.array([_mask(b.grid_charge) for b in specs]).reshape(len(specs), 96)
        self.discharge_slots = np.array([_mask(b.discharge) for b in specs]).reshape(len(specs), 96)
        self.cover = np.array([1 - b.import_margin for b in specs])

    def __len__(self) -> int:
        return len(self.capacity_kwh)

    def stored(self, power_kw: np.ndarray, hours: float) -> np.ndarray:
        """Change of stored energy (kWh) for AC power (+ charge) held for `hours`."""
        return np.where(power_kw > 0, power_kw * self.eta_in, power_kw / self.eta_out) * hours

    def dispatch(self, cells: Cells, net_kw: np.ndarray, soc_kwh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Battery power (kW, + charge) per cell (n, b) and stored energy at each cell end (n, b).

        net_kw is the park's net import before storage (load − generation − green direct).
        """
        n, b = cells.n, len(self)
        power = np.zeros((n, b))
        trail = np.zeros((n, b))
        if not b:
            return power, trail
        slot = np.minimum((cells.hour * 4).astype(np.int64), 95).tolist()
        soc = soc_kwh.astype(float).tolist()
        lo, hi = self.min_kwh.tolist(), self.max_kwh.tolist()
        e_in, e_out = self.eta_in.tolist(), self.eta_out.tolist()
        p_ch, p_dis, p_grid = self.max_charge_kw.tolist(), self.max_discharge_kw.tolist(), self.grid_charge_kw.tolist()
        ch_slots, dis_slots = self.charge_slots.tolist(), self.discharge_slots.tolist()
        cover = self.cover.tolist()
        net_list = net_kw.tolist()
        for j in range(n):
            net = net_list[j]
            s = slot[j]
            row = power[j]
            for i in range(b):
                room = max(0.0, (hi[i] - soc[i]) / (e_in[i] * _DT_H))
                avail = max(0.0, (soc[i] - lo[i]) * e_out[i] / _DT_H)
                if net < 0:
                    p = min(p_ch[i], -net, room)
                elif ch_slots[i][s]:
                    p = min(p_grid[i], room)
                elif dis_slots[i][s] and net > 0:
                    p = -min(p_dis[i], net * cover[i], avail)
                else:
                    p = 0.0
                soc[i] += (p * e_in[i] if p > 0 else p / e_out[i]) * _DT_H
                net += p
                row[i] = p
            trail[j] = soc
        return power, trail
