"""Alarms from the real path: the simulator's meters over Modbus TCP, the gateway as a real
process, real Mosquitto, real ingest into a SQLite sink and platform database, and the alarm
service with its status listener, all on the wall clock.

- a meter stops answering: meter_no_data is raised once its newest reading is older than the
  configured polls, and cleared when it answers again; the other meter stays quiet;
- the gateway is killed with kill -9: the broker publishes its last will, the listener stores it,
  gateway_offline is raised.
"""

from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import Alarm, GatewayStatus, Latest
from tests.support import free_port, wait_for
from tests.support.alarms import only
from tests.support.configs import config_of, meter, platform, sqlite_url, write_config
from tests.support.gateway import SimThread, gateway_process
from tests.support.ingest import Worker

POLLS = 3


def open_alarms(engine, rule: str) -> dict[str, Alarm]:
    with sessions(engine)() as s:
        return {a.subject: a for a in s.scalars(select(Alarm).where(Alarm.rule == rule, Alarm.state == "raised"))}


def cleared(engine, rule: str, subject: str) -> list[Alarm]:
    with sessions(engine)() as s:
        return list(s.scalars(select(Alarm).where(Alarm.rule == rule, Alarm.subject == subject,
                                                  Alarm.state == "cleared")))


def test_dead_meter_raises_and_clears_and_a_killed_gateway_raises_offline_from_its_last_will(tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 0.3, "retries": 0}]
    rules = only("meter_no_data", threshold=POLLS, clear_s=2)  # cleared after 2 s of readings
    rules = [{"rule": "gateway_offline"} if r["rule"] == "gateway_offline" else r for r in rules]
    data = platform([meter("m1", "bus-a", 1, interval=1.0), meter("m2", "bus-a", 2, interval=1.0)], buses,
                    mosquitto.port, tmp_path / "spool.db", sink={"kind": "sqlite", "path": str(tmp_path / "ts.db")},
                    store=sqlite_url(tmp_path), ingest={"shared_group": None}, alarms={"rules": rules})
    data["mqtt"]["keepalive_s"] = 5  # the broker gives up on a dead gateway after 1.5 keepalives
    config = config_of(data)
    path = write_config(data, tmp_path / "platform.yaml")
    engine = make_engine(config.store.url)
    svc = AlarmService(config, engine)
    svc.listener.start()
    worker = Worker(config)
    with SimThread(config) as sim:
        gw = gateway_process(path, tmp_path / "gateway.log")
        try:
            def latest() -> set[str]:
                with sessions(engine)() as s:
                    return set(s.scalars(select(Latest.meter)))
            wait_for(lambda: latest() == {"m1", "m2"}, 60, message="readings of both meters in the platform DB")
            with sessions(engine)() as s:
                wait_for(lambda: s.get(GatewayStatus, ("gw-park", "gw-1")) is not None, 30, message="online status")
            assert svc.run_once() == []  # everything answers: no alarm

            sim.call(sim.server.faults.offline, "m1")  # m1 stops answering Modbus requests
            raised = wait_for(lambda: (svc.run_once(), open_alarms(engine, "meter_no_data"))[1], 60,
                              message="meter_no_data raised for m1")
            assert set(raised) == {"m1"}
            assert raised["m1"].value > POLLS * 1.0  # seconds since its newest reading, beyond 3 polls

            sim.call(sim.server.faults.clear, "m1")  # it answers again
            wait_for(lambda: (svc.run_once(), cleared(engine, "meter_no_data", "m1"))[1], 60,
                     message="meter_no_data cleared for m1")
            assert open_alarms(engine, "meter_no_data") == {}

            gw.kill()  # SIGKILL: the gateway says nothing; the broker sends its last will
            gw.wait(10)
            offline = wait_for(lambda: (svc.run_once(), open_alarms(engine, "gateway_offline"))[1], 60,
                               message="gateway_offline raised from the last will")
            assert set(offline) == {"gw-1"} and offline["gw-1"].severity == "critical"
            with sessions(engine)() as s:
                assert s.get(GatewayStatus, ("gw-park", "gw-1")).state == "offline"
        finally:
            if gw.poll() is None:
                gw.kill()
                gw.wait(10)
            worker.stop()
            svc.listener.stop()
