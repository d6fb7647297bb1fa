"""The alarm lifecycle on a real platform database (SQLite file, migrated by Alembic): hysteresis,
one alarm with a flap count for a flapping meter, no loss or duplicate across a restart, the
completeness and dead-letter rules, and acknowledgement through the API.

The readings here are written into `latest` the way ingest's ledger writes them (one upsert per
meter), on a manual clock, so ten simulated minutes take a moment; the Modbus path is in
test_alarm_modbus.py.
"""

from datetime import UTC, date, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lingtan.alarms.service import AlarmService
from lingtan.api.app import create_app
from lingtan.store.db import make_engine, sessions, upsert
from lingtan.store.models import Alarm, AlarmNotification, AuditEntry, DailyEnergy, DeadLetter, Latest
from tests.support import free_port
from tests.support.alarms import ManualClock, Receiver, only
from tests.support.configs import config_of, meter, platform, sqlite_url

T0 = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
POLL_S = 10


def setup(tmp_path, rules, channels=(), meters=("m1",), **extra):
    data = platform([meter(m, "bus-1", i + 1, interval=POLL_S) for i, m in enumerate(meters)], [{"id": "bus-1"}],
                    store=sqlite_url(tmp_path), alarms={"rules": rules, "channels": list(channels)},
                    api={"demo_open": True}, **extra)
    config = config_of(data)
    return config, make_engine(config.store.url)


def reading(engine, meter_id: str, ts: datetime) -> None:
    with sessions(engine)() as s:
        upsert(s, Latest, [{"park": "gw-park", "meter": meter_id, "ts": ts, "gateway": "gw-1",
                            "values": {"energy_import_kwh": 1.0}}], ["ts", "values"])
        s.commit()


def alarms(engine) -> list[Alarm]:
    with sessions(engine)() as s:
        return list(s.scalars(select(Alarm).order_by(Alarm.id)))


def test_a_meter_flapping_every_poll_for_ten_minutes_gives_one_alarm_with_a_flap_count(tmp_path):
    http = Receiver()
    try:
        config, engine = setup(tmp_path, only("meter_no_data", threshold=1, clear_s=120),
                               [{"id": "hook", "kind": "webhook", "url": http.url("/hook")}])
        clock = ManualClock(T0)
        svc = AlarmService(config, engine, clock, listen=False)
        for k in range(60):  # 60 polls of 10 s: it answers one poll, misses the next
            poll = T0 + timedelta(seconds=k * POLL_S)
            if k % 2 == 0:
                reading(engine, "m1", poll)
            clock.now = poll + timedelta(seconds=POLL_S / 2)  # between two polls
            svc.run_once()
        [a] = alarms(engine)
        assert a.state == "raised"
        assert a.flaps >= 25, a.flaps  # it went away and came back each time, on the same alarm
        # then it answers steadily: cleared once it has been fine for clear_s
        for k in range(60, 60 + 20):
            poll = T0 + timedelta(seconds=k * POLL_S)
            reading(engine, "m1", poll)
            clock.now = poll + timedelta(seconds=POLL_S / 2)
            svc.run_once()
        [a] = alarms(engine)
        assert a.state == "cleared"
        events = [json_event(r) for r in http.on("/hook")]
        assert events == ["raised", "cleared"]  # two notices, not sixty
    finally:
        http.close()


def json_event(request) -> str:
    import json
    return json.loads(request[3])["event"]


def test_for_s_waits_before_raising_and_a_restart_neither_loses_nor_repeats(tmp_path):
    config, engine = setup(tmp_path, only("meter_no_data", threshold=3, for_s=60),
                           [{"id": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/never", "max_attempts": 50}])
    clock = ManualClock(T0)
    reading(engine, "m1", T0)
    svc = AlarmService(config, engine, clock, listen=False)
    clock.advance(31)  # 3 polls missed: the condition holds, pending
    assert svc.run_once() == []
    assert [a.state for a in alarms(engine)] == ["pending"]
    clock.advance(30)
    assert svc.run_once() == []  # 30 s of 60
    clock.advance(31)
    assert [e.kind for e in svc.run_once()] == ["raised"]
    # a new process on the same database: the alarm is there once, nothing is raised or queued again
    svc2 = AlarmService(config, engine, clock, listen=False)
    clock.advance(30)
    assert svc2.run_once() == []
    [a] = alarms(engine)
    assert a.state == "raised"
    with sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(AlarmNotification)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 1


def month_rows(m2_from_day4: float) -> list[dict]:
    rows = []
    for d in range(1, 11):
        for m, measured in (("m1", 96.0), ("m2", 96.0 if d <= 3 else m2_from_day4)):
            rows.append({"park": "gw-park", "meter": m, "quantity": "energy_import_kwh", "day": date(2026, 6, d),
                         "amount": 10.0, "completeness_sum": measured, "intervals": 96})
    return rows


def test_a_month_below_90_percent_completeness_raises_and_acknowledging_via_the_api_is_audited(tmp_path):
    config, engine = setup(tmp_path, only("completeness_month"), meters=("m1", "m2"))
    clock = ManualClock(datetime(2026, 6, 11, 2, 0, tzinfo=UTC))  # 10:00 on 11 June local: 1-10 June
    with sessions(engine)() as s:
        upsert(s, DailyEnergy, month_rows(40.0), ["completeness_sum"])  # m2 lost most of 4-10 June
        s.commit()
    svc = AlarmService(config, engine, clock, listen=False)
    [ev] = svc.run_once()
    assert (ev.alarm.rule, ev.alarm.subject) == ("completeness_month", "gw-park")
    expected = (1.0 + (3 * 96 + 7 * 40) / 960) / 2  # mean of the meters' measured shares: 79.6 %
    assert abs(ev.alarm.value - expected) < 1e-9
    assert "m2" in ev.alarm.message and "m1" not in ev.alarm.message.split("below:")[1]

    with TestClient(create_app(config, engine, clock)) as api:
        page = api.get("/api/v1/parks/gw-park/alarms").json()
        assert [a["rule"] for a in page["active"]] == ["completeness_month"]
        alarm_id = page["active"][0]["id"]
        r = api.post(f"/api/v1/parks/gw-park/alarms/{alarm_id}/ack", json={"note": "电表已派人检修"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "acknowledged" and r.json()["note"] == "电表已派人检修"
        cursor = page["next_cursor"]
        synced = api.get("/api/v1/parks/gw-park/alarms", params={"cursor": cursor}).json()
        assert [(a["id"], a["state"]) for a in synced["items"]] == [(alarm_id, "acknowledged")]
        assert api.get("/api/v1/parks/gw-park/alarms", params={"cursor": synced["next_cursor"]}).json()["items"] == []
        assert api.post("/api/v1/parks/gw-park/alarms/999/ack").status_code == 404

        with sessions(engine)() as s:  # the data is back (re-accounted): the alarm clears
            upsert(s, DailyEnergy, month_rows(95.0), ["completeness_sum"])
            s.commit()
        assert [e.kind for e in svc.run_once()] == ["cleared"]
        page = api.get("/api/v1/parks/gw-park/alarms", params={"cursor": synced["next_cursor"]}).json()
        assert page["active"] == [] and [a["state"] for a in page["items"]] == ["cleared"]
        assert api.post(f"/api/v1/parks/gw-park/alarms/{alarm_id}/ack").status_code == 409
    with sessions(engine)() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["alarm.raised", "alarm.acknowledged", "alarm.cleared"]


def test_dead_letters_above_the_rate_raise_and_show_in_the_prometheus_metrics(tmp_path):
    port = free_port()
    config, engine = setup(tmp_path, only("dead_letters", threshold=5, window_s=600))
    config = config.model_copy(update={"alarms": config.alarms.model_copy(update={"metrics_port": port})})
    clock = ManualClock(T0)
    svc = AlarmService(config, engine, clock, listen=False)
    server = svc.serve_metrics()
    metric = 'lingtan_alarms_active{park="gw-park",rule="dead_letters",severity="warning",state="raised"} 1.0'

    def scrape() -> str:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    with sessions(engine)() as s:
        for i in range(5):
            s.add(DeadLetter(received_at=T0 - timedelta(seconds=60 * i), topic="t", park="gw-park", gateway="gw-1",
                             reason="bad", payload="{}"))
        s.commit()
    assert svc.run_once() == []  # 5 is not above 5
    with sessions(engine)() as s:
        s.add(DeadLetter(received_at=T0, topic="t", park="gw-park", gateway="gw-1", reason="bad", payload="{}"))
        s.commit()
    assert metric not in scrape()
    [ev] = svc.run_once()
    assert (ev.alarm.rule, ev.alarm.value) == ("dead_letters", 6.0)
    assert metric in scrape()
    clock.advance(3600)  # they age out of the window: cleared
    assert [e.kind for e in svc.run_once()] == ["cleared"]
    assert "lingtan_alarms_active{" not in scrape()
    server.shutdown()
