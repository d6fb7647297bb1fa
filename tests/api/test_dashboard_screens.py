"""The dashboard's screens in a real headless Chromium (Debian's /usr/bin/chromium driven by
playwright-core; no browser is downloaded) against a real uvicorn server on loopback fed with data:
the overview in both languages, the health view, the wall screen at 1920×1080 and the phone at
390 px, each saved to docs/img/ and checked for raw text; the load curve's last point; the one
time zone. One server and one browser for the module; the browser runs in New York time, so any
date or time shown in the browser's zone instead of the park's would show."""

import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import delete, select

from lingtan.accounting.service import update_aggregates
from lingtan.api.auth import Scope, create_user
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import sessions
from lingtan.store.models import IntervalEnergy
from tests.support.api import NOW, PARK, TODAY, ZONE, chromium, feed_latest, local_midnight_utc, make_platform, serving
from tests.support.dashboard import assert_no_raw_text, open_dashboard, set_lang, visible_text

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
USER, PASSWORD = "manager", "zero-carbon-2026"
BROWSER_ZONE = "America/New_York"  # not the park's: a date shown in the browser's zone would be 12 h off
LAST = NOW - timedelta(minutes=15)  # the last 15-minute bucket with data: 13:45-14:00 park time
PARTIAL = 0.4  # its measured share


def shaped_day(engine) -> None:
    """Replace today's grid and PV intervals with a daily shape (PV peaks at noon), for a real curve."""
    midnight = local_midnight_utc(TODAY)
    rows = []
    for i in range(56):
        t = midnight + i * timedelta(minutes=15)
        hour = i / 4
        pv = max(0.0, math.sin(math.pi * (hour - 6) / 12)) * 90
        load = 110 + 60 * math.exp(-((hour - 10) ** 2) / 8) + 15 * math.sin(i / 3)
        for meter, q, amount in (("pv-roof", "energy_export_kwh", pv),
                                 ("grid-main", "energy_import_kwh", max(load - pv, 0)),
                                 ("grid-main", "energy_export_kwh", max(pv - load, 0))):
            rows.append(IntervalEnergy(park=PARK, meter=meter, quantity=q, start=t, day=TODAY, amount=amount,
                                       completeness=1.0, estimated=False, flags="", updated_at=NOW))
    with sessions(engine).begin() as s:
        s.execute(delete(IntervalEnergy).where(IntervalEnergy.park == PARK, IntervalEnergy.day == TODAY,
                                               IntervalEnergy.meter.in_(["pv-roof", "grid-main"])))
        s.add_all(rows)
        for meter, q in {(r.meter, r.quantity) for r in rows}:
            update_aggregates(s, PARK, ZONE, meter, q, {TODAY})


def incomplete_last_bucket(engine) -> None:
    """The last bucket measured only in part (PARTIAL of it), at the same power as the bucket before:
    every meter's energy there is PARTIAL × the previous bucket's."""
    with sessions(engine).begin() as s:
        before = s.scalars(select(IntervalEnergy).where(IntervalEnergy.park == PARK,
                                                        IntervalEnergy.start == LAST - timedelta(minutes=15))).all()
        s.execute(delete(IntervalEnergy).where(IntervalEnergy.park == PARK, IntervalEnergy.start == LAST))
        s.add_all([IntervalEnergy(park=PARK, meter=r.meter, quantity=r.quantity, start=LAST, day=TODAY,
                                  amount=r.amount * PARTIAL, completeness=PARTIAL, estimated=False, flags="",
                                  updated_at=NOW) for r in before])
        for meter, q in {(r.meter, r.quantity) for r in before}:
            update_aggregates(s, PARK, ZONE, meter, q, {TODAY})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    platform = make_platform(f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'platform.db'}")
    shaped_day(platform.engine)
    incomplete_last_bucket(platform.engine)
    with sessions(platform.engine).begin() as s:
        create_user(s, username=USER, password=PASSWORD, parks=[PARK], scopes=[Scope.READ], now=NOW)
    try:
        with serving(platform) as base:
            yield platform, base
    finally:
        platform.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = chromium(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page_of(browser):
    """page_of(width, height) -> a page in a fresh context (its own session) in the browser zone;
    the test fails if the page raised a JavaScript error."""
    contexts, errors = [], []

    def make(width=1440, height=900):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                      timezone_id=BROWSER_ZONE)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield make
    for c in contexts:
        c.close()
    assert errors == []


def chart_option(page, element_id: str) -> dict:
    return page.evaluate("(id) => echarts.getInstanceByDom(document.getElementById(id)).getOption()", element_id)


def kpi(page, key: str):
    return page.locator(f"[data-kpi={key}] .value")


def test_overview_in_both_languages_live_in_the_park_zone(served, page_of):
    platform, base = served
    IMG.mkdir(parents=True, exist_ok=True)
    page = page_of(1440, 900)
    page.goto(base + "/")
    expect(page.locator("#login")).to_be_visible()  # no data without a login, and nothing drawn behind it
    assert page.locator("#view *").count() == 0
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", "wrong password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("window.LT && window.LT.ready === true", timeout=10000)
    expect(page.locator("#park-name")).to_contain_text("示范零碳产业园")

    # one definition of the load: grid 400 + PV 160 − battery charging 8, on the card and in the flow
    expect(kpi(page, "grid")).to_have_text("400.0")
    expect(kpi(page, "pv")).to_have_text("160.0")
    expect(kpi(page, "load")).to_have_text("552.0")
    flow = chart_option(page, "flow")["series"][0]
    load_node = next(n for n in flow["data"] if n["id"] == "load")
    assert load_node["name"].endswith("552.0 kW")
    assert {"gas", "heat", "storage", "pv", "grid"} <= {n["id"] for n in flow["data"]}
    expect(page.locator(".c-flow .note")).to_contain_text("负荷 = 电网购入 − 上网 + 光伏发电 + 储能放电 − 储能充电")

    # one time zone, the park's, stated; the browser's (New York) appears nowhere
    expect(page.locator("#tz-note")).to_have_text("时间为园区时间 Asia/Shanghai（UTC+8）")
    expect(page.locator("#updated")).to_have_text("更新于 14:00:00")
    labels = page.evaluate("""() => { const f = LT.charts.axisTime().axisLabel.formatter;
        return [f(Date.parse("2026-06-15T04:00:00Z")), f(Date.parse("2026-06-14T16:00:00Z"))]; }""")
    assert labels == ["12:00", "6月15日"]
    tooltip = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById("curve")).getOption().tooltip[0]
        .formatter([{value: [Date.parse("2026-06-15T04:00:00Z"), 612.345], seriesName: "负荷", marker: ""}])""")
    assert tooltip == "2026-06-15 12:00<br>负荷 <b>612.3 kW</b>"
    curve = chart_option(page, "curve")
    assert curve["xAxis"][0]["min"] == int(local_midnight_utc(TODAY).timestamp() * 1000)

    # the scorecard agrees with itself: no verdict of missing data beside a full completeness, the core
    # indicator shows the target it is judged against (here the framework's, as a reference), tidy digits
    rows = page.locator("#scorecard tbody tr")
    expect(rows.first).to_contain_text("单位能耗碳排放")
    for row in rows.all():
        cells = row.locator("td").all_inner_texts()
        if cells[3].startswith("数据不足"):
            assert cells[4] != "100%", cells
        assert not re.search(r"\d\.\d{2,}%", cells[1]), cells
    core = page.locator("#scorecard tr[data-indicator=carbon_per_energy] td").all_inner_texts()
    assert core[2] == "≤ 0.20 tCO₂/tce（参考）" and core[3] == "不适用 · 规模未达门槛", core
    expect(page.locator("#gauge-note")).to_contain_text("参考目标 ≤ 0.20 tCO₂/tce")
    sources = chart_option(page, "sources")["series"][0]
    assert sources["label"]["show"] and len(sources["data"]) == 3

    # a new reading arrives (through ingest's ledger): on screen within 2 s, pushed
    platform.clock[0] = NOW + timedelta(seconds=10)
    feed_latest(platform.config, platform.engine, PARK, NOW + timedelta(seconds=9), grid_kw=777.5, seq=2)
    expect(kpi(page, "grid")).to_have_text("777.5", timeout=2000)
    expect(kpi(page, "load")).to_have_text("929.5")
    expect(page.locator("#live")).to_have_class("dot on")
    expect(page.locator("#alarms")).to_contain_text("无活动告警")  # alarms.js's panel, refreshed every 3 s
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "dashboard.png"), full_page=True)
    assert (IMG / "dashboard.png").stat().st_size > 20_000


def test_overview_in_english(served, page_of):
    _, base = served
    page = page_of(1440, 900)
    open_dashboard(page, base, USER, PASSWORD, lang="en")
    expect(page.locator("#top h1")).to_contain_text("Zero-carbon park energy & carbon")
    expect(page.locator("#scorecard tr[data-indicator=carbon_per_energy]")).to_contain_text("Carbon per unit of energy")
    expect(page.locator(".c-scorecard h2")).to_contain_text("National zero-carbon park indicator system (trial)")
    expect(page.locator("#tz-note")).to_have_text("Times are park time, Asia/Shanghai (UTC+8)")
    expect(page.locator("#updated")).to_contain_text("updated 14:00:")
    expect(page.locator(".c-flow .note")).to_contain_text("Load = grid import − export + PV generation")
    assert chart_option(page, "curve")["series"][0]["name"] == "Load"
    text = visible_text(page, names=False).replace("中文", "")  # the language button says where it goes
    assert not re.search(r"[\u4e00-\u9fff]", text), "Chinese left in the English page"
    expect(page.locator("#alarms")).to_contain_text("No active alarms")
    # the park selector shows the park's whole name, not "示范零碳产业园 (Demo zero-ca"
    room = page.evaluate("""() => { const s = document.getElementById('park'), span = document.createElement('span');
        span.style.font = getComputedStyle(s).font; span.style.whiteSpace = 'pre';
        span.textContent = s.options[s.selectedIndex].text; document.body.append(span);
        const need = span.getBoundingClientRect().width; span.remove();
        return [s.clientWidth, need]; }""")
    assert room[0] >= room[1] + 24, room  # the text and the arrow
    # a favicon, linked and at /favicon.ico (no 404 in every browser's console)
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    for url in (icon, base + "/favicon.ico"):
        r = page.request.get(url)
        assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml"), (url, r.status)
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "dashboard-en.png"), full_page=True)


def test_the_curves_last_point_does_not_dip_because_its_bucket_is_incomplete(served, page_of):
    _, base = served
    page = page_of()
    open_dashboard(page, base, USER, PASSWORD)
    load = [v for _, v in chart_option(page, "curve")["series"][0]["data"] if v is not None]
    # the last bucket has PARTIAL of the energy of the one before over PARTIAL of its time: the same power
    assert load[-1] == pytest.approx(load[-2], rel=1e-9)
    assert load[-2] > 100
    expect(page.locator("#curve-note")).to_contain_text("13:45: 完整度 40%")


def test_health_view_translated_with_units_and_aligned(served, page_of):
    platform, base = served
    page = page_of(1440, 900)
    open_dashboard(page, base, USER, PASSWORD, hash="health")
    meters = page.locator("#meters tbody tr")
    expect(meters).to_have_count(10)
    grid = page.locator("#meters tr[data-meter=grid-main] td").all_inner_texts()
    assert grid[1:3] == ["电力", "电网关口"] and grid[4] == "正常", grid
    pv = page.locator("#meters tr[data-meter=pv-roof] td").all_inner_texts()
    assert pv[6] == "发电 160.0 kW", pv  # positive, as in the flow
    gas = page.locator("#meters tr[data-meter=gas-main] td").all_inner_texts()
    assert gas[1:3] == ["天然气", "进线总表"] and gas[6] == "流量 80.0 m³/h", gas
    text = visible_text(page)
    assert "power_kw" not in text and not re.search(r"(?<![\w.])-0(?![.\d])", text)
    # every header is aligned like its column
    aligned = page.evaluate("""() => [...document.querySelectorAll('#view table')].flatMap((table) => {
        const cells = table.querySelector('tbody tr').children;
        return [...table.querySelectorAll('thead th')].map((th, i) =>
            [th.textContent, getComputedStyle(th).textAlign, getComputedStyle(cells[i]).textAlign]); })""")
    assert all(a == b for _, a, b in aligned), aligned
    expect(page.locator("#gw-table tbody td").nth(3)).to_have_text("2026-06-15 14:00")  # park time
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "health.png"), full_page=True)

    # a gateway whose clock is off (as ingest measured it) is marked; one whose clock is right is not
    ledger = Ledger(platform.config, platform.engine)
    ledger.commit([], [], "clock-1", {(PARK, "gw-demo"): (3600.0, NOW)})
    try:
        page.reload()
        page.wait_for_function("window.LT && window.LT.ready === true")
        chip = page.locator("#gateways .chip")
        expect(chip.locator(".clock-off")).to_have_text("时钟偏差 +3,600 s")
        expect(chip).to_have_class("chip ok clock")
        set_lang(page, "en")
        expect(chip.locator(".clock-off")).to_have_text("clock off by +3,600 s")
        assert_no_raw_text(page)
    finally:
        ledger.commit([], [], "clock-2", {(PARK, "gw-demo"): (-0.2, NOW)})
    page.reload()
    page.wait_for_function("window.LT && window.LT.ready === true")
    expect(page.locator("#gateways .chip .clock-off")).to_have_count(0)


def test_wall_screen_fills_1920_by_1080_with_a_park_clock(served, page_of):
    platform, base = served
    page = page_of(1920, 1080)
    open_dashboard(page, base, USER, PASSWORD, query="wall=1")
    expect(page.locator("#top")).to_be_hidden()
    expect(page.locator("#wallbar")).to_be_visible()
    box = page.evaluate("""() => { const r = [...document.querySelectorAll('#view .lt-card, #view .lt-kpi')]
        .filter((e) => e.offsetParent !== null).map((e) => e.getBoundingClientRect());
        return {right: Math.max(...r.map((x) => x.right)), bottom: Math.max(...r.map((x) => x.bottom)),
                left: Math.min(...r.map((x) => x.left)), cards: r.length,
                scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]}; }""")
    assert box["right"] > 1920 - 40 and box["bottom"] > 1080 - 40 and box["left"] < 40, box  # no empty half
    assert box["scroll"] == [1920, 1080], box  # and nothing beyond the screen
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-kpi=load] .value')).fontSize)")
    assert size >= 36, size  # large type
    # the clock is the park's (Shanghai), not the browser's (New York)
    shown = page.locator("#wall-clock").inner_text()
    now = datetime.now(ZONE)
    assert shown[:5] in {(now + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}, shown
    # it refreshes by itself
    platform.clock[0] = NOW + timedelta(seconds=20)
    feed_latest(platform.config, platform.engine, PARK, NOW + timedelta(seconds=19), grid_kw=512.0, seq=3)
    expect(kpi(page, "grid")).to_have_text("512.0", timeout=2000)
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "wall.png"))
    assert_scorecard_fits(page)
    set_lang(page, "en")  # English words are longer: every scorecard row still on the screen, unscrolled
    assert_scorecard_fits(page)
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "wall-en.png"))


def assert_scorecard_fits(page) -> None:
    expect(page.locator("#scorecard tbody tr")).to_have_count(7)
    box = page.evaluate("""() => { const rows = document.querySelectorAll('#scorecard tbody tr');
        const last = rows[rows.length - 1].getBoundingClientRect();
        const card = document.querySelector('.c-scorecard').getBoundingClientRect();
        return {last: last.bottom, card: card.bottom, screen: innerHeight,
                scroll: document.documentElement.scrollHeight}; }""")
    assert box["last"] <= box["card"] and box["card"] <= box["screen"], box  # not cut off by its card or the screen
    assert box["scroll"] == 1080, box


def test_phone_layout_at_390_px(served, page_of):
    _, base = served
    page = page_of(390, 844)
    open_dashboard(page, base, USER, PASSWORD)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the header does not overflow
    lang = page.locator("#lang").bounding_box()
    assert lang["x"] >= 0 and lang["x"] + lang["width"] <= 390
    expect(page.locator("#lang")).to_be_visible()
    cards = page.evaluate("""() => [...document.querySelectorAll('.ov > .lt-card')]
        .map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.width, r.top]; })""")
    assert len({round(x) for x, _, _ in cards}) == 1 and all(w > 340 for _, w, _ in cards), cards  # stacked
    assert [top for _, _, top in cards] == sorted(top for _, _, top in cards)
    # the scorecard's verdict is on the screen without scrolling sideways
    status = page.locator("#scorecard tr[data-indicator=clean_energy_share] td").nth(3)
    expect(status).to_be_visible()
    box = status.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.querySelector('.c-scorecard .lt-table-wrap').scrollWidth") <= 370
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "phone.png"), full_page=True)


def test_history_day_draws_the_hour_measured_in_part_at_its_measured_rate(served, page_of):
    """History's day, like the overview curve: the hour with the incomplete 13:45 bucket (and so
    completeness < 1) is drawn as kWh ÷ completeness, marked, and said in the note; no raw dip."""
    _, base = served
    page = page_of()
    open_dashboard(page, base, USER, PASSWORD, hash=f"history/day/{TODAY.isoformat()}")
    api = page.evaluate(f"""() => LT.api('/parks/{PARK}/series',
        {{params: {{scope: 'park', step: 'hour', first: '{TODAY}', last: '{TODAY}'}}}})""")
    hour = api["points"][13]
    assert 0 < hour["completeness"] < 1, hour
    drawn = page.evaluate("""() => { const c = echarts.getInstanceByDom(
        document.querySelector('.lt-card[data-figure="electricity_kwh"] .chart')).getOption().series[0];
        return {data: c.data, dots: (c.markPoint && c.markPoint.data || []).map((d) => d.coord[0])}; }""")
    raw = hour["values"]["electricity_kwh"]
    assert drawn["data"][13] == pytest.approx(raw / hour["completeness"]) and drawn["data"][13] > raw
    assert drawn["data"][12] == pytest.approx(api["points"][12]["values"]["electricity_kwh"])  # whole hours as they are
    assert drawn["dots"] == [13]
    expect(page.locator("#h-note")).to_contain_text(f"13:00 完整度 {hour['completeness']:.0%}")
    assert_no_raw_text(page)
