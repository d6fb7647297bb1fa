"""The gateway's only contact with pymodbus: one client per bus, errors translated once.

pymodbus owns reconnection and retries (its `retries` and reconnect delays); we read blocks
planned from a device profile and raise `MeterUnavailable` for anything that goes wrong
(`MeterException` when the device answered with a Modbus exception).

A meter that does not answer costs `timeout_s × (retries + 1)` of its bus's time per poll:
requests on a line are serialised, so that is how long the other meters of the bus wait.
"""

import logging

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from lingtan.kernel.config import Bus
from lingtan.kernel.profile import Block

# Modbus exception codes a TCP-to-RS-485 gateway answers with when the addressed device is
# absent or silent (Modbus application protocol v1.1b3, 7: codes 0x0A and 0x0B).
GATEWAY_PATH_UNAVAILABLE = 0x0A
GATEWAY_TARGET_NO_RESPONSE = 0x0B
EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "server device failure", 5: "acknowledge", 6: "server device busy",
                   10: "gateway path unavailable", 11: "gateway target device failed to respond"}


class MeterUnavailable(Exception):
    """A meter did not answer, or answered with a Modbus exception."""


class MeterException(MeterUnavailable):
    """The request was answered with a Modbus exception response (`code`)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


def _quiet_library_log() -> None:
    # pymodbus logs an ERROR line for every unanswered request; the poller logs each meter's
    # state change once instead. `lingtan -v` sets the library to INFO and keeps its lines.
    lib = logging.getLogger("pymodbus")
    if lib.level == logging.NOTSET or lib.level >= logging.WARNING:
        lib.setLevel(logging.CRITICAL)


class BusClient:
    """One Modbus line. Calls are serialised by the caller (one poll task per bus)."""

    def __init__(self, bus: Bus) -> None:
        _quiet_library_log()
        self.bus = bus
        self._client: AsyncModbusSerialClient | AsyncModbusTcpClient | None = None

    @property
    def client(self) -> AsyncModbusSerialClient | AsyncModbusTcpClient:
        """The pymodbus client, made on first use (it needs the running event loop)."""
        if self._client is None:
            bus = self.bus
            common = {"timeout": bus.timeout_s, "retries": bus.retries,
                      "reconnect_delay": 0.5, "reconnect_delay_max": 10}
            if bus.transport == "rtu":
                self._client = AsyncModbusSerialClient(bus.serial_port, framer=FramerType.RTU, baudrate=bus.baudrate,
                                                       parity=bus.parity, stopbits=bus.stopbits, **common)
            else:
                framer = FramerType.RTU if bus.transport == "rtu_over_tcp" else FramerType.SOCKET
                self._client = AsyncModbusTcpClient(bus.host, port=bus.port, framer=framer, **common)
        return self._client

    async def connect(self) -> bool:
        return self.client.connected or await self.client.connect()

    async def read(self, unit: int, blocks: list[Block]) -> dict[tuple[int, int], int]:
        """All registers of the blocks, keyed by (function, PDU address)."""
        out: dict[tuple[int, int], int] = {}
        for b in blocks:
            words = await self.read_words(unit, b.function, b.start, b.count)
            out.update({(b.function, b.start + i): w for i, w in enumerate(words)})
        return out

    async def read_words(self, unit: int, function: int, start: int, count: int) -> list[int]:
        """One read request (function 3 or 4): the raw 16-bit words."""
        if not await self.connect():
            raise MeterUnavailable(f"bus {self.bus.id}: cannot connect to {self.where}")
        read = self.client.read_holding_registers if function == 3 else self.client.read_input_registers
        try:
            rr = await read(start, count=count, device_id=unit)
        except ModbusIOException as exc:
            raise MeterUnavailable(f"unit {unit}: no answer within {self.bus.timeout_s:g} s "
                                   f"({self.bus.retries + 1} attempt(s)) reading fc{function} {start}+{count}") from exc
        except ModbusException as exc:
            raise MeterUnavailable(f"unit {unit}: {exc}") from exc
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            raise MeterException(f"unit {unit}: Modbus exception {code if code is not None else '?'} "
                                 f"({EXCEPTION_NAMES.get(code, 'unknown')}) reading fc{function} {start}+{count}",
                                 code)
        return list(rr.registers)

    @property
    def where(self) -> str:
        return self.bus.serial_port if self.bus.transport == "rtu" else f"{self.bus.host}:{self.bus.port}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
