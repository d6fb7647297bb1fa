"""DL/T 645 meters read per second on one bus at 9600 baud, against the physical frame-time bound.

    .venv/bin/python bench/bench_dlt645.py [--meters 8] [--baud 9600] [--seconds 10] [--turnaround-ms 20]

One serial line: a socat pty pair, the simulator's DL/T 645 meters (generic_dlt645, ten
identifiers each) on one end, the gateway's poller on the other. A pty moves bytes instantly,
so the simulator holds every answer for the line's wire time — (request + answer bytes) × 11
bits ÷ baud (start, 8 data, parity, stop) — plus the meter's turnaround (the standard's
shortest answer delay is 20 ms), as a real RS-485 line with real meters would.

The bound is that same sum over the requests of one poll: the fastest any master could read the
meters on this line. Two rates are measured in the same run, on the same line:

1. raw: one loop writing the same request frames and reading each answer (pyserial, no decode,
   no scheduling);
2. gateway: `BusPoller` with `Dlt645Client`, every meter's interval 1 ms so the bus never idles.

Printed: meters read per second for both, and each as a ratio to the bound. Bounded: at most
64 meters, 60 s per phase.
"""

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lingtan.gateway.dlt645 import Dlt645Client  # noqa: E402
from lingtan.gateway.poller import BusPoller  # noqa: E402
from lingtan.kernel import dlt645 as codec  # noqa: E402
from lingtan.kernel import profile as profiles  # noqa: E402
from lingtan.kernel.clock import SimClock  # noqa: E402
from lingtan.kernel.config import parse_config  # noqa: E402
from lingtan.simulator.server import ParkServer  # noqa: E402

PROFILE = "generic_dlt645"
BITS_PER_BYTE = 11  # DL/T 645-2007 4.1: start bit, 8 data bits, even parity, stop bit


def config(meters: int, baud: int, gateway_end: str, sim_end: str) -> dict:
    return {
        "parks": [{"id": "bench", "name": "bench", "meters": [
            {"id": f"m{i}", "carrier": "electricity", "role": "load", "boundary": False, "gateway": "gw",
             "modbus": {"bus": "line", "address": f"{i + 1:012d}"}, "profile": PROFILE, "poll_interval_s": 0.001}
            for i in range(meters)]}],
        # parity N: a pty refuses E and O; the bit count of the bound is the standard's 11 all the same
        "gateways": [{"id": "gw", "park": "bench", "buses": [
            {"id": "line", "protocol": "dlt645", "transport": "rtu", "serial_port": gateway_end, "baudrate": baud,
             "parity": "N", "timeout_s": 2, "retries": 0}]}],
        "simulator": {"serial_ports": {"gw/line": sim_end}},
    }


def poll_frames(address: str, preamble: int) -> list[tuple[bytes, int]]:
    """One poll's request frames and the length of each answer (value bytes from the profile)."""
    out = []
    for item in profiles.load(PROFILE).identifiers:
        request = codec.read_request(address, item.di, preamble)
        answer = 12 + 4 + item.fmt.size  # 68 A0..A5 68 C L | DI + value | CS 16
        out.append((request, answer))
    return out


def bound_s(meters: int, baud: int, turnaround_s: float, preamble: int) -> float:
    """Seconds one round over every meter takes at the least on this line."""
    total = 0.0
    for i in range(meters):
        for request, answer in poll_frames(f"{i + 1:012d}", preamble):
            total += (len(request) + answer) * BITS_PER_BYTE / baud + turnaround_s
    return total


async def raw_rate(cfg, meters: int, seconds: float) -> float:
    """Meters per second with a bare request/answer loop on the same line."""
    bus = cfg.gateways[0].buses[0]
    client = Dlt645Client(bus)
    frames = [poll_frames(f"{i + 1:012d}", bus.preamble) for i in range(meters)]
    assert await client.connect()
    link = client._link
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for request, _ in frames[done % meters]:
            link.buffer.clear()
            await link.send(request)
            await link.frame(bus.timeout_s)
        done += 1
    elapsed = time.perf_counter() - started
    client.close()
    return done / elapsed


async def gateway_rate(cfg, seconds: float) -> float:
    park = cfg.parks[0]
    client = Dlt645Client(cfg.gateways[0].buses[0])
    readings = 0

    async def emit(_reading):
        nonlocal readings
        readings += 1

    poller = BusPoller(client, list(park.meters), SimClock(park_start()).now, emit, lambda h: None)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(1.0)  # warm-up: connections, first polls
    first, started = readings, time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (readings - first) / (time.perf_counter() - started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    client.close()
    failing = [h.meter for h in poller.health.values() if h.state == "failing"]
    if failing:
        raise SystemExit(f"meters failing during the benchmark: {failing}")
    return rate


def park_start():
    from datetime import UTC, datetime
    return datetime(2026, 6, 15, 4, 0, tzinfo=UTC)


async def main_async(args, gateway_end: str, sim_end: str) -> None:
    cfg = parse_config(config(args.meters, args.baud, gateway_end, sim_end), "bench")
    sim = ParkServer(cfg, SimClock(park_start(), speed=1.0))
    sim.pace_lines = True
    sim.line_turnaround_s = args.turnaround_ms / 1000
    await sim.start()
    try:
        raw = await raw_rate(cfg, args.meters, args.seconds)
        gw = await gateway_rate(cfg, args.seconds)
    finally:
        await sim.stop()
    round_s = bound_s(args.meters, args.baud, args.turnaround_ms / 1000, cfg.gateways[0].buses[0].preamble)
    bound = args.meters / round_s
    n = len(profiles.load(PROFILE).identifiers)
    print(f"DL/T 645 on one line at {args.baud} baud, {args.meters} meters x {n} identifiers ({PROFILE}), "
          f"turnaround {args.turnaround_ms:g} ms, {args.seconds:g} s per phase")
    print(f"  physical bound (frame bytes x 11 bit / baud + turnaround): {bound:8.3f} meters/s")
    print(f"  raw request/answer loop:                                 {raw:8.3f} meters/s  "
          f"ratio to bound {raw / bound:.3f}")
    print(f"  gateway poller (BusPoller + Dlt645Client):               {gw:8.3f} meters/s  "
          f"ratio to bound {gw / bound:.3f}, to raw {gw / raw:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=8)
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--turnaround-ms", type=float, default=20.0)
    args = ap.parse_args()
    args.meters = max(1, min(args.meters, 64))
    args.seconds = max(1.0, min(args.seconds, 60.0))
    socat = shutil.which("socat")
    if socat is None:
        raise SystemExit("needs socat (apt-get install socat)")
    with tempfile.TemporaryDirectory(prefix="bench-dlt645-") as tmp:
        a, b = f"{tmp}/a", f"{tmp}/b"
        proc = subprocess.Popen([socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not (Path(a).exists() and Path(b).exists()):
                if time.monotonic() > deadline:
                    raise SystemExit("socat did not make the pty pair")
                time.sleep(0.05)
            asyncio.run(main_async(args, a, b))
        finally:
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    main()
