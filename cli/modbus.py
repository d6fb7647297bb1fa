"""`lingtan modbus scan|read`: the commissioning commands' parser and printing (the Modbus work
is lingtan.gateway.commission)."""

import asyncio
import sys
from collections.abc import Callable

from lingtan.gateway.commission import UnitAnswer, find_bus, parse_units, probe_bus, read, read_profile, scan
from lingtan.kernel import registers as codec
from lingtan.kernel.config import Config, ConfigError


def cmd_scan(config: Config, args) -> int:
    from lingtan.gateway.modbus import MeterUnavailable

    gateway, bus = find_bus(config, args.gateway, args.bus)
    try:
        units = parse_units(args.units)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    bus = probe_bus(bus, args.timeout)
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
    bus = probe_bus(bus, args.timeout)
    try:
        if args.profile:
            registers, values = asyncio.run(read_profile(bus, args.unit, args.profile))
            print(f"unit {args.unit} on bus {bus.id} through profile {args.profile}:")
            for (fc, addr), w in sorted(registers.items()):
                print(f"  fc{fc} {addr:5d} (0x{addr:04X}): {w:5d}  0x{w:04X}")
            for q, v in values.items():
                print(f"  {q} = {v!r}")
            return 0
        words_per_value = codec.words_of(args.type)
        count = args.count or words_per_value
        words = asyncio.run(read(bus, args.unit, args.function, args.register, count))
    except MeterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"unit {args.unit} on bus {bus.id}, fc{args.function}, register {args.register} "
          f"(0x{args.register:04X}), {count} word(s):")
    for i, w in enumerate(words):
        print(f"  {args.register + i:5d} (0x{args.register + i:04X}): {w:5d}  0x{w:04X}")
    values = codec.decode_all(words, args.type, args.word_order, args.byte_order)
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
    r.add_argument("--type", choices=codec.TYPES, default="uint16", help="how to decode (default uint16)")
    r.add_argument("--word-order", choices=("big", "little"), default="big", help="big: high word first (default)")
    r.add_argument("--byte-order", choices=("big", "little"), default="big", help="within each word (default big)")
    r.set_defaults(func=lambda args: _exit_on_error(cmd_read(load_config(args.config), args)))
