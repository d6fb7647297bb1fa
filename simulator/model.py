"""The park's physics: power and flows per meter, integrated into counters that balance.

Every step holds the park balance exactly:
    grid import − grid export = load − PV − wind − green direct − discharge + charge
and every counter is the integral of its meter's power or flow over simulated time. Parent
meters of non-electric carriers read the sum of their sub-meters. Profiles are deterministic
for a seed: smooth seeded variations, not random draws, so any instant can be recomputed.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from accounting.park import Carrier, Park, Role

MAX_STEP_S = 60.0  # integration step; power is held constant within a step

_COUNTER_OF = {
    Carrier.NATURAL_GAS: "gas_m3",
    Carrier.HEAT: "heat_gj",
    Carrier.WATER: "water_m3",
    Carrier.DIESEL: "fuel_kg",
    Carrier.GASOLINE: "fuel_kg",
    Carrier.LPG: "fuel_kg",
    Carrier.RAW_COAL: "fuel_kg",
}
_FLOW_OF = {"gas_m3": "gas_flow_m3h", "heat_gj": "heat_power_kw", "water_m3": "water_flow_m3h"}


@dataclass
class _Device:
    """One meter's simulated state."""

    meter_id: str
    role: Role
    carrier: Carrier
    size: float  # kW for electricity, unit/h for other carriers
    phases: tuple[float, float, float]
    counters: dict[str, float] = field(default_factory=dict)
    instant: dict[str, float] = field(default_factory=dict)


class ParkModel:
    """Simulated state of one park; `advance(t)` integrates up to simulated time t."""

    def __init__(self, park: Park, seed: int, start: datetime) -> None:
        self.park = park
        self.now = start
        self.local = park.zone
        rng = random.Random(f"{seed}:{park.id}")
        self.devices: dict[str, _Device] = {}
        for m in park.meters:
            size = {
                Role.PV: rng.uniform(800, 2000),
                Role.WIND: rng.uniform(300, 800),
                Role.STORAGE: rng.uniform(200, 500),
                Role.GREEN_DIRECT: rng.uniform(300, 600),
            }.get(m.role, rng.uniform(100, 600))
            if m.carrier is not Carrier.ELECTRICITY:
                size = rng.uniform(20, 80)
            dev = _Device(m.id, m.role, m.carrier, size, (rng.random(), rng.random(), rng.random()))
            if m.carrier is Carrier.ELECTRICITY:
                dev.counters = {"energy_import_kwh": rng.uniform(1e3, 1e6), "energy_export_kwh": rng.uniform(0, 1e4)}
            else:
                dev.counters = {_COUNTER_OF[m.carrier]: rng.uniform(1e2, 1e5)}
            self.devices[m.id] = dev
        self.capacity_kwh = {d.meter_id: 2 * d.size for d in self.devices.values() if d.role is Role.STORAGE}
        self.soc = {k: 0.5 * v for k, v in self.capacity_kwh.items()}
        self._children: dict[str, list[str]] = {}
        for m in park.meters:
            if m.parent is not None and m.carrier is not Carrier.ELECTRICITY:
                self._children.setdefault(m.parent, []).append(m.id)
        self._powers(start)

    # -- profiles -------------------------------------------------------------------------
    def _activity(self, dev: _Device, t: datetime) -> float:
        """Fraction of nameplate in use: shifts on weekdays, lower at night and weekends."""
        lt = t.astimezone(self.local)
        hour = lt.hour + lt.minute / 60 + lt.second / 3600
        shift = 1.0 if 8 <= hour < 20 else 0.45
        if lt.weekday() >= 5:
            shift *= 0.6
        season = 1.0 + 0.15 * math.cos(2 * math.pi * (lt.timetuple().tm_yday - 200) / 365)
        a, b, c = dev.phases
        wobble = 0.08 * math.sin(2 * math.pi * (hour / 3 + a)) + 0.04 * math.sin(2 * math.pi * (hour * 1.7 + b))
        return max(0.05, shift * season * (1 + wobble + 0.03 * math.sin(t.timestamp() / 97 + 6 * c)))

    def _sun(self, dev: _Device, t: datetime) -> float:
        """Clear-sky-like output fraction with seeded cloud dips (a placeholder for pvlib)."""
        lt = t.astimezone(self.local)
        hour = lt.hour + lt.minute / 60 + lt.second / 3600
        if not 6 <= hour <= 18:
            return 0.0
        clear = math.sin(math.pi * (hour - 6) / 12) ** 1.5
        cloud = 0.85 + 0.15 * math.sin(t.timestamp() / 1800 + 6 * dev.phases[0])
        return clear * cloud

    def _powers(self, t: datetime) -> None:
        """Set every device's instantaneous power or flow for the step starting at t."""
        load = generation = 0.0
        for dev in self.devices.values():
            if dev.carrier is Carrier.ELECTRICITY and dev.role in (Role.ENTERPRISE, Role.LOAD):
                p = dev.size * self._activity(dev, t)
                dev.instant = {"power_kw": p}
                load += p
            elif dev.role is Role.PV:
                p = dev.size * self._sun(dev, t)
                dev.instant = {"power_kw": -p}
                generation += p
            elif dev.role is Role.WIND:
                a = dev.phases[0]
                p = dev.size * (0.35 + 0.3 * math.sin(t.timestamp() / 5400 + 6 * a)) ** 2
                dev.instant = {"power_kw": -p}
                generation += p
            elif dev.role is Role.GREEN_DIRECT:
                p = dev.size * 0.8
                dev.instant = {"power_kw": p}
                generation += p
            elif dev.carrier is not Carrier.ELECTRICITY and dev.meter_id not in self._children:
                flow = dev.size * self._activity(dev, t)
                counter = _COUNTER_OF[dev.carrier]
                dev.instant = {_FLOW_OF[counter]: flow * (1e6 / 3600 if counter == "heat_gj" else 1)} \
                    if counter in _FLOW_OF else {}
                dev.instant["_flow"] = flow
        storage_net = 0.0  # + charging
        surplus = generation - load
        for dev in self.devices.values():
            if dev.role is not Role.STORAGE:
                continue
            lt = t.astimezone(self.local)
            cap = self.capacity_kwh[dev.meter_id]
            p = 0.0
            if surplus > 0 and self.soc[dev.meter_id] < 0.95 * cap:
                p = min(dev.size, surplus)
            elif 18 <= lt.hour < 22 and self.soc[dev.meter_id] > 0.1 * cap:
                p = -dev.size * 0.8
            dev.instant = {"power_kw": p, "soc_pct": 100 * self.soc[dev.meter_id] / cap}
            storage_net += p
            surplus -= max(p, 0)
        net = load - generation + storage_net
        for dev in self.devices.values():
            if dev.role is Role.GRID:
                dev.instant = {"power_kw": net}
                net = 0.0  # the first grid meter carries the park's exchange; others read zero
        for parent, kids in self._children.items():
            total = sum(self.devices[k].instant.get("_flow", 0.0) for k in kids)
            dev = self.devices[parent]
            dev.instant = {"_flow": total}
            counter = _COUNTER_OF[dev.carrier]
            if counter in _FLOW_OF:
                dev.instant[_FLOW_OF[counter]] = total * (1e6 / 3600 if counter == "heat_gj" else 1)

    # -- integration ----------------------------------------------------------------------
    def advance(self, t: datetime) -> None:
        """Integrate all counters from the current simulated time up to t."""
        while self.now < t:
            step = min(MAX_STEP_S, (t - self.now).total_seconds())
            hours = step / 3600
            for dev in self.devices.values():
                if dev.carrier is Carrier.ELECTRICITY:
                    p = dev.instant.get("power_kw", 0.0)
                    # PV and wind meters count generation as export (energy delivered by them)
                    if p >= 0:
                        dev.counters["energy_import_kwh"] += p * hours
                    else:
                        dev.counters["energy_export_kwh"] += -p * hours
                    if dev.role is Role.STORAGE:
                        self.soc[dev.meter_id] += p * hours
                else:
                    dev.counters[_COUNTER_OF[dev.carrier]] += dev.instant.get("_flow", 0.0) * hours
            self.now += timedelta(seconds=step)
            self._powers(self.now)

    def values(self, meter_id: str) -> dict[str, float]:
        """What the meter displays now: counters plus instantaneous values, contract names."""
        dev = self.devices[meter_id]
        out = dict(dev.counters)
        out.update({k: v for k, v in dev.instant.items() if not k.startswith("_")})
        return out
