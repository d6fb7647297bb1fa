"""The fixed vocabulary of measured quantities: names carry their units.

Every device profile maps its registers onto these names, the wire contract accepts only these
names, and the accounting core reads only these names, so nothing downstream of a gateway cares
which vendor's meter produced a value (the OpenEMS "channel" idea).
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"  # cumulative, monotonic between resets
    INSTANT = "instant"  # instantaneous value


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str
    kind: Kind
    minimum: float | None = None  # physically impossible below this
    maximum: float | None = None  # physically impossible above this
    description: str = ""
    accounted: bool = True  # False: kept and shown, but the accounting core does not integrate it


_Q = [
    # cumulative counters
    Quantity("energy_import_kwh", "kWh", Kind.COUNTER, 0, None, "active energy received (forward)"),
    Quantity("energy_export_kwh", "kWh", Kind.COUNTER, 0, None, "active energy delivered (reverse)"),
    Quantity("gas_m3", "m3", Kind.COUNTER, 0, None, "gas volume at standard conditions"),
    Quantity("heat_gj", "GJ", Kind.COUNTER, 0, None, "heat (steam / hot water) received"),
    Quantity("heat_export_gj", "GJ", Kind.COUNTER, 0, None, "heat delivered out"),
    Quantity("water_m3", "m3", Kind.COUNTER, 0, None, "water volume"),
    Quantity("fuel_kg", "kg", Kind.COUNTER, 0, None, "liquid or solid fuel mass"),
    # per-tariff breakdowns of the total counters (尖峰平谷, tariffs 1-4 of a DL/T 645 meter) and
    # the combined reactive energies: kept, never integrated; the totals are authoritative
    *(Quantity(f"energy_{d}_{t}_kwh", "kWh", Kind.COUNTER, 0, None,
               f"active energy {'received' if d == 'import' else 'delivered'}, tariff {t} ({zh})", False)
      for d in ("import", "export") for t, zh in (("sharp", "尖"), ("peak", "峰"), ("flat", "平"), ("valley", "谷"))),
    Quantity("reactive_energy_1_kvarh", "kvarh", Kind.COUNTER, None, None, "combined reactive energy 1 (组合无功1)",
             False),
    Quantity("reactive_energy_2_kvarh", "kvarh", Kind.COUNTER, None, None, "combined reactive energy 2 (组合无功2)",
             False),
    # instantaneous values
    Quantity("power_kw", "kW", Kind.INSTANT, -1e6, 1e6, "total active power, + import / − export"),
    Quantity("reactive_power_kvar", "kvar", Kind.INSTANT, -1e6, 1e6),
    Quantity("voltage_v", "V", Kind.INSTANT, 0, 1e6, "mean phase voltage"),
    Quantity("current_a", "A", Kind.INSTANT, 0, 1e5, "mean phase current"),
    Quantity("frequency_hz", "Hz", Kind.INSTANT, 0, 100),
    *(Quantity(f"voltage_{p}_v", "V", Kind.INSTANT, 0, 1e6, f"phase {p.upper()} voltage") for p in "abc"),
    *(Quantity(f"current_{p}_a", "A", Kind.INSTANT, -1e5, 1e5, f"phase {p.upper()} current") for p in "abc"),
    *(Quantity(f"power_{p}_kw", "kW", Kind.INSTANT, -1e6, 1e6, f"phase {p.upper()} active power")
      for p in "abc"),
    Quantity("power_factor", "1", Kind.INSTANT, -1, 1),
    Quantity("gas_flow_m3h", "m3/h", Kind.INSTANT, 0, 1e6),
    Quantity("heat_power_kw", "kW", Kind.INSTANT, -1e6, 1e6),
    Quantity("water_flow_m3h", "m3/h", Kind.INSTANT, 0, 1e6),
    Quantity("soc_pct", "%", Kind.INSTANT, 0, 100, "battery state of charge"),
]

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _Q}
COUNTERS: frozenset[str] = frozenset(q.name for q in _Q if q.kind is Kind.COUNTER and q.accounted)
"""The counters the accounting core integrates into intervals."""
BREAKDOWNS: frozenset[str] = frozenset(q.name for q in _Q if q.kind is Kind.COUNTER and not q.accounted)
"""Counters kept as a breakdown (per tariff, reactive): stored and shown, never summed into a balance."""

_ELECTRIC = frozenset({"energy_import_kwh", "energy_export_kwh", "power_kw", "reactive_power_kvar",
                       "voltage_v", "current_a", "frequency_hz", "power_factor",
                       *(f"{name}_{p}_{unit}" for p in "abc"
                         for name, unit in (("voltage", "v"), ("current", "a"), ("power", "kw"))),
                       *(q.name for q in _Q if q.kind is Kind.COUNTER and not q.accounted)})
CARRIER_QUANTITIES: dict[str, frozenset[str]] = {
    "electricity": _ELECTRIC,
    "natural_gas": frozenset({"gas_m3", "gas_flow_m3h"}),
    "heat": frozenset({"heat_gj", "heat_export_gj", "heat_power_kw"}),
    "water": frozenset({"water_m3", "water_flow_m3h"}),
    "diesel": frozenset({"fuel_kg"}),
    "gasoline": frozenset({"fuel_kg"}),
    "lpg": frozenset({"fuel_kg"}),
    "raw_coal": frozenset({"fuel_kg"}),
}
"""Quantities a meter of each carrier may publish (a profile may map more than one carrier's);
storage meters also publish soc_pct."""
