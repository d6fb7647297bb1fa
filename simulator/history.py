"""A park's simulated history: the readings its gateways would have published, from the batch mode.

`ParkModel.sample` integrates the park in vectorised blocks and records what every meter shows
at every step (every 15 minutes by default: a reading on every quarter-hour boundary is what
makes each 15-minute interval complete, and a finer step adds readings without adding
information to interval accounting). `GatewayView` turns those samples into the readings a
gateway polling the simulated meters would publish, quantity for quantity:

- the quantities the meter's profile carries that the gateway keeps (the carrier's, plus
  `soc_pct` for storage), as `gateway.poller` filters them;
- counters wrapped where the profile holds them in an integer register (as the simulated
  device's registers wrap), float32 registers rounded to float32;
- a quantity of the profile the model does not simulate (`heat_export_gj` of a steam meter)
  reads 0, as the unfilled register of a simulated device does.

Integer registers are not quantised to their resolution or SunSpec scale factor (the demo's
profile has none). The simulator knows nothing of the stores: a reading here is
(meter id, UTC epoch ms, values); the caller makes rows of them.
"""

from collections.abc import Iterator
from datetime import datetime

import numpy as np

from lingtan.kernel import profile as profiles
from lingtan.kernel.park import Carrier, Meter, Role
from lingtan.kernel.quantities import CARRIER_QUANTITIES
from lingtan.simulator.model import _GJ_PER_H_IN_KW, FLOW_OF, ParkModel, Samples, counter_names

STEP_S = 900  # one reading per meter on every quarter-hour boundary
_ELECTRICAL_EXTRAS = ("reactive_power_kvar", "power_factor", "voltage_v", "current_a", "frequency_hz")

Reading = tuple[str, int, dict[str, float]]
"""(meter id, UTC epoch milliseconds, quantity -> value)."""


def published(meter: Meter) -> tuple[str, ...]:
    """The quantities a gateway publishes for this meter: its profile's, those it keeps."""
    wanted = CARRIER_QUANTITIES[meter.carrier.value] | ({"soc_pct"} if meter.role is Role.STORAGE else set())
    return tuple(dict.fromkeys(r.quantity for r in profiles.load(meter.profile).registers if r.quantity in wanted))


class GatewayView:
    """Samples of a park model → the readings its gateways would publish."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self._plans = []
        for i, meter in enumerate(model.park.meters):
            profile = profiles.load(meter.profile)
            types = {r.quantity: r.type for r in profile.registers}
            wraps = {r.quantity: profiles.counter_modulus(profile, r.quantity) for r in profile.registers}
            self._plans.append((i, meter.id, published(meter), types, wraps))

    def _column(self, samples: Samples, i: int, quantity: str) -> np.ndarray | None:
        """One quantity of meter i over the samples; None for the electrical extras (slow path)."""
        m = self.model
        names = counter_names(m.carrier[i])
        if quantity in names:
            return samples.shown[:, i, names.index(quantity)]
        if m.carrier[i] is Carrier.ELECTRICITY:
            if quantity == "power_kw":
                return samples.power[:, i]
            if quantity == "soc_pct" and m.role[i] is Role.STORAGE:
                b = int(np.flatnonzero(m.bat_idx == i)[0])
                return 100 * samples.soc_kwh[:, b] / m.batteries.capacity_kwh[b]
            if quantity in _ELECTRICAL_EXTRAS:
                return None
        elif FLOW_OF.get(names[0]) == quantity:
            return samples.power[:, i] * (_GJ_PER_H_IN_KW if names[0] == "heat_gj" else 1.0)
        return np.zeros(len(samples))  # not simulated: the register reads 0

    def readings(self, samples: Samples) -> list[Reading]:
        """Every meter's reading at every sampled instant, in time order (meters in park order)."""
        ts_ms = np.rint(samples.t_s * 1000).astype(np.int64).tolist()
        per_meter = []
        for i, meter_id, names, types, wraps in self._plans:
            columns = []
            for q in names:
                col = self._column(samples, i, q)
                if col is None:
                    col = np.array([self.model._electrical(i, float(p), t)[q]
                                    for p, t in zip(samples.power[:, i], samples.t_s, strict=True)])
                if wraps.get(q):
                    col = np.mod(col, wraps[q])
                if types.get(q) == "float32":
                    col = col.astype(np.float32)
                columns.append(col.astype(np.float64).tolist())
            per_meter.append((meter_id, names, [dict(zip(names, row, strict=True))
                                                for row in zip(*columns, strict=True)]))
        out: list[Reading] = []
        for j, t in enumerate(ts_ms):
            out.extend((meter_id, t, values[j]) for meter_id, _names, values in per_meter)
        return out


def history(model: ParkModel, until: datetime, step_s: int = STEP_S) -> Iterator[list[Reading]]:
    """Advance `model` to `until` in batch mode, yielding the readings per chunk (up to a UTC day)."""
    view = GatewayView(model)
    for samples in model.sample(until, step_s):
        yield view.readings(samples)

