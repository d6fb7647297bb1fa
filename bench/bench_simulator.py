"""Simulator benchmark: physics throughput and Modbus request rate against a bare pymodbus server.

    .venv/bin/python bench/bench_simulator.py [--meters 1000] [--seconds 5]

1. Batch physics: a synthetic park (simulator.fleet) advanced day by day for about `--seconds`;
   prints simulated meter-updates per second (meters × one-minute cells / real second).
2. Modbus: the same request mix (every block of every meter's read plan, round-robin over the
   meters of one bus, `--clients` pymodbus async TCP clients on loopback) against the ParkServer
   and against a bare pymodbus server (plain SimDevices with static registers, same units and
   blocks), each for about `--seconds`; prints requests/s of both and their ratio.
Loopback only; bounded in time (≈ 3 × seconds plus start-up).
"""

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymodbus.client import AsyncModbusTcpClient  # noqa: E402
from pymodbus.server import ModbusTcpServer  # noqa: E402
from pymodbus.simulator import SimData, SimDevice  # noqa: E402
from pymodbus.simulator.simutils import DataType  # noqa: E402

from lingtan.kernel import profile as profiles  # noqa: E402
from lingtan.kernel.clock import SimClock  # noqa: E402
from lingtan.kernel.config import parse_config  # noqa: E402
from lingtan.simulator.fleet import fleet_config  # noqa: E402
from lingtan.simulator.model import ParkModel  # noqa: E402
from lingtan.simulator.server import ParkServer  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_physics(meters: int, seconds: float) -> tuple[float, int]:
    config = parse_config(fleet_config(meters), "fleet")
    model = ParkModel(config.parks[0], 1, START)
    model.history_s = 3600
    t0 = time.perf_counter()
    days = 0
    while time.perf_counter() - t0 < seconds:
        model.advance(START + timedelta(days=days + 1))
        days += 1
    elapsed = time.perf_counter() - t0
    return meters * days * 1440 / elapsed, days


def requests_of(config, bus_id: str) -> list[tuple[int, int, int, int]]:
    """(unit, function, start, count) for every block of every meter on the bus."""
    out = []
    for m in config.parks[0].meters:
        if m.modbus.bus == bus_id:
            out += [(m.modbus.unit, b.function, b.start, b.count) for b in profiles.plan(profiles.load(m.profile))]
    return out


def bare_devices(config, bus_id: str) -> list[SimDevice]:
    devices = []
    for m in config.parks[0].meters:
        if m.modbus.bus != bus_id:
            continue
        blocks = {3: [], 4: []}
        for b in profiles.plan(profiles.load(m.profile)):
            blocks[b.function].append(SimData(b.start, count=b.count, values=0x1234, datatype=DataType.REGISTERS))
        bits = [SimData(65535, datatype=DataType.BITS)]
        unused = [SimData(65535, datatype=DataType.REGISTERS)]
        devices.append(SimDevice(id=m.modbus.unit, simdata=(bits, list(bits), blocks[3] or unused,
                                                             blocks[4] or list(unused))))
    return devices


async def hammer(port: int, mix: list[tuple[int, int, int, int]], clients: int, seconds: float) -> float:
    conns = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=5) for _ in range(clients)]
    for c in conns:
        assert await c.connect(), f"cannot connect to 127.0.0.1:{port}"
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: AsyncModbusTcpClient, offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            unit, fc, start, count = mix[i % len(mix)]
            read = client.read_holding_registers if fc == 3 else client.read_input_registers
            rr = await read(start, count=count, device_id=unit)
            assert not rr.isError(), rr
            done += 1
            i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, k * 7) for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return done / elapsed


async def bench_modbus(meters_on_bus: int, clients: int, seconds: float) -> tuple[float, float, int]:
    port, bare_port = free_port(), free_port()
    config = parse_config(fleet_config(meters_on_bus, per_bus=meters_on_bus, ports=[port]), "fleet-bus")
    bus_id = config.gateways[0].buses[0].id
    mix = requests_of(config, bus_id)
    sim = ParkServer(config, SimClock(START, speed=60))
    await sim.start()
    try:
        sim_rate = await hammer(port, mix, clients, seconds)
    finally:
        await sim.stop()
    bare = ModbusTcpServer(bare_devices(config, bus_id), address=("127.0.0.1", bare_port))
    await bare.serve_forever(background=True)
    try:
        bare_rate = await hammer(bare_port, mix, clients, seconds)
    finally:
        await bare.shutdown()
    return sim_rate, bare_rate, len(mix)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meters", type=int, default=1000, help="meters in the batch-physics park (default 1000)")
    p.add_argument("--bus-meters", type=int, default=100, help="meters on the benchmarked Modbus bus (default 100)")
    p.add_argument("--clients", type=int, default=4, help="concurrent Modbus TCP clients (default 4)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each measurement (default 5)")
    args = p.parse_args()

    rate, days = bench_physics(args.meters, args.seconds)
    print(f"physics: {args.meters} meters, {days} simulated days in ~{args.seconds:.0f} s: "
          f"{rate:,.0f} meter-updates/s (1-min cells); a year ≈ {365 * 1440 * args.meters / rate:,.0f} s")
    sim_rate, bare_rate, mix = asyncio.run(bench_modbus(args.bus_meters, args.clients, args.seconds))
    print(f"modbus:  {args.bus_meters} meters on one TCP server, {mix} distinct requests, {args.clients} clients")
    print(f"  ParkServer        {sim_rate:8,.0f} requests/s")
    print(f"  bare pymodbus     {bare_rate:8,.0f} requests/s")
    print(f"  ratio             {sim_rate / bare_rate:8.2f}")


if __name__ == "__main__":
    main()
