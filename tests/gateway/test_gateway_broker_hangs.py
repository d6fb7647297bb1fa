"""A broker that hangs with its connection open (SIGSTOP: a stuck host, a link that silently
stops carrying packets) while the gateway waits for a PUBACK.

paho notices the dead connection by its keepalive (1.5 × keepalive_s), but aiomqtt's publish
went on waiting for the acknowledgement until its own 30 s timeout, so the gateway reconnected
only then (found by tests/system/test_network_faults.py: after a 20 s partition with a 5 s
keepalive it resumed ~10 s after the link healed). Now the gateway drops the connection as soon
as the client knows, well inside the 30 s, and every reading still arrives once, in order.
"""

import asyncio

from lingtan.gateway.service import GatewayService
from lingtan.kernel.clock import SimClock
from lingtan.simulator.server import ParkServer
from tests.support import free_port, until
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START, Subscriber, assert_in_order, assert_served_exactly_once, unique_by_seq

KEEPALIVE_S = 5  # the least the config accepts: paho gives up after ~7.5 s without an answer
NOTICED_WITHIN_S = 20  # before the fix the publish waited 30 s for its PUBACK


def test_a_hung_broker_is_left_within_the_keepalive_not_the_publish_timeout(tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}]
    meters = [meter("grid", "bus-a", 1, role="grid", interval=0.5), meter("gas", "bus-a", 21, "natural_gas",
                                                                         interval=0.5)]
    data = platform(meters, buses, mosquitto.port, tmp_path / "spool.db", gateway_extra={"publish_batch": 5})
    data["mqtt"]["keepalive_s"] = KEEPALIVE_S
    config = config_of(data)
    clock = SimClock(START, speed=1)
    sub = Subscriber(mosquitto.port, "lingtan/v1/gw-park/gw-1/#")

    async def scenario():
        sim = ParkServer(config, clock)
        sim.served = {}
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        task = asyncio.create_task(gw.run())
        try:
            await until(lambda: len(sub.readings()) >= 6, "readings flowing", 60)
            mosquitto.freeze()
            try:
                await until(lambda: not gw.publisher.connected,
                            f"the gateway leaving the hung broker within {NOTICED_WITHIN_S} s", NOTICED_WITHIN_S)
            finally:
                mosquitto.freeze(False)
            await until(lambda: gw.publisher.connected, "reconnected", 60)
            sim.faults.modes = {m.id: "exception" for m in config.park("gw-park").meters}  # stop serving
            await asyncio.sleep(1.0)
            await until(lambda: len(gw.spool) == 0, "spool drained", 60)
            total = sum(len(v) for v in sim.served.values())
            await until(lambda: len(unique_by_seq(sub.readings())) >= total,
                        lambda: f"{len(unique_by_seq(sub.readings()))} of {total} readings arrived", 60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sim.stop()
        return sim.served

    try:
        served = asyncio.run(scenario())
    finally:
        sub.close()
    readings = sub.readings()
    assert_in_order(readings)
    assert_served_exactly_once(config, served, unique_by_seq(readings))
