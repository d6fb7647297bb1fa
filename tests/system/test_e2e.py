"""The walking skeleton end to end on real services.

simulator (Modbus TCP) → gateway → real Mosquitto (MQTT v5) → ingest → real InfluxDB 1.6.7 →
accounting → API. The energy the API reports for every meter must equal the simulator's own
counter differences (ground truth), and a malformed message published into the stream must be
dead-lettered without losing any good reading.
"""

import asyncio
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.gateway.service import GatewayService
from lingtan.ingest.service import make_ingest
from lingtan.kernel.clock import SimClock
from lingtan.kernel.quantities import COUNTERS
from lingtan.simulator.server import ParkServer
from lingtan.store.db import make_engine
from lingtan.store.timeseries import open_sink
from tests.support import free_port, until, wait_for
from tests.support.configs import config_of, meter, platform, sqlite_url

START = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # 20:00 in Asia/Shanghai: grid import, battery discharging


def e2e_config(tmp_path, mqtt_port: int, influx_url: str, modbus_port: int) -> dict:
    """Every meter on one Modbus TCP bus, polled every 0.5 s; boundary meters by role (grid, supply)."""
    def on_bus(mid: str, unit: int, carrier: str, role: str, **extra) -> dict:
        return meter(mid, "bus-1", unit, carrier, interval=0.5, role=role, **extra)

    meters = [
        on_bus("grid", 1, "electricity", "grid"),
        on_bus("pv", 2, "electricity", "pv"),
        on_bus("bess", 3, "electricity", "storage"),
        on_bus("ent-a-el", 11, "electricity", "enterprise", enterprise="ent-a"),
        on_bus("ent-b-el", 12, "electricity", "enterprise", enterprise="ent-b"),
        on_bus("gas-main", 21, "natural_gas", "supply"),
        on_bus("gas-b", 22, "natural_gas", "enterprise", enterprise="ent-b", parent="gas-main"),
        on_bus("steam", 31, "heat", "supply"),
    ]
    return platform(meters, [{"id": "bus-1", "port": modbus_port, "timeout_s": 1}], mqtt_port, tmp_path / "spool.db",
                    park="e2e-park", name="E2E park",
                    park_extra={"enterprises": [{"id": "ent-a", "name": "A"}, {"id": "ent-b", "name": "B"}]},
                    sink={"kind": "influx_v1", "url": influx_url, "database": "e2e"}, store=sqlite_url(tmp_path))


def test_skeleton_energy_equals_simulator_counters(tmp_path, mosquitto, influxdb_v1):
    config = config_of(e2e_config(tmp_path, mosquitto.port, influxdb_v1.url, free_port()), "e2e")
    park = config.park("e2e-park")
    clock = SimClock(START, speed=60)
    engine = make_engine(config.store.url)
    ingest = make_ingest(config)
    ingest_thread = threading.Thread(target=ingest.run, daemon=True)

    async def scenario() -> tuple[ParkServer, GatewayService]:
        sim = ParkServer(config, clock)
        sim.served = {}
        await sim.start()
        gw = GatewayService(config, "gw-1", clock=clock.now)
        task = asyncio.create_task(gw.run())
        await until(lambda: all(len(sim.served.get(m.id, [])) >= 8 for m in park.meters), "8 readings each")
        # a malformed and a foreign message in the middle of the stream
        bad = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        bad.connect("127.0.0.1", mosquitto.port)
        bad.loop_start()
        bad.publish("lingtan/v1/e2e-park/gw-1/readings", b'{"v":1,"park":"e2e-park"', qos=1).wait_for_publish(5)
        bad.publish("lingtan/v1/other-park/gw-9/readings",
                    b'{"v":1,"park":"other-park","gateway":"gw-9","readings":[{"meter":"m","ts":'
                    b'"2026-06-15T02:00:00Z","seq":1,"values":{"power_kw":1}}]}', qos=1).wait_for_publish(5)
        bad.loop_stop()
        bad.disconnect()
        await until(lambda: all(len(sim.served.get(m.id, [])) >= 12 for m in park.meters), "12 readings each")
        # stop measuring: meters answer with exceptions from now on; let in-flight polls finish
        sim.faults.modes = {m.id: "exception" for m in park.meters}
        await asyncio.sleep(1.5)
        await until(lambda: len(gw.spool) == 0, "spool drained")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
        return sim

    ingest_thread.start()
    try:
        wait_for(ingest.connected.is_set, 10, message="ingest connected")
        sim = asyncio.run(scenario())
        total = sum(len(v) for v in sim.served.values())
        wait_for(lambda: ingest.stats["written"] >= total and not ingest.pending, 20, message="ingest caught up")
    finally:
        ingest.stop.set()
        ingest_thread.join(10)

    # every served reading is stored in InfluxDB exactly once
    for m in park.meters:
        result = influxdb_v1.query(f"SELECT count(seq) FROM reading WHERE meter='{m.id}'", db="e2e")
        assert result["results"][0]["series"][0]["values"][0][1] == len(sim.served[m.id]), m.id

    assert ingest.stats["rejected"] == 2
    rollup = Rollup(config, open_sink(config.ingest.sink), engine, clock=clock.now)
    assert rollup.run_once() > 0

    from lingtan.api.auth import Scope, create_key
    from lingtan.store.db import sessions
    with sessions(engine).begin() as s:  # the API needs a key (docs/api.md)
        _, key = create_key(s, parks=None, scopes=[Scope.ADMIN], name="e2e", now=clock.now())
    client = TestClient(create_app(config, engine, clock=clock.now), headers={"Authorization": f"Bearer {key}"})
    meters = {m["id"]: m for m in client.get("/api/v1/parks/e2e-park/meters").json()}
    for m in park.meters:
        served = sim.served[m.id]
        first, last = served[0][1], served[-1][1]
        truth = {q: last[q] - first[q] for q in first if q in COUNTERS}
        for q, expected in truth.items():
            assert meters[m.id]["today"].get(q, 0.0) == pytest.approx(expected, rel=1e-9, abs=1e-9), (m.id, q)
        assert any(v > 0 for v in truth.values()) or m.id in ("pv", "bess"), (m.id, truth)

    rt = client.get("/api/v1/parks/e2e-park/carbon/realtime").json()
    grid = sim.served["grid"]
    gas = sim.served["gas-main"]
    steam = sim.served["steam"]
    assert rt["today"]["electricity_kwh"]["grid_import"] == pytest.approx(
        grid[-1][1]["energy_import_kwh"] - grid[0][1]["energy_import_kwh"], rel=1e-9)
    assert rt["today"]["energy_by_carrier"]["natural_gas"] == pytest.approx(
        gas[-1][1]["gas_m3"] - gas[0][1]["gas_m3"], rel=1e-9)
    assert rt["today"]["energy_by_carrier"]["heat"] == pytest.approx(
        steam[-1][1]["heat_gj"] - steam[0][1]["heat_gj"], rel=1e-9)
    assert rt["today"]["co2_t"] > 0 and rt["today"]["energy_tce"] > 0
    assert rt["today"]["intensity_t_per_tce"] == pytest.approx(rt["today"]["co2_t"] / rt["today"]["energy_tce"])

    letters = client.get("/api/v1/dead-letters").json()
    reasons = " | ".join(d["reason"] for d in letters)
    assert len(letters) == 2 and "not JSON" in reasons and (
        "gateway 'gw-9' is not configured for park 'other-park'" in reasons)
