"""`lingtan modbus scan|read`: the commissioning commands' parser and printing (the Modbus work
is lingtan.gateway.commission)."""

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

from lingtan.cli.runner import CommandError
from lingtan.gateway.commission import UnitAnswer, find_bus, parse_units, probe_bus, read, read_profile, scan
from lingtan.kernel import registers as codec
from lingtan.kernel.config import Bus, Config, ConfigError
from lingtan.kernel.park import did_you_mean


def serial_ready(bus: Bus, where: str) -> None:
    """Before opening a serial bus: the device must exist and be readable and writable by this user,
    and the error says which it is (`where`: the bus's key path in the config)."""
    if bus.transport != "rtu" or not bus.serial_port:
        return
    port = bus.serial_port
    denied = False
    try:
        os.stat(port)
    except FileNotFoundError:
        raise CommandError(f"{where}.serial_port = {port!r}: no such device; is the RS-485 adapter plugged in? "
                           "(ls /dev/ttyUSB* /dev/serial/by-id/)") from None
    except PermissionError:  # a folder on the way this user may not enter
        denied = True
    if denied or not os.access(port, os.R_OK | os.W_OK):
        raise CommandError(f"{where}.serial_port = {port!r}: permission denied for this user; add it to the "
                           "device's group (usually dialout: usermod -aG dialout USER, then log in again)")


def register_arg(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--register = {text!r}: a register address, decimal or 0x hex, "
                                         "e.g. 0 or 0x0010") from None
    if not 0 <= value <= 65535 and not 300001 <= value <= 465536:
        raise argparse.ArgumentTypeError(f"--register = {value}: outside 0-65535")
    return value


def unit_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--unit = {text!r}: a Modbus unit id, 0-247") from None
    if not 0 <= value <= 247:
        raise argparse.ArgumentTypeError(f"--unit = {value}: outside 0-247")
    return value


def notation_hint(register: int, function: int) -> str:
    """For a 3xxxx/4xxxx register number: the PDU address it stands for, as a suggestion."""
    for base, fc in ((400001, 3), (300001, 4), (40001, 3), (30001, 4)):
        if base <= register < base + (65536 if base > 100000 else 10000):
            flag = "" if fc == function else f" --function {fc}"
            return (f"; did you mean --register {register - base}{flag} ({register} in the {str(base)[0]}xxxx "
                    f"notation is PDU address {register - base})?")
    return ""


def cmd_scan(config: Config, args) -> int:
    from lingtan.gateway.modbus import MeterUnavailable

    gateway, bus = find_bus(config, args.gateway, args.bus)
    try:
        units = parse_units(args.units)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    serial_ready(bus, f"gateways[{gateway.id}].buses[{bus.id}]")
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
    from lingtan.gateway.modbus import MeterException, MeterUnavailable
    from lingtan.kernel.profile import load, profile_names

    gateway, bus = find_bus(config, args.gateway, args.bus)
    if args.profile is not None:
        known = profile_names()
        if args.profile not in known:
            raise CommandError(f"--profile = {args.profile!r}: no device profile of that name; shipped profiles: "
                               f"{', '.join(known)}{did_you_mean(args.profile, known)}")
        if load(args.profile).protocol != "modbus":
            raise CommandError(f"--profile = {args.profile!r}: a DL/T 645 profile; use `lingtan dlt645 read`")
    else:
        words_per_value = codec.words_of(args.type)
        count = args.count or words_per_value
        if count < 1 or count > 125 or count % words_per_value:
            raise CommandError(f"--count = {count}: --type {args.type} takes {words_per_value} word(s) per value; "
                               f"give a multiple of {words_per_value} from {words_per_value} to "
                               f"{125 - 125 % words_per_value} (at most 125 registers per request)")
        if args.register > 65535:
            raise CommandError(f"--register = {args.register}: outside 0-65535{notation_hint(args.register, 3)}")
    serial_ready(bus, f"gateways[{gateway.id}].buses[{bus.id}]")
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
        words = asyncio.run(read(bus, args.unit, args.function, args.register, count))
    except MeterException as exc:
        hint = notation_hint(args.register, args.function) if args.register is not None and exc.code == 2 else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 1
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


def exit_on_error(code: int) -> None:
    """A command's status as the process's: exit with it unless it is 0 (shared with `lingtan dlt645`)."""
    if code:
        sys.exit(code)


def add_bus_arguments(p: argparse.ArgumentParser, bus_help: str = "bus id of that gateway") -> None:
    """The arguments every commissioning action takes (shared with `lingtan dlt645`): the config,
    the gateway and bus in it, the timeout."""
    p.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
    p.add_argument("--gateway", required=True, metavar="GW", help="gateway id in the config")
    p.add_argument("--bus", required=True, metavar="BUS", help=bus_help)
    p.add_argument("--timeout", type=float, metavar="S", help="seconds to wait per request "
                   "(default: the bus's timeout_s); no retries")


def add_modbus_parser(sub, load_config: Callable[[str], Config]) -> None:
    """Add `lingtan modbus scan|read` to the CLI's subparsers."""
    m = sub.add_parser("modbus", help="commissioning: scan a bus for unit ids, read registers",
                       description="Talk to a gateway's Modbus bus directly, with the bus settings of the config. "
                       "Stop the gateway service first when the bus is a serial line.")
    msub = m.add_subparsers(dest="modbus_command", required=True, metavar="ACTION")

    s = msub.add_parser("scan", help="list the unit ids that answer on a bus")
    add_bus_arguments(s)
    s.add_argument("--units", default="1-247", help="unit ids to try, e.g. 1-247 or 1,2,10-20 (default 1-247)")
    s.add_argument("--all", action="store_true", help="also print the units that do not answer")
    s.set_defaults(func=lambda args: exit_on_error(cmd_scan(load_config(args.config), args)))

    r = msub.add_parser("read", help="read and decode registers of one unit",
                        description="Read registers and print the raw words and the decoded value(s). "
                        "--register is the PDU address on the wire (0-based; 30001/40001-style register "
                        "numbers minus 1), decimal or 0x hex. Or --profile NAME reads the whole profile.")
    add_bus_arguments(r)
    r.add_argument("--unit", required=True, type=unit_arg, help="Modbus unit id")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--register", type=register_arg, metavar="ADDR", help="first register (PDU address)")
    what.add_argument("--profile", metavar="NAME", help="read and decode a device profile's registers")
    r.add_argument("--count", type=int, help="registers to read (default: the words of one --type value)")
    r.add_argument("--function", type=int, choices=(3, 4), default=3, help="3 holding (default), 4 input")
    r.add_argument("--type", choices=codec.TYPES, default="uint16", help="how to decode (default uint16)")
    r.add_argument("--word-order", choices=("big", "little"), default="big", help="big: high word first (default)")
    r.add_argument("--byte-order", choices=("big", "little"), default="big", help="within each word (default big)")
    r.set_defaults(func=lambda args: exit_on_error(cmd_read(load_config(args.config), args)))
