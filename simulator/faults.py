"""Faults on demand, from the scenario's schedule or at run time.

Communication faults (the meter does not answer, answers late, answers a Modbus exception)
and display faults (a spike or garbage for one poll) touch only what is served; counter faults
(a reset when a meter is replaced, a preset just below the register's wrap) change what the
meter shows but never the ground truth; a gateway's clock can run off by a fixed skew.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lingtan.simulator.scenario import FaultSpec

if TYPE_CHECKING:
    from lingtan.simulator.server import ParkServer

MODES = ("offline", "exception", "slow")


@dataclass
class DisplayFault:
    """A one-poll fault: `spike` multiplies a value, `garbage` fills the answer with random words."""

    kind: str
    quantity: str | None = None
    factor: float = 1.0


@dataclass
class Faults:
    """Run-time modes by meter id ('offline', 'exception', 'slow') plus one-poll and counter faults.

    `modes` may be written directly (`faults.modes["m1"] = "offline"`); the methods below do
    the same with parameters. Scheduled faults come from the scenario (`schedule`).
    """

    modes: dict[str, str] = field(default_factory=dict)
    slow_s: float = 0.5
    exception_codes: dict[str, int] = field(default_factory=dict)  # meter -> Modbus exception code
    skew_s: dict[str, float] = field(default_factory=dict)  # gateway -> clock offset, seconds
    schedule: list[FaultSpec] = field(default_factory=list)
    server: "ParkServer | None" = field(default=None, repr=False)
    _queued: dict[str, list[DisplayFault]] = field(default_factory=dict, repr=False)
    _fired: set[int] = field(default_factory=set, repr=False)
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    # -- run-time API ---------------------------------------------------------------------------
    def offline(self, meter: str) -> None:
        """The meter stops answering (the gateway times out)."""
        self.modes[meter] = "offline"

    def slow(self, meter: str, seconds: float | None = None) -> None:
        """The meter answers `seconds` late (default `slow_s`)."""
        self.modes[meter] = "slow"
        if seconds is not None:
            self.slow_s = seconds

    def exception(self, meter: str, code: int = 4) -> None:
        """The meter answers every request with Modbus exception `code` (4: device failure)."""
        self.modes[meter] = "exception"
        self.exception_codes[meter] = code

    def clear(self, meter: str | None = None) -> None:
        """End run-time modes of one meter, or of all meters."""
        if meter is None:
            self.modes.clear()
        else:
            self.modes.pop(meter, None)

    def spike(self, meter: str, quantity: str = "energy_import_kwh", factor: float = 1000.0) -> None:
        """The next answer that carries `quantity` shows it × factor (one poll only)."""
        self._queued.setdefault(meter, []).append(DisplayFault("spike", quantity, factor))

    def garbage(self, meter: str) -> None:
        """The next answer is filled with random words (one poll only)."""
        self._queued.setdefault(meter, []).append(DisplayFault("garbage"))

    def reset(self, meter: str) -> None:
        """The meter is replaced now: its counters restart at 0 (the truth keeps counting)."""
        self._need_server().set_counter(meter, None, 0.0)

    def rollover(self, meter: str, quantity: str = "energy_import_kwh", before: float = 1.0) -> None:
        """Preset the counter `before` units below its register's wrap, so it rolls over soon."""
        server = self._need_server()
        server.set_counter(meter, quantity, server.wrap_of(meter, quantity) - before)

    def skew(self, gateway: str, seconds: float) -> None:
        """The gateway's clock (`ParkServer.gateway_clock`) runs `seconds` ahead (− behind)."""
        self.skew_s[gateway] = seconds

    # -- used by the server -----------------------------------------------------------------------
    def mode(self, meter: str, now: datetime) -> tuple[str, float] | None:
        """The communication fault in force for the meter now, with its parameter."""
        mode = self.modes.get(meter)
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"fault mode {mode!r} for meter {meter!r}: use one of {', '.join(MODES)}")
            return mode, self.slow_s if mode == "slow" else self.exception_codes.get(meter, 4)
        for f in self.schedule:
            if f.meter == meter and f.kind in MODES and (f.at is None or f.at <= now) \
                    and (f.until is None or now < f.until):
                return f.kind, f.seconds if f.kind == "slow" else f.code
        return None

    def take(self, meter: str, now: datetime, quantities: set[str]) -> list[DisplayFault]:
        """One-poll faults due for an answer carrying `quantities` (consumed when returned)."""
        out = []
        queued = self._queued.get(meter, [])
        for f in list(queued):
            if f.kind == "garbage" or f.quantity in quantities:
                queued.remove(f)
                out.append(f)
        for i, f in enumerate(self.schedule):
            if i in self._fired or f.meter != meter or f.kind not in ("spike", "garbage") or f.at > now:
                continue
            if f.kind == "garbage" or f.quantity in quantities:
                self._fired.add(i)
                out.append(DisplayFault(f.kind, f.quantity, f.factor))
        return out

    def _need_server(self) -> "ParkServer":
        if self.server is None:
            raise RuntimeError("counter faults need the ParkServer these faults belong to")
        return self.server
