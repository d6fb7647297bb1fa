"""Commissioning commands for installers: `lingtan modbus scan` and `lingtan modbus read`.

`scan` asks every unit id of a bus for one holding register and reports which ids answer; a
device that answers with a Modbus exception is there (it just has no register 0), while
exception 0x0A/0x0B from a TCP-to-RS-485 gateway, or silence, means no device. `read` reads
registers of one unit and prints the raw words and the decoded value, or a whole meter through
a device profile. Both use the bus settings of the gateway's config, with `retries` 0.
"""

import asyncio
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lingtan.kernel.config import Bus, Config, ConfigError, Gateway

# struct code and words per value; word and byte order as in gateway/profile.py
TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1), "uint16": ("H", 1), "int32": ("i", 2), "uint32": ("I", 2),
    "int64": ("q", 4), "uint64": ("Q", 4), "float32": ("f", 2), "float64": ("d", 4),
}


@dataclass(frozen=True)
class UnitAnswer:
    unit: int
    present: bool
    detail: str  # "register 0 = 0x1234", "Modbus exception 2", "no answer", ...


def parse_units(text: str) -> list[int]:
    """'1-247', '1,3,10-20' → unit ids; raises ValueError naming what is wrong."""
    units: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"--units {text!r}: {part!r} is not a unit id or a range like 1-247") from None
        if not 0 <= first <= last <= 247:
            raise ValueError(f"--units {text!r}: {part!r} is outside 0-247 or reversed")
        units.extend(range(first, last + 1))
    return sorted(set(units))


def decode_words(words: list[int], type_: str, word_order: str = "big", byte_order: str = "big") -> list[float]:
    """Consecutive values of `type_` in `words` (a trailing partial value is ignored)."""
    code, size = TYPES[type_]
    values = []
    for i in range(0, len(words) - size + 1, size):
        chunk = words[i:i + size] if word_order == "big" else list(reversed(words[i:i + size]))
        data = b"".join(w.to_bytes(2, "big")[:: 1 if byte_order == "big" else -1] for w in chunk)
        values.append(struct.unpack(">" + code, data)[0])
    return values


def find_bus(config: Config, gateway_id: str, bus_id: str) -> tuple[Gateway, Bus]:
    try:
        gateway = config.gateway(gateway_id)
    except KeyError:
        raise ConfigError(f"--gateway {gateway_id!r} is not among gateways {[g.id for g in config.gateways]}") from None
    for bus in gateway.buses:
        if bus.id == bus_id:
            return gateway, bus
    raise ConfigError(f"gateway {gateway_id!r} has no bus {bus_id!r}; its buses: {[b.id for b in gateway.buses]}")


def _probe_bus(bus: Bus, timeout_s: float | None) -> Bus:
    return bus.model_copy(update={"retries": 0, **({"timeout_s": timeout_s} if timeout_s else {})})


async def scan(bus: Bus, units: Iterable[int], on_answer: Callable[[UnitAnswer], None] = lambda a: None
               ) -> list[UnitAnswer]:
    """Which of `units` answer on `bus` (its timeout, no retries)."""
    from lingtan.gateway.modbus import (GATEWAY_PATH_UNAVAILABLE, GATEWAY_TARGET_NO_RESPONSE, BusClient,
                                MeterException, MeterUnavailable)

    client = BusClient(bus)
    out = []
    try:
        if not await client.connect():
            raise MeterUnavailable(f"bus {bus.id}: cannot connect to {client.where}")
        for unit in units:
            try:
                words = await client.read_words(unit, 3, 0, 1)
                answer = UnitAnswer(unit, True, f"holding register 0 = {words[0]} (0x{words[0]:04X})")
            except MeterException as exc:
                if exc.code in (GATEWAY_PATH_UNAVAILABLE, GATEWAY_TARGET_NO_RESPONSE):
                    answer = UnitAnswer(unit, False, f"gateway answers exception {exc.code}: no device")
                else:
                    answer = UnitAnswer(unit, True, f"answers with Modbus exception {exc.code} for register 0")
            except MeterUnavailable:
                answer = UnitAnswer(unit, False, "no answer")
            on_answer(answer)
            out.append(answer)
    finally:
        client.close()
    return out


async def read(bus: Bus, unit: int, function: int, register: int, count: int) -> list[int]:
    from lingtan.gateway.modbus import BusClient

    client = BusClient(bus)
    try:
        return await client.read_words(unit, function, register, count)
    finally:
        client.close()


async def read_profile(bus: Bus, unit: int, profile_name: str) -> tuple[dict[tuple[int, int], int], dict[str, float]]:
    from lingtan.kernel import profile as profiles
    from lingtan.gateway.modbus import BusClient

    profile = profiles.load(profile_name)
    client = BusClient(bus)
    try:
        registers = await client.read(unit, profiles.plan(profile))
    finally:
        client.close()
    return registers, profiles.decode(profile, registers)


# -- the `lingtan modbus` command ------------------------------------------------------------
def cmd_scan(config: Config, args) -> int:
    from lingtan.gateway.modbus import MeterUnavailable

    gateway, bus = find_bus(config, args.gateway, args.bus)
    try:
        units = parse_units(args.units)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    bus = _probe_bus(bus, args.timeout)
    configured = {m.modbus.unit: m for p in config.parks for m in p.meters
                  if m.gateway == gateway.id and m.modbus.bus == bus.id}
    print(f"scanning bus {bus.id} of gateway {gateway.id} ({bus.transport}), units {args.units}, "
          f"{bus.timeout_s:g} s per silent unit")

    def show(a: UnitAnswer) -> None:
        meter = configured.get(a.unit)
        if a.present or args.all:
            name = f"  [meter {meter.id}, profile {meter.profile}]" if meter else "  [not in config]"
            print(f"unit {a.unit:3d}: {'ANSWERS' if a.present else 'absent '}  {a.detail}{name}", flush=True)

    try:
        answers = asyncio.run(scan(bus, units, show))
    except MeterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    present = {a.unit for a in answers if a.present}
    silent = sorted(u for u in configured if u in units and u not in present)
    print(f"{len(present)} unit(s) answer: {sorted(present)}")
    for u in silent:
        print(f"configured but silent: unit {u} (meter {configured[u].id})")
    return 0


def cmd_read(config: Config, args) -> int:
    from lingtan.gateway.modbus import MeterUnavailable

    _, bus = find_bus(config, args.gateway, args.bus)
    bus = _probe_bus(bus, args.timeout)
    try:
        if args.profile:
            registers, values = asyncio.run(read_profile(bus, args.unit, args.profile))
            print(f"unit {args.unit} on bus {bus.id} through profile {args.profile}:")
            for (fc, addr), w in sorted(registers.items()):
                print(f"  fc{fc} {addr:5d} (0x{addr:04X}): {w:5d}  0x{w:04X}")
            for q, v in values.items():
                print(f"  {q} = {v!r}")
            return 0
        words_per_value = TYPES[args.type][1]
        count = args.count or words_per_value
        words = asyncio.run(read(bus, args.unit, args.function, args.register, count))
    except MeterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"unit {args.unit} on bus {bus.id}, fc{args.function}, register {args.register} "
          f"(0x{args.register:04X}), {count} word(s):")
    for i, w in enumerate(words):
        print(f"  {args.register + i:5d} (0x{args.register + i:04X}): {w:5d}  0x{w:04X}")
    values = decode_words(words, args.type, args.word_order, args.byte_order)
    order = f"{args.word_order}-endian words, {args.byte_order}-endian bytes"
    print(f"{args.type} ({order}): " + ", ".join(repr(v) for v in values))
    return 0


def _exit_on_error(code: int) -> None:
    if code:
        sys.exit(code)


def add_modbus_parser(sub, load_config: Callable[[str], Config]) -> None:
    """Add `lingtan modbus scan|read` to the CLI's subparsers."""
    m = sub.add_parser("modbus", help="commissioning: scan a bus for unit ids, read registers",
                       description="Talk to a gateway's Modbus bus directly, with the bus settings of the config. "
                       "Stop the gateway service first when the bus is a serial line.")
    msub = m.add_subparsers(dest="modbus_command", required=True, metavar="ACTION")

    def common(p):
        p.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
        p.add_argument("--gateway", required=True, metavar="GW", help="gateway id in the config")
        p.add_argument("--bus", required=True, metavar="BUS", help="bus id of that gateway")
        p.add_argument("--timeout", type=float, metavar="S", help="seconds to wait per request "
                       "(default: the bus's timeout_s); no retries")

    s = msub.add_parser("scan", help="list the unit ids that answer on a bus")
    common(s)
    s.add_argument("--units", default="1-247", help="unit ids to try, e.g. 1-247 or 1,2,10-20 (default 1-247)")
    s.add_argument("--all", action="store_true", help="also print the units that do not answer")
    s.set_defaults(func=lambda args: _exit_on_error(cmd_scan(load_config(args.config), args)))

    r = msub.add_parser("read", help="read and decode registers of one unit",
                        description="Read registers and print the raw words and the decoded value(s). "
                        "--register is the PDU address on the wire (0-based; 30001/40001-style register "
                        "numbers minus 1), decimal or 0x hex. Or --profile NAME reads the whole profile.")
    common(r)
    r.add_argument("--unit", required=True, type=int, help="Modbus unit id")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--register", type=lambda s: int(s, 0), metavar="ADDR", help="first register (PDU address)")
    what.add_argument("--profile", metavar="NAME", help="read and decode a device profile's registers")
    r.add_argument("--count", type=int, help="registers to read (default: the words of one --type value)")
    r.add_argument("--function", type=int, choices=(3, 4), default=3, help="3 holding (default), 4 input")
    r.add_argument("--type", choices=sorted(TYPES), default="uint16", help="how to decode (default uint16)")
    r.add_argument("--word-order", choices=("big", "little"), default="big", help="big: high word first (default)")
    r.add_argument("--byte-order", choices=("big", "little"), default="big", help="within each word (default big)")
    r.set_defaults(func=lambda args: _exit_on_error(cmd_read(load_config(args.config), args)))
