"""One dead meter never holds up the others (real Modbus TCP against the simulator).

Requests on one bus are serialised, so a meter that does not answer costs its bus one timeout
(`timeout_s × (retries + 1)`) per attempt: a healthy meter on the same bus may see one interval
stretched by up to that cost (the schedule keeps its cadence, so the next interval is shorter
and the average stays at the configured interval). A dead meter on another bus costs nothing.
After three failures the dead meter is polled less often (doubling), so it costs less and less.

The intervals are the gateway's own cadence, read from the readings' timestamps on a clock
running at real speed; the bounds are generous and the test asserts nothing about how long it
ran.
"""

import asyncio
from datetime import datetime

from lingtan.gateway.poller import BACKOFF_AFTER, retry_interval_s
from lingtan.gateway.service import GatewayService
from lingtan.kernel.clock import SimClock
from lingtan.simulator.server import ParkServer
from tests.support import free_port
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START

INTERVAL_S = 1.0
TIMEOUT_S = 0.8  # with retries 0, one attempt at the dead meter costs its bus 0.8 s
READINGS = 12  # per healthy meter: about 12 s of polling


def gaps(readings: list[dict], meter_id: str) -> list[float]:
    ts = [datetime.fromisoformat(r["ts"]) for r in readings if r["meter"] == meter_id]
    return [(b - a).total_seconds() for a, b in zip(ts, ts[1:], strict=False)]


def test_dead_meter_costs_its_own_bus_one_timeout_per_attempt_and_other_buses_nothing(tmp_path):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": TIMEOUT_S, "retries": 0},
             {"id": "bus-b", "port": free_port(), "timeout_s": TIMEOUT_S, "retries": 0}]
    meters = [meter("dead", "bus-a", 1, interval=INTERVAL_S), meter("a1", "bus-a", 2, interval=INTERVAL_S),
              meter("a2", "bus-a", 3, interval=INTERVAL_S), meter("b1", "bus-b", 4, interval=INTERVAL_S),
              meter("b2", "bus-b", 5, interval=INTERVAL_S)]
    # no broker at all: polling must not depend on it; readings stay in the spool
    config = config_of(platform(meters, buses, free_port(), tmp_path / "spool.db"))
    clock = SimClock(START, speed=1.0)

    async def scenario():
        sim = ParkServer(config, clock)
        sim.faults.modes["dead"] = "offline"  # never answers: the gateway times out
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        sim.served = {}
        task = asyncio.create_task(gw.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not all(len(sim.served.get(m, [])) >= READINGS for m in ("a1", "a2", "b1", "b2")):
            assert loop.time() < deadline, f"timed out waiting for {READINGS} readings of each healthy meter"
            await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return gw

    gw = asyncio.run(scenario())
    from lingtan.gateway.spool import Spool
    spool = Spool(tmp_path / "spool.db")
    readings = spool.peek(100_000)
    spool.close()
    poller_a = next(p for p in gw.pollers if p.client.bus.id == "bus-a")

    assert poller_a.health["dead"].state == "failing"
    assert not [r for r in readings if r["meter"] == "dead"]
    cost = TIMEOUT_S * (0 + 1)
    for m in ("a1", "a2", "b1", "b2"):
        g = gaps(readings, m)
        assert len(g) >= 8, (m, g)
        # the average interval is the configured one: delays are not carried forward
        assert abs(sum(g) / len(g) - INTERVAL_S) < 0.15 * INTERVAL_S, (m, g)
        if m.startswith("a"):  # same bus: at most one timeout longer than the interval
            assert max(g) < INTERVAL_S + cost + 0.4, (m, g)
        else:  # other bus: the dead meter costs nothing (well below interval + cost)
            assert max(g) < INTERVAL_S + cost / 2, (m, g)

    # backoff: the dead meter is tried at 0, 1, 2 s (three failures), then 2 s after the third
    # failure ended (4.8), then 4 s after the fourth (9.6), then 8 s later: 5 attempts in the ~12 s
    # the healthy meters needed for 12 readings, where it would have been tried 12 times
    assert BACKOFF_AFTER == 3
    assert poller_a.attempts["dead"] <= 6, poller_a.attempts
    assert poller_a.health["dead"].errors == poller_a.attempts["dead"]


def test_retry_interval_doubles_after_three_failures_up_to_the_cap():
    assert [retry_interval_s(5, n) for n in (1, 2)] == [5, 5]
    assert [retry_interval_s(5, n) for n in (3, 4, 5, 6)] == [10, 20, 40, 80]
    assert retry_interval_s(5, 20) == 300  # capped at 5 minutes
    assert retry_interval_s(900, 20) == 900  # never more often than the meter's own interval
