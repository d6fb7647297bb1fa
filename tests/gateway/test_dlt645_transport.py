"""DL/T 645 through the gateway's poller: the simulator's DL/T 645 meters on TCP (as behind a
serial-to-TCP converter) and on a socat pty pair, the gateway's client on the other end, and a
dead DL/T 645 meter that costs only its own timeout."""

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lingtan.gateway.dlt645 import Dlt645Client
from lingtan.gateway.modbus import MeterException, MeterUnavailable
from lingtan.gateway.service import GatewayService
from lingtan.gateway.spool import Spool
from lingtan.kernel import dlt645 as codec
from lingtan.kernel.clock import SimClock
from lingtan.kernel.config import Bus
from lingtan.simulator.dlt645 import SIM_CT
from lingtan.simulator.server import ParkServer
from tests.support import free_port
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START, unique_by_seq


def dlt(mid: str, bus: str, address: str, profile: str = "generic_dlt645", **extra) -> dict:
    m = meter(mid, bus, 0, profile=profile, **extra)
    m["modbus"] = {"bus": bus, "address": address}
    return m


def spooled(path) -> list[dict]:
    spool = Spool(path)
    try:
        return [r for _, r in sorted(unique_by_seq(spool.peek(100_000)).items())]
    finally:
        spool.close()


def run_until(config, wanted: dict[str, int], speed: float = 60.0, setup=None, timeout: float = 90):
    """Simulator and gateway in one loop until each meter in `wanted` served that many readings."""
    clock = SimClock(START, speed=speed)

    async def scenario():
        sim = ParkServer(config, clock)
        if setup is not None:
            setup(sim)
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        sim.served = {}
        task = asyncio.create_task(gw.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(len(sim.served.get(m, [])) >= n for m, n in wanted.items()):
            assert loop.time() < deadline, f"served: { {k: len(v) for k, v in sim.served.items()} }"
            await asyncio.sleep(0.05)
        # stop measuring: abnormal answers from now on; in-flight polls finish (and fail)
        sim.faults.modes = {m.id: "exception" for p in config.parks for m in p.meters}
        await asyncio.sleep(1.5)
        await asyncio.sleep(0.2)  # the spool's group commit
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        cts = {m: sim.dlt645_meter(m).ct for m in wanted if m in sim._meters and _is_dlt645(config, m)}
        await sim.stop()
        return sim.served, gw, cts

    return asyncio.run(scenario())


def _is_dlt645(config, meter_id: str) -> bool:
    return any(m.id == meter_id and m.modbus.address for p in config.parks for m in p.meters)


def assert_energy_as_served(served, readings, meter_id: str, lsb_kwh: float) -> None:
    """Every reading's import counter is a served value to the BCD resolution, in order."""
    truth = [v["energy_import_kwh"] for _, v in served[meter_id]]
    got = [r["values"]["energy_import_kwh"] for r in readings if r["meter"] == meter_id]
    assert len(got) >= 5 and len(got) == len(truth), (meter_id, len(got), len(truth))
    for a, b in zip(got, truth, strict=True):
        assert abs(a - b) <= lsb_kwh / 2 + 1e-9, (meter_id, a, b)


def test_dlt645_on_tcp_and_on_a_pty_pair(tmp_path, pty_pair):
    buses = [{"id": "bus-tcp", "protocol": "dlt645", "transport": "tcp", "port": free_port(), "timeout_s": 1},
             # parity N: a pty refuses E and O (EINVAL); a real line keeps the standard's 8E1
             {"id": "bus-485", "protocol": "dlt645", "transport": "rtu", "serial_port": pty_pair.a,
              "baudrate": 9600, "parity": "N", "timeout_s": 1}]
    meters = [dlt("grid", "bus-tcp", "000000000161", role="grid", interval=0.3),
              dlt("load", "bus-tcp", "210512345678", interval=0.3),
              dlt("feeder", "bus-485", "000000000003", profile="holley_dtz545", interval=0.3),
              dlt("old", "bus-485", "138000130754", profile="generic_dlt645_1997", interval=0.3)]
    data = platform(meters, buses, free_port(), tmp_path / "spool.db")  # no broker: check the spool
    data["simulator"] = {"serial_ports": {"gw-1/bus-485": pty_pair.b}}
    config = config_of(data)
    served, gw, cts = run_until(config, {m: 8 for m in ("grid", "load", "feeder", "old")})
    readings = spooled(tmp_path / "spool.db")

    assert_energy_as_served(served, readings, "grid", 0.01)
    assert_energy_as_served(served, readings, "load", 0.01)
    assert_energy_as_served(served, readings, "old", 0.01)
    # transformer-connected: secondary values × CT (VT 1), so the resolution is 0.01 kWh × CT
    assert cts["feeder"] >= SIM_CT
    assert_energy_as_served(served, readings, "feeder", 0.01 * cts["feeder"])
    feeder = [r["values"] for r in readings if r["meter"] == "feeder"][-1]
    assert {"voltage_a_v", "current_c_a", "power_b_kw", "reactive_energy_1_kvarh"} <= set(feeder)
    # the tariffs are a breakdown of the total: they add up to it. A poll reads one identifier
    # after the other (the total first) while the meter counts on, so their sum lies between this
    # reading's total and the next one's (to the BCD resolution of five values)
    for mid in ("grid", "load", "feeder", "old"):
        rows = [r["values"] for r in readings if r["meter"] == mid]
        lsb = 0.01 * (cts["feeder"] if mid == "feeder" else 1)
        for v, after in zip(rows, rows[1:], strict=False):
            parts = sum(v[f"energy_import_{t}_kwh"] for t in ("sharp", "peak", "flat", "valley"))
            assert v["energy_import_kwh"] - 3 * lsb <= parts <= after["energy_import_kwh"] + 3 * lsb, (mid, parts, v)
    assert {p.client.bus.id: type(p.client) for p in gw.pollers} == {"bus-tcp": Dlt645Client,
                                                                      "bus-485": Dlt645Client}


def test_client_reads_follow_up_frames_and_refuses_what_is_not_there(tmp_path):
    bus = {"id": "bus-tcp", "protocol": "dlt645", "port": free_port(), "timeout_s": 0.5, "retries": 0}
    config = config_of(platform([dlt("m1", "bus-tcp", "000000000161")], [bus], free_port()))

    async def scenario():
        sim = ParkServer(config, SimClock(START, speed=1))
        await sim.start()
        client = Dlt645Client(config.gateway("gw-1").buses[0])
        try:
            block = await client.read("000000000161", "0001FF00")  # 20 bytes: answered in two frames
            controls = [codec.decode(answer).control for _, answer in client.last_raw]
            total = await client.read("000000000161", "00010000")
            with pytest.raises(MeterException, match="no requested data") as absent:
                await client.read("000000000161", "00010500")
            with pytest.raises(MeterUnavailable, match=r"meter 000000000999: reading DI 00010000: no answer "
                                                       r"within 0.5 s \(1 attempt\(s\)\)"):
                await client.read("000000000999", "00010000")
            address = await client.read_address()
            return block, controls, total, absent.value.code, address
        finally:
            client.close()
            await sim.stop()

    block, controls, total, code, address = asyncio.run(scenario())
    assert controls == [0xB1, 0x92]  # first frame says "follow-up frames", the follow-up does not
    fmt = codec.parse_format("XXXXXX.XX")
    parts = [codec.decode_value(block[i:i + 4], fmt) for i in range(0, 20, 4)]
    assert parts[0] == pytest.approx(codec.decode_value(total, fmt), abs=0.02)
    assert sum(parts[1:]) == pytest.approx(parts[0], abs=0.03)
    assert code == 0x02 and address == "000000000161"


INTERVAL_S = 1.0
TIMEOUT_S = 0.8


def gaps(readings: list[dict], meter_id: str) -> list[float]:
    ts = [datetime.fromisoformat(r["ts"]) for r in readings if r["meter"] == meter_id]
    return [(b - a).total_seconds() for a, b in zip(ts, ts[1:], strict=False)]


def test_a_dead_dlt645_meter_costs_only_its_own_timeout(tmp_path):
    """A gateway with a DL/T 645 bus (one dead meter, two live ones) and a Modbus bus: the dead
    meter costs its own bus at most one timeout per attempt and the Modbus bus nothing."""
    buses = [{"id": "bus-dlt", "protocol": "dlt645", "port": free_port(), "timeout_s": TIMEOUT_S, "retries": 0},
             {"id": "bus-mb", "port": free_port(), "timeout_s": TIMEOUT_S, "retries": 0}]
    meters = [dlt("dead", "bus-dlt", "000000000001", interval=INTERVAL_S),
              dlt("d1", "bus-dlt", "000000000002", interval=INTERVAL_S),
              dlt("d2", "bus-dlt", "000000000003", interval=INTERVAL_S),
              meter("m1", "bus-mb", 4, interval=INTERVAL_S)]
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))

    def kill(sim):
        sim.faults.modes["dead"] = "offline"

    _served, gw, _ = run_until(config, {m: 12 for m in ("d1", "d2", "m1")}, speed=1.0, setup=kill)
    readings = spooled(tmp_path / "spool.db")
    poller = next(p for p in gw.pollers if p.client.bus.id == "bus-dlt")
    assert poller.health["dead"].state == "failing"
    assert "no answer within 0.8 s" in poller.health["dead"].error
    assert not [r for r in readings if r["meter"] == "dead"]
    for m in ("d1", "d2", "m1"):
        g = gaps(readings, m)
        assert len(g) >= 8, (m, g)
        assert abs(sum(g) / len(g) - INTERVAL_S) < 0.15 * INTERVAL_S, (m, g)  # cadence kept
        if m.startswith("d"):  # same bus: at most one timeout longer than the interval
            assert max(g) < INTERVAL_S + TIMEOUT_S + 0.4, (m, g)
        else:  # the Modbus bus: nothing
            assert max(g) < INTERVAL_S + TIMEOUT_S / 2, (m, g)
    assert poller.attempts["dead"] <= 6, poller.attempts  # backoff after three failures


def test_time_sync_is_opt_in_and_sets_the_meters_clocks(tmp_path):
    """Two DL/T 645 buses whose meters run 3 minutes fast; only the bus with time_sync gets the
    broadcast (08H), and the meter's date and time identifiers then read the gateway's time."""
    buses = [{"id": "synced", "protocol": "dlt645", "port": free_port(), "time_sync": True},
             {"id": "left", "protocol": "dlt645", "port": free_port()}]
    meters = [dlt("a", "synced", "000000000001", interval=0.3), dlt("b", "left", "000000000002", interval=0.3)]
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))
    clock = SimClock(START, speed=1.0)  # 12:00 in Asia/Shanghai: far from midnight

    async def scenario():
        sim = ParkServer(config, clock)
        await sim.start()
        for m in ("a", "b"):
            sim.dlt645_meter(m).clock_offset = timedelta(minutes=3)
        gw = GatewayService(config, "gw-1", clock=clock.now)
        task = asyncio.create_task(gw.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while abs(sim.dlt645_meter("a").clock_offset.total_seconds()) > 2:
            assert loop.time() < deadline, "meter a was never synchronised"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # meter b has had the same time to be synchronised (it must not)
        client = Dlt645Client(config.gateway("gw-1").buses[0])
        date_raw = await client.read("000000000001", "04000101")
        time_raw = await client.read("000000000001", "04000102")
        client.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        offsets = {m: sim.dlt645_meter(m).clock_offset for m in ("a", "b")}
        synced = [p.synced_at is not None for p in gw.pollers]
        await sim.stop()
        return offsets, codec.decode_datetime(date_raw, time_raw), synced, clock.now()

    offsets, meter_time, synced, now = asyncio.run(scenario())
    assert synced == [True, False]
    assert offsets["b"] == timedelta(minutes=3)
    local_now = now.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert abs((meter_time - local_now).total_seconds()) < 5


def test_a_late_answer_is_never_taken_for_the_next_meters(tmp_path):
    """A slow meter answers after the gateway gave up on it, while the next meter's request is on
    the line: that late answer (another address) is skipped, the next meter's own answer taken."""
    buses = [{"id": "bus-dlt", "protocol": "dlt645", "port": free_port(), "timeout_s": 0.8, "retries": 0}]
    meters = [dlt("slow", "bus-dlt", "000000000001", interval=0.5),
              dlt("ok", "bus-dlt", "000000000002", interval=0.5)]
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))

    def slow(sim):
        sim.faults.modes["slow"] = "slow"
        sim.faults.slow_s = 1.0  # past the 0.8 s timeout; the line answers it before the next request

    served, gw, _ = run_until(config, {"ok": 10}, speed=1.0, setup=slow)
    readings = spooled(tmp_path / "spool.db")
    assert gw.pollers[0].health["slow"].state == "failing"
    assert not [r for r in readings if r["meter"] == "slow"]
    # every poll of "ok" the meter answered became a reading, though a late answer preceded each
    assert_energy_as_served(served, readings, "ok", 0.01)


def test_noise_before_an_answer_is_skipped_not_waited_on():
    """An RS-485 turnaround glitch leaves bytes before the meter's answer: FE followed by a byte
    that is not 68H, or a stray 68H whose address is not followed by 68H. The reader took the
    buffer's head for an incomplete frame and waited for bytes that could never complete it, so
    the real answer behind the noise timed out on every attempt. A converter on real TCP here
    sends the noise and then the standard's answer (tests/cases/dlt645/frames.yaml, 00010000)."""
    answer = bytes.fromhex("68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16")
    noises = [bytes.fromhex("FE 17"), bytes.fromhex("68 00 FE 11 22 33 44 55 66 77 88")]

    async def scenario(noise: bytes) -> bytes:
        async def meter(reader, writer):
            await reader.read(64)  # the request
            writer.write(noise)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(answer)
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.close()

        server = await asyncio.start_server(meter, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        bus = Bus(id="conv", protocol="dlt645", transport="tcp", host="127.0.0.1", port=port, timeout_s=1,
                  retries=0)
        client = Dlt645Client(bus)
        try:
            return await client.read("000000000161", "00010000")
        finally:
            client.close()
            server.close()

    for noise in noises:
        assert codec.decode_value(asyncio.run(scenario(noise)), codec.parse_format("XXXXXX.XX")) == 0.26, noise.hex(" ")
