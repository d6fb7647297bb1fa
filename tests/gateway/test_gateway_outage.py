"""Store and forward through a broker outage, on a real Mosquitto and the simulator.

The broker is stopped for 45 s of real time while the gateway keeps polling (every meter once
a second); the gateway's reconnect backoff grows to its 30 s cap meanwhile (1 + 2 + 4 + 8 + 16 s,
then 30 s: the first capped wait begins 31 s in, so the gateway comes back through it), as on
site; the network-fault test (tests/system/test_network_faults.py) and its bench hold longer
partitions. After the broker is back every reading taken during the outage arrives, in seq
order, and every value the simulator served arrives exactly once.
"""

import asyncio
from datetime import datetime, timedelta

from lingtan.gateway.service import GatewayService
from lingtan.kernel.clock import SimClock
from lingtan.simulator.server import ParkServer
from tests.support import free_port, until
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START, Subscriber, assert_in_order, assert_served_exactly_once, unique_by_seq

OUTAGE = timedelta(seconds=45)  # real time: the clock runs at real speed; into the backoff's cap
WAIT_S = 60  # how long each step may take (the outage itself excepted)


def test_every_reading_taken_during_a_broker_outage_arrives_once_in_order(tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}, {"id": "bus-b", "port": free_port(), "timeout_s": 1}]
    meters = [meter("grid", "bus-a", 1, role="grid", interval=1), meter("ent-a", "bus-a", 2, role="enterprise",
                                                                       enterprise="a", interval=1),
              meter("gas", "bus-b", 21, "natural_gas", interval=1), meter("steam", "bus-b", 31, "heat", interval=1)]
    data = platform(meters, buses, mosquitto.port, tmp_path / "spool.db", gateway_extra={"publish_batch": 25},
                    park_extra={"enterprises": [{"id": "a", "name": "A"}]})
    config = config_of(data)
    clock = SimClock(START, speed=1)
    sub = Subscriber(mosquitto.port, "lingtan/v1/gw-park/gw-1/#")

    async def scenario():
        sim = ParkServer(config, clock)
        sim.served = {}
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        task = asyncio.create_task(gw.run())
        await until(lambda: len(sub.readings()) >= 12, "readings flowing before the outage", WAIT_S)

        await asyncio.to_thread(mosquitto.stop)
        down_at = clock.now()
        await until(lambda: clock.now() - down_at >= OUTAGE, "the outage", timeout=OUTAGE.total_seconds() + 60)
        spooled_in_outage = len(gw.spool)
        assert not gw.publisher.connected
        await asyncio.to_thread(mosquitto.start)
        up_at = clock.now()

        await until(lambda: gw.publisher.connected, "gateway reconnected", WAIT_S)
        await until(lambda: len(gw.spool) < 10, "backlog sent", WAIT_S)
        # stop measuring: meters answer with exceptions from now on; let in-flight polls finish
        sim.faults.modes = {m.id: "exception" for m in config.park("gw-park").meters}
        await asyncio.sleep(1.0)
        await until(lambda: len(gw.spool) == 0, "spool drained", WAIT_S)
        total = sum(len(v) for v in sim.served.values())
        await until(lambda: len(unique_by_seq(sub.readings())) >= total,
                    lambda: f"subscriber has every reading: {len(unique_by_seq(sub.readings()))} of {total}, "
                    f"spool {len(gw.spool)}, connected {gw.publisher.connected}", WAIT_S)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return sim.served, down_at, up_at, spooled_in_outage

    try:
        served, down_at, up_at, spooled_in_outage = asyncio.run(scenario())
        arrived = sub.readings()
        statuses = [p for p, _ in sub.on("status")]
    finally:
        sub.close()

    by_seq = unique_by_seq(arrived)
    assert_in_order(arrived)
    assert_served_exactly_once(config, served, by_seq)
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1))  # nothing dropped, no gap
    # the outage really was more than a minute of readings, all of which arrived
    taken_in_outage = [r for r in by_seq.values() if down_at < datetime.fromisoformat(r["ts"]) < up_at]
    least = int(OUTAGE.total_seconds() * 0.8)  # the outage, a poll a second, less the slack of a loaded machine
    assert spooled_in_outage >= 4 * least
    for m in ("grid", "ent-a", "gas", "steam"):
        assert len([r for r in taken_in_outage if r["meter"] == m]) >= least, m
    for m in ("grid", "ent-a", "gas", "steam"):  # each meter's readings arrive in time order
        ts = [r["ts"] for _, r in sorted(by_seq.items()) if r["meter"] == m]
        assert ts == sorted(ts)
    # the status after reconnecting reported the backlog, and then that it was sent
    online = [s for s in statuses if s["state"] == "online"]
    assert any(s["spooled"] >= spooled_in_outage for s in online)
    assert online[-1]["spooled"] == 0 and online[-1]["dropped"] == 0
