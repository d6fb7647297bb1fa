"""Reports from the demo's data: six weeks of the demo park's simulated history (the simulator's batch
mode, ingest's ledger, the accounting service's own pass), through the API as files.

Each report's XLSX is opened with openpyxl and its totals compared with the API's answers for the
same period; its PDF (headless Chromium, lingtan.api.reports.pdf) is turned into PNG pages and
read back as text. The enterprise-credential and filing tests run on SQLite and PostgreSQL on the
shared two-park platform (tests/support/api.py).
"""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from fastapi.testclient import TestClient

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.api.reports import build_report
from lingtan.cli.demo import demo_config, feed_history, prepare_history
from lingtan.cli.main import main
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import AuditEntry
from lingtan.store.timeseries import open_sink
from tests.support import free_port
from tests.support.api import NOW as PLATFORM_NOW
from tests.support.api import PARK
from tests.support.reports import (
    cell_texts,
    check_annual,
    check_keu_monthly,
    check_park_monthly,
    column,
    facts,
    get_report,
    pdf_text,
    raw_tokens,
    table,
    workbook,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 December, Asia/Shanghai: November is closed
DAYS = 42  # history from 20 October: October partly, November wholly


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo-reports")
    config = demo_config(folder, modbus_port=free_port())
    sink, engine = open_sink(config.ingest.sink), make_engine(config.store.url)
    feed_history(prepare_history(config, sink, NOW, DAYS), sink, Ledger(config, engine), threading.Event())
    Rollup(config, sink, engine, clock=lambda: NOW).run_once()
    keys = {}
    with sessions(engine).begin() as s:
        _, keys["park"] = create_key(s, parks=[config.parks[0].id], scopes=[Scope.READ, Scope.WRITE], name="park",
                                     now=NOW)
    app = create_app(config, engine, clock=lambda: NOW)
    client = TestClient(app, headers={"Authorization": f"Bearer {keys['park']}"})
    park = config.parks[0].id
    # ent-b declared a key energy user (重点用能单位) in the year's activity data
    r = client.put(f"/api/v1/parks/{park}/activity/2026", json={"enterprises": {"ent-b": {"key_energy_user": True}}})
    assert r.status_code == 200, r.text
    yield {"config": config, "engine": engine, "client": client, "park": park, "folder": folder}
    engine.dispose()


def test_each_report_from_the_demo_data_equals_the_api(demo, tmp_path):
    c, park = demo["client"], demo["park"]
    pm = check_park_monthly(c, park, "2026-11", "2026-11-01", "2026-11-30", tmp_path)
    f = facts(pm["wb"])
    assert f["数据完整度"] > 0.99 and f["统计期"] == "2026-11-01 至 2026-11-30"
    header, rows = table(pm["wb"], "2026年逐月趋势")
    months = {r[0].month: r for r in rows}
    assert all(months[m][1] is None for m in range(1, 10))  # no data before 20 October: empty, never 0
    assert months[11][column(header, "碳排放")] == pytest.approx(f["二氧化碳排放量"])
    header, rows = table(pm["wb"], "重点用能单位月报报送情况")
    assert [(r[0], r[column(header, "报送状态")]) for r in rows] == [("ent-b", "未到期")]  # due 10 December
    assert rows[0][column(header, "企业名称")] == "乙新材料 (New materials)"  # the park's name for it
    km = check_keu_monthly(c, park, "ent-b", "2026-11", "2026-11-01", "2026-11-30", tmp_path)
    header, rows = table(km["wb"], "同比与年初至今")
    assert rows[2][0].startswith("上年同期") and rows[2][1:] == [None] * (len(header) - 1)  # 2025: missing
    assert rows[1][column(header, "综合能耗（等价值）")] > rows[0][column(header, "综合能耗（等价值）")]  # + October
    an = check_annual(c, park, 2026, tmp_path)
    header, total = an["jiangxi_header"], an["jiangxi_total"]
    assert total[column(header, "2024")] is None and total[column(header, "2025")] is None  # missing, never zero
    # no year with data before 2026 and no base_year configured: no base, no change (never 2026 against itself)
    assert total[column(header, "基准年（无）")] is None and total[column(header, "2026年较基准年变化")] is None


def test_a_part_measured_month_says_so_and_the_chinese_report_prints_no_raw_identifiers(demo, tmp_path):
    """U1-3: October is measured from 20 October, 10:00 on: the report's completeness is that share of
    the month's meter-time, not the mean quality of the intervals there are (100 %), page 1 says the
    figures are low, and November's trend does not draw October as a fact. U1-10: no raw identifiers
    or English in the Chinese report's text (PDF and every XLSX cell)."""
    c, park = demo["client"], demo["park"]
    first_day = (NOW - timedelta(days=DAYS)).astimezone(demo["config"].parks[0].zone).date()  # history from its start
    measured = (date(2026, 11, 1) - first_day).days / 31  # 12 of October's 31 days
    wb = workbook(get_report(c, park, "park-monthly", "2026-10"))
    assert facts(wb)["数据完整度"] == pytest.approx(measured, abs=0.01)
    warning = f"数据不完整：本期已计量 {facts(wb)['数据完整度']:.1%}，数字偏低"
    assert any(warning in t for t in cell_texts(wb))
    page1 = pdf_text(get_report(c, park, "park-monthly", "2026-10", "pdf"), tmp_path, last_page=1)
    assert warning in page1.replace("\n", "")
    nov = workbook(get_report(c, park, "park-monthly", "2026-11"))
    header, rows = table(nov, "2026年逐月趋势")
    october = next(r for r in rows if r[0].month == 10)
    assert october[column(header, "数据完整度")] == pytest.approx(measured, abs=0.01)
    assert not any("数据不完整" in t for t in cell_texts(nov))  # November is whole: no warning
    with sessions(demo["engine"])() as s:
        report = build_report(s, demo["config"].parks[0], "park-monthly", "2026-11", NOW, 10)
    trend = {ch.key: ch for ch in report.charts}
    assert {"trend", "trend-energy"} <= set(trend)  # one unit each: tCO₂ and tce never share an axis
    assert trend["trend"].unit == "tCO₂" and trend["trend-energy"].unit == "tce"
    assert trend["trend"].series[0][1][9] is None and trend["trend"].series[0][1][10] is not None  # Oct not drawn
    texts = cell_texts(wb) + cell_texts(nov) + cell_texts(workbook(get_report(c, park, "keu-monthly", "2026-11",
                                                                               enterprise="ent-b")))
    texts += cell_texts(workbook(get_report(c, park, "annex4-annual", "2026"))) + page1.splitlines()
    assert raw_tokens(texts) == []
    assert any("m³" in t for t in texts) and any(t.startswith("热力调入") for t in texts)


def test_english_etag_and_errors(demo):
    c, park = demo["client"], demo["park"]
    url = f"/api/v1/parks/{park}/reports/park-monthly"
    en = c.get(url, params={"period": "2026-11", "lang": "en"})
    assert en.status_code == 200 and "-en.xlsx" in en.headers["content-disposition"]
    wb = workbook(en.content)
    assert wb.sheetnames[:3] == ["Summary", "Energy by carrier", "Electricity balance"]
    assert facts(wb)["CO₂ emissions"] == pytest.approx(facts(workbook(c.get(url, params={"period": "2026-11"}).content))
                                                       ["二氧化碳排放量"])
    by_header = c.get(url, params={"period": "2026-11"}, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "-en.xlsx" in by_header.headers["content-disposition"]
    again = c.get(url, params={"period": "2026-11", "lang": "en"}, headers={"If-None-Match": en.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for params, field in (({"period": "2026-13"}, "period = '2026-13'"), ({"period": "2027-01"}, "has not begun"),
                          ({"period": "2026"}, "period = '2026'")):
        r = c.get(url, params=params)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert field in r.json()["detail"]
    r = c.get(f"/api/v1/parks/{park}/reports/keu-monthly", params={"period": "2026-11"})
    assert r.status_code == 422 and "enterprise" in r.json()["detail"]
    r = c.get(f"/api/v1/parks/{park}/reports/keu-monthly", params={"period": "2026-11", "enterprise": "ent-x"})
    assert r.status_code == 404 and "enterprise_id = 'ent-x'" in r.json()["detail"]
    r = c.get(f"/api/v1/parks/{park}/reports/monthly", params={"period": "2026-11"})
    assert r.status_code == 422 and "kind" in r.json()["detail"]
    for kind, period in (("annex4-annual", "2023"), ("park-monthly", "2026-09")):  # before the history began
        r = c.get(f"/api/v1/parks/{park}/reports/{kind}", params={"period": period})
        assert r.status_code == 422 and "no metered energy" in r.json()["detail"], r.text


def test_cli_report_and_scheduled_run(demo, tmp_path, capsys):
    data = demo["config"].model_dump(mode="json")
    data["reports"] = {"folder": str(tmp_path / "out"), "languages": ["zh", "en"]}
    path = tmp_path / "lingtan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "one.xlsx"
    assert main(["report", "--config", str(path), "--park", demo["park"], "--kind", "annex4-annual",
                 "--period", "2026", "--out", str(out), "--now", NOW.isoformat()]) == 0
    api = demo["client"].get(f"/api/v1/parks/{demo['park']}/indicators/2026").json()
    assert facts(workbook(out.read_bytes()))["二氧化碳排放量"] == pytest.approx(api["co2_t"])
    assert main(["report", "--config", str(path), "--park", demo["park"], "--kind", "park-monthly",
                 "--period", "2026-11-01", "--out", str(out), "--now", NOW.isoformat()]) == 2
    assert "--period '2026-11-01'" in capsys.readouterr().err
    assert main(["reports", "run", "--config", str(path), "--now", NOW.isoformat()]) == 0
    written = sorted(p.name for p in (tmp_path / "out" / demo["park"]).iterdir() if not p.name.startswith("."))
    # every closed month since the data began (October, November): the park's report and the key
    # energy user's; no closed year has data yet (never an empty file)
    assert written == [f"{demo['park']}-keu-monthly-2026-{m}-ent-b-{lang}.xlsx" for m in ("10", "11")
                       for lang in ("en", "zh")] + [
        f"{demo['park']}-park-monthly-2026-{m}-{lang}.xlsx" for m in ("10", "11") for lang in ("en", "zh")], written
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / demo["park"]).iterdir()}
    capsys.readouterr()
    assert main(["reports", "run", "--config", str(path), "--now", (NOW + timedelta(hours=1)).isoformat()]) == 0
    assert "0 written" in capsys.readouterr().out  # idempotent: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / demo["park"]).iterdir()} == first
    assert not list((tmp_path / "out").rglob("*.part"))


# -- enterprise credentials and filings, on SQLite and PostgreSQL -----------------------------------
def test_enterprise_credentials_and_keu_filings(platform):
    """An enterprise key gets its own keu report and files it; every other report route is 404."""
    with sessions(platform.engine).begin() as s:
        _, own = create_key(s, parks=[PARK], scopes=[Scope.READ, Scope.WRITE], name="tenant", now=PLATFORM_NOW,
                            enterprises=["ent-c"])
        _, reader = create_key(s, parks=[PARK], scopes=[Scope.READ], name="tenant-r", now=PLATFORM_NOW,
                               enterprises=["ent-c"])
    w = platform.client("write")
    r = w.put(f"/api/v1/parks/{PARK}/activity/2026", json={"enterprises": {"ent-c": {"key_energy_user": True}}})
    assert r.status_code == 200, r.text
    tenant = TestClient(platform.app, headers={"Authorization": f"Bearer {own}"})
    base = f"/api/v1/parks/{PARK}"
    mine = tenant.get(f"{base}/enterprises/ent-c/reports/keu-monthly", params={"period": "2026-06"})
    assert mine.status_code == 200, mine.text
    f = facts(workbook(mine.content))
    fig = tenant.get(f"{base}/enterprises/ent-c/figures", params={"first": "2026-06-01", "last": "2026-06-15"}).json()
    assert f["综合能源消费量（等价值）"] == pytest.approx(fig["figures"]["energy_tce"])
    assert f["报送状态"] == "未到期"  # June is not over
    for path, params in ((f"{base}/enterprises/ent-a/reports/keu-monthly", {"period": "2026-06"}),
                         (f"{base}/reports/keu-monthly", {"period": "2026-06", "enterprise": "ent-c"}),
                         (f"{base}/reports/park-monthly", {"period": "2026-06"}),
                         (f"{base}/reports/annex4-annual", {"period": "2026"}),
                         (f"{base}/reports/keu-monthly/status", {"period": "2026-06"}),
                         ("/api/v1/parks/other-park/enterprises/ent-c/reports/keu-monthly", {"period": "2026-06"})):
        r = tenant.get(path, params=params)
        assert r.status_code == 404, (path, r.status_code, r.text)
    assert tenant.post(f"{base}/enterprises/ent-a/reports/keu-monthly/2026-05/submit").status_code == 404
    r = TestClient(platform.app, headers={"Authorization": f"Bearer {reader}"}).post(
        f"{base}/enterprises/ent-c/reports/keu-monthly/2026-05/submit")
    assert r.status_code == 403, r.text  # read scope cannot file
    r = tenant.post(f"{base}/enterprises/ent-c/reports/keu-monthly/2026-06/submit")
    assert r.status_code == 422 and "month = '2026-06': not over yet" in r.json()["detail"]

    # June's report is due on 10 July; filed on 11 July it is late, and the first filing stands
    platform.clock[0] = datetime(2026, 7, 11, 4, 0, tzinfo=UTC)  # 12:00 on 11 July, park-local
    status = w.get(f"{base}/reports/keu-monthly/status", params={"period": "2026-06"}).json()
    assert [(x["enterprise"], x["status"]) for x in status["reports"]] == [("ent-c", "missing")]
    r = tenant.post(f"{base}/enterprises/ent-c/reports/keu-monthly/2026-06/submit")
    assert r.status_code == 200 and r.json()["status"] == "late" and r.headers["X-Changed"] == "true", r.text
    assert r.json()["submitted_by"].startswith("key:") and r.json()["due"] == "2026-07-10"
    platform.clock[0] += timedelta(hours=1)
    again = tenant.post(f"{base}/enterprises/ent-c/reports/keu-monthly/2026-06/submit")
    assert again.json()["submitted_at"] == r.json()["submitted_at"] and again.headers["X-Changed"] == "false"
    status = w.get(f"{base}/reports/keu-monthly/status", params={"period": "2026-06"}).json()
    assert [(x["enterprise"], x["status"]) for x in status["reports"]] == [("ent-c", "late")]
    with sessions(platform.engine)() as s:
        audit = [a for a in s.query(AuditEntry).all() if a.action == "keu_report.submit"]
    assert len(audit) == 2 and audit[0].target == "enterprises/ent-c/reports/keu-monthly/2026-06"
    # the park's June report lists ent-c with its filing; the park key sees it
    pm = workbook(w.get(f"{base}/reports/park-monthly", params={"period": "2026-06"}).content)
    header, rows = table(pm, "重点用能单位月报报送情况")
    assert [(r[0], r[column(header, "报送状态")], r[column(header, "报送人")]) for r in rows] == [
        ("ent-c", "逾期报送", r.json()["submitted_by"])]
    # May: no data on the platform, but the filing is recorded all the same (due 10 June: late)
    r = tenant.post(f"{base}/enterprises/ent-c/reports/keu-monthly/2026-05/submit")
    assert r.status_code == 200 and r.json()["status"] == "late", r.text
    r = tenant.post(f"{base}/enterprises/ent-c/reports/keu-monthly/2026-13/submit")
    assert r.status_code == 422 and "month = '2026-13'" in r.json()["detail"], r.text


def test_a_report_filed_by_the_due_day_is_on_time(platform):
    """Filed on 10 July (the due day, park-local) for June: on time; a park key with write scope files it."""
    w = platform.client("write")
    w.put(f"/api/v1/parks/{PARK}/activity/2026", json={"enterprises": {"ent-a": {"key_energy_user": True}}})
    platform.clock[0] = datetime(2026, 7, 10, 15, 59, tzinfo=UTC)  # 23:59 on 10 July in Asia/Shanghai
    r = w.post(f"/api/v1/parks/{PARK}/enterprises/ent-a/reports/keu-monthly/2026-06/submit")
    assert r.status_code == 200 and r.json()["status"] == "on_time", r.text
    assert platform.client("read").post(
        f"/api/v1/parks/{PARK}/enterprises/ent-a/reports/keu-monthly/2026-06/submit").status_code == 403
