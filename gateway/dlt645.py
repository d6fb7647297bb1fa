"""The gateway's DL/T 645 client: one line per bus (RS-485 serial port or a serial-to-TCP
converter), frames from `kernel.dlt645`, errors translated once into `MeterUnavailable`.

One request is on the line at a time (the poller serialises a bus). Each request waits at most
`timeout_s` for a complete answer and is sent `retries + 1` times, so a meter that does not
answer costs its bus `timeout_s × (retries + 1)` per identifier tried — and only the first
identifier of a poll, as a dead meter's poll stops at its first unanswered request. Bytes left
on the line from a late answer are dropped before the next request; an answer for another
address or identifier is refused, never taken for the one asked, and so is a follow-up frame
whose sequence number (SEQ) is not the one asked for: such a frame is a late answer (to an earlier
follow-up request) and the client waits on for its own within the same timeout. A follow-up answer
without a SEQ byte does not have the standard's 后续帧 format and is refused.
"""

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import datetime

import serial

from lingtan.gateway.modbus import MeterException, MeterUnavailable
from lingtan.kernel import dlt645 as codec
from lingtan.kernel.config import Bus
from lingtan.kernel.profile import Dlt645Profile, decode_dlt645

log = logging.getLogger(__name__)

RATIOS_MAX_AGE_S = 3600.0  # transformer ratios are read again after an hour (or a failure)
MAX_FOLLOWUPS = 16  # follow-up frames accepted for one identifier


class AnswerRefused(MeterUnavailable):
    """Bytes came back but not a valid answer: a damaged frame, or several meters at once."""


class Link:
    """Bytes to and from one line; `buffer` collects what arrives."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        self.arrived.set()

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def frame(self, timeout_s: float) -> bytes:
        """The next complete frame's bytes; TimeoutError when none is complete in time."""
        async with asyncio.timeout(timeout_s):
            while True:
                # noise before a frame (a converter's line idle bytes) is skipped up to the next FE/68
                while self.buffer and self.buffer[0] not in (codec.WAKE, codec.START):
                    del self.buffer[0]
                try:
                    n = codec.frame_length(bytes(self.buffer))
                except codec.FrameError:  # the head can never become a frame (FE then noise, a stray
                    del self.buffer[0]  # 68H): drop a byte and look again, for the answer behind it
                    continue
                if n is not None:
                    raw = bytes(self.buffer[:n])
                    del self.buffer[:n]
                    return raw
                self.arrived.clear()
                await self.arrived.wait()


class TcpLink(Link, asyncio.Protocol):
    """A transparent serial-to-TCP converter (or the simulator's TCP meters)."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.feed(data)

    def connection_lost(self, exc) -> None:
        self.lost = True
        self.arrived.set()

    async def send(self, data: bytes) -> None:
        if self.lost or self.transport is None:
            raise ConnectionError("connection closed")
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SerialLink(Link):
    """An RS-485 port through pyserial, read on the event loop (no thread)."""

    def __init__(self, bus: Bus) -> None:
        super().__init__()
        parity = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}[bus.parity]
        self.port = serial.Serial(bus.serial_port, baudrate=bus.baudrate, parity=parity, bytesize=8,
                                  stopbits=bus.stopbits, timeout=0, write_timeout=bus.timeout_s)
        self.lost = False
        asyncio.get_running_loop().add_reader(self.port.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.port.fileno(), 4096)
        except OSError:
            data = b""
        if not data:  # the other end went away (a pty whose peer closed)
            self.lost = True
            asyncio.get_running_loop().remove_reader(self.port.fileno())
            self.arrived.set()
            return
        self.feed(data)

    async def send(self, data: bytes) -> None:
        if self.lost:
            raise ConnectionError("serial line closed")
        self.port.write(data)  # a frame is at most ~280 bytes: the driver takes it at once

    def close(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.port.fileno())
        except (RuntimeError, ValueError):
            pass
        self.port.close()


class Dlt645Client:
    """One DL/T 645 line. Calls are serialised by the caller (one poll task per bus)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._link: Link | None = None
        self._ratios: dict[str, tuple[float, float, float]] = {}  # address -> (ct, vt, read at)
        self.last_raw: list[tuple[bytes, bytes]] = []  # (request, answer) of the last read, for `lingtan dlt645`

    @property
    def where(self) -> str:
        return self.bus.serial_port if self.bus.transport == "rtu" else f"{self.bus.host}:{self.bus.port}"

    async def connect(self) -> bool:
        if self._link is not None and not getattr(self._link, "lost", False):
            return True
        self.close()
        try:
            if self.bus.transport == "rtu":
                self._link = SerialLink(self.bus)
            else:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(self.bus.timeout_s):
                    _, self._link = await loop.create_connection(TcpLink, self.bus.host, self.bus.port)
        except (OSError, TimeoutError, serial.SerialException) as exc:
            log.debug("bus %s: cannot open %s: %s", self.bus.id, self.where, exc)
            self._link = None
            return False
        return True

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    # -- one request ---------------------------------------------------------------------------
    async def exchange(self, request: bytes, what: str) -> codec.Frame:
        """Send `request` and return the meter's answer that belongs to it, with retries."""
        sent = codec.decode(request)
        last: Exception | None = None
        for _attempt in range(self.bus.retries + 1):
            if not await self.connect():
                raise MeterUnavailable(f"bus {self.bus.id}: cannot connect to {self.where}")
            link = self._link
            link.buffer.clear()  # a late answer to an earlier request is not this one's
            other_seq: _OtherSeq | None = None
            try:
                await link.send(request)
                async with asyncio.timeout(self.bus.timeout_s):
                    while True:
                        raw = await link.frame(self.bus.timeout_s)
                        answer = codec.decode(raw)
                        if not answer.from_meter:
                            continue  # our own request echoed by a half-duplex converter
                        try:
                            codec.answer_payload(sent, answer)
                        except codec.MeterError:
                            raise
                        except codec.FrameError as exc:
                            # a late answer to an earlier request (another address or identifier):
                            # never taken for this one; wait on for ours
                            log.debug("bus %s: %s: skipped %s", self.bus.id, what, exc)
                            continue
                        try:
                            _check_seq(sent, answer)
                        except _OtherSeq as exc:  # a late follow-up of an earlier request: wait on
                            log.debug("bus %s: %s: skipped %s", self.bus.id, what, exc)
                            other_seq = exc
                            continue
                        self.last_raw.append((request, raw))
                        return answer
            except codec.MeterError:
                self.last_raw.append((request, raw))
                return answer
            except TimeoutError as exc:
                if getattr(link, "lost", False):
                    self.close()
                last = exc
                if link.buffer:  # something came, but never a whole frame
                    last = codec.FrameError(f"incomplete frame {bytes(link.buffer).hex(' ').upper()}")
                elif other_seq is not None:  # follow-ups came, never the one asked for
                    last = other_seq
            except codec.FrameError as exc:
                last = exc
                log.debug("bus %s: %s refused: %s", self.bus.id, what, exc)
            except (ConnectionError, OSError, serial.SerialException) as exc:
                self.close()
                last = exc
        if isinstance(last, codec.FrameError):
            raise AnswerRefused(f"{what}: answer refused ({last}) after {self.bus.retries + 1} attempt(s)") from last
        raise MeterUnavailable(f"{what}: no answer within {self.bus.timeout_s:g} s "
                               f"({self.bus.retries + 1} attempt(s))") from last

    async def read(self, address: str, di: str) -> bytes:
        """The value bytes of one identifier, joined over follow-up frames; MeterException
        (with the error word as `code`) for an abnormal answer."""
        what = f"meter {address}: reading DI {di}"
        self.last_raw = []
        request = codec.read_request(address, di, self.bus.preamble)
        payload = b""
        for seq in range(MAX_FOLLOWUPS + 1):
            sent = codec.decode(request)
            answer = await self.exchange(request, what)
            try:
                part, follows = codec.answer_payload(sent, answer)
            except codec.MeterError as exc:
                raise MeterException(f"{what}: {exc}", exc.word) from exc
            payload += part
            if not follows:
                return payload
            request = codec.followup_request(address, di, seq + 1, self.bus.preamble)
        raise MeterUnavailable(f"{what}: more than {MAX_FOLLOWUPS} follow-up frames")

    async def read_address(self) -> str:
        """The address of the one meter on the line (13H on the wildcard address)."""
        answer = await self.exchange(codec.read_address_request(self.bus.preamble), "read address")
        return answer.address

    async def probe(self, address: str) -> str | None:
        """Read address (13H) at `address`, whose high bytes may be AA wildcards: the full
        address of the one meter that answers, None for silence; AnswerRefused when bytes came
        back that are no answer (on a scan: several meters answering at once)."""
        try:
            answer = await self.exchange(codec.encode(codec.Frame(address, codec.READ_ADDRESS),
                                                      self.bus.preamble), f"address {address}")
        except AnswerRefused:
            raise
        except MeterUnavailable:
            return None
        return answer.address

    async def broadcast_time(self, t: datetime) -> bytes:
        """Broadcast time sync (08H) with the meters' local time; no meter answers it."""
        if not await self.connect():
            raise MeterUnavailable(f"bus {self.bus.id}: cannot connect to {self.where}")
        frame = codec.time_sync_request(t, self.bus.preamble)
        try:
            await self._link.send(frame)
        except (ConnectionError, OSError, serial.SerialException) as exc:  # an adapter pulled, a converter gone
            self.close()
            raise MeterUnavailable(f"bus {self.bus.id}: broadcast not sent to {self.where}: {exc}") from exc
        return frame

    # -- a meter's profile ---------------------------------------------------------------------
    async def read_profile(self, address: str, profile: Dlt645Profile) -> dict[str, float]:
        """Every identifier of the profile, decoded; an identifier the meter does not have
        ("no requested data") is left out, any other failure fails the poll."""
        address = address.rjust(12, "0")
        raw: dict[str, bytes] = {}
        for item in profile.identifiers:
            try:
                raw[item.di.upper()] = await self.read(address, item.di)
            except MeterException as exc:
                if exc.code is not None and exc.code & 0b10:  # no requested data: not on this model
                    continue
                raise
        ct = vt = 1.0
        if profile.ratios is not None:
            ct, vt = await self._ratios_of(address, profile)
        return decode_dlt645(profile, raw, ct, vt)

    async def _ratios_of(self, address: str, profile: Dlt645Profile) -> tuple[float, float]:
        now = asyncio.get_running_loop().time()
        known = self._ratios.get(address)
        if known is not None and now - known[2] < RATIOS_MAX_AGE_S:
            return known[0], known[1]
        fmt = codec.parse_format(profile.ratios.format)
        try:
            ct = codec.decode_value(await self.read(address, profile.ratios.ct), fmt)
            vt = codec.decode_value(await self.read(address, profile.ratios.vt), fmt)
        except codec.FrameError as exc:
            raise ValueError(f"meter {address}: transformer ratio: {exc}") from exc
        if ct <= 0 or vt <= 0:
            raise ValueError(f"meter {address}: transformer ratios CT {ct:g}, VT {vt:g}: must be above 0")
        self._ratios[address] = (ct, vt, now)
        return ct, vt


class _OtherSeq(codec.FrameError):
    """A follow-up answer carrying another frame's SEQ: a late answer to an earlier request."""


def _check_seq(sent: codec.Frame, answer: codec.Frame) -> None:
    """The answer to a follow-up read (12H, DL/T 645-2007) is, by the standard's 后续帧 format, the
    identifier DI0..DI3, the data, and last the sequence number (后续帧序号) of the frame it carries.
    One with another SEQ is a late answer (_OtherSeq: skipped, the client waits on for its own);
    one with nothing after the identifier has no SEQ at all, does not have that format, and is
    refused (FrameError: the attempt is retried, then AnswerRefused). Neither is ever joined into
    the value."""
    if sent.function != codec.READ_FOLLOWUP:
        return
    if len(answer.data) <= 4:  # the identifier alone: its last byte is no SEQ
        raise codec.FrameError(f"follow-up answer without a SEQ byte, the request asked for frame {sent.data[-1]}")
    if answer.data[-1] != sent.data[-1]:
        raise _OtherSeq(f"follow-up frame SEQ {answer.data[-1]}, the request asked for frame {sent.data[-1]}")


# -- commissioning -------------------------------------------------------------------------------
class ScanLimit(Exception):
    """The address search needed more probes than allowed."""


async def scan(client: Dlt645Client, on_found: Callable[[str], None] | None = None,
               max_probes: int = 1000) -> tuple[list[str], int]:
    """Every meter address on the line, and the probes it took.

    First read address on the wildcard address AAAAAAAAAAAA: one meter answers with its address.
    When several answer at once (the answer is garbled), the search narrows by the lowest address
    byte (the standard's abbreviated addressing: the high bytes stay AAH), 00..99, and recurses
    into each byte that is still garbled, up to all six bytes. Silence costs one timeout, so a
    level costs up to 100 timeouts; `max_probes` bounds the whole search (ScanLimit)."""
    found: list[str] = []
    probes = 0

    async def search(known: str) -> None:  # known: the lowest digits, as written (high first)
        nonlocal probes
        if probes >= max_probes:
            raise ScanLimit(f"address search stopped after {max_probes} probes; found so far: {found}")
        probes += 1
        address = "A" * (12 - len(known)) + known
        try:
            answer = await client.probe(address)
        except AnswerRefused:
            if len(known) == 12:
                log.warning("address %s: more than one meter answers (duplicate address)", known)
                found.append(known)
                return
            for b in range(100):
                await search(f"{b:02d}{known}")
            return
        if answer is not None and answer not in found:
            found.append(answer)
            if on_found is not None:
                on_found(answer)

    await search("")
    return sorted(found), probes
