"""The park's physics: power and flows per meter, integrated into counters that balance.

Power and flows are constant within one-minute cells on the UTC epoch (simulator.cells) and,
except for batteries, pure functions of the cell for a seed, so any instant can be recomputed.
In every cell the park balance holds exactly:

    grid import − grid export = load − PV − wind − green direct − discharge + charge

(the first grid meter carries the park's exchange; further grid meters read zero). Every counter
is the integral of its meter's power or flow; a meter with sub-meters (roles enterprise, load,
supply, same carrier) reads the sum of its sub-meters. `advance(t)` integrates up to t: whole
cells in vectorised blocks of up to a day (all meters at once), partial cells step by step.
`sample(t, step_s)` is the same batch mode that also records what every meter shows at every
multiple of step_s on the way (a simulated history, simulator.history).

Two counter notions: `energy` is the true cumulative quantity (initial value + integral, never
reset); what a meter *shows* is energy − offset, where offsets change when a meter is replaced
(counter reset) or preset (rollover fault). Snapshots of energy every `history_s` keep the
ground truth for any past instant (simulator.truth).
"""

import bisect
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from lingtan.kernel.park import Carrier, Park, Role
from lingtan.simulator import noise
from lingtan.simulator.battery import BatterySet
from lingtan.simulator.cells import CELL_S, Cells
from lingtan.simulator.demand import DemandSet
from lingtan.simulator.scenario import Battery, Defaults, Demand, MeterSim, Pv, Scenario, Shift, Wind
from lingtan.simulator.solar import PvSet
from lingtan.simulator.weather import ParkWeather
from lingtan.simulator.wind import WindSet

log = logging.getLogger(__name__)

MAX_STEP_S = CELL_S  # kept for callers of the old model: power is constant within a cell
BLOCK_CELLS = 1440  # whole cells integrated per vectorised block (one UTC day)
_CACHE_CELLS = 60  # exogenous powers computed ahead for step-by-step advancing

COUNTER_OF = {
    Carrier.NATURAL_GAS: "gas_m3",
    Carrier.HEAT: "heat_gj",
    Carrier.WATER: "water_m3",
    Carrier.DIESEL: "fuel_kg",
    Carrier.GASOLINE: "fuel_kg",
    Carrier.LPG: "fuel_kg",
    Carrier.RAW_COAL: "fuel_kg",
}
FLOW_OF = {"gas_m3": "gas_flow_m3h", "heat_gj": "heat_power_kw", "water_m3": "water_flow_m3h"}
ELECTRIC_COUNTERS = ("energy_import_kwh", "energy_export_kwh")
_GJ_PER_H_IN_KW = 1e6 / 3600  # 1 GJ/h = 277.8 kW
_CONSUMERS = (Role.ENTERPRISE, Role.LOAD, Role.SUPPLY)


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """A meter's shown counter set to `value` at `t_s` (a reset sets 0)."""

    t_s: float
    meter: int
    column: int  # 0: import / the carrier's counter, 1: export
    value: float
    offset: float  # true energy − shown value from then on


@dataclass(frozen=True, slots=True)
class Samples:
    """What every meter showed at m instants (ParkModel.sample): the same numbers `values()`
    gives at those instants, as arrays."""

    t_s: np.ndarray  # (m,) UTC epoch seconds
    shown: np.ndarray  # (m, meters, 2) counters as shown (after resets): import / the carrier's, export
    power: np.ndarray  # (m, meters) power or flow from that instant on (+ import / consumption)
    soc_kwh: np.ndarray  # (m, batteries) stored energy

    def __len__(self) -> int:
        return len(self.t_s)


def counter_names(carrier: Carrier) -> tuple[str, ...]:
    return ELECTRIC_COUNTERS if carrier is Carrier.ELECTRICITY else (COUNTER_OF[carrier],)


def _default_demand(rng: random.Random, size: tuple[float, float]) -> Demand:
    """A two-shift industrial consumer: day shift on weekdays, reduced on weekends."""
    return Demand(nameplate=rng.uniform(*size), base=0.45, noise=0.08,
                  shifts=[Shift(start=8, end=20, level=1.0),
                          Shift(start=8, end=20, level=0.6, days=["sat", "sun"])])


class ParkModel:
    """Simulated state of one park; `advance(t)` integrates up to simulated time t."""

    def __init__(self, park: Park, seed: int, start: datetime, scenario: Scenario | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("simulation start must be timezone-aware")
        self.park = park
        self.seed = seed
        self.scenario = scenario or Scenario()
        self.local = park.zone
        self.ids = [m.id for m in park.meters]
        self.index = {m: i for i, m in enumerate(self.ids)}
        self.meters = {m.id: m for m in park.meters}
        n = len(self.ids)
        self._build(park, seed, self.scenario)
        # state
        self.start_s = start.timestamp()
        self.now_s = self.start_s
        self.energy = np.zeros((n, 2))
        for i, m in enumerate(park.meters):
            self.energy[i] = self._initial(m, self.scenario.meters.get(m.id))
        self.offset = np.zeros((n, 2))
        self.soc_kwh = self.batteries.initial_kwh.copy()
        self._cell_k: int | None = None
        self._cell_p = np.zeros(n)
        self._exo_k0: int | None = None
        self._exo = np.zeros((0, n))
        self.events: list[CounterEvent] = []
        self._instant_keys: dict[int, list[int]] = {}
        self._pending: list[tuple[float, int, int | None, float]] = []
        self.history_s = self.scenario.history_s
        self.recording = True
        self._hist_t: list[float] = [self.start_s]
        self._hist_e: list[np.ndarray] = [self.energy.copy()]
        self._hist_soc: list[np.ndarray] = [self.soc_kwh.copy()]

    # -- set-up ---------------------------------------------------------------------------------
    def _rng(self, meter_id: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.park.id}:{meter_id}")

    def _build(self, park: Park, seed: int, sc: Scenario) -> None:
        d: Defaults = sc.defaults
        by_id = {m.id: m for m in park.meters}
        self.children: dict[int, list[int]] = {}
        for m in park.meters:
            parent = by_id.get(m.parent) if m.parent else None
            if parent is not None and parent.role in _CONSUMERS and m.role in _CONSUMERS \
                    and parent.carrier is m.carrier:
                self.children.setdefault(self.index[parent.id], []).append(self.index[m.id])
        self.carrier = [m.carrier for m in park.meters]
        self.role = [m.role for m in park.meters]
        self.electric = np.array([c is Carrier.ELECTRICITY for c in self.carrier], dtype=bool)
        demand_idx, demand_keys, demands = [], [], []
        pv_idx, pvs, wind_idx, wind_keys, winds, bat_idx, bats, green_idx = [], [], [], [], [], [], [], []
        grid_idx = []
        for i, m in enumerate(park.meters):
            sim = sc.meters.get(m.id, MeterSim())
            rng = self._rng(m.id)
            key = noise.key(seed, park.id, m.id)
            if i in self.children:
                continue  # reads the sum of its sub-meters
            if m.role is Role.GRID:
                grid_idx.append(i)
            elif m.role is Role.PV:
                pv_idx.append(i)
                pvs.append(sim.pv or Pv(kwp=rng.uniform(*d.pv_kwp)))
            elif m.role is Role.WIND:
                wind_idx.append(i)
                wind_keys.append(key)
                winds.append(sim.wind or Wind(rated_kw=rng.uniform(*d.wind_kw)))
            elif m.role is Role.STORAGE:
                bat_idx.append(i)
                kw = rng.uniform(*d.battery_kw)
                bats.append(sim.battery or Battery(capacity_kwh=kw * d.battery_hours, max_charge_kw=kw,
                                                   max_discharge_kw=kw))
            else:
                if m.role is Role.GREEN_DIRECT:
                    green_idx.append(i)
                    default = Demand(nameplate=rng.uniform(300, 600), base=0.8, shifts=[], noise=0.1)
                elif m.carrier is Carrier.ELECTRICITY:
                    default = _default_demand(rng, d.load_kw)
                else:
                    default = _default_demand(rng, d.flow)
                demand_idx.append(i)
                demand_keys.append(key)
                demands.append(sim.load or sim.flow or sim.ev or default)
        self.weather = ParkWeather(sc.weather, seed, park.id)
        self.demand = DemandSet(demand_keys, demands)
        self.pv = PvSet(pvs, sc.location, self.weather)
        self.wind = WindSet(wind_keys, winds, self.weather)
        self.batteries = BatterySet(bats)
        as_idx = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
        self.demand_idx, self.pv_idx, self.wind_idx = as_idx(demand_idx), as_idx(pv_idx), as_idx(wind_idx)
        self.bat_idx, self.green_idx, self.grid_idx = as_idx(bat_idx), as_idx(green_idx), as_idx(grid_idx)
        # park load: electric consumers that are not sums of other consumers
        self.load_idx = as_idx([i for i, m in enumerate(park.meters) if m.carrier is Carrier.ELECTRICITY
                                and m.role in _CONSUMERS and i not in self.children])
        self.gen_idx = np.concatenate([self.pv_idx, self.wind_idx])
        # parents after their children (deepest first), so nested sums are complete
        depth = {}
        for p in self.children:
            k, j = 0, p
            while (parent := park.meters[j].parent) is not None and self.index[parent] in self.children:
                j = self.index[parent]
                k += 1
            depth[p] = k
        self._sum_order = sorted(self.children, key=lambda p: -depth[p])
        if not len(self.grid_idx) and (len(self.load_idx) or len(self.gen_idx)):
            log.warning("park %s has no grid meter: the electricity balance is not closed", park.id)

    def _initial(self, m, sim: MeterSim | None) -> tuple[float, float]:
        rng = random.Random(f"{self.seed}:{self.park.id}:{m.id}:initial")
        given = sim.initial if sim else {}
        if m.role in (Role.PV, Role.WIND):  # generators count export; import is standby draw
            return (given.get("energy_import_kwh", rng.uniform(0, 50)),
                    given.get("energy_export_kwh", rng.uniform(1e3, 1e6)))
        if m.carrier is Carrier.ELECTRICITY:
            return (given.get("energy_import_kwh", rng.uniform(1e3, 1e6)),
                    given.get("energy_export_kwh", rng.uniform(0, 1e4)))
        return given.get(COUNTER_OF[m.carrier], rng.uniform(1e2, 1e5)), 0.0

    # -- powers ---------------------------------------------------------------------------------
    def _exogenous(self, cells: Cells) -> np.ndarray:
        """Everything but storage and grid, per cell (n, meters): + import / consumption."""
        p = np.zeros((cells.n, len(self.ids)))
        p[:, self.demand_idx] = self.demand.power(cells)
        p[:, self.pv_idx] = -self.pv.power(cells)
        p[:, self.wind_idx] = -self.wind.power(cells)
        for parent in self._sum_order:
            p[:, parent] = p[:, self.children[parent]].sum(axis=1)
        return p

    def _complete(self, cells: Cells, p: np.ndarray, soc: np.ndarray) -> np.ndarray:
        """Add storage dispatch and the grid exchange to exogenous powers; stored energy trail."""
        net = p[:, self.load_idx].sum(axis=1) + p[:, self.gen_idx].sum(axis=1) - p[:, self.green_idx].sum(axis=1)
        power, trail = self.batteries.dispatch(cells, net, soc)
        p[:, self.bat_idx] = power
        if len(self.grid_idx):
            p[:, self.grid_idx[0]] = net + power.sum(axis=1)
        return trail

    def _cell_power(self, k: int) -> np.ndarray:
        """Powers of cell k (decided with the state of charge at the time it is first needed)."""
        if self._cell_k != k:
            k0 = k - k % _CACHE_CELLS
            if self._exo_k0 != k0:
                self._exo = self._exogenous(Cells(k0, _CACHE_CELLS, self.park.timezone))
                self._exo_k0 = k0
            p = self._exo[k - k0:k - k0 + 1].copy()
            self._complete(Cells(k, 1, self.park.timezone), p, self.soc_kwh)
            self._cell_k, self._cell_p = k, p[0]
        return self._cell_p

    # -- integration ----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_s, UTC)

    def advance(self, t: datetime) -> None:
        """Integrate all counters from the current simulated time up to t (batch or step)."""
        t_s = t.timestamp()
        self._apply_due()
        while self.now_s < t_s:
            target = min(t_s, self._pending[0][0]) if self._pending else t_s
            self._integrate_to(max(target, self.now_s))
            self._apply_due()

    def _integrate_to(self, target: float) -> None:
        while self.now_s < target:
            k = math.floor(self.now_s / CELL_S)
            cell_end = (k + 1) * CELL_S
            if self.now_s > k * CELL_S or target < cell_end:
                end = min(target, cell_end)
                self._step(self._cell_power(k), end - self.now_s)
                self.now_s = float(end)
            else:
                n = min(int((target - self.now_s) // CELL_S), BLOCK_CELLS - k % BLOCK_CELLS)
                self._block(k, n)
            self._record()

    def _step(self, p: np.ndarray, dt_s: float) -> None:
        hours = dt_s / 3600
        self.energy[:, 0] += np.maximum(p, 0.0) * hours
        self.energy[:, 1] += np.maximum(-p, 0.0) * hours
        if len(self.bat_idx):
            self.soc_kwh = self.soc_kwh + self.batteries.stored(p[self.bat_idx], hours)

    def _block(self, k: int, n: int) -> None:
        """n whole cells from cell k, all meters at once."""
        cells = Cells(k, n, self.park.timezone)
        p = self._exogenous(cells)
        trail = self._complete(cells, p, self.soc_kwh)
        e = p * (CELL_S / 3600)
        # sums per history segment (cheaper than a full cumulative sum), then cumulative
        every = self.history_s // CELL_S if self.recording and self.history_s else 0
        ends = [j + 1 for j in range(n - 1) if every and (k + j + 1) % every == 0]
        starts = [0, *ends]
        imp = np.cumsum(np.add.reduceat(np.maximum(e, 0.0), starts, axis=0), axis=0)
        exp = np.cumsum(np.add.reduceat(np.maximum(-e, 0.0), starts, axis=0), axis=0)
        for seg, end in enumerate(ends):  # snapshots inside the block; the last one is taken by _record
            self._hist_t.append(float((k + end) * CELL_S))
            self._hist_e.append(self.energy + np.stack([imp[seg], exp[seg]], axis=1))
            self._hist_soc.append(trail[end - 1].copy())
        self.energy[:, 0] += imp[-1]
        self.energy[:, 1] += exp[-1]
        if len(self.bat_idx):
            self.soc_kwh = trail[-1].copy()
        self.now_s = float((k + n) * CELL_S)
        self._cell_k, self._cell_p = k + n - 1, p[-1].copy()

    # -- batch mode with samples ----------------------------------------------------------------
    def sample(self, until: datetime, step_s: int = 900) -> Iterator[Samples]:
        """Integrate up to `until` like advance() and yield what every meter shows on the way: at
        every multiple of step_s (UTC epoch) in [now, until), in chunks of up to a UTC day, then
        once more at `until` itself. Same powers and counter events as advance(); the sums are
        taken per cell, so within one run the sampled counters never go down."""
        if step_s <= 0 or step_s % CELL_S:
            raise ValueError(f"step_s = {step_s}: must be a positive multiple of {CELL_S} s (the integration step)")
        until_s = until.timestamp()
        if until_s < self.now_s:
            raise ValueError(f"{until.isoformat()} is before the model's time {self.now.isoformat()}")
        self._apply_due()
        while self.now_s < until_s:
            target = min(until_s, self._pending[0][0]) if self._pending else until_s
            yield from self._sample_to(max(target, self.now_s), step_s)
            self._apply_due()
        yield self._sample_now()

    def _sample_to(self, target: float, step_s: int) -> Iterator[Samples]:
        """_integrate_to with samples at the multiples of step_s in [now, target)."""
        while self.now_s < target:
            k = math.floor(self.now_s / CELL_S)
            cell_end = (k + 1) * CELL_S
            if self.now_s > k * CELL_S or target < cell_end:
                if self.now_s == k * CELL_S and self.now_s % step_s == 0:
                    yield self._sample_now()
                end = min(target, cell_end)
                self._step(self._cell_power(k), end - self.now_s)
                self.now_s = float(end)
            else:
                n = min(int((target - self.now_s) // CELL_S), BLOCK_CELLS - k % BLOCK_CELLS)
                taken = self._sampled_block(k, n, step_s // CELL_S)
                if taken is not None:
                    yield taken
            self._record()

    def _sample_now(self) -> Samples:
        p = self._cell_power(math.floor(self.now_s / CELL_S))
        return Samples(np.array([self.now_s]), (self.energy - self.offset)[None], p[None].copy(),
                       self.soc_kwh[None].copy())

    def _sampled_block(self, k: int, n: int, every: int) -> Samples | None:
        """_block with samples at the cells k + j that are multiples of `every`: counters at the
        cell's start, its power, the stored energy at its start. Per-cell cumulative sums, so the
        samples and the state after the block agree to the last bit."""
        cells = Cells(k, n, self.park.timezone)
        p = self._exogenous(cells)
        soc0 = self.soc_kwh.copy()
        trail = self._complete(cells, p, self.soc_kwh)
        e = p * (CELL_S / 3600)
        zero = np.zeros((1, len(self.ids)))
        imp = np.concatenate([zero, np.cumsum(np.maximum(e, 0.0), axis=0)])  # (n + 1, meters): before cell j
        exp = np.concatenate([zero, np.cumsum(np.maximum(-e, 0.0), axis=0)])
        soc = np.concatenate([soc0[None], trail])  # (n + 1, batteries)
        at = lambda j: self.energy + np.stack([imp[j], exp[j]], axis=-1)  # noqa: E731
        hist = self.history_s // CELL_S if self.recording and self.history_s else 0
        for j in range(1, n):  # snapshots inside the block; the last one is taken by _record
            if hist and (k + j) % hist == 0:
                self._hist_t.append(float((k + j) * CELL_S))
                self._hist_e.append(at(j))
                self._hist_soc.append(soc[j].copy())
        js = np.flatnonzero((np.arange(k, k + n) % every) == 0)
        taken = None
        if len(js):
            taken = Samples((k + js).astype(np.float64) * CELL_S, at(js) - self.offset, p[js], soc[js])
        self.energy = at(n)
        if len(self.bat_idx):
            self.soc_kwh = trail[-1].copy()
        self.now_s = float((k + n) * CELL_S)
        self._cell_k, self._cell_p = k + n - 1, p[-1].copy()
        return taken

    def _record(self) -> None:
        if self.recording and self.history_s and self.now_s % self.history_s == 0 \
                and self._hist_t[-1] < self.now_s:
            self._hist_t.append(self.now_s)
            self._hist_e.append(self.energy.copy())
            self._hist_soc.append(self.soc_kwh.copy())

    # -- counters shown by the meters -----------------------------------------------------------
    def schedule_counter(self, t: datetime, meter_id: str, quantity: str | None, value: float) -> None:
        """At t the meter's counter (all counters when quantity is None) shows `value`."""
        i = self.index[meter_id]
        cols = [self._column(i, quantity)] if quantity else list(range(len(counter_names(self.carrier[i]))))
        for c in cols:
            bisect.insort(self._pending, (t.timestamp(), i, c, value))

    def set_counter(self, meter_id: str, quantity: str | None, value: float) -> None:
        """Now the meter's counter (all counters when quantity is None) shows `value`: 0 = reset."""
        self.schedule_counter(self.now, meter_id, quantity, value)
        self._apply_due()

    def _apply_due(self) -> None:
        while self._pending and self._pending[0][0] <= self.now_s:
            _, i, c, value = self._pending.pop(0)
            self.offset[i, c] = self.energy[i, c] - value
            self.events.append(CounterEvent(self.now_s, i, c, value, float(self.offset[i, c])))

    def _column(self, i: int, quantity: str) -> int:
        names = counter_names(self.carrier[i])
        if quantity not in names:
            raise ValueError(f"meter {self.ids[i]!r} ({self.carrier[i]}) has no counter {quantity!r}; "
                             f"it has {', '.join(names)}")
        return names.index(quantity)

    def values(self, meter_id: str) -> dict[str, float]:
        """What the meter displays now: counters (after resets) and instantaneous values."""
        i = self.index[meter_id]
        shown = self.energy[i] - self.offset[i]
        names = counter_names(self.carrier[i])
        out = {name: float(shown[c]) for c, name in enumerate(names)}
        p = float(self._cell_power(math.floor(self.now_s / CELL_S))[i])
        if self.carrier[i] is Carrier.ELECTRICITY:
            out.update(self._electrical(i, p))
            if self.role[i] is Role.STORAGE:
                b = int(np.flatnonzero(self.bat_idx == i)[0])
                out["soc_pct"] = float(100 * self.soc_kwh[b] / self.batteries.capacity_kwh[b])
        elif names[0] in FLOW_OF:
            out[FLOW_OF[names[0]]] = p * _GJ_PER_H_IN_KW if names[0] == "heat_gj" else p
        return out

    def _electrical(self, i: int, p_kw: float, t_s: float | None = None) -> dict[str, float]:
        """Power and the quantities a three-phase meter also shows (230 V network, 50 Hz), now or at t_s."""
        keys = self._instant_keys.get(i)
        if keys is None:
            keys = self._instant_keys[i] = [noise.key(self.seed, self.park.id, self.ids[i], q)
                                            for q in ("v", "f", "pf")]
        t_s = self.now_s if t_s is None else t_s
        v, f, pf = (noise.smooth_one(k, t_s, 600.0) for k in keys)
        voltage = 230.0 + 3.0 * v
        cos_phi = (0.99 if self.role[i] in (Role.PV, Role.WIND, Role.STORAGE) else 0.93) + 0.01 * pf
        s_kva = abs(p_kw) / cos_phi
        return {"power_kw": p_kw,
                "reactive_power_kvar": math.copysign(math.sqrt(max(s_kva ** 2 - p_kw ** 2, 0.0)), p_kw),
                "power_factor": math.copysign(cos_phi, p_kw) if p_kw else 1.0,
                "voltage_v": voltage,
                "current_a": s_kva * 1000 / (3 * voltage),
                "frequency_hz": 50.0 + 0.03 * f}

    # -- ground truth ---------------------------------------------------------------------------
    def energy_at(self, t: datetime) -> np.ndarray:
        """True cumulative counters (meters, 2) at any instant the run has covered."""
        t_s = t.timestamp()
        if t_s > self.now_s + 1e-6 or t_s < self.start_s - 1e-6:
            raise ValueError(f"{t.isoformat()} is outside the simulated span "
                             f"{datetime.fromtimestamp(self.start_s, UTC).isoformat()} … {self.now.isoformat()}")
        if abs(t_s - self.now_s) <= 1e-6:
            return self.energy.copy()
        i = bisect.bisect_right(self._hist_t, t_s) - 1
        if self._hist_t[i] == t_s:
            return self._hist_e[i].copy()
        saved = (self.now_s, self.energy, self.soc_kwh, self._cell_k, self._cell_p, self.recording)
        try:
            self.now_s, self.energy, self.soc_kwh = self._hist_t[i], self._hist_e[i].copy(), self._hist_soc[i].copy()
            self._cell_k, self.recording = None, False
            self._integrate_to(t_s)
            return self.energy.copy()
        finally:
            self.now_s, self.energy, self.soc_kwh, self._cell_k, self._cell_p, self.recording = saved

    def offsets_at(self, t: datetime) -> np.ndarray:
        """Offsets (true energy − shown counter) in force at t."""
        off = np.zeros_like(self.offset)
        for ev in self.events:
            if ev.t_s <= t.timestamp():
                off[ev.meter, ev.column] = ev.offset
        return off

    def truth(self, t0: datetime, t1: datetime):
        """Ground truth for [t0, t1]: per-meter counters and the park's totals per carrier."""
        from lingtan.simulator.truth import period_truth
        return period_truth(self, t0, t1)
