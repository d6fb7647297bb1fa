"""The gateway's only contact with pymodbus: one client per bus, errors translated once.

pymodbus owns reconnection and retries (its `retries` and reconnect delays); we read blocks
planned from a device profile and raise `MeterUnavailable` for anything that goes wrong.
"""

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from accounting.config import Bus
from gateway.profile import Block


class MeterUnavailable(Exception):
    """A meter did not answer, or answered with a Modbus exception."""


class BusClient:
    """One Modbus line. Calls are serialised by the caller (one poll task per bus)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        common = {"timeout": bus.timeout_s, "retries": bus.retries,
                  "reconnect_delay": 0.5, "reconnect_delay_max": 10}
        if bus.transport == "rtu":
            self.client = AsyncModbusSerialClient(bus.serial_port, framer=FramerType.RTU, baudrate=bus.baudrate,
                                                  parity=bus.parity, stopbits=bus.stopbits, **common)
        else:
            framer = FramerType.RTU if bus.transport == "rtu_over_tcp" else FramerType.SOCKET
            self.client = AsyncModbusTcpClient(bus.host, port=bus.port, framer=framer, **common)

    async def read(self, unit: int, blocks: list[Block]) -> dict[tuple[int, int], int]:
        """All registers of the blocks, keyed by (function, PDU address)."""
        if not self.client.connected and not await self.client.connect():
            raise MeterUnavailable(f"bus {self.bus.id}: cannot connect to {self._where()}")
        out: dict[tuple[int, int], int] = {}
        for b in blocks:
            read = self.client.read_holding_registers if b.function == 3 else self.client.read_input_registers
            try:
                rr = await read(b.start, count=b.count, device_id=unit)
            except ModbusException as exc:
                raise MeterUnavailable(f"unit {unit}: {exc}") from exc
            if rr.isError():
                raise MeterUnavailable(f"unit {unit}: Modbus exception {getattr(rr, 'exception_code', '?')} "
                                       f"reading fc{b.function} {b.start}+{b.count}")
            out.update({(b.function, b.start + i): w for i, w in enumerate(rr.registers)})
        return out

    def _where(self) -> str:
        return self.bus.serial_port if self.bus.transport == "rtu" else f"{self.bus.host}:{self.bus.port}"

    def close(self) -> None:
        self.client.close()
