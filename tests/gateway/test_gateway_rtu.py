"""Modbus RTU over a serial line: the gateway on one end of a socat pseudo-terminal pair, the
simulator on the other (simulator.serial_ports maps 'gw-1/bus-rtu' to its end)."""

import asyncio

from lingtan.gateway.service import GatewayService
from lingtan.gateway.spool import Spool
from lingtan.kernel.clock import SimClock
from lingtan.simulator.server import ParkServer
from tests.support import free_port
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START, assert_served_exactly_once, unique_by_seq


def poll_until_served(config, meters: tuple[str, ...], n: int = 10):
    """Run the simulator and the gateway until each meter served n values, then stop measuring
    (exceptions from now on) and the gateway; returns the simulator's served log and the gateway."""
    clock = SimClock(START, speed=60)

    async def scenario():
        sim = ParkServer(config, clock)
        sim.served = {}
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        task = asyncio.create_task(gw.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not all(len(sim.served.get(m, [])) >= n for m in meters):
            assert loop.time() < deadline, f"readings: { {k: len(v) for k, v in sim.served.items()} }"
            await asyncio.sleep(0.1)
        sim.faults.modes = {m: "exception" for m in meters}
        await asyncio.sleep(1.0)  # in-flight polls finish
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return sim.served, gw

    return asyncio.run(scenario())


def spooled(path) -> dict[int, dict]:
    spool = Spool(path)
    try:
        return unique_by_seq(spool.peek(100_000))
    finally:
        spool.close()


def test_rtu_over_a_pseudo_terminal_pair_delivers_every_served_value(tmp_path, pty_pair):
    buses = [{"id": "bus-rtu", "transport": "rtu", "serial_port": pty_pair.a, "baudrate": 19200,
              "timeout_s": 1}]  # parity N: a pty refuses E and O (EINVAL)
    meters = [meter("grid", "bus-rtu", 1, role="grid", interval=0.3),
              meter("gas", "bus-rtu", 7, "natural_gas", interval=0.3),
              meter("sdm", "bus-rtu", 9, interval=0.3, profile="eastron_sdm630")]
    data = platform(meters, buses, free_port(), tmp_path / "spool.db")  # no broker: check the spool
    data["simulator"] = {"serial_ports": {"gw-1/bus-rtu": pty_pair.b}}
    config = config_of(data)
    served, gw = poll_until_served(config, ("grid", "gas", "sdm"))
    readings = spooled(tmp_path / "spool.db")
    assert all(h.state == "failing" for h in gw.pollers[0].health.values())  # the fault at the end
    assert_served_exactly_once(config, served, readings, meters=["grid", "gas"])
    # the SDM630 profile (float32, input registers): its import counter as served, to float32 precision
    sdm_truth = [v["energy_import_kwh"] for _, v in served["sdm"]]
    sdm_got = [r["values"]["energy_import_kwh"] for _, r in sorted(readings.items()) if r["meter"] == "sdm"]
    assert len(sdm_got) == len(sdm_truth) >= 10
    assert all(abs(a - b) <= abs(b) * 1e-7 for a, b in zip(sdm_got, sdm_truth, strict=True))


def test_rtu_over_tcp_delivers_every_served_value(tmp_path):
    """RTU frames (with CRC) over a TCP connection, as a transparent RS-485-to-Ethernet converter
    passes them: gateway `transport: rtu_over_tcp`, the simulator with the RTU framer on TCP."""
    buses = [{"id": "bus-rot", "transport": "rtu_over_tcp", "port": free_port(), "timeout_s": 1}]
    meters = [meter("grid", "bus-rot", 1, role="grid", interval=0.2), meter("heat", "bus-rot", 3, "heat", interval=0.2),
              meter("adl", "bus-rot", 5, interval=0.2, profile="acrel_adl400")]
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))  # no broker: check the spool
    # one more than the 10 checked below: the ADL400's last poll may be cut by the fault at the end
    # (its registers take four requests, and a later one may meet the exception mode)
    served, _gw = poll_until_served(config, ("grid", "heat", "adl"), n=11)
    readings = spooled(tmp_path / "spool.db")
    assert_served_exactly_once(config, served, readings, meters=["grid", "heat"])
    # the Acrel ADL400 holds energy in a uint32 of 0.01 kWh: values as served, to that resolution
    adl = [r["values"]["energy_import_kwh"] for _, r in sorted(readings.items()) if r["meter"] == "adl"]
    truth = [v["energy_import_kwh"] for t, v in served["adl"]]
    assert len(adl) >= 10 and len(truth) >= len(adl)
    assert all(any(abs(a - b) <= 0.005 + 1e-9 for b in truth) for a in adl)
