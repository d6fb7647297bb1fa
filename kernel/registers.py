"""The register codec: numbers to and from 16-bit Modbus register words, for every data type a
device profile may name, in either word order and either byte order within a word.

One codec for the gateway's decoder, the commissioning commands and the simulator's encoder.
pymodbus's `convert_from_registers` / `convert_to_registers` cover word order but not byte order
within a word (which some meters swap), so the codec is `struct` over the ordered bytes.
"""

import struct
from typing import Literal

DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
Order = Literal["big", "little"]

# struct code and registers per value
FORMATS: dict[str, tuple[str, int]] = {
    "int16": ("h", 1), "uint16": ("H", 1), "int32": ("i", 2), "uint32": ("I", 2),
    "int64": ("q", 4), "uint64": ("Q", 4), "float32": ("f", 2), "float64": ("d", 4),
}
TYPES: tuple[str, ...] = tuple(sorted(FORMATS))


def words_of(type_: str) -> int:
    """Registers one value of `type_` takes."""
    return FORMATS[type_][1]


def is_float(type_: str) -> bool:
    return FORMATS[type_][0] in "fd"


def integer_range(type_: str) -> int:
    """Where an integer register wraps: 2**bits, or 2**(bits-1) for the signed types."""
    code, words = FORMATS[type_]
    return 1 << (16 * words - (0 if code.isupper() else 1))


def to_bytes(words: list[int], word_order: Order = "big", byte_order: Order = "big") -> bytes:
    """The value's bytes, most significant first, from registers as they arrive."""
    ordered = words if word_order == "big" else list(reversed(words))
    return b"".join(w.to_bytes(2, "big")[:: 1 if byte_order == "big" else -1] for w in ordered)


def from_bytes(data: bytes, word_order: Order = "big", byte_order: Order = "big") -> list[int]:
    """Inverse of to_bytes: registers as the device presents them."""
    words = [int.from_bytes(data[i:i + 2][:: 1 if byte_order == "big" else -1], "big")
             for i in range(0, len(data), 2)]
    return words if word_order == "big" else list(reversed(words))


def decode(words: list[int], type_: str, word_order: Order = "big", byte_order: Order = "big") -> int | float:
    """One value of `type_` from exactly its registers."""
    code, size = FORMATS[type_]
    if len(words) != size:
        raise ValueError(f"{type_} takes {size} register(s), got {len(words)}")
    return struct.unpack(">" + code, to_bytes(words, word_order, byte_order))[0]


def decode_all(words: list[int], type_: str, word_order: Order = "big", byte_order: Order = "big") -> list:
    """Consecutive values of `type_` in `words` (a trailing partial value is ignored)."""
    size = words_of(type_)
    return [decode(words[i:i + size], type_, word_order, byte_order) for i in range(0, len(words) - size + 1, size)]


def encode(raw: float, type_: str, word_order: Order = "big", byte_order: Order = "big") -> list[int]:
    """Registers holding `raw`; integer types wrap around as a real register does (a uint32
    counter rolls over to 0, a negative value in an unsigned register reads as its complement)."""
    code, words = FORMATS[type_]
    if code in "fd":
        data = struct.pack(">" + code, raw)
    else:
        data = (round(raw) % (1 << (16 * words))).to_bytes(2 * words, "big")
    return from_bytes(data, word_order, byte_order)
