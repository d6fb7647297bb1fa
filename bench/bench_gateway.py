"""How many meters per second one gateway process polls, against raw pymodbus on the same simulator.

    .venv/bin/python bench/bench_gateway.py [--meters 400] [--buses 8] [--seconds 10]

The simulator runs as its own process (`lingtan simulate`) serving N meters (generic_float32,
one 38-register request each) over B Modbus TCP buses on loopback. Two phases, same simulator:

1. raw: one async pymodbus client per bus issues the same read requests back to back, round
   robin over the bus's unit ids, all buses concurrently: the request rate the simulator and
   pymodbus allow;
2. gateway: `GatewayService` with every meter's poll interval at 1 ms (so every bus is always
   busy), spooling to SQLite (WAL, synchronous=FULL) and, when `mosquitto` is installed,
   publishing to a local broker.

Printed: readings/s spooled and published, the ratio to the raw rate, and the gateway's CPU
time per reading. Bounded: at most 2000 meters, 60 s per phase, loopback only.
"""

import argparse
import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lingtan.kernel.config import parse_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def platform(meters: int, buses: int, mqtt_port: int, spool: Path) -> dict:
    bus_list = [{"id": f"bus-{b}", "port": free_port(), "timeout_s": 2} for b in range(buses)]
    per_bus = -(-meters // buses)
    return {
        "parks": [{"id": "bench", "name": "bench", "meters": [
            {"id": f"m{i}", "carrier": "electricity", "role": "load", "boundary": False, "gateway": "gw",
             "modbus": {"bus": f"bus-{i // per_bus}", "unit": 1 + i % per_bus}, "profile": "generic_float32",
             "poll_interval_s": 0.001} for i in range(meters)]}],
        "gateways": [{"id": "gw", "park": "bench", "buses": bus_list, "spool": {"path": str(spool)},
                      "publish_batch": 1000}],
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "simulator": {"speed": 1.0},
    }


async def raw_rate(config, seconds: float) -> tuple[float, float]:
    from pymodbus.client import AsyncModbusTcpClient

    units: dict[str, list[int]] = {}
    for m in config.parks[0].meters:
        units.setdefault(m.modbus.bus, []).append(m.modbus.unit)
    count = 0

    async def one_bus(bus) -> None:
        nonlocal count
        client = AsyncModbusTcpClient(bus.host, port=bus.port, timeout=2, retries=0)
        await client.connect()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                for unit in units[bus.id]:
                    rr = await client.read_holding_registers(0, count=38, device_id=unit)
                    assert not rr.isError(), rr
                    count += 1
        finally:
            client.close()

    started, cpu0 = time.monotonic(), time.process_time()
    await asyncio.gather(*(one_bus(b) for b in config.gateways[0].buses))
    return count / (time.monotonic() - started), (time.process_time() - cpu0) / max(count, 1)


async def gateway_rate(config, spool: Path, seconds: float) -> tuple[float, float, float]:
    from lingtan.gateway.service import GatewayService

    gw = GatewayService(config, "gw")
    cpu0, t0 = time.process_time(), time.monotonic()
    task = asyncio.create_task(gw.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    db = sqlite3.connect(spool)
    spooled = (db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone() or (0,))[0]
    left = db.execute("SELECT count(*) FROM spool").fetchone()[0]
    db.close()
    return spooled / elapsed, (spooled - left) / elapsed, cpu / max(spooled, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=400)
    ap.add_argument("--buses", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    meters, buses, seconds = min(args.meters, 2000), max(1, min(args.buses, 64)), min(args.seconds, 60.0)

    tmp = Path(tempfile.mkdtemp(prefix="lingtan-bench-gw-"))
    procs: list[subprocess.Popen] = []
    try:
        mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        mqtt_port = free_port()
        if mosquitto:
            (tmp / "mosquitto.conf").write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\n")
            procs.append(subprocess.Popen([mosquitto, "-c", str(tmp / "mosquitto.conf")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(mqtt_port)
        data = platform(meters, buses, mqtt_port, tmp / "spool.db")
        (tmp / "bench.yaml").write_text(yaml.safe_dump(data))
        config = parse_config(data, "bench")
        simulate = [sys.executable, "-m", "lingtan", "simulate", "--config", str(tmp / "bench.yaml")]
        procs.append(subprocess.Popen(simulate,
                                      cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, "PYTHONPATH": str(REPO)}))
        for b in config.gateways[0].buses:
            wait_port(b.port, 60)

        raw, raw_cpu_per = asyncio.run(raw_rate(config, seconds))
        spooled, published, cpu_per = asyncio.run(gateway_rate(config, tmp / "spool.db", seconds))
        print(f"{meters} meters on {buses} Modbus TCP buses (loopback), {seconds:g} s per phase, "
              f"simulator in its own process, {os.cpu_count()} CPU(s)")
        print(f"raw pymodbus:      {raw:8.0f} requests/s (38 registers each), {raw_cpu_per * 1e6:.0f} µs CPU each")
        print(f"gateway:           {spooled:8.0f} meters polled/s, spooled; ratio to raw {spooled / raw:.2f}")
        print(f"                   {published:8.0f} readings/s published to "
              f"{'mosquitto (QoS 1)' if mosquitto else 'nothing (no mosquitto installed)'}")
        print(f"gateway CPU time:  {cpu_per * 1e6:8.0f} µs per reading (poll + decode + spool + publish)")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
