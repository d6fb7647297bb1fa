"""Device profiles: register maps as data, one generic decoder (and encoder for the simulator).

A profile is a YAML file in kernel/profiles/ naming the datasheet it comes from. Each register
entry maps a Modbus address onto one contract quantity with its data type, word and byte order
and scale; the engineering unit after scaling must be the quantity's own unit, so a profile that
would publish W as kW is rejected at load time.

A DL/T 645 profile (`protocol: dlt645`) maps data identifiers instead: each entry names the
identifier (DI3..DI0, or DI1 DI0 for DL/T 645-1997), its BCD format from the standard's data
dictionary (XXXXXX.XX) and whether the value is secondary (behind current or voltage
transformers, multiplied by the ratios the meter reports under the profile's `ratios`).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lingtan.kernel import dlt645
from lingtan.kernel import registers as codec
from lingtan.kernel.config import format_errors
from lingtan.kernel.park import did_you_mean
from lingtan.kernel.quantities import QUANTITIES

MAX_REGISTERS_PER_REQUEST = 125  # Modbus application protocol v1.1b3, 6.3/6.4
_SF_NOT_IMPLEMENTED = 0x8000  # SunSpec sunssf "not implemented"; 10**-32768 would publish a false 0



class ProfileError(ValueError):
    """A profile file that cannot be used."""


def _check_quantity(quantity: str, unit: str) -> None:
    q = QUANTITIES.get(quantity)
    if q is None:
        raise ValueError(f"quantity {quantity!r} is not in the contract vocabulary")
    if unit != q.unit:
        raise ValueError(f"{quantity}: unit {unit!r} after scaling, contract unit is {q.unit!r}")


class Register(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: str
    address: int = Field(ge=0, le=65535, description="as written in the datasheet")
    function: Literal[3, 4] = 3  # 3 = holding registers, 4 = input registers
    type: codec.DataType = "uint16"
    word_order: Literal["big", "little"] = "big"  # big: most significant word first
    byte_order: Literal["big", "little"] = "big"  # within each 16-bit word
    scale: float = 1.0  # engineering value = raw * scale * 10**sf
    unit: str
    sf_address: int | None = Field(None, description="SunSpec scale-factor register (int16 power of ten)")
    not_available: list[int] = Field([], description="raw values that mean 'not implemented'")

    @model_validator(mode="after")
    def _known_quantity(self) -> "Register":
        _check_quantity(self.quantity, self.unit)
        return self

    @property
    def words(self) -> int:
        return codec.words_of(self.type)


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["modbus"] = "modbus"
    name: str
    title: str
    source: str = Field(min_length=8, description="datasheet or standard the map comes from")
    addressing: Literal[0, 1] = Field(description="0: addresses are PDU offsets; 1: 1-based register numbers")
    max_gap: int = Field(0, ge=0, le=100, description="unused registers a request may span")
    max_registers: int = Field(MAX_REGISTERS_PER_REQUEST, ge=1, le=MAX_REGISTERS_PER_REQUEST,
                               description="registers per request the device accepts (datasheet limit)")
    registers: list[Register]

    @model_validator(mode="after")
    def _unique(self) -> "Profile":
        names = [r.quantity for r in self.registers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"quantities mapped twice: {sorted(dup)}")
        low = [a for r in self.registers for a in (r.address, r.sf_address) if a is not None and a < self.addressing]
        if low:
            raise ValueError(f"address {low[0]} is below {self.addressing}, the first register of a 1-based map")
        return self

    def pdu_address(self, address: int) -> int:
        """Address on the wire (0-based PDU offset) of a datasheet address."""
        return address - self.addressing


class Identifier(BaseModel):
    """One DL/T 645 data item: identifier, BCD format, unit, and transformer ratios applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: str
    di: str = Field(pattern=r"^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{4})$", description="DI3..DI0 (2007) or DI1 DI0 (1997)")
    format: str = Field(description="as in the standard's dictionary: XXXXXX.XX, XX.XXXX, X.XXX")
    signed: bool = Field(False, description="the top bit of the highest byte is a sign (powers, currents, PF)")
    scale: float = 1.0  # engineering value = BCD value * scale (* ratios)
    unit: str
    secondary: Literal["none", "ct", "vt", "ct_vt"] = Field(
        "none", description="value measured behind transformers: multiplied by those ratios")

    @model_validator(mode="after")
    def _valid(self) -> "Identifier":
        _check_quantity(self.quantity, self.unit)  # the same rule as for Modbus registers
        dlt645.parse_format(self.format, self.signed)
        return self

    @property
    def fmt(self) -> dlt645.Format:
        return dlt645.parse_format(self.format, self.signed)

    @property
    def type(self) -> str:
        return "bcd"


class Ratios(BaseModel):
    """Where the meter keeps its transformer ratios (DL/T 645-2007 04000306 CT, 04000307 VT)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ct: str = Field("04000306", pattern=r"^[0-9A-Fa-f]{8}$")
    vt: str = Field("04000307", pattern=r"^[0-9A-Fa-f]{8}$")
    format: str = "XXXXXX"


class Dlt645Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["dlt645"]
    name: str
    title: str
    source: str = Field(min_length=8, description="standard or manual the map comes from")
    version: Literal[2007, 1997] = 2007
    ratios: Ratios | None = Field(None, description="read CT/VT ratios from the meter for secondary values")
    identifiers: list[Identifier]

    @model_validator(mode="after")
    def _consistent(self) -> "Dlt645Profile":
        names = [i.quantity for i in self.identifiers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"quantities mapped twice: {sorted(dup)}")
        width = 8 if self.version == 2007 else 4
        for i in self.identifiers:
            if len(i.di) != width:
                raise ValueError(f"{i.quantity}: identifier {i.di!r} has {len(i.di)} hex digits, "
                                 f"DL/T 645-{self.version} uses {width}")
            if i.secondary != "none" and self.ratios is None:
                raise ValueError(f"{i.quantity}: secondary {i.secondary!r} needs the profile's `ratios`")
        return self

    @property
    def registers(self) -> list[Identifier]:
        """The items, under the Modbus profiles' name (counted for message sizes, listed per quantity)."""
        return self.identifiers


AnyProfile = Profile | Dlt645Profile


def decode_dlt645(profile: Dlt645Profile, raw: Mapping[str, bytes], ct: float = 1.0, vt: float = 1.0
                  ) -> dict[str, float]:
    """Engineering values from the value bytes of each identifier (as read), with the ratios
    applied to secondary values; identifiers the meter did not have are left out."""
    factor = {"none": 1.0, "ct": ct, "vt": vt, "ct_vt": ct * vt}
    values: dict[str, float] = {}
    for item in profile.identifiers:
        data = raw.get(item.di.upper())
        if data is None:
            continue
        try:
            value = dlt645.decode_value(data, item.fmt) * item.scale * factor[item.secondary]
        except dlt645.FrameError as exc:
            raise ValueError(f"{profile.name}: {item.quantity} (DI {item.di}): {exc}") from exc
        values[item.quantity] = value
    return values


def encode_dlt645(profile: Dlt645Profile, values: Mapping[str, float], ct: float = 1.0, vt: float = 1.0
                  ) -> dict[str, bytes]:
    """Value bytes per identifier as the meter would answer (secondary values divided by the ratios)."""
    factor = {"none": 1.0, "ct": ct, "vt": vt, "ct_vt": ct * vt}
    out: dict[str, bytes] = {}
    for item in profile.identifiers:
        if item.quantity in values:
            out[item.di.upper()] = dlt645.encode_value(values[item.quantity] / item.scale / factor[item.secondary],
                                                       item.fmt)
    return out


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: function code, first PDU address, register count."""

    function: int
    start: int
    count: int


def plan(profile: Profile) -> list[Block]:
    """Group the profile's registers (and scale-factor registers) into requests of at most
    `max_registers` words (125, the protocol's limit, unless the datasheet says fewer)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for r in profile.registers:
        spans.setdefault(r.function, []).append((profile.pdu_address(r.address), r.words))
        if r.sf_address is not None:
            spans[r.function].append((profile.pdu_address(r.sf_address), 1))
    blocks: list[Block] = []
    for function, items in sorted(spans.items()):
        items.sort()
        start, end = items[0][0], items[0][0] + items[0][1]
        for addr, words in items[1:]:
            new_end = max(end, addr + words)
            if addr <= end + profile.max_gap and new_end - start <= profile.max_registers:
                end = new_end
            else:
                blocks.append(Block(function, start, end - start))
                start, end = addr, addr + words
        blocks.append(Block(function, start, end - start))
    return blocks


def decode(profile: Profile, registers: dict[tuple[int, int], int]) -> dict[str, float]:
    """Engineering values from raw registers keyed by (function, PDU address).

    Raises ValueError naming the quantity when a value is not a finite number; values the
    device marks as not available are left out.
    """
    values: dict[str, float] = {}
    for reg in profile.registers:
        base = profile.pdu_address(reg.address)
        words = [registers[(reg.function, base + i)] for i in range(reg.words)]
        if int.from_bytes(codec.to_bytes(words, reg.word_order, reg.byte_order), "big") in reg.not_available:
            continue
        raw = codec.decode(words, reg.type, reg.word_order, reg.byte_order)
        value = raw * reg.scale
        if reg.sf_address is not None:
            sf_word = registers[(reg.function, profile.pdu_address(reg.sf_address))]
            if sf_word == _SF_NOT_IMPLEMENTED:
                continue
            value *= 10.0 ** codec.decode([sf_word], "int16")
        if not math.isfinite(value):
            raise ValueError(f"{profile.name}: {reg.quantity} decoded to {value!r} (raw {raw!r})")
        values[reg.quantity] = value
    return values


def encode(profile: Profile, values: dict[str, float], sf: int | Mapping[int, int] = 0) -> dict[tuple[int, int], int]:
    """Raw registers for engineering values, as the device would present them.

    Integer types wrap around like a real register does (a uint32 counter rolls over); `sf` is
    the SunSpec scale factor written to scale-factor registers: one for all, or one per
    scale-factor register address (as a device has: W_SF, Hz_SF, WH_SF, ...).
    """
    out: dict[tuple[int, int], int] = {}
    for reg in profile.registers:
        if reg.quantity not in values:
            continue
        raw = values[reg.quantity] / reg.scale
        if reg.sf_address is not None:
            power = sf.get(reg.sf_address, 0) if isinstance(sf, Mapping) else sf
            raw /= 10.0 ** power
            out[(reg.function, profile.pdu_address(reg.sf_address))] = power & 0xFFFF
        for i, w in enumerate(codec.encode(raw, reg.type, reg.word_order, reg.byte_order)):
            out[(reg.function, profile.pdu_address(reg.address) + i)] = w
    return out


def parse_profile(data: object, source: str) -> AnyProfile:
    try:
        if isinstance(data, dict) and data.get("protocol") == "dlt645":
            return Dlt645Profile.model_validate(data)
        return Profile.model_validate(data)
    except ValidationError as exc:
        model = Dlt645Profile if isinstance(data, dict) and data.get("protocol") == "dlt645" else Profile
        raise ProfileError(format_errors(exc, source, data, model)) from exc


@cache
def profile_names() -> tuple[str, ...]:
    """Names of the shipped profiles (kernel/profiles/*.yaml)."""
    return tuple(sorted(p.name.removesuffix(".yaml") for p in resources.files("lingtan.kernel.profiles").iterdir()
                        if p.name.endswith(".yaml")))


@cache
def load(name: str) -> AnyProfile:
    """The shipped profile of that name (kernel/profiles/NAME.yaml)."""
    path = resources.files("lingtan.kernel.profiles") / f"{name}.yaml"
    if name not in profile_names() or not path.is_file():
        known = profile_names()
        raise ProfileError(f"no device profile {name!r}; known profiles: {', '.join(known)}"
                           f"{did_you_mean(name, known)}")
    return parse_profile(yaml.safe_load(path.read_text(encoding="utf-8")), f"kernel/profiles/{name}.yaml")


def counter_modulus(profile: Profile, quantity: str) -> float | None:
    """Where an integer counter register wraps, in the quantity's unit; None for floats.

    A uint32 energy register with scale 0.01 kWh wraps at 2**32 × 0.01 = 42,949,672.96 kWh.
    With a SunSpec scale factor the modulus depends on the live exponent, so it is not known
    statically (None): the interval engine then treats a drop as a reset.
    """
    if isinstance(profile, Dlt645Profile):  # a BCD counter of n digits wraps at 10**n units
        for item in profile.identifiers:
            if item.quantity == quantity:
                fmt = item.fmt
                return 10 ** (fmt.digits - fmt.decimals) * abs(item.scale) if item.secondary == "none" else None
        return None
    for reg in profile.registers:
        if reg.quantity == quantity:
            if codec.is_float(reg.type) or reg.sf_address is not None:
                return None
            return codec.integer_range(reg.type) * abs(reg.scale)  # signed types wrap at half range
    return None
