"""The spool's overflow policy and sequence numbers, on a real SQLite file; the `dropped` count
in the status message, through a real Mosquitto.

Policy (docs/gateway.md): beyond `spool.max_mb` or `spool.max_age_days` the OLDEST readings are
dropped first, counted (persistently), logged, and reported as `dropped` in the status message.
"""

import asyncio
import logging

from lingtan.gateway.service import GatewayService
from lingtan.gateway.spool import Spool
from lingtan.kernel.clock import SimClock
from lingtan.simulator.server import ParkServer
from tests.support import free_port
from tests.support.configs import config_of, meter, platform
from tests.support.gateway import START, Subscriber, unique_by_seq


def reading(i: int) -> dict:
    return {"meter": "m1", "ts": f"2026-06-15T02:00:{i % 60:02d}.000Z",
            "values": {"energy_import_kwh": 1000.0 + i, "power_kw": 12.5, "padding": "x" * 200}}


def test_size_bound_drops_oldest_first_counts_and_logs(tmp_path, caplog):
    spool = Spool(tmp_path / "s.db", max_mb=0.1)
    with caplog.at_level(logging.WARNING, logger="gateway.spool"):
        for i in range(0, 3000, 10):
            spool.append([reading(j) for j in range(i, i + 10)])
    kept = spool.peek(100_000)
    seqs = [r["seq"] for r in kept]
    assert 0 < len(kept) < 3000
    assert seqs == list(range(3001 - len(kept), 3001))  # the newest, contiguous, in order
    assert spool.dropped == 3000 - len(kept)
    assert kept[-1]["values"]["energy_import_kwh"] == 1000.0 + 2999
    assert "dropped the" in caplog.text and "oldest reading" in caplog.text and "above 0.1 MB" in caplog.text
    assert len(caplog.records) == 1  # a full spool says so at most once a minute
    spool.close()
    again = Spool(tmp_path / "s.db", max_mb=0.1)  # the count survives a restart
    assert again.dropped == 3000 - len(kept)
    again.close()


def test_age_bound_drops_readings_older_than_max_age(tmp_path, caplog):
    now = [1_000_000.0]
    spool = Spool(tmp_path / "s.db", max_age_days=1, wall=lambda: now[0])
    spool.append([reading(i) for i in range(5)])
    now[0] += 3600
    spool.append([reading(i) for i in range(5, 8)])
    assert len(spool) == 8 and spool.dropped == 0
    now[0] += 86400 - 1800  # the first five are now older than a day, the next three are not
    with caplog.at_level(logging.WARNING, logger="gateway.spool"):
        spool.append([reading(8)])
    assert [r["seq"] for r in spool.peek(100)] == [6, 7, 8, 9]
    assert spool.dropped == 5
    assert "older than 1 days" in caplog.text
    spool.close()


def test_seq_never_reused_after_ack_and_reopen(tmp_path):
    spool = Spool(tmp_path / "s.db")
    assert spool.append([reading(i) for i in range(3)]) == [1, 2, 3]
    spool.ack(3)
    assert len(spool) == 0
    spool.close()
    spool = Spool(tmp_path / "s.db")
    assert spool.append([reading(3)]) == [4]
    spool.close()


def test_dropped_count_reaches_the_status_message(tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}]
    meters = [meter(f"m{i}", "bus-a", i, interval=0.05) for i in range(1, 5)]
    data = platform(meters, buses, mosquitto.port, tmp_path / "spool.db")
    data["gateways"][0]["spool"]["max_mb"] = 0.05
    config = config_of(data)
    clock = SimClock(START, speed=60)
    sub = Subscriber(mosquitto.port, "lingtan/v1/gw-park/gw-1/#")  # persistent session
    mosquitto.stop()  # the broker is down while the spool overflows

    async def scenario():
        sim = ParkServer(config, clock)
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        gw.publisher.reconnect_max_s = 1
        task = asyncio.create_task(gw.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while gw.spool.dropped < 200:
            assert loop.time() < deadline, "spool never overflowed"
            await asyncio.sleep(0.1)
        sim.faults.modes = {m["id"]: "exception" for m in meters}  # stop taking readings
        await asyncio.sleep(0.5)
        await asyncio.to_thread(mosquitto.start)
        try:
            while not any(p["state"] == "online" and p["spooled"] == 0 for p, _ in sub.on("status")):
                assert loop.time() < deadline + 30, "no status after the backlog was sent"
                await asyncio.sleep(0.1)
            return gw.spool.dropped, sub.on("status"), sub.readings()
        finally:
            sub.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sim.stop()

    dropped, statuses, readings = asyncio.run(scenario())
    assert statuses[-1][0]["dropped"] == dropped >= 200
    by_seq = unique_by_seq(readings)
    # what arrived is the newest part: everything after the dropped head, without a gap
    assert sorted(by_seq) == list(range(min(by_seq), max(by_seq) + 1))
    assert min(by_seq) == dropped + 1
