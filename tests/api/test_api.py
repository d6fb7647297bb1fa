"""REST API v1 on a real SQLite file and a real PostgreSQL cluster: figures, series, indicators,
activity data with audit, incremental sync with cursors, ETags, exports, dead letters, SSE.

Expected values are worked by hand from the constant interval amounts of tests/support/api.py
(e.g. the grid meter imports 100 kWh every 15 minutes: 400 kWh an hour).
"""

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from tests.support.api import NOW, OTHER, PARK, PER_QUARTER, TODAY, local_midnight_utc, write_intervals

QUARTERS_TODAY = 56  # 00:00 .. 14:00 local


def test_realtime_meters_and_gateways(platform):
    c = platform.client("read")
    rt = c.get(f"/api/v1/parks/{PARK}/carbon/realtime").json()
    assert rt["power"]["grid_kw"] == 400 and rt["power"]["pv_kw"] == 160 and rt["power"]["load_kw"] == 500
    today = rt["today"]
    assert today["electricity_kwh"]["grid_import"] == pytest.approx(100 * QUARTERS_TODAY)
    # consumption = grid import + on-site generation (no export)
    assert today["energy_by_carrier"]["electricity"] == pytest.approx(140 * QUARTERS_TODAY)
    assert today["co2_by_source_t"]["electricity"] == pytest.approx(100 * QUARTERS_TODAY * 0.8325e-3)
    assert sum(today["co2_by_source_t"].values()) == pytest.approx(today["co2_t"])
    meters = {m["id"]: m for m in c.get(f"/api/v1/parks/{PARK}/meters").json()}
    assert meters["grid-main"]["status"] == "ok" and meters["grid-main"]["reading_age_s"] == 5
    assert meters["grid-main"]["today"]["energy_import_kwh"] == pytest.approx(100 * QUARTERS_TODAY)
    platform.clock[0] = NOW + timedelta(minutes=20)
    assert c.get(f"/api/v1/parks/{PARK}/meters/grid-main").json()["status"] == "silent"
    gw = c.get(f"/api/v1/parks/{PARK}/gateways").json()
    assert gw == [{"id": "gw-demo", "last_reading_at": "2026-06-15T05:59:55Z", "reading_age_s": 1205.0,
                   "status": "silent", "meters_total": 10, "meters_ok": 0,
                   "clock_offset_s": None, "clock_off": False}]
    ents = {e["id"]: e for e in c.get(f"/api/v1/parks/{PARK}/enterprises").json()}
    # ent-b's electricity and gas (its gas meter's parent is the park's gas main, not its own)
    assert ents["ent-b"]["today"] == {"energy_import_kwh": pytest.approx(45 * QUARTERS_TODAY),
                                      "gas_m3": pytest.approx(12 * QUARTERS_TODAY)}
    assert c.get(f"/api/v1/parks/{PARK}/enterprises/nope").status_code == 404


def test_series_roll_up_in_park_local_time(platform):
    c = platform.client("read")
    base = f"/api/v1/parks/{PARK}/series"
    hours = c.get(base, params={"step": "hour"}).json()
    assert len(hours["points"]) == 24
    first = hours["points"][0]
    assert first["label"] == "2026-06-15T00:00" and first["start"] == "2026-06-14T16:00:00Z"
    assert first["values"]["grid_import_kwh"] == pytest.approx(400) and first["values"]["pv_kwh"] == pytest.approx(160)
    assert first["completeness"] == 1.0
    assert hours["points"][14]["completeness"] == 0.0  # 14:00 local has not begun
    day = c.get(base, params={"step": "day", "first": "2026-06-14", "last": "2026-06-15"}).json()["points"]
    assert [p["label"] for p in day] == ["2026-06-14", "2026-06-15"]
    assert day[0]["values"]["grid_import_kwh"] == pytest.approx(9600)
    assert day[1]["values"]["co2_t"] == pytest.approx(sum(p["values"]["co2_t"] or 0 for p in hours["points"]))
    month = c.get(base, params={"step": "month", "first": "2026-06-01", "last": "2026-06-30"}).json()["points"]
    assert month[0]["values"]["grid_import_kwh"] == pytest.approx(100 * (96 + QUARTERS_TODAY))
    meter = c.get(base, params={"scope": "meter", "id": "bess", "step": "15min"}).json()
    assert len(meter["points"]) == 96 and meter["units"]["energy_export_kwh"] == "kWh"
    assert meter["points"][0]["values"] == {"energy_import_kwh": 10, "energy_export_kwh": 8}
    ent = c.get(base, params={"scope": "enterprise", "id": "ent-c", "step": "day"}).json()["points"][0]
    assert ent["values"] == {"energy_import_kwh": pytest.approx(30 * QUARTERS_TODAY),
                             "gas_m3": pytest.approx(8 * QUARTERS_TODAY)}
    r = c.get(base, params={"step": "15min", "first": "2026-01-01", "last": "2026-06-15"})
    assert r.status_code == 422 and "at most 3000" in r.json()["detail"]
    assert c.get(base, params={"scope": "meter"}).status_code == 422
    assert c.get(base, params={"scope": "meter", "id": "nope"}).status_code == 404
    assert c.get(base, params={"first": "2026-06-15", "last": "2026-06-14"}).status_code == 422


def test_a_factor_entered_for_the_year_applies_everywhere_and_is_audited(platform):
    """A park that adopts another grid factor (e.g. a newer published value) enters it with its
    activity data: realtime, series and indicators are all recomputed with it, and the audit
    records what changed, when and by whom."""
    w = platform.client("write")
    rt = lambda: w.get(f"/api/v1/parks/{PARK}/carbon/realtime").json()  # noqa: E731
    series = lambda: w.get(f"/api/v1/parks/{PARK}/series", params={"step": "day"}).json()["points"]  # noqa: E731
    before, before_series = rt(), series()
    grid_kwh = before["year"]["electricity_kwh"]["grid_consumed"]
    assert grid_kwh > 0
    r = w.put(f"/api/v1/parks/{PARK}/activity/2026", json={"factors": {"co2.electricity.fossil": {
        "value": 0.5366, "unit": "kgCO2/kWh", "source": "test: a lower grid factor"}}})
    assert r.status_code == 200, r.text
    after = rt()
    drop = grid_kwh * (0.8325 - 0.5366) / 1000  # t
    assert after["year"]["co2_t"] == pytest.approx(before["year"]["co2_t"] - drop, rel=1e-9)
    assert after["year"]["energy_tce"] == pytest.approx(before["year"]["energy_tce"])
    assert after["carbon_rate_t_per_h"] <= before["carbon_rate_t_per_h"]
    ind = w.get(f"/api/v1/parks/{PARK}/indicators/2026").json()
    assert ind["co2_t"] == pytest.approx(after["year"]["co2_t"], rel=1e-9)
    assert sum(p["values"]["co2_t"] for p in series()) < sum(p["values"]["co2_t"] for p in before_series)
    audit = platform.client("admin").get(f"/api/v1/parks/{PARK}/audit").json()["items"]
    assert audit[0]["changes"][0]["path"].startswith("factors.co2.electricity.fossil")
    assert audit[0]["actor"].startswith("key:")


def test_activity_data_is_validated_audited_and_feeds_indicators(platform):
    w = platform.client("write")
    url = f"/api/v1/parks/{PARK}/activity/2026"
    assert w.get(url).json()["version"] == 0
    ind = w.get(f"/api/v1/parks/{PARK}/indicators/2026").json()
    waste = {r["id"]: r for r in ind["results"]}["solid_waste_utilisation"]
    assert waste["status"] == "insufficient_data" and "needs waste.solid_generated_t" in waste["note"]
    bad = w.put(url, json={"waste": {"solid_generated_t": -5}})
    assert bad.status_code == 422 and "waste.solid_generated_t" in bad.json()["detail"]
    bad = w.put(url, json={"fuels": {"diesel_kg": 3}})
    assert bad.status_code == 422 and "diesel_t" in bad.json()["detail"]
    body = {"waste": {"solid_generated_t": 5000, "solid_utilised_t": 4300},
            "economy": {"industrial_value_added_wan_yuan": 125000}, "electricity": {"certificates_mwh": 1.0}}
    r = w.put(url, json=body)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["updated_by"].startswith("key:")
    results = {x["id"]: x for x in w.get(f"/api/v1/parks/{PARK}/indicators/2026").json()["results"]}
    assert results["solid_waste_utilisation"]["status"] == "met"
    assert results["solid_waste_utilisation"]["value"] == pytest.approx(86.0)
    # certificates relabel grid power: CO2 of the year drops by 1 MWh x 0.8325 t/MWh
    before = w.get(f"/api/v1/parks/{PARK}/carbon/realtime").json()["year"]["co2_t"]
    ind = w.get(f"/api/v1/parks/{PARK}/indicators/2026").json()
    assert ind["co2_t"] == pytest.approx(before - 0.8325)
    assert w.put(url, json=body, headers={"If-Match": "0"}).status_code == 412
    body["waste"]["solid_utilised_t"] = 3000
    assert w.put(url, json=body, headers={"If-Match": "1"}).json()["version"] == 2
    assert w.put(url, json=body).headers["X-Changed"] == "false"  # no change, no new version
    audit = platform.client("admin").get(f"/api/v1/parks/{PARK}/audit").json()["items"]
    assert len(audit) == 2
    assert audit[0]["changes"] == [{"path": "waste.solid_utilised_t", "before": 4300, "after": 3000}]
    assert audit[0]["actor"] == f"key:{platform.keys['write'].split('_')[1]}"
    assert {c["path"] for c in audit[1]["changes"]} == {"waste.solid_generated_t", "waste.solid_utilised_t",
                                                       "economy.industrial_value_added_wan_yuan",
                                                       "electricity.certificates_mwh"}
    page = platform.client("admin").get(f"/api/v1/parks/{PARK}/audit", params={"limit": 1}).json()
    older = platform.client("admin").get(f"/api/v1/parks/{PARK}/audit",
                                         params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert older["items"][0]["id"] == audit[1]["id"] and older["next_cursor"] is None


def test_sync_intervals_with_cursor_delivers_new_and_revised_rows_once(platform):
    c = platform.client("read")
    url = f"/api/v1/parks/{PARK}/sync/intervals"
    seen, cursor, pages = {}, None, 0
    while True:
        page = c.get(url, params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        pages += 1
        for it in page["items"]:
            key = (it["meter"], it["quantity"], it["start"])
            assert key not in seen
            seen[key] = it["amount"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    per_quarter = sum(len(q) for q in PER_QUARTER.values())
    assert len(seen) == per_quarter * (96 + QUARTERS_TODAY) and pages == len(seen) // 500 + 1
    assert c.get(url, params={"cursor": cursor}).json()["items"] == []
    # accounting recomputes this morning (late readings): only the revised rows come again
    midnight = local_midnight_utc(TODAY)
    write_intervals(platform.engine, PARK, midnight, midnight + timedelta(hours=2), scale=2.0,
                    updated_at=NOW + timedelta(minutes=1))
    page = c.get(url, params={"cursor": cursor}).json()
    assert len(page["items"]) == per_quarter * 8 and not page["has_more"]
    grid = [i for i in page["items"] if i["meter"] == "grid-main" and i["quantity"] == "energy_import_kwh"]
    assert grid[0]["amount"] == 200 and grid[0]["start"] == "2026-06-14T16:00:00Z" and grid[0]["unit"] == "kWh"
    # the other park's rows never appear, and its cursor is refused here
    assert all(i["meter"] in PER_QUARTER for i in page["items"])
    other = platform.client("other").get(f"/api/v1/parks/{OTHER}/sync/intervals").json()["next_cursor"]
    r = c.get(url, params={"cursor": other})
    assert r.status_code == 422 and "not a cursor of intervals:demo-park" in r.json()["detail"]
    assert c.get(url, params={"cursor": "garbage!"}).status_code == 422
    assert c.get(url, params={"limit": 5001}).status_code == 422


def test_sync_indicators_returns_changed_results_only(platform):
    c = platform.client("write")
    url = f"/api/v1/parks/{PARK}/sync/indicators"
    first = c.get(url).json()
    ids = {i["result"]["id"] for i in first["items"]}
    assert "carbon_per_energy" in ids and all(
        i["year"] == 2026 and i["framework"] == "national" for i in first["items"])
    again = c.get(url, params={"cursor": first["next_cursor"]}).json()
    assert again["items"] == []
    c.put(f"/api/v1/parks/{PARK}/activity/2026", json={"water": {"fresh_intake_m3": 100, "reused_m3": 900}})
    changed = c.get(url, params={"cursor": first["next_cursor"]}).json()["items"]
    assert [(i["result"]["id"], i["result"]["status"]) for i in changed] == [("industrial_water_reuse", "met")]


def test_etag_and_if_none_match(platform):
    c = platform.client("read")
    url = f"/api/v1/parks/{PARK}/carbon/realtime"
    r = c.get(url)
    tag = r.headers["etag"]
    r2 = c.get(url, headers={"If-None-Match": tag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == tag
    assert c.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    platform.clock[0] = NOW + timedelta(seconds=1)  # the figures' time moved: a new representation
    assert c.get(url, headers={"If-None-Match": tag}).status_code == 200


def test_exports_csv_and_xlsx(platform):
    c = platform.client("read")
    r = c.get(f"/api/v1/parks/{PARK}/exports/series", params={"format": "csv", "step": "hour"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["start_utc", "end_utc", "local (Asia/Shanghai)", "completeness"] and len(rows) == 25
    col = rows[0].index("grid_import_kwh [kWh]")
    assert float(rows[1][col]) == 400
    r = c.get(f"/api/v1/parks/{PARK}/exports/indicators/2026", params={"format": "xlsx"})
    name = f"{PARK}-national-2026.xlsx"  # RFC 6266: an ASCII fallback and the exact name
    assert r.headers["content-disposition"] == f'attachment; filename="{name}"; filename*=UTF-8\'\'{name}'
    sheet = load_workbook(io.BytesIO(r.content)).active
    table = list(sheet.values)
    assert table[0][:3] == ("评价体系", "年份", "指标编号") and table[1][2] == "carbon_per_energy"  # XLSX: zh
    assert c.get(f"/api/v1/parks/{PARK}/exports/series", params={"format": "pdf"}).status_code == 422


def test_dead_letters_stream_and_frameworks(platform):
    from lingtan.store.db import sessions
    from lingtan.store.models import DeadLetter
    with sessions(platform.engine).begin() as s:
        for i in range(3):
            s.add(DeadLetter(received_at=NOW, topic="t", park=PARK, gateway="gw-demo", reason=f"r{i}", payload="x"))
        s.add(DeadLetter(received_at=NOW, topic="t", park=None, gateway=None, reason="no park", payload="x"))
    admin = platform.client("admin")
    page = admin.get("/api/v1/dead-letters", params={"limit": 2})
    assert [d["reason"] for d in page.json()] == ["r2", "r1"]
    rest = admin.get("/api/v1/dead-letters", params={"limit": 2, "cursor": page.headers["x-next-cursor"]}).json()
    assert [d["reason"] for d in rest] == ["r0"]  # the park-less letter is for all-park keys only
    assert len(platform.client("all").get("/api/v1/dead-letters").json()) == 4
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/stream", params={"once": "true"})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event: update" in r.text and '"grid_kw":400.0' in r.text
    fw = platform.client("read").get("/api/v1/frameworks/national").json()
    assert fw["id"] == "national" and any(i["id"] == "carbon_per_energy" for i in fw["indicators"])


def test_activity_data_through_the_api_takes_exclusions_and_switches(platform):
    """Annex 3 lets a park leave a guidance indicator out with its reason; the API takes it (it
    answered 422 while the core took it) and the indicator says so; the feedstock switch too."""
    w = platform.client("write")
    url = f"/api/v1/parks/{PARK}/activity/2026"
    body = {"indicators": {"product_unit_energy": {"excluded": "no single product: a logistics park"}},
            "switches": {"feedstock_in_energy": False}}
    r = w.put(url, json=body)
    assert r.status_code == 200, r.text
    results = {x["id"]: x for x in w.get(f"/api/v1/parks/{PARK}/indicators/2026").json()["results"]}
    assert results["product_unit_energy"]["status"] == "excluded"
    assert "a logistics park" in results["product_unit_energy"]["note"]
    core = w.put(url, json={"indicators": {"carbon_per_energy": {"excluded": "we would rather not"}}})
    assert core.status_code == 422 and "carbon_per_energy" in core.text
