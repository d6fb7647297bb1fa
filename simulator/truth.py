"""Ground truth for a period: what every meter really counted, and the park's true totals.

`energy` values are the true cumulative quantities (the meter's initial counter plus the
integral of its power or flow), continuous across counter resets and register rollovers, so
`delta` is what really flowed. `shown` values are what the meter's counter displayed (after
resets and presets; before any integer register wrap, which the device profile applies).
Spikes and garbage values are display faults and never reach the truth.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from lingtan.kernel.park import Carrier, Role
from lingtan.simulator.model import counter_names

if TYPE_CHECKING:
    from lingtan.simulator.model import ParkModel


@dataclass(frozen=True, slots=True)
class CounterTruth:
    start: float  # true cumulative at t0
    end: float  # true cumulative at t1
    shown_start: float  # the meter's counter at t0
    shown_end: float

    @property
    def delta(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class MeterTruth:
    meter: str
    counters: dict[str, CounterTruth]
    resets: int  # counter resets / presets inside (t0, t1]


@dataclass(frozen=True, slots=True)
class ParkTotals:
    """True park totals for the period, by role and carrier."""

    grid_import_kwh: float
    grid_export_kwh: float
    green_direct_kwh: float
    pv_kwh: float
    wind_kwh: float
    storage_charge_kwh: float
    storage_discharge_kwh: float
    load_kwh: float  # electric consumers (sub-meters that are not sums of other sub-meters)
    by_carrier: dict[str, float]  # natural_gas m3, heat GJ, water m3, fuels kg: boundary supply

    @property
    def gas_m3(self) -> float:
        return self.by_carrier.get(Carrier.NATURAL_GAS.value, 0.0)

    @property
    def heat_gj(self) -> float:
        return self.by_carrier.get(Carrier.HEAT.value, 0.0)

    @property
    def water_m3(self) -> float:
        return self.by_carrier.get(Carrier.WATER.value, 0.0)

    @property
    def balance_residual_kwh(self) -> float:
        """(import − export) − (load − PV − wind − green − discharge + charge); 0 up to rounding."""
        return (self.grid_import_kwh - self.grid_export_kwh) - (
            self.load_kwh - self.pv_kwh - self.wind_kwh - self.green_direct_kwh
            - self.storage_discharge_kwh + self.storage_charge_kwh)


@dataclass(frozen=True, slots=True)
class PeriodTruth:
    park: str
    t0: datetime
    t1: datetime
    meters: dict[str, MeterTruth]
    totals: ParkTotals

    def delta(self, meter: str, quantity: str) -> float:
        return self.meters[meter].counters[quantity].delta


def period_truth(model: "ParkModel", t0: datetime, t1: datetime) -> PeriodTruth:
    if t1 < t0:
        raise ValueError(f"period end {t1.isoformat()} is before its start {t0.isoformat()}")
    e0, e1 = model.energy_at(t0), model.energy_at(t1)
    o0, o1 = model.offsets_at(t0), model.offsets_at(t1)
    d = e1 - e0
    meters = {}
    for i, meter_id in enumerate(model.ids):
        counters = {name: CounterTruth(float(e0[i, c]), float(e1[i, c]), float(e0[i, c] - o0[i, c]),
                                       float(e1[i, c] - o1[i, c]))
                    for c, name in enumerate(counter_names(model.carrier[i]))}
        resets = len({ev.t_s for ev in model.events if ev.meter == i and t0.timestamp() < ev.t_s <= t1.timestamp()})
        meters[meter_id] = MeterTruth(meter_id, counters, resets)

    def total(idx, column: int) -> float:
        return float(d[np.asarray(idx, dtype=np.int64), column].sum())

    def role(r: Role) -> list[int]:
        return [i for i, x in enumerate(model.role) if x is r]

    by_carrier: dict[str, float] = {}
    for carrier in sorted({c for c in model.carrier if c is not Carrier.ELECTRICITY}):
        idx = [i for i, c in enumerate(model.carrier) if c is carrier]
        supply = [i for i in idx if model.role[i] is Role.SUPPLY and model.park.meters[i].boundary]
        if not supply:  # no boundary meter: the top of each sub-meter tree
            supply = [i for i in idx if model.park.meters[i].parent is None
                      or model.carrier[model.index[model.park.meters[i].parent]] is not carrier]
        by_carrier[carrier.value] = total(supply, 0)
    totals = ParkTotals(
        grid_import_kwh=total(role(Role.GRID), 0), grid_export_kwh=total(role(Role.GRID), 1),
        green_direct_kwh=total(role(Role.GREEN_DIRECT), 0),
        pv_kwh=total(role(Role.PV), 1), wind_kwh=total(role(Role.WIND), 1),
        storage_charge_kwh=total(role(Role.STORAGE), 0), storage_discharge_kwh=total(role(Role.STORAGE), 1),
        load_kwh=total(model.load_idx, 0), by_carrier=by_carrier)
    return PeriodTruth(model.park.id, t0, t1, meters, totals)
