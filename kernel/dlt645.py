"""The DL/T 645 frame codec: frames to and from bytes, data identifiers, BCD values, error words.

Shared by the gateway's client, the commissioning commands and the simulator's meters, as the
register codec is for Modbus. Pure: no I/O. Covers DL/T 645-2007 (4-byte identifiers DI3..DI0)
and the read command of DL/T 645-1997 (2-byte identifiers DI1 DI0).

A frame on the wire (DL/T 645-2007, 4.2):

    [FE FE FE FE]  68  A0..A5  68  C  L  DATA(L bytes, each +33H)  CS  16

A0..A5 is the meter address, 12 BCD digits, lowest byte first; CS is the sum modulo 256 of every
byte from the first 68H to the last data byte. The control code C holds the direction (D7: 1 =
from the meter), the abnormal-answer flag (D6), the follow-up-frame flag (D5) and the function
(D4..D0). The optional FE bytes wake a receiver up; a decoder skips them.
"""

from dataclasses import dataclass
from datetime import datetime

START = 0x68
END = 0x16
WAKE = 0xFE
OFFSET = 0x33
BROADCAST = "999999999999"  # every meter (time sync: no answer expected)
WILDCARD = "AAAAAAAAAAAA"  # "whoever is on the line" (read address); AAH per byte

# function codes (D4..D0 of C), DL/T 645-2007 7.1 and DL/T 645-1997 (read 01H)
BROADCAST_TIME = 0x08
READ_DATA = 0x11
READ_FOLLOWUP = 0x12
READ_ADDRESS = 0x13
READ_DATA_1997 = 0x01
READ_FOLLOWUP_1997 = 0x02

FROM_METER = 0x80
ABNORMAL = 0x40
FOLLOWS = 0x20

# error information word of an abnormal answer (DL/T 645-2007 table "错误信息字 ERR"), bit → meaning
ERROR_BITS = {
    0: "other error (其他错误)",
    1: "no requested data (无请求数据)",
    2: "password wrong or not authorised (密码错/未授权)",
    3: "baud rate cannot be changed (通信速率不能更改)",
    4: "too many year time zones (年时区数超)",
    5: "too many daily periods (日时段数超)",
    6: "too many tariffs (费率数超)",
}
# DL/T 645-1997 error word bits (its table 4): bit 1 is "illegal data identifier"
ERROR_BITS_1997 = {0: "illegal data (非法数据)", 1: "illegal data identifier (数据标识错)",
                   2: "password wrong (密码错)", 4: "too many year time zones", 5: "too many daily periods",
                   6: "too many tariffs"}

MAX_READ_DATA = 200  # L ≤ 200 for read answers (DL/T 645-2007 4.2.5)


class FrameError(ValueError):
    """Bytes that are not a valid DL/T 645 frame; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame with its data field already decoded (the +33H removed)."""

    address: str  # 12 digits as printed on the nameplate (or AA.../99... on broadcast)
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        return self.control & 0x1F

    @property
    def from_meter(self) -> bool:
        return bool(self.control & FROM_METER)

    @property
    def abnormal(self) -> bool:
        return bool(self.control & ABNORMAL)

    @property
    def follows(self) -> bool:
        return bool(self.control & FOLLOWS)


# -- addresses ---------------------------------------------------------------------------------
def address_bytes(address: str) -> bytes:
    """Wire bytes of a 12-digit address, lowest byte first ("000000000161" → 61 01 00 00 00 00).

    Shorter numbers are padded with leading zeros, as the standard says for short addresses;
    A (wildcard) digits are allowed for the read-address command."""
    text = address.strip().upper()
    if not text or len(text) > 12 or any(c not in "0123456789A" for c in text):
        raise FrameError(f"meter address {address!r}: must be up to 12 decimal digits (the nameplate number)")
    text = text.rjust(12, "0")
    return bytes(int(text[i:i + 2], 16) for i in range(10, -1, -2))


def address_text(raw: bytes) -> str:
    """Inverse of address_bytes: 12 characters, highest digits first."""
    return "".join(f"{b:02X}" for b in reversed(raw))


def address_matches(pattern: str, address: str) -> bool:
    """Whether `address` is one `pattern` reaches: equal, or AAH wildcard bytes in the pattern."""
    if pattern == BROADCAST:
        return True
    return all(p == "AA" or p == a for p, a in zip(
        (pattern[i:i + 2] for i in range(0, 12, 2)), (address[i:i + 2] for i in range(0, 12, 2)), strict=True))


# -- frames ------------------------------------------------------------------------------------
def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def encode(frame: Frame, preamble: int = 0) -> bytes:
    """Bytes on the wire for `frame`, after `preamble` FE wake-up bytes (0 to 4)."""
    if len(frame.data) > 255:
        raise FrameError(f"data field of {len(frame.data)} bytes: at most 255")
    body = bytes([START, *address_bytes(frame.address), START, frame.control, len(frame.data),
                  *((b + OFFSET) & 0xFF for b in frame.data)])
    return bytes([WAKE] * preamble) + body + bytes([checksum(body), END])


def frame_length(buffer: bytes) -> int | None:
    """Bytes of the first frame in `buffer` counted from its leading FE bytes, or None while
    incomplete; raises FrameError on bytes that cannot start a frame. Used by the readers
    to know when an answer is complete."""
    i = 0
    while i < len(buffer) and buffer[i] == WAKE:
        i += 1
    if i == len(buffer):
        return None
    if buffer[i] != START:
        raise FrameError(f"byte 0x{buffer[i]:02X} at offset {i}: a frame starts with 68H (after optional FEH)")
    if len(buffer) > i + 7 and buffer[i + 7] != START:  # a stray 68H in noise: not a frame's head
        raise FrameError(f"byte 0x{buffer[i + 7]:02X} at offset {i + 7}: the address is followed by 68H")
    if len(buffer) < i + 10:
        return None
    total = i + 12 + buffer[i + 9]
    return total if len(buffer) >= total else None


def decode(raw: bytes) -> Frame:
    """One frame from its bytes (leading FE bytes allowed); FrameError names what is wrong."""
    i = 0
    while i < len(raw) and raw[i] == WAKE:
        i += 1
    b = raw[i:]
    if len(b) < 12:
        raise FrameError(f"frame of {len(b)} bytes: the shortest frame has 12 ({_hex(raw)})")
    if b[0] != START or b[7] != START:
        raise FrameError(f"start bytes 0x{b[0]:02X}, 0x{b[7]:02X}: both must be 68H ({_hex(raw)})")
    length = b[9]
    if len(b) != 12 + length:
        raise FrameError(f"length field L = {length}: the frame then has {12 + length} bytes, got {len(b)} "
                         f"({_hex(raw)})")
    if b[-1] != END:
        raise FrameError(f"end byte 0x{b[-1]:02X}: must be 16H ({_hex(raw)})")
    want = checksum(b[:10 + length])
    if b[10 + length] != want:
        raise FrameError(f"checksum 0x{b[10 + length]:02X}: the bytes sum to 0x{want:02X} ({_hex(raw)})")
    for n, digit in enumerate(address_text(b[1:7])):
        if digit not in "0123456789A":
            raise FrameError(f"address byte A{5 - n // 2} = {b[6 - n // 2]:02X}H is not BCD ({_hex(raw)})")
    return Frame(address_text(b[1:7]), b[8], bytes((x - OFFSET) & 0xFF for x in b[10:10 + length]))


def _hex(raw: bytes) -> str:
    return raw.hex(" ").upper()


# -- data identifiers --------------------------------------------------------------------------
def di_bytes(di: str) -> bytes:
    """Wire order (DI0 first) of an identifier written DI3..DI0 ("00010000" → 00 00 01 00);
    2-byte DL/T 645-1997 identifiers ("9010" → 10 90) likewise."""
    text = di.strip().upper()
    if len(text) not in (4, 8) or any(c not in "0123456789ABCDEF" for c in text):
        raise FrameError(f"data identifier {di!r}: must be 8 hex digits (DL/T 645-2007, e.g. 00010000) "
                         "or 4 (DL/T 645-1997, e.g. 9010)")
    return bytes.fromhex(text)[::-1]


def di_text(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def read_request(address: str, di: str, preamble: int = 4) -> bytes:
    """Read data: 11H with a 4-byte identifier (2007), or 01H with a 2-byte one (1997)."""
    function = READ_DATA if len(di.strip()) == 8 else READ_DATA_1997
    return encode(Frame(address, function, di_bytes(di)), preamble)


def followup_request(address: str, di: str, seq: int, preamble: int = 4) -> bytes:
    """Read follow-up data: 12H with the identifier and the sequence number of the frame wanted
    (2007), or 02H with the identifier alone (1997)."""
    if len(di.strip()) == 4:
        return encode(Frame(address, READ_FOLLOWUP_1997, di_bytes(di)), preamble)
    return encode(Frame(address, READ_FOLLOWUP, di_bytes(di) + bytes([seq & 0xFF])), preamble)


def read_address_request(preamble: int = 4) -> bytes:
    """Read address (13H) on the wildcard address: the only meter on the line answers with its own."""
    return encode(Frame(WILDCARD, READ_ADDRESS), preamble)


def time_sync_request(t: datetime, preamble: int = 4) -> bytes:
    """Broadcast time (08H): ssmmhhDDMMYY, lowest first, in the meters' local time. No answer."""
    data = bytes(_bcd_byte(v) for v in (t.second, t.minute, t.hour, t.day, t.month, t.year % 100))
    return encode(Frame(BROADCAST, BROADCAST_TIME, data), preamble)


class MeterError(Exception):
    """The meter answered, abnormally (D6 set): `word` is its error information word."""

    def __init__(self, function: int, word: int, dl1997: bool = False) -> None:
        self.function, self.word = function, word
        super().__init__(f"abnormal answer to {function:02X}H: error word 0x{word:02X} ({error_text(word, dl1997)})")


def error_text(word: int, dl1997: bool = False) -> str:
    table = ERROR_BITS_1997 if dl1997 else ERROR_BITS
    names = [table.get(bit, f"reserved bit {bit}") for bit in range(8) if word >> bit & 1]
    return "; ".join(names) or "no error bit set"


def answer_payload(request: Frame, answer: Frame) -> tuple[bytes, bool]:
    """The value bytes of an answer to a read (after its identifier) and whether follow-up
    frames come; MeterError for an abnormal answer, FrameError for an answer that does not
    belong to the request (another meter, function or identifier)."""
    if not answer.from_meter:
        raise FrameError(f"control code {answer.control:02X}H: D7 = 0, a master's frame, not an answer")
    if answer.function != request.function:
        raise FrameError(f"control code {answer.control:02X}H answers {answer.function:02X}H, "
                         f"the request was {request.function:02X}H")
    if not address_matches(request.address, answer.address):
        raise FrameError(f"answer from address {answer.address}, the request went to {request.address}")
    dl1997 = request.function in (READ_DATA_1997, READ_FOLLOWUP_1997)
    if answer.abnormal:
        raise MeterError(request.function, answer.data[0] if answer.data else 0, dl1997)
    n = 2 if dl1997 else 4
    if request.function in (READ_DATA, READ_DATA_1997, READ_FOLLOWUP, READ_FOLLOWUP_1997):
        if answer.data[:n] != request.data[:n]:
            raise FrameError(f"answer for identifier {di_text(answer.data[:n])}, "
                             f"the request was {di_text(request.data[:n])}")
        payload = answer.data[n:]
        if request.function == READ_FOLLOWUP:
            payload = payload[:-1]  # the trailing SEQ byte
        return payload, answer.follows
    return answer.data, answer.follows


# -- values ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Format:
    """A data format of the standard's dictionary, e.g. XXXXXX.XX: digits and decimals, and
    whether the top bit of the highest byte is a sign bit (power, current, power factor)."""

    digits: int
    decimals: int
    signed: bool = False

    @property
    def size(self) -> int:
        return (self.digits + 1) // 2


def parse_format(text: str, signed: bool = False) -> Format:
    """'XXXXXX.XX' → Format(8, 2); 'XX.XXXX' → Format(6, 4). An odd count (1997's 'XXX' V) takes
    whole bytes, its top digit 0."""
    t = text.strip().upper()
    whole, _, frac = t.partition(".")
    if not whole or set(whole + frac) != {"X"} or len(whole + frac) > 16:
        raise ValueError(f"format {text!r}: write it as in the standard, X for each BCD digit with an "
                         "optional point (XXXXXX.XX, XXX.X, XX.XXXX), at most 16 digits")
    return Format(len(whole) + len(frac), len(frac), signed)


def _bcd_byte(v: int) -> int:
    return (v // 10) << 4 | v % 10


def decode_value(raw: bytes, fmt: Format) -> float:
    """A BCD value, lowest byte first, in the format's unit; FrameError on a non-BCD digit."""
    if len(raw) != fmt.size:
        raise FrameError(f"value of {len(raw)} byte(s) for a {fmt.digits}-digit format ({fmt.size} bytes)")
    data = bytearray(raw[::-1])  # highest byte first
    negative = False
    if fmt.signed and data[0] & 0x80:
        negative = True
        data[0] &= 0x7F
    digits = data.hex().upper()
    if not digits.isdigit():
        raise FrameError(f"value bytes {raw.hex(' ').upper()} are not BCD")
    value = int(digits) / 10 ** fmt.decimals
    return -value if negative else value


def encode_value(value: float, fmt: Format) -> bytes:
    """Inverse of decode_value; a counter past the format's range wraps, as the meter's does."""
    scaled = round(abs(value) * 10 ** fmt.decimals)
    room = fmt.digits - (1 if fmt.signed else 0)  # a signed value's top digit must stay < 8
    scaled %= 10 ** fmt.digits
    if fmt.signed and scaled >= 8 * 10 ** room:
        raise ValueError(f"{value} does not fit a signed {fmt.digits}-digit BCD value")
    data = bytearray(bytes.fromhex(f"{scaled:0{2 * fmt.size}d}"))
    if fmt.signed and value < 0:
        data[0] |= 0x80
    return bytes(data[::-1])


def decode_datetime(date_raw: bytes, time_raw: bytes) -> datetime:
    """The meter's clock from 04000101 (YYMMDDWW) and 04000102 (hhmmss), naive local time."""
    ww, dd, mm, yy = (int(f"{b:02X}") for b in date_raw)
    ss, mi, hh = (int(f"{b:02X}") for b in time_raw)
    return datetime(2000 + yy, mm, dd, hh, mi, ss)


def encode_datetime(t: datetime) -> tuple[bytes, bytes]:
    """04000101 and 04000102 bytes for a local time (week day 0 = Sunday, as meters count)."""
    week = (t.isoweekday() % 7)
    date_raw = bytes(_bcd_byte(v) for v in (week, t.day, t.month, t.year % 100))
    time_raw = bytes(_bcd_byte(v) for v in (t.second, t.minute, t.hour))
    return date_raw, time_raw
