"""`lingtan demo` as a user runs it: a subprocess, its endpoints, its history, clean Ctrl-C."""

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support import wait_for
from tests.support.demo import Demo

ZONE = ZoneInfo("Asia/Shanghai")  # the demo park's (cli/demo.yaml)
COUNTERS = {"grid-main": ["energy_import_kwh", "energy_export_kwh"], "pv-roof": ["energy_export_kwh"],
            "bess": ["energy_import_kwh", "energy_export_kwh"], "ent-a-main": ["energy_import_kwh"],
            "ent-b-main": ["energy_import_kwh"], "ent-c-main": ["energy_import_kwh"], "gas-main": ["gas_m3"],
            "gas-ent-b": ["gas_m3"], "gas-ent-c": ["gas_m3"], "steam-main": ["heat_gj"]}


def energy(rt: dict, period: str) -> float:
    return rt[period]["energy_by_carrier"].get("electricity", 0.0)


def test_demo_without_history_serves_parks_and_realtime_and_stops_on_ctrl_c(tmp_path):
    t0 = time.time()
    demo = Demo(tmp_path, "--history-days", "0")
    try:
        listed = wait_for(lambda: demo.get("/parks"), 60, 0.5, "demo API up")
        assert [p["id"] for p in listed] == ["demo-park"]

        def realtime_with_energy():
            rt = demo.get("/parks/demo-park/carbon/realtime")
            return rt if rt and energy(rt, "today") > 0 else None
        rt = wait_for(realtime_with_energy, 60, 0.5, "energy flowing through the pipeline")
        assert rt["power"]["load_kw"] > 0
        assert rt["today"]["energy_tce"] > 0 and rt["today"]["co2_t"] > 0
        assert rt["today"]["intensity_t_per_tce"] == rt["today"]["co2_t"] / rt["today"]["energy_tce"]
        page = httpx.get(f"http://127.0.0.1:{demo.port}/", timeout=5)
        assert page.status_code == 200 and "零碳园区能碳监测" in page.text
        # no history: every figure is today's live readings, nothing was stored before the start
        rt = demo.get("/parks/demo-park/carbon/realtime")
        assert energy(rt, "year") == pytest.approx(energy(rt, "month"), rel=1e-9)
        assert energy(rt, "month") == pytest.approx(energy(rt, "today"), rel=1e-9)
        assert stored_from(SqliteSink(str(tmp_path / "lingtan-ts.db"))) >= t0 * 1000
    finally:
        out = demo.stop()
    assert "history:" not in out


def test_demo_with_history_shows_month_year_series_indicators_and_keeps_counters(tmp_path):
    days = 40
    demo = Demo(tmp_path, "--history-days", str(days))
    try:
        cost = demo.line("figures complete", 60)
        assert f"history: {days}." in cost and "10 meters" in cost and "readings →" in cost, cost
        rt = demo.get("/parks/demo-park/carbon/realtime")
        today = datetime.fromisoformat(rt["time"]).astimezone(ZONE).date()
        # month and year-to-date figures from the history
        assert energy(rt, "year") >= energy(rt, "month") >= energy(rt, "today") > 0
        if today.day > 1:
            assert energy(rt, "month") > energy(rt, "today")
        if today.month > 1:
            assert energy(rt, "year") > energy(rt, "month")
        assert rt["year"]["completeness"] > 0 and rt["year"]["energy_tce"] > 0 and rt["year"]["co2_t"] > 0
        # the load curve: the last 30 days, daily, every one measured; the full days completely
        first = today - timedelta(days=29)
        series = demo.get("/parks/demo-park/series", step="day", first=first.isoformat(), last=today.isoformat())
        points = series["points"]
        assert len(points) == 30 and all(p["values"].get("electricity_kwh", 0) > 0 for p in points), points
        assert [p["completeness"] for p in points[:-1]] == [1.0] * 29
        # indicators of the year, evaluated on the history: values, and completeness = its share of the year
        scorecard = demo.get(f"/parks/demo-park/indicators/{today.year}")
        start = datetime.combine(max(today - timedelta(days=days), date(today.year, 1, 1)), datetime.min.time(), ZONE)
        year_start = datetime.combine(date(today.year, 1, 1), datetime.min.time(), ZONE)
        now = datetime.fromisoformat(rt["time"])
        share = (now - start) / (now - year_start)
        assert abs(scorecard["completeness"] - share) < 0.02, (scorecard["completeness"], share)
        by_id = {r["id"]: r for r in scorecard["results"]}
        for key in ("carbon_per_energy", "clean_energy_share", "green_direct_supply_principle"):
            assert isinstance(by_id[key]["value"], float), by_id[key]
        assert by_id["carbon_per_energy"]["value"] > 0
        for key in ("clean_energy_share", "green_direct_supply_principle"):
            want = {"met", "not_met"} if share >= 0.95 else {"insufficient_data"}
            assert by_id[key]["status"] in want, by_id[key]
        assert any(r["status"] != "insufficient_data" and r["value"] is not None for r in scorecard["results"])
        # live readings continue the history's counters: no jump, no drop
        sink = SqliteSink(str(tmp_path / "lingtan-ts.db"))
        wait_for(lambda: live_readings(sink, now) >= 3, 30, 0.5, "live readings of every meter")
        assert_counters_continue(sink)
        first_stored = stored_from(sink)
        # the alarm service starts judging once the history is in and the gateway polls: no alarm about
        # meters not polled yet or a history not yet accounted (its first pass runs at once)
        demo.line("alarms: the history is in", 30)
        time.sleep(3)
        page = demo.get("/parks/demo-park/alarms")
        early = [(a["rule"], a["subject"]) for a in page["items"]
                 if a["rule"] in ("meter_no_data", "completeness_day", "completeness_month")]
        assert early == [], early
    finally:
        demo.stop()

    # the same data folder again: no second history, the counters go on from the stored readings
    restarted = time.time()
    demo = Demo(tmp_path, "--history-days", str(days))
    try:
        said = demo.line("history:", 30)
        assert "already has readings of demo-park" in said and "not generated again" in said, said
        wait_for(lambda: live_readings(sink, datetime.fromtimestamp(restarted)) >= 3, 30, 0.5,
                 "live readings after the restart")
        assert stored_from(sink) == first_stored
        assert_counters_continue(sink)
    finally:
        out = demo.stop()
    assert f"history: {days}." not in out, out


def live_readings(sink: SqliteSink, since: datetime) -> int:
    """The fewest readings after `since` of any meter."""
    ms = int(since.timestamp() * 1000)
    return min(len(sink.series("demo-park", m, qs[0], ms, 2**62)) for m, qs in COUNTERS.items())


def stored_from(sink: SqliteSink) -> int:
    return min(sink.neighbours("demo-park", m, qs[0], 0)[1][0] for m, qs in COUNTERS.items())


def assert_counters_continue(sink: SqliteSink) -> None:
    """Every counter never goes down and never rises faster than twice its fastest quarter hour."""
    for meter, quantities in COUNTERS.items():
        for q in quantities:
            series = sink.series("demo-park", meter, q, 0, 2**62)
            steps = [(t1 - t0, v1 - v0) for (t0, v0), (t1, v1) in zip(series, series[1:], strict=False)]
            assert all(dv >= 0 for _, dv in steps), (meter, q, [s for s in steps if s[1] < 0][:5])
            quarter = max((dv / dt for dt, dv in steps if dt == 900_000), default=0.0)
            too_fast = [(dt, dv) for dt, dv in steps if dv > 2 * quarter * dt + 1e-6]
            assert not too_fast, (meter, q, quarter, too_fast[:5])


def test_ctrl_c_during_the_history_stops_the_demo_cleanly(tmp_path):
    demo = Demo(tmp_path, "--history-days", "300")
    wait_for(lambda: demo.get("/parks"), 60, 0.5, "demo API up")
    demo.line("history: simulating", 30)
    stopped = time.monotonic()
    out = demo.stop()
    assert time.monotonic() - stopped < 20, out
    assert "figures complete" not in out
