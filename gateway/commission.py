"""Commissioning for installers: what `lingtan modbus scan` and `lingtan modbus read` do.

`scan` asks every unit id of a bus for one holding register and reports which ids answer; a
device that answers with a Modbus exception is there (it just has no register 0), while
exception 0x0A/0x0B from a TCP-to-RS-485 gateway, or silence, means no device. `read` reads
registers of one unit and prints the raw words and the decoded value, or a whole meter through
a device profile. Both use the bus settings of the gateway's config, with `retries` 0. The
command's parser and printing are in lingtan.cli.modbus.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lingtan.kernel.config import Bus, Config, ConfigError, Gateway


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


def find_bus(config: Config, gateway_id: str, bus_id: str) -> tuple[Gateway, Bus]:
    try:
        gateway = config.gateway(gateway_id)
    except KeyError:
        raise ConfigError(f"--gateway {gateway_id!r} is not among gateways {[g.id for g in config.gateways]}") from None
    for bus in gateway.buses:
        if bus.id == bus_id:
            return gateway, bus
    raise ConfigError(f"gateway {gateway_id!r} has no bus {bus_id!r}; its buses: {[b.id for b in gateway.buses]}")


def probe_bus(bus: Bus, timeout_s: float | None) -> Bus:
    return bus.model_copy(update={"retries": 0, **({"timeout_s": timeout_s} if timeout_s else {})})


async def scan(bus: Bus, units: Iterable[int], on_answer: Callable[[UnitAnswer], None] = lambda a: None
               ) -> list[UnitAnswer]:
    """Which of `units` answer on `bus` (its timeout, no retries)."""
    from lingtan.gateway.modbus import (
        GATEWAY_PATH_UNAVAILABLE,
        GATEWAY_TARGET_NO_RESPONSE,
        BusClient,
        MeterException,
        MeterUnavailable,
    )

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
    from lingtan.gateway.modbus import BusClient
    from lingtan.kernel import profile as profiles

    profile = profiles.load(profile_name)
    client = BusClient(bus)
    try:
        registers = await client.read(unit, profiles.plan(profile))
    finally:
        client.close()
    return registers, profiles.decode(profile, registers)
