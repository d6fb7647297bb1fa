"""`lingtan dlt645 scan|read`: DL/T 645 commissioning, the parser and printing (the protocol work
is lingtan.gateway.dlt645)."""

import asyncio
import sys
from collections.abc import Callable
from importlib import resources

from lingtan.cli.modbus import add_bus_arguments, exit_on_error, serial_ready
from lingtan.kernel.config import Bus, Config, ConfigError


def _bus(config: Config, gateway_id: str, bus_id: str, timeout: float | None) -> Bus:
    try:
        gateway = config.gateway(gateway_id)
    except KeyError:
        raise ConfigError(f"--gateway {gateway_id!r}: not in the config (gateways: "
                          f"{', '.join(g.id for g in config.gateways) or 'none'})") from None
    bus = next((b for b in gateway.buses if b.id == bus_id), None)
    if bus is None:
        names = ", ".join(b.id for b in gateway.buses)
        raise ConfigError(f"--bus {bus_id!r}: gateway {gateway_id!r} has buses {names}")
    if bus.protocol != "dlt645":
        raise ConfigError(f"--bus {bus_id!r}: protocol {bus.protocol}, not dlt645 (use `lingtan modbus`)")
    serial_ready(bus, f"gateways[{gateway_id}].buses[{bus_id}]")
    return bus.model_copy(update={"retries": 0, **({"timeout_s": timeout} if timeout else {})})


def known_formats() -> dict[str, tuple[str, bool, str, str]]:
    """DI → (format, signed, unit, quantity) from the shipped DL/T 645 profiles."""
    from lingtan.kernel import profile as profiles

    out: dict[str, tuple[str, bool, str, str]] = {}
    for f in sorted(resources.files("lingtan.kernel.profiles").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".yaml"):
            p = profiles.load(f.name.removesuffix(".yaml"))
            if isinstance(p, profiles.Dlt645Profile):
                for i in p.identifiers:
                    out.setdefault(i.di.upper(), (i.format, i.signed, i.unit, i.quantity))
                if p.ratios is not None:
                    out.setdefault(p.ratios.ct.upper(), (p.ratios.format, False, "", "CT ratio"))
                    out.setdefault(p.ratios.vt.upper(), (p.ratios.format, False, "", "VT ratio"))
    out.setdefault("04000101", ("YYMMDDWW", False, "", "meter date"))
    out.setdefault("04000102", ("hhmmss", False, "", "meter time"))
    return out


def cmd_scan(config: Config, args) -> int:
    from lingtan.gateway.dlt645 import Dlt645Client, MeterUnavailable, ScanLimit, scan

    bus = _bus(config, args.gateway, args.bus, args.timeout)
    configured = {m.modbus.address.rjust(12, "0"): m for p in config.parks for m in p.meters
                  if m.gateway == args.gateway and m.modbus.bus == bus.id and m.modbus.address}
    print(f"scanning DL/T 645 bus {bus.id} of gateway {args.gateway} ({bus.transport}): read address on "
          f"AAAAAAAAAAAA, then by address byte where several answer; {bus.timeout_s:g} s per silent probe, "
          f"at most {args.max_probes} probes")

    def show(address: str) -> None:
        meter = configured.get(address)
        name = f"  [meter {meter.id}, profile {meter.profile}]" if meter else "  [not in config]"
        print(f"address {address}: ANSWERS{name}", flush=True)

    async def run():
        client = Dlt645Client(bus)
        try:
            return await scan(client, show, args.max_probes)
        finally:
            client.close()

    try:
        found, probes = asyncio.run(run())
    except (MeterUnavailable, ScanLimit) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(found)} meter(s) answer after {probes} probe(s): {', '.join(found) or 'none'}")
    for address, m in sorted(configured.items()):
        if address not in found:
            print(f"configured but silent: address {address} (meter {m.id})")
    return 0


def cmd_read(config: Config, args) -> int:
    from lingtan.gateway.dlt645 import Dlt645Client, MeterUnavailable
    from lingtan.kernel import dlt645 as codec
    from lingtan.kernel import profile as profiles

    bus = _bus(config, args.gateway, args.bus, args.timeout)
    try:
        codec.address_bytes(args.address)
        if args.di:
            codec.di_bytes(args.di)
    except codec.FrameError as exc:
        raise ConfigError(str(exc)) from None
    if args.profile is not None:
        from lingtan.cli.runner import CommandError
        from lingtan.kernel.park import did_you_mean

        known = [n for n in profiles.profile_names() if profiles.load(n).protocol == "dlt645"]
        if args.profile not in known:
            raise CommandError(f"--profile = {args.profile!r}: no DL/T 645 device profile of that name; shipped: "
                               f"{', '.join(known)}{did_you_mean(args.profile, known)}")

    async def run():
        client = Dlt645Client(bus)
        try:
            if args.profile:
                return await client.read_profile(args.address, profiles.load(args.profile)), client.last_raw
            return await client.read(args.address.rjust(12, "0"), args.di), client.last_raw
        finally:
            client.close()

    try:
        result, frames = asyncio.run(run())
    except MeterUnavailable as exc:  # and MeterException, an abnormal answer
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.profile:
        print(f"meter {args.address} on bus {bus.id} through profile {args.profile}:")
        for q, v in result.items():
            print(f"  {q} = {v!r}")
        return 0
    for request, answer in frames:
        print(f"request: {request.hex(' ').upper()}")
        print(f"answer:  {answer.hex(' ').upper()}")
    print(f"DI {args.di.upper()} value bytes (lowest first): {result.hex(' ').upper() or '(none)'}")
    fmt_text, signed, unit, quantity = (args.format, args.signed, "", "") if args.format else \
        known_formats().get(args.di.upper(), (None, False, "", ""))
    if fmt_text is None:
        print("format unknown: give --format as in the standard's dictionary (e.g. XXXXXX.XX)")
        return 0
    if args.di.upper() in ("04000101", "04000102"):
        digits = result[::-1].hex()
        print(f"{quantity}: {digits} ({fmt_text})")
        return 0
    try:
        value = codec.decode_value(result, codec.parse_format(fmt_text, signed))
    except (codec.FrameError, ValueError) as exc:
        print(f"error: DI {args.di}: {exc}", file=sys.stderr)
        return 1
    print(f"{quantity or 'value'} = {value!r} {unit} ({fmt_text}{', signed' if signed else ''})")
    return 0


def add_dlt645_parser(sub, load_config: Callable[[str], Config]) -> None:
    """Add `lingtan dlt645 scan|read` to the CLI's subparsers."""
    d = sub.add_parser("dlt645", help="commissioning: find DL/T 645 meter addresses, read data identifiers",
                       description="Talk to a gateway's DL/T 645 bus directly, with the bus settings of the "
                       "config. Stop the gateway service first when the bus is a serial line.")
    dsub = d.add_subparsers(dest="dlt645_command", required=True, metavar="ACTION")

    s = dsub.add_parser("scan", help="list the meter addresses that answer on a bus")
    add_bus_arguments(s, "bus id of that gateway (protocol dlt645)")
    s.add_argument("--max-probes", type=int, default=1000, metavar="N",
                   help="stop the address search after N probes (default 1000)")
    s.set_defaults(func=lambda args: exit_on_error(cmd_scan(load_config(args.config), args)))

    r = dsub.add_parser("read", help="read one data identifier and print the raw frames and the value")
    add_bus_arguments(r, "bus id of that gateway (protocol dlt645)")
    r.add_argument("--address", required=True, help="meter address, the 12-digit number on the nameplate")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--di", help="data identifier DI3..DI0 (e.g. 00010000), or DI1 DI0 for DL/T 645-1997 (9010)")
    what.add_argument("--profile", metavar="NAME", help="read and decode a whole DL/T 645 profile")
    r.add_argument("--format", help="BCD format, e.g. XXXXXX.XX (default: from the shipped profiles)")
    r.add_argument("--signed", action="store_true", help="with --format: the top bit is a sign")
    r.set_defaults(func=lambda args: exit_on_error(cmd_read(load_config(args.config), args)))
