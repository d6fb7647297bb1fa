"""End to end with DL/T 645 meters: the simulator's meters on a socat pty pair and on TCP,
`lingtan gateway` as a real process reading them, real Mosquitto, real ingest into InfluxDB,
accounting, and the API's energy equal to the simulator's counters (to the meters' BCD
resolution: 0.01 kWh, times the CT ratio for a transformer-connected meter)."""

import signal
import subprocess
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.ingest.service import make_ingest
from lingtan.kernel.clock import SimClock
from lingtan.store.db import make_engine
from lingtan.store.timeseries import open_sink
from tests.support import free_port, wait_for
from tests.support.configs import config_of, meter, platform, sqlite_url, write_config
from tests.support.gateway import SimThread, gateway_process

TARIFFS = ("sharp", "peak", "flat", "valley")


def dlt(mid: str, bus: str, address: str, profile: str, role: str, **extra) -> dict:
    m = meter(mid, bus, 0, profile=profile, role=role, interval=0.5, **extra)
    m["modbus"] = {"bus": bus, "address": address}
    return m


def test_dlt645_meters_through_gateway_process_broker_ingest_and_api(tmp_path, mosquitto, influxdb_v1, pty_pair):
    buses = [{"id": "bus-tcp", "protocol": "dlt645", "transport": "rtu_over_tcp", "port": free_port(), "timeout_s": 1},
             {"id": "bus-485", "protocol": "dlt645", "transport": "rtu", "serial_port": pty_pair.a, "baudrate": 9600,
              "parity": "N", "timeout_s": 1}]  # parity N: a pty refuses E (EINVAL)
    meters = [dlt("grid", "bus-tcp", "000000000161", "generic_dlt645", "grid"),
              dlt("pv", "bus-tcp", "210512345678", "generic_dlt645", "pv"),
              dlt("ent-a-el", "bus-485", "000000000003", "holley_dtz545", "enterprise", enterprise="ent-a"),
              dlt("ent-b-el", "bus-485", "138000130754", "generic_dlt645_1997", "enterprise", enterprise="ent-b")]
    data = platform(meters, buses, mosquitto.port, tmp_path / "spool.db", park="gw-park",
                    park_extra={"enterprises": [{"id": "ent-a", "name": "A"}, {"id": "ent-b", "name": "B"}]},
                    sink={"kind": "influx_v1", "url": influxdb_v1.url, "database": "dlt"}, store=sqlite_url(tmp_path))
    data["simulator"] = {"serial_ports": {"gw-1/bus-485": pty_pair.b}}
    config = config_of(data, "dlt645-e2e")
    path = write_config(data, tmp_path / "lingtan.yaml")
    park = config.park("gw-park")
    clock = SimClock(datetime.now(UTC), speed=1.0)  # the gateway process runs on the wall clock
    engine = make_engine(config.store.url)
    ingest = make_ingest(config)
    ingest_thread = threading.Thread(target=ingest.run, daemon=True)
    ingest_thread.start()
    sim = SimThread(config, clock=clock)
    try:
        wait_for(ingest.connected.is_set, 10, message="ingest connected")
        with sim:
            proc = gateway_process(path, tmp_path / "gateway.log")
            try:
                wait_for(lambda: all(len(sim.served(m.id)) >= 10 for m in park.meters), 120, 0.1,
                         "10 readings of every meter")
                sim.server.faults.modes = {m.id: "exception" for m in park.meters}  # stop measuring
                served = {m.id: sim.served(m.id) for m in park.meters}
                total = sum(len(v) for v in served.values())
                wait_for(lambda: ingest.stats["written"] >= total and not ingest.pending, 30,
                         message="ingest caught up")
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            ct = sim.server.dlt645_meter("ent-a-el").ct
            served = {m.id: sim.served(m.id) for m in park.meters}
    finally:
        ingest.stop.set()
        ingest_thread.join(10)
    assert proc.returncode == 0, (tmp_path / "gateway.log").read_text()

    for m in park.meters:  # every completed poll is stored once
        result = influxdb_v1.query(f"SELECT count(seq) FROM reading WHERE meter='{m.id}'", db="dlt")
        assert result["results"][0]["series"][0]["values"][0][1] == len(served[m.id]), m.id

    rollup = Rollup(config, open_sink(config.ingest.sink), engine, clock=clock.now)
    assert rollup.run_once() > 0
    from lingtan.api.auth import Scope, create_key
    from lingtan.store.db import sessions
    with sessions(engine).begin() as s:
        _, key = create_key(s, parks=None, scopes=[Scope.ADMIN], name="e2e", now=clock.now())
    client = TestClient(create_app(config, engine, clock=clock.now), headers={"Authorization": f"Bearer {key}"})
    api = {m["id"]: m for m in client.get("/api/v1/parks/gw-park/meters").json()}
    lsb = {"grid": 0.01, "pv": 0.01, "ent-a-el": 0.01 * ct, "ent-b-el": 0.01}
    for m in park.meters:
        first, last = served[m.id][0][1], served[m.id][-1][1]
        for q in ("energy_import_kwh", "energy_export_kwh"):
            if q not in first:
                continue
            expected = last[q] - first[q]
            # each end of the difference was read to ±half a BCD step
            assert api[m.id]["today"].get(q, 0.0) == pytest.approx(expected, abs=lsb[m.id] + 1e-9), (m.id, q)
    # something was measured: the counters moved (summed over the park; the grid's import alone can
    # stand still around noon, when PV covers the load: the simulated park runs on the wall clock)
    moved = sum(served[m][-1][1][q] - served[m][0][1][q] for m in served
                for q in ("energy_import_kwh", "energy_export_kwh") if q in served[m][0][1])
    assert moved > 0.05, moved

    # per-tariff counters arrived as contract quantities and were kept; they are no interval quantity
    sink = open_sink(config.ingest.sink)
    span = (0, int(clock.now().timestamp() * 1000) + 60_000)
    for mid in ("grid", "ent-a-el", "ent-b-el"):
        rows = {t: sink.series("gw-park", mid, f"energy_import_{t}_kwh", *span) for t in TARIFFS}
        assert all(len(r) == len(served[mid]) for r in rows.values()), (mid, {t: len(r) for t, r in rows.items()})
        assert "energy_import_peak_kwh" not in api[mid]["today"]
