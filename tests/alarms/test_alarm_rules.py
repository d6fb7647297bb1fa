"""The remaining rules on a real platform database: counter events flagged by accounting, a
gateway's clock offset measured by ingest, power above a contracted demand; and an alarm whose
condition merely goes on keeps its revision (the city platform is not sent it again every pass)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.store.db import make_engine, sessions, upsert
from lingtan.store.models import Alarm, GatewayClock, GatewayStatus, IntervalEnergy, Latest
from tests.support.alarms import ManualClock, only
from tests.support.configs import config_of, meter, platform, sqlite_url

T0 = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)


def service(tmp_path, rules, meters=None):
    meters = meters or [meter("m1", "bus-1", 1, interval=10), meter("grid", "bus-1", 2, role="grid", interval=10)]
    config = config_of(platform(meters, [{"id": "bus-1"}], store=sqlite_url(tmp_path), alarms={"rules": rules}))
    engine = make_engine(config.store.url)
    clock = ManualClock(T0)
    return AlarmService(config, engine, clock, listen=False), engine, clock


def interval(meter_id: str, start: datetime, flags: str) -> dict:
    return {"park": "gw-park", "meter": meter_id, "quantity": "energy_import_kwh", "start": start,
            "day": (start + timedelta(hours=8)).date(), "amount": 1.0, "completeness": 1.0, "estimated": False,
            "flags": flags, "updated_at": start, "final": False, "revision": 0}


def test_counter_events_flagged_by_accounting_raise_per_meter_and_clear_when_they_age_out(tmp_path):
    svc, engine, clock = service(tmp_path, only("counter_events", window_s=3600))
    with sessions(engine)() as s:
        upsert(s, IntervalEnergy, [interval("m1", T0 - timedelta(minutes=30), "reset"),
                                   interval("m1", T0 - timedelta(minutes=15), "gap,rollover"),
                                   interval("grid", T0 - timedelta(minutes=15), "gap")], ["flags"])
        s.commit()
    [ev] = svc.run_once()
    assert (ev.alarm.rule, ev.alarm.subject, ev.alarm.value, ev.alarm.severity) == \
        ("counter_events", "m1", 2.0, "info")
    assert "reset ×1" in ev.alarm.message and "rollover ×1" in ev.alarm.message
    clock.advance(3600)  # out of the window
    assert [e.kind for e in svc.run_once()] == ["cleared"]


def test_gateway_clock_offset_beyond_the_limit_raises(tmp_path):
    svc, engine, clock = service(tmp_path, only("gateway_clock", threshold=120, clear_s=0))
    with sessions(engine)() as s:
        upsert(s, GatewayClock, [{"park": "gw-park", "gateway": "gw-1", "offset_s": -90.0, "measured_at": T0}],
               ["offset_s"])
        s.commit()
    assert svc.run_once() == []
    with sessions(engine)() as s:
        upsert(s, GatewayClock, [{"park": "gw-park", "gateway": "gw-1", "offset_s": -400.0, "measured_at": T0}],
               ["offset_s"])
        s.commit()
    [ev] = svc.run_once()
    assert (ev.alarm.subject, ev.alarm.value) == ("gw-1", -400.0)


def test_power_above_the_contracted_demand_raises_only_after_for_s(tmp_path):
    svc, engine, clock = service(tmp_path, only("power", enabled=True, threshold=2500, for_s=900, clear_s=900))

    def power(kw: float) -> None:
        with sessions(engine)() as s:
            upsert(s, Latest, [{"park": "gw-park", "meter": m, "ts": clock(), "gateway": "gw-1",
                                "values": {"power_kw": kw}} for m in ("grid", "m1")], ["ts", "values"])
            s.commit()
    power(2600)
    assert svc.run_once() == []  # above, but not yet for 15 minutes
    clock.advance(600)
    assert svc.run_once() == []
    clock.advance(300)
    [ev] = svc.run_once()
    assert (ev.alarm.subject, ev.alarm.value) == ("grid", 2600.0)  # the grid meter only (the default)


def test_an_alarm_that_merely_goes_on_keeps_its_revision(tmp_path):
    svc, engine, clock = service(tmp_path, only("meter_no_data", threshold=3), [meter("m1", "bus-1", 1, interval=10)])
    with sessions(engine)() as s:
        upsert(s, Latest, [{"park": "gw-park", "meter": "m1", "ts": T0 - timedelta(seconds=60), "gateway": "gw-1",
                            "values": {"energy_import_kwh": 1.0}}], ["ts"])
        s.commit()
    [ev] = svc.run_once()
    with sessions(engine)() as s:
        first = s.scalars(select(Alarm.revision)).one()
    for _ in range(5):  # the meter stays silent, its silence grows
        clock.advance(30)
        assert svc.run_once() == []
    with sessions(engine)() as s:
        assert s.scalars(select(Alarm.revision)).one() == first


def test_a_digest_channel_sends_info_alarms_together_and_others_at_once(tmp_path):
    import json

    from tests.support.alarms import Receiver
    http = Receiver()
    try:
        rules = [{"rule": r["rule"], "enabled": r["rule"] in ("counter_events", "gateway_clock"), "clear_s": 0}
                 for r in only("power")]
        config = config_of(platform([meter("m1", "bus-1", 1), meter("m2", "bus-1", 2)], [{"id": "bus-1"}],
                                    store=sqlite_url(tmp_path), alarms={"rules": rules, "channels": [
                                        {"id": "hook", "kind": "webhook", "url": http.url("/hook"),
                                         "digest_s": 3600}]}))
        engine = make_engine(config.store.url)
        clock = ManualClock(T0 + timedelta(minutes=1))
        svc = AlarmService(config, engine, clock, listen=False)
        with sessions(engine)() as s:
            upsert(s, IntervalEnergy, [interval("m1", T0 - timedelta(minutes=15), "reset"),
                                       interval("m2", T0 - timedelta(minutes=15), "spike")], ["flags"])
            upsert(s, GatewayClock, [{"park": "gw-park", "gateway": "gw-1", "offset_s": 900.0, "measured_at": T0}],
                   ["offset_s"])
            s.commit()
        assert len(svc.run_once()) == 3
        [(_, _, _, body)] = http.on("/hook")  # the warning at once
        assert json.loads(body)["rule"] == "gateway_clock"
        clock.now = T0 + timedelta(minutes=59)
        svc.run_once()
        assert len(http.on("/hook")) == 1
        clock.now = T0 + timedelta(hours=1)  # the hour: one digest of both info alarms
        svc.run_once()
        digest = json.loads(http.on("/hook")[1][3])
        assert digest["event"] == "digest" and digest["title"] == "[摘要] 2 条提示告警"
        assert sorted(a["subject"] for a in digest["alarms"]) == ["m1", "m2"]
    finally:
        http.close()


def test_a_gateway_whose_spool_disk_refuses_writes_or_holds_a_backlog_raises(tmp_path):
    svc, engine, clock = service(tmp_path, only("gateway_spool", threshold=1000, clear_s=0))

    def status(**extra) -> None:
        row = {"park": "gw-park", "gateway": "gw-1", "state": "online", "ts": clock(), "spooled": 0, "dropped": 0,
               "spool_error": None, "received_at": clock(), **extra}
        with sessions(engine)() as s:
            upsert(s, GatewayStatus, [row], ["spooled", "dropped", "spool_error"])
            s.commit()
    status(spooled=10)
    assert svc.run_once() == []
    status(spooled=10, spool_error="database or disk is full")
    [ev] = svc.run_once()
    assert ev.alarm.subject == "gw-1" and "disk is full" in ev.alarm.message
    status(spooled=0)
    assert [e.kind for e in svc.run_once()] == ["cleared"]
    status(spooled=5000)
    assert [e.kind for e in svc.run_once()] == ["raised"]
