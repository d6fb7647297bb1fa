"""A gateway told to stop stops, even with every bus busy.

On Python 3.11, asyncio.wait_for inside pymodbus can swallow a cancellation that arrives
together with the Modbus answer; a bus poller that only relied on the cancellation reaching an
await kept polling for ever (found by bench/bench_gateway.py, which polls every 1 ms). `lingtan
gateway` stops the same way on SIGTERM, so an installer's `systemctl stop` would have hung.
"""

import asyncio

from lingtan.gateway.service import GatewayService
from tests.support import free_port
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import SimThread


def test_cancel_stops_a_gateway_whose_buses_are_always_busy(tmp_path):
    buses = [{"id": f"bus-{b}", "port": free_port(), "timeout_s": 1} for b in range(2)]
    meters = [meter(f"m{b}-{i}", f"bus-{b}", i + 1, interval=0.001) for b in range(2) for i in range(20)]
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))  # no broker: spool only

    async def rounds() -> list[str]:
        outcomes = []
        for _ in range(10):  # the race is rare per cancel; ten tries made it show every time here
            gw = GatewayService(config, "gw-1")
            task = asyncio.create_task(gw.run())
            while sum(sum(p.attempts.values()) for p in gw.pollers) < 200:
                await asyncio.sleep(0.05)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=20)
            outcomes.append("stopped" if done else "still polling")
            if not done:
                break  # (the stuck poller keeps the loop from closing: pytest-timeout ends the test)
        return outcomes

    with SimThread(config, speed=1.0) as sim:
        outcomes = asyncio.run(rounds())
        assert sim.server.requests > 1000  # the buses really were busy
    assert outcomes == ["stopped"] * 10, outcomes
