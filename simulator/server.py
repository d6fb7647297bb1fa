"""Every simulated meter as a Modbus device: one server per gateway bus, unit ids per meter
(or, on a DL/T 645 bus, as a DL/T 645 meter at its address: simulator.dlt645).

Registers are filled on each request from the park model at the simulated instant, encoded with
the same device profile the gateway decodes, so each register reads as the real device would
(integer counters wrap at the register's range). Addresses outside the profile's register map
answer ILLEGAL ADDRESS, as a real meter does. A meter that is offline does not answer at all.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from lingtan.kernel import profile as profiles
from lingtan.kernel import registers as codec
from lingtan.kernel.clock import SimClock
from lingtan.kernel.config import Bus, Config, ConfigError
from lingtan.kernel.park import Meter
from lingtan.kernel.quantities import COUNTERS
from lingtan.simulator.dlt645 import Dlt645Bus
from lingtan.simulator.faults import Faults
from lingtan.simulator.model import ParkModel
from lingtan.simulator.scenario import Scenario, check_against, load_scenario
from lingtan.simulator.truth import PeriodTruth

log = logging.getLogger(__name__)

SF_FLOOR = -2  # the finest SunSpec scale factor the simulated devices use (e.g. Hz_SF -2: 49.99 Hz)


def counter_wraps(profile: profiles.Profile) -> dict[str, float]:
    """Counter quantities held in integer registers → the engineering value where they wrap."""
    moduli = {r.quantity: profiles.counter_modulus(profile, r.quantity) for r in profile.registers
              if r.quantity in COUNTERS}
    return {q: m for q, m in moduli.items() if m is not None}


class ParkServer:
    """All Modbus servers of the simulated parks in one process."""

    def __init__(self, config: Config, clock: SimClock, seed: int | None = None,
                 scenario: Scenario | str | None = None, models: Mapping[str, ParkModel] | None = None) -> None:
        """`models`: park id → a model to continue from (e.g. one a simulated history advanced to
        the clock's start, simulator.history); the other parks get new models at the clock's now."""
        self.config = config
        self.clock = clock
        seed = config.simulator.seed if seed is None else seed
        scenario = scenario if scenario is not None else config.simulator.scenario
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        target = self._scenario_park(scenario)
        if scenario is not None:
            check_against(scenario, config.park(target), f"scenario {scenario.name!r}")
        start = clock.now()
        models = models or {}
        self.models = {p.id: models.get(p.id) or ParkModel(p, seed, start, scenario if p.id == target else None)
                       for p in config.parks}
        self._meters: dict[str, tuple[ParkModel, Meter]] = {}
        for p in config.parks:
            for m in p.meters:
                self._meters[m.id] = (self.models[p.id], m)
        self._profiles = {mid: profiles.load(m.profile) for mid, (_, m) in self._meters.items()}
        self._wraps = {mid: counter_wraps(p) for mid, p in self._profiles.items()}
        self._sf: dict[str, dict[int, int]] = {}  # meter -> scale-factor register -> power of ten
        self._carried: dict[tuple[str, int, int, int], set[str]] = {}
        self.faults = Faults(server=self, schedule=list(scenario.faults) if scenario else [])
        self._schedule_counter_faults()
        self._servers: list = []
        self.served: dict[str, list[tuple]] | None = None  # set to {} to log what meters served
        self.pace_lines = False  # DL/T 645 buses: hold answers for their wire time (benchmarks)
        self.line_turnaround_s = 0.0  # ... and for a meter's response delay
        self.requests = 0

    def _scenario_park(self, scenario: Scenario | None) -> str | None:
        if scenario is None:
            return None
        if scenario.park is not None:
            if scenario.park not in {p.id for p in self.config.parks}:
                raise ConfigError(f"scenario {scenario.name!r}: park = {scenario.park!r} is not in the config "
                                  f"(parks: {', '.join(p.id for p in self.config.parks)})")
            return scenario.park
        if len(self.config.parks) != 1:
            raise ConfigError(f"scenario {scenario.name!r}: the config has {len(self.config.parks)} parks; "
                              "name one with the scenario's `park` key")
        return self.config.parks[0].id

    def _schedule_counter_faults(self) -> None:
        for i, f in enumerate(self.faults.schedule):
            if f.kind == "clock_skew":
                self.faults.skew(f.gateway, f.seconds)
            elif f.kind in ("reset", "rollover"):
                model, _ = self._meters[f.meter]
                try:
                    value = 0.0 if f.kind == "reset" else self.wrap_of(f.meter, f.quantity) - f.before
                except ValueError as exc:
                    raise ConfigError(f"scenario {self.scenario.name!r}: faults[{i}]: {exc}") from exc
                model.schedule_counter(f.at, f.meter, f.quantity if f.kind == "rollover" else None, value)

    # -- the simulated meters -----------------------------------------------------------------
    def model_of(self, meter_id: str) -> ParkModel:
        return self._meters[meter_id][0]

    def wrap_of(self, meter_id: str, quantity: str) -> float:
        """Engineering value at which the meter's register for `quantity` wraps to 0."""
        wrap = self._wraps[meter_id].get(quantity)
        if wrap is None:
            raise ValueError(f"meter {meter_id!r}: profile {self._profiles[meter_id].name!r} holds {quantity!r} "
                             "in no integer register, so it cannot roll over")
        return wrap

    def values(self, meter_id: str) -> dict[str, float]:
        """What the meter shows at the simulated now (integer counters wrapped as its registers)."""
        model = self.model_of(meter_id)
        model.advance(self.clock.now())
        values = model.values(meter_id)
        for q, wrap in self._wraps[meter_id].items():
            if q in values:
                values[q] %= wrap
        return values

    def advance(self, t: datetime | None = None) -> None:
        """Integrate every park up to t (default: the clock's now) — the batch mode."""
        t = t or self.clock.now()
        for model in self.models.values():
            model.advance(t)

    def truth(self, t0: datetime, t1: datetime, park_id: str | None = None) -> PeriodTruth:
        """Ground truth of one park (default: the only one) for [t0, t1] (t1 ≤ the clock's now)."""
        model = self.models[park_id] if park_id else next(iter(self.models.values()))
        model.advance(self.clock.now())
        return model.truth(t0, t1)

    def set_counter(self, meter_id: str, quantity: str | None, value: float) -> None:
        model = self.model_of(meter_id)
        model.advance(self.clock.now())
        model.set_counter(meter_id, quantity, value)

    def gateway_clock(self, gateway_id: str) -> Callable[[], datetime]:
        """The clock a gateway should run on: the simulated clock plus its fault skew."""
        return lambda: self.clock.now() + timedelta(seconds=self.faults.skew_s.get(gateway_id, 0.0))

    # -- Modbus ---------------------------------------------------------------------------------
    async def _action(self, meter_id: str, profile: profiles.Profile, fc: int, start: int,
                      address: int, count: int, registers: list[int], set_values) -> ExcCodes | None:
        self.requests += 1
        now = self.clock.now()
        fault = self.faults.mode(meter_id, now)
        if fault is not None:
            kind, arg = fault
            if kind == "offline":
                raise NoSuchIdException(f"meter {meter_id} is offline (simulated)")  # no answer at all
            if kind == "exception":
                return ExcCodes(arg) if arg in ExcCodes._value2member_map_ else ExcCodes.DEVICE_FAILURE
            await asyncio.sleep(arg)
            now = self.clock.now()
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # meters are read-only here
        values = self.values(meter_id)
        carried = self._carried.get((meter_id, fc, address, count))
        if carried is None:
            carried = self._carried[(meter_id, fc, address, count)] = {
                r.quantity for r in profile.registers
                if r.function == fc and address <= profile.pdu_address(r.address) < address + count}
        garbage = False
        for f in self.faults.take(meter_id, now, carried):
            if f.kind == "garbage":
                garbage = True
            elif f.quantity in values:
                values[f.quantity] *= f.factor
        if garbage:
            for i in range(count):
                registers[address - start + i] = self.faults.rng.getrandbits(16)
            return None
        if self.served is not None:  # stamped with the model's own time: exactly what `values` show
            self.served.setdefault(meter_id, []).append((self.model_of(meter_id).now, values))
        raw = profiles.encode(profile, values, self._scale_factor(meter_id, profile, values))
        for i in range(count):
            word = raw.get((fc, address + i))
            if word is not None:
                registers[address - start + i] = word
        return None

    def _scale_factor(self, meter_id: str, profile: profiles.Profile, values: dict[str, float]) -> dict[int, int]:
        """SunSpec scale factors, one per scale-factor register (W_SF, Hz_SF, WH_SF, ...): for each,
        the smallest power of ten from SF_FLOOR up (never lowered) at which every value scaled by it
        fits its register, as a device sized for its nameplate shows."""
        sfs = self._sf.setdefault(meter_id, {})
        for reg in profile.registers:
            if reg.sf_address is None or codec.is_float(reg.type) or reg.quantity not in values:
                continue
            limit = codec.integer_range(reg.type) - 2  # the top values mean "not implemented"
            sf = sfs.get(reg.sf_address, SF_FLOOR)
            while abs(values[reg.quantity] / reg.scale) / 10.0 ** sf >= limit and sf < 10:
                sf += 1
            sfs[reg.sf_address] = sf
        return sfs

    def _device(self, meter: Meter) -> SimDevice:
        profile = self._profiles[meter.id]
        blocks = {3: [], 4: []}
        for b in profiles.plan(profile):
            blocks[b.function].append(SimData(b.start, count=b.count, datatype=DataType.REGISTERS))
        # pymodbus wants every table non-empty; unused tables get one word at the top address
        bits = [SimData(65535, datatype=DataType.BITS)]
        unused = [SimData(65535, datatype=DataType.REGISTERS)]
        return SimDevice(
            id=meter.modbus.unit,
            simdata=(bits, list(bits), blocks[3] or unused, blocks[4] or list(unused)),
            action=partial(self._action, meter.id, profile),
        )

    def _meters_by_bus(self) -> dict[tuple[str, str], list[Meter]]:
        out: dict[tuple[str, str], list[Meter]] = {}
        for park in self.config.parks:
            for m in park.meters:
                out.setdefault((m.gateway, m.modbus.bus), []).append(m)
        return out

    def _absent(self, meters: list[Meter]) -> SimDevice:
        """Every unit id with no meter behind it (pymodbus id 0 = all others).

        Answered with exception 11, "gateway target device failed to respond", as RS-485-to-TCP
        converters do (pymodbus would otherwise answer exception 4, "device failure", which
        reads as a meter that is present), for the register blocks of the profiles used on the
        bus (what a scan reads); other addresses answer exception 2. Covering all 65,536 words
        instead would cost pymodbus seconds per bus at start. On a real serial line an absent
        unit is silent; the simulator cannot be silent without stalling the whole simulated
        line, so it answers exception 11 there too (docs/simulator.md).
        """
        async def action(*_args) -> ExcCodes:
            return ExcCodes.GATEWAY_NO_RESPONSE

        spans: dict[int, list[tuple[int, int]]] = {3: [], 4: []}
        for m in meters:
            for b in profiles.plan(self._profiles[m.id]):
                spans[b.function].append((b.start, b.start + b.count))
        tables = {}
        for fc, ranges in spans.items():
            merged: list[list[int]] = []
            for a, b in sorted(ranges):
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            tables[fc] = [SimData(a, count=b - a, datatype=DataType.REGISTERS) for a, b in merged] \
                or [SimData(65535, datatype=DataType.REGISTERS)]
        bits = [SimData(65535, datatype=DataType.BITS)]
        return SimDevice(id=0, simdata=(bits, list(bits), tables[3], tables[4]), action=action)

    async def start(self) -> None:
        for (gw_id, bus_id), meters in self._meters_by_bus().items():
            bus = next(b for b in self.config.gateway(gw_id).buses if b.id == bus_id)
            if bus.protocol == "dlt645":
                server = Dlt645Bus(self, bus, meters, self._serial_port(gw_id, bus) if bus.transport == "rtu" else None,
                                   pace=self.pace_lines, turnaround_s=self.line_turnaround_s)
                await server.start()
                self._servers.append(server)
                log.info("simulated DL/T 645 bus %s/%s: %d meters on %s", gw_id, bus_id, len(meters), _where(bus))
                continue
            server = self._server(gw_id, bus, [*map(self._device, meters), self._absent(meters)])
            self._servers.append(server)
            await server.serve_forever(background=True)
            log.info("simulated bus %s/%s: %d meters on %s", gw_id, bus_id, len(meters), _where(bus))

    def _server(self, gw_id: str, bus: Bus, devices: list[SimDevice]):
        if bus.transport == "rtu":
            # bus.serial_port is the gateway's end of the line; the simulator answers on the
            # other end, named in simulator.serial_ports (a socat pty pair in tests)
            port = self._serial_port(gw_id, bus)
            return ModbusSerialServer(devices, port=port, baudrate=bus.baudrate, parity=bus.parity,
                                      stopbits=bus.stopbits, ignore_missing_devices=True)
        framer = "rtu" if bus.transport == "rtu_over_tcp" else "socket"
        return ModbusTcpServer(devices, framer=framer, address=(bus.host, bus.port), ignore_missing_devices=True)

    def dlt645_meter(self, meter_id: str):
        """The running simulated DL/T 645 meter (its address, CT ratio, clock offset, tariffs)."""
        for server in self._servers:
            if isinstance(server, Dlt645Bus):
                for m in server.meters:
                    if m.meter.id == meter_id:
                        return m
        raise KeyError(f"no running DL/T 645 meter {meter_id!r}")

    def _serial_port(self, gw_id: str, bus: Bus) -> str:
        port = self.config.simulator.serial_ports.get(f"{gw_id}/{bus.id}")
        if port is None:
            raise ValueError(f"simulator.serial_ports has no entry '{gw_id}/{bus.id}' for RTU bus")
        return port

    async def stop(self) -> None:
        for server in self._servers:
            await (server.stop() if isinstance(server, Dlt645Bus) else server.shutdown())
        self._servers.clear()


def _where(bus: Bus) -> str:
    return bus.serial_port if bus.transport == "rtu" else f"{bus.host}:{bus.port} ({bus.transport})"
