"""Simulated DL/T 645 meters: the meters of one bus answering frames on a serial line (the
simulator's end of a pty pair) or on TCP (as behind a transparent serial-to-TCP converter).

Each answer is made at request time from the park model, encoded with the meter's own profile
(`kernel.profile.encode_dlt645`), so it reads as the gateway will decode it. What the model does
not have is derived, and said so here:

- per-tariff energy (尖峰平谷): each meter adds the growth of its import counter to the tariff of
  the park-local hour (`TARIFF_HOURS`), so the four always sum to the total (the meter's invariant);
- per-phase values: voltages are the model's phase voltage (phases B and C 0.5 V apart), currents
  the model's phase current, powers a third of the total;
- combined reactive energy 1: 0.4 × the import counter (tan φ at cos φ 0.93), 2: 0.4 × export;
- transformer ratios: a profile with `ratios` is a transformer-connected meter reporting secondary
  values behind a CT from the usual series (200/5 = 40 up to 4000/5 = 800), the smallest at least
  `SIM_CT` that keeps three times the power first seen within the XX.XXXX kW format, and VT 1;
- an instantaneous value beyond its format (a direct-connected meter on a load above 79.9999 kW)
  shows the format's largest value, as a saturated display; counters wrap as the meter's do.

Also answered: read address (13H, with AAH wildcard bytes; several meters matching answer at once
and garble the line, as on RS-485), the block read 0001FF00 (total and tariffs 1-4, in two frames
with a follow-up, 12H), the meter date and time (04000101/04000102) and broadcast time sync (08H,
which sets every meter's clock). An unknown identifier gets the abnormal answer "no requested
data". An offline meter is silent; a meter with an exception fault answers "other error".
"""

import asyncio
import logging
from datetime import timedelta

import serial

from lingtan.kernel import dlt645 as codec
from lingtan.kernel import profile as profiles
from lingtan.kernel.config import Bus
from lingtan.kernel.park import Meter
from lingtan.kernel.quantities import BREAKDOWNS, COUNTERS

log = logging.getLogger(__name__)

SIM_CT = 40.0
CT_SERIES = (40.0, 60.0, 80.0, 100.0, 160.0, 200.0, 300.0, 400.0, 600.0, 800.0)  # 200/5 ... 4000/5
SIM_VT = 1.0
REACTIVE_PER_KWH = 0.4
TARIFFS = ("sharp", "peak", "flat", "valley")
# park-local hour → tariff index (0 尖 1 峰 2 平 3 谷): a typical industrial time-of-use day
TARIFF_HOURS = tuple(3 if h < 8 else 0 if h in (10, 14) else 1 if h in (8, 9, 11, 13, 15, 18, 19, 20) else 2
                     for h in range(24))
BLOCK_ENERGY = "0001FF00"
FOLLOWUP_AFTER = 12  # value bytes in one answer frame before a follow-up frame is used
_ENERGY = codec.parse_format("XXXXXX.XX")
_RATIO = codec.parse_format("XXXXXX")


def _encode(profile: profiles.Dlt645Profile, values: dict[str, float], ct: float, vt: float) -> dict[str, bytes]:
    """The profile's value bytes; an instantaneous value beyond its format saturates."""
    fitted = dict(values)
    factor = {"none": 1.0, "ct": ct, "vt": vt, "ct_vt": ct * vt}
    for item in profile.identifiers:
        if item.quantity in fitted and item.quantity not in COUNTERS | BREAKDOWNS:
            fmt = item.fmt
            top = (8 * 10 ** (fmt.digits - 1) if fmt.signed else 10 ** fmt.digits) - 1
            limit = top / 10 ** fmt.decimals * item.scale * factor[item.secondary]
            fitted[item.quantity] = max(-limit, min(limit, fitted[item.quantity]))
    return profiles.encode_dlt645(profile, fitted, ct, vt)


class SimMeter:
    """One simulated DL/T 645 meter's own state: tariff registers and its clock offset."""

    def __init__(self, meter: Meter, profile: profiles.Dlt645Profile) -> None:
        self.meter = meter
        self.profile = profile
        self.address = meter.modbus.address.rjust(12, "0")
        self.tariff_kwh = [0.0] * 4
        self.last_total: float | None = None
        self.clock_offset = timedelta(0)
        self.pending: dict[str, bytes] = {}  # DI -> value bytes still to send in follow-up frames
        self.ct: float | None = None  # chosen at the first answer (transformer-connected profiles)
        self.unconfirmed: tuple | None = None  # the values of a poll in progress (the served log)

    def matches(self, raw_address: bytes) -> bool:
        mine = codec.address_bytes(self.address)
        return all(r == 0xAA or r == m for r, m in zip(raw_address, mine, strict=True))


class Dlt645Bus:
    """The simulated DL/T 645 meters of one bus."""

    def __init__(self, server, bus: Bus, meters: list[Meter], serial_port: str | None = None,
                 pace: bool = False, turnaround_s: float = 0.0) -> None:
        self.server = server
        self.bus = bus
        self.meters = [SimMeter(m, profiles.load(m.profile)) for m in meters]
        self.serial_port = serial_port
        self.pace = pace  # hold each answer for the wire time of request and answer at the bus's baud
        self.turnaround_s = turnaround_s  # ... plus the meter's response delay
        self._tcp: asyncio.Server | None = None
        self._serial: serial.Serial | None = None
        self._tasks: set[asyncio.Task] = set()
        self.requests = 0

    # -- answering -----------------------------------------------------------------------------
    def _values(self, m: SimMeter) -> dict[str, float]:
        values = self.server.values(m.meter.id)
        total = values.get("energy_import_kwh")
        if total is not None:
            if m.last_total is None:  # a meter installed with this reading: spread as the day would
                for h in range(24):
                    m.tariff_kwh[TARIFF_HOURS[h]] += total / 24
            elif total >= m.last_total:
                hour = self.server.clock.now().astimezone(self._zone(m)).hour
                m.tariff_kwh[TARIFF_HOURS[hour]] += total - m.last_total
            else:  # the counter was reset or rolled over: the tariffs follow it
                m.tariff_kwh = [total / 4] * 4
            m.last_total = total
            for name, kwh in zip(TARIFFS, m.tariff_kwh, strict=True):
                values[f"energy_import_{name}_kwh"] = kwh
            values["reactive_energy_1_kvarh"] = REACTIVE_PER_KWH * total
        if "energy_export_kwh" in values:
            values["reactive_energy_2_kvarh"] = REACTIVE_PER_KWH * values["energy_export_kwh"]
        if "voltage_v" in values:
            for i, p in enumerate("abc"):
                values[f"voltage_{p}_v"] = values["voltage_v"] + 0.5 * i
        if "current_a" in values:
            for p in "abc":
                values[f"current_{p}_a"] = values["current_a"]
        if "power_kw" in values:
            for p in "abc":
                values[f"power_{p}_kw"] = values["power_kw"] / 3
        return values

    @staticmethod
    def _ct(m: SimMeter, values: dict[str, float]) -> float:
        if m.ct is None:
            need = 3 * abs(values.get("power_kw", 0.0)) / 79.9999
            m.ct = next((ct for ct in CT_SERIES if ct >= need), CT_SERIES[-1])
        return m.ct

    def _zone(self, m: SimMeter):
        for park in self.server.config.parks:
            if any(x.id == m.meter.id for x in park.meters):
                return park.zone
        raise KeyError(m.meter.id)

    def _table(self, m: SimMeter, di: str) -> dict[str, bytes]:
        values = self._values(m)
        ct, vt = (self._ct(m, values), SIM_VT) if m.profile.ratios else (1.0, 1.0)
        table = _encode(m.profile, values, ct, vt)
        # a poll reads the profile's identifiers in order: the values at its first one are what
        # the reading carries (the total counter comes first), served once its last one is read
        if self.server.served is not None:
            if di == m.profile.identifiers[0].di.upper():
                m.unconfirmed = (self.server.model_of(m.meter.id).now, values)
            if di == m.profile.identifiers[-1].di.upper() and m.unconfirmed is not None:
                self.server.served.setdefault(m.meter.id, []).append(m.unconfirmed)
                m.unconfirmed = None
        if m.profile.ratios is not None:
            table[m.profile.ratios.ct.upper()] = codec.encode_value(ct, _RATIO)
            table[m.profile.ratios.vt.upper()] = codec.encode_value(vt, _RATIO)
        if m.profile.version == 2007:
            local = (self.server.clock.now().astimezone(self._zone(m)) + m.clock_offset).replace(tzinfo=None)
            table["04000101"], table["04000102"] = codec.encode_datetime(local)
            energy = ["00010000", "00010100", "00010200", "00010300", "00010400"]
            if all(di in table for di in energy):
                table[BLOCK_ENERGY] = b"".join(table[di] for di in energy)
        return table

    async def answer(self, raw: bytes) -> bytes | None:
        """The bytes the line carries back for one request frame (None: silence)."""
        try:
            req = codec.decode(raw)
        except codec.FrameError:
            return None  # a meter drops a damaged frame
        self.requests += 1
        if req.from_meter:
            return None
        if req.function == codec.BROADCAST_TIME and req.address == codec.BROADCAST:
            self._set_time(req.data)
            return None
        wire_address = codec.address_bytes(req.address)
        if req.function == codec.READ_ADDRESS:
            found = [m for m in self.meters if m.matches(wire_address) and await self._present(m)]
            frames = [codec.encode(codec.Frame(m.address, codec.READ_ADDRESS | codec.FROM_METER,
                                               codec.address_bytes(m.address))) for m in found]
            if len(frames) > 1:  # several transmitters at once: the line carries garbage
                garbled = bytearray(frames[0])
                for f in frames[1:]:
                    garbled = bytearray(a & b for a, b in zip(garbled, f, strict=False))
                garbled[-2] ^= 0x5A
                return bytes(garbled)
            return frames[0] if frames else None
        meter = next((m for m in self.meters if m.address == req.address), None)
        if meter is None or not await self._present(meter):
            return None
        fault = self.server.faults.mode(meter.meter.id, self.server.clock.now())
        if fault is not None and fault[0] == "exception":
            return self._abnormal(meter, req, 0x01)  # "other error"
        return self._read(meter, req)

    async def _present(self, m: SimMeter) -> bool:
        """False for an offline meter; waits out a delay fault."""
        fault = self.server.faults.mode(m.meter.id, self.server.clock.now())
        if fault is None:
            return True
        kind, arg = fault
        if kind == "offline":
            return False
        if kind == "slow":
            await asyncio.sleep(arg)
        return True

    def _abnormal(self, m: SimMeter, req: codec.Frame, word: int) -> bytes:
        return codec.encode(codec.Frame(m.address, req.function | codec.FROM_METER | codec.ABNORMAL, bytes([word])))

    def _read(self, m: SimMeter, req: codec.Frame) -> bytes:
        n = 2 if req.function in (codec.READ_DATA_1997, codec.READ_FOLLOWUP_1997) else 4
        if req.function not in (codec.READ_DATA, codec.READ_FOLLOWUP, codec.READ_DATA_1997) or len(req.data) < n:
            return self._abnormal(m, req, 0x01)
        di_raw = req.data[:n]
        di = codec.di_text(di_raw)
        control = req.function | codec.FROM_METER
        if req.function == codec.READ_FOLLOWUP:
            rest = m.pending.pop(di, None)
            if rest is None:
                return self._abnormal(m, req, 0x02)
            return codec.encode(codec.Frame(m.address, control, di_raw + rest + req.data[4:5]))
        if (m.profile.version == 1997) != (n == 2):
            return self._abnormal(m, req, 0x02)
        value = self._table(m, di).get(di)
        if value is None:
            return self._abnormal(m, req, 0x02)  # no requested data
        if n == 4 and len(value) > FOLLOWUP_AFTER:
            m.pending[di] = value[FOLLOWUP_AFTER:]
            return codec.encode(codec.Frame(m.address, control | codec.FOLLOWS, di_raw + value[:FOLLOWUP_AFTER]))
        return codec.encode(codec.Frame(m.address, control, di_raw + value))

    def _set_time(self, data: bytes) -> None:
        if len(data) != 6:
            return
        ss, mi, hh, dd, mo, yy = (int(f"{b:02X}") for b in data)
        from datetime import datetime  # local import: only the time sync needs it

        for m in self.meters:
            now = self.server.clock.now().astimezone(self._zone(m)).replace(tzinfo=None)
            m.clock_offset = datetime(2000 + yy, mo, dd, hh, mi, ss) - now

    # -- lines ---------------------------------------------------------------------------------
    def _wire_s(self, n_bytes: int) -> float:
        return n_bytes * 11 / self.bus.baudrate  # start + 8 data + parity + stop bits

    async def _respond(self, request: bytes, send) -> None:
        answer = await self.answer(request)
        if self.pace:
            await asyncio.sleep(self._wire_s(len(request) + (len(answer) if answer else 0))
                                + (self.turnaround_s if answer else 0.0))
        if answer:
            send(answer)

    async def _consume(self, buffer: bytearray, send) -> None:
        while buffer:
            while buffer and buffer[0] not in (codec.WAKE, codec.START):
                del buffer[0]
            try:
                n = codec.frame_length(bytes(buffer))
            except codec.FrameError:
                del buffer[:1]
                continue
            if n is None:
                return
            request = bytes(buffer[:n])
            del buffer[:n]
            await self._respond(request, send)

    async def start(self) -> None:
        if self.bus.transport == "rtu":
            self._serial = serial.Serial(self.serial_port, baudrate=self.bus.baudrate, timeout=0)
            buffer = bytearray()
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def readable() -> None:
                try:
                    data = self._serial.read(4096)
                except (OSError, serial.SerialException):
                    return
                if data:
                    queue.put_nowait(data)

            async def pump() -> None:
                while True:
                    buffer.extend(await queue.get())
                    await self._consume(buffer, self._serial.write)

            loop.add_reader(self._serial.fileno(), readable)
            self._track(asyncio.create_task(pump()))
        else:
            self._tcp = await asyncio.start_server(self._client, self.bus.host, self.bus.port)

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track(asyncio.current_task())
        buffer = bytearray()
        try:
            while data := await reader.read(4096):
                buffer.extend(data)
                await self._consume(buffer, writer.write)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        if self._serial is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._serial.fileno())
            except (ValueError, RuntimeError):
                pass
            self._serial.close()
        if self._tcp is not None:
            await self._tcp.wait_closed()
