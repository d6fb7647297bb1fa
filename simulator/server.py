"""Every simulated meter as a Modbus device: one TCP server per gateway bus, unit ids per meter.

Registers are filled on each request from the park model at the simulated instant, encoded with
the same device profile the gateway decodes, so each register reads as the real device would.
Addresses outside the profile's register map answer ILLEGAL ADDRESS, as a real meter does.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from accounting.config import Bus, Config
from gateway import profile as profiles
from simulator.clock import SimClock
from simulator.model import ParkModel

log = logging.getLogger(__name__)


@dataclass
class Faults:
    """Faults on demand, by meter id: 'offline' (no answer), 'exception', 'slow'."""

    modes: dict[str, str] = field(default_factory=dict)
    slow_s: float = 0.5


class ParkServer:
    """All Modbus servers of the simulated parks in one process."""

    def __init__(self, config: Config, clock: SimClock, seed: int | None = None) -> None:
        self.config = config
        self.clock = clock
        self.faults = Faults()
        seed = config.simulator.seed if seed is None else seed
        self.models = {p.id: ParkModel(p, seed, clock.now()) for p in config.parks}
        self._servers: list = []
        self.served: dict[str, list[tuple]] | None = None  # set to {} to log what meters served
        self._tasks: list[asyncio.Task] = []

    def model_of(self, meter_id: str) -> ParkModel:
        for model in self.models.values():
            if meter_id in model.devices:
                return model
        raise KeyError(meter_id)

    def values(self, meter_id: str) -> dict[str, float]:
        """The meter's current display, advanced to the simulated now (ground truth)."""
        model = self.model_of(meter_id)
        model.advance(self.clock.now())
        return model.values(meter_id)

    async def _action(self, meter_id: str, profile: profiles.Profile, fc: int, start: int,
                      address: int, count: int, registers: list[int], set_values) -> ExcCodes | None:
        mode = self.faults.modes.get(meter_id)
        if mode == "offline":
            await asyncio.sleep(3600)
        if mode == "exception":
            return ExcCodes.DEVICE_FAILURE
        if mode == "slow":
            await asyncio.sleep(self.faults.slow_s)
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # meters are read-only here
        values = self.values(meter_id)
        if self.served is not None:
            self.served.setdefault(meter_id, []).append((self.clock.now(), values))
        raw = profiles.encode(profile, values)
        for i in range(count):
            word = raw.get((fc, address + i))
            if word is not None:
                registers[address - start + i] = word
        return None

    def _device(self, meter) -> SimDevice:
        profile = profiles.load(meter.profile)
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

    def _devices_by_bus(self) -> dict[tuple[str, str], list[SimDevice]]:
        out: dict[tuple[str, str], list[SimDevice]] = {}
        for park in self.config.parks:
            for m in park.meters:
                out.setdefault((m.gateway, m.modbus.bus), []).append(self._device(m))
        return out

    async def start(self) -> None:
        for (gw_id, bus_id), devices in self._devices_by_bus().items():
            bus = next(b for b in self.config.gateway(gw_id).buses if b.id == bus_id)
            server = self._server(gw_id, bus, devices)
            self._servers.append(server)
            await server.serve_forever(background=True)
            log.info("simulated bus %s/%s: %d meters on %s", gw_id, bus_id, len(devices), _where(bus))

    def _server(self, gw_id: str, bus: Bus, devices: list[SimDevice]):
        if bus.transport == "rtu":
            # bus.serial_port is the gateway's end of the line; the simulator answers on the
            # other end, named in simulator.serial_ports (a socat pty pair in tests)
            port = self.config.simulator.serial_ports.get(f"{gw_id}/{bus.id}")
            if port is None:
                raise ValueError(f"simulator.serial_ports has no entry '{gw_id}/{bus.id}' for RTU bus")
            return ModbusSerialServer(devices, port=port, baudrate=bus.baudrate,
                                      parity=bus.parity, stopbits=bus.stopbits)
        framer = "rtu" if bus.transport == "rtu_over_tcp" else "socket"
        return ModbusTcpServer(devices, framer=framer, address=(bus.host, bus.port))

    async def stop(self) -> None:
        for server in self._servers:
            await server.shutdown()
        self._servers.clear()


def _where(bus: Bus) -> str:
    return bus.serial_port if bus.transport == "rtu" else f"{bus.host}:{bus.port} ({bus.transport})"
