"""The dashboard's enterprise ranking and an enterprise's page in a real headless Chromium against a
real uvicorn server, in Chinese and in English; screenshots in docs/img/.

The ranking shows the park's enterprises by energy, CO₂, intensity and year-on-year change,
sortable, with the key-energy-user flag and the unallocated line (public use and losses) always
there, and opens an enterprise's page on a click: its load curve today, its monthly trend this year
against last year, and its indicators with the time-of-use split. Data: tests/support/multiyear.py.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.api import PARK
from tests.support.dashboard import assert_no_raw_text, open_dashboard, served_page
from tests.support.multiyear import PASSWORD, USER, dashboard_platform

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    platform = dashboard_platform(f"sqlite:///{tmp_path_factory.mktemp('enterprises') / 'platform.db'}")
    IMG.mkdir(parents=True, exist_ok=True)
    with served_page(platform, height=1100) as (base, page):
        yield platform, base, page
    platform.engine.dispose()


def ready(page):
    page.wait_for_function("window.LT.ready === true")


def assert_fits(page, table: str) -> None:
    """The table is as wide as its card's scroll box: nothing hidden to the right."""
    wrap = page.evaluate("(sel) => { const w = document.querySelector(sel).closest('.lt-table-wrap');"
                         " return [w.scrollWidth, w.clientWidth]; }", table)
    assert wrap[0] <= wrap[1], (table, wrap)


def table_ids(page) -> list[str]:
    return page.eval_on_selector_all("#e-table tbody tr", "rows => rows.map((r) => r.dataset.id)")


def test_ranking_and_an_enterprise_page(served):
    platform, base, page = served
    open_dashboard(page, base, USER, PASSWORD, lang="zh", hash="enterprises")
    api = platform.client("read").get(f"/api/v1/parks/{PARK}/enterprise-ranking",
                                      params={"first": "2026-06-01", "last": "2026-06-15"}).json()
    expect(page.locator("#e-period")).to_have_text("2026年6月")
    # by energy, largest first, and the unallocated line last, never hidden
    assert table_ids(page) == [e["id"] for e in api["enterprises"]] + ["unallocated"]
    row = page.locator('#e-table tr[data-id="ent-b"]')
    b = next(e for e in api["enterprises"] if e["id"] == "ent-b")
    expect(row.locator("td").nth(3)).to_have_text(f"{b['energy_tce']:,.2f}")  # rank, name, kWh, tce
    expect(row.locator(".lt-yoy").first).to_have_text(f"{'▲ +' if b['previous']['energy_change'] > 0 else '▼ '}"
                                                     f"{100 * b['previous']['energy_change']:.1f}%")
    expect(page.locator('#e-table tr[data-id="unallocated"] td').nth(1)).to_have_text("公共用能及损耗（未分摊）")
    expect(page.locator("#e-table tfoot td").nth(3)).to_have_text(f"{api['park_energy_tce']:,.2f}")
    bars = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-bars')).getOption().series[0].data"
                         ".map((d) => d.id)")
    assert bars == ["unallocated", *reversed([e["id"] for e in api["enterprises"]])]  # largest at the top
    # the park's electricity by tariff period (parks bill their tenants by it), as the API has it
    tou = page.evaluate("echarts.getInstanceByDom(document.querySelector('#e-park-tou .chart')).getOption()"
                        ".series[0].data.map((d) => d.value)")
    periods = [k for k in ("sharp", "peak", "flat", "valley") if k in api["park_tou_kwh"]]
    assert tou[:len(periods)] == [api["park_tou_kwh"][k] for k in periods] and sum(tou) > 0
    expect(page.locator("#e-park-tou h2")).to_have_text("园区分时用电量（尖峰平谷） · kWh")
    assert_no_raw_text(page)

    # sorted by CO₂ per tce, then ascending with a second click; the unallocated line stays last
    page.click('#e-table th button[data-sort="co2_t_per_tce"]')
    ready(page)
    by = sorted(api["enterprises"], key=lambda e: -e["co2_t_per_tce"])
    assert table_ids(page) == [e["id"] for e in by] + ["unallocated"]
    page.click('#e-table th button[data-sort="co2_t_per_tce"]')
    ready(page)
    assert table_ids(page) == [e["id"] for e in reversed(by)] + ["unallocated"]
    # against the declared base year: 2024 had only 14 June
    page.select_option("select.lt-basis", "base_year")
    ready(page)
    expect(page.locator(".ent .lt-card h2 .muted").first).to_contain_text("2024-06-01")

    # the key energy user flag, declared in the activity data
    w = platform.client("write")
    assert w.put(f"/api/v1/parks/{PARK}/activity/2026", json={"enterprises": {"ent-c": {"key_energy_user": True},
                 "ent-a": {"value_added_wan_yuan": 36500}}}).status_code == 200
    page.select_option("select.lt-basis", "previous_year")
    ready(page)
    expect(page.locator('#e-table tr[data-id="ent-c"] .badge')).to_have_text("重点用能单位")
    expect(page.locator('#e-table tr[data-id="ent-a"] .badge')).to_have_count(0)
    expect(page.locator('#e-table tr[data-id="ent-c"] a')).to_have_text("丙食品 (Food processing)")
    expect(page.locator('#e-table tr[data-id="ent-a"] td').nth(7)).not_to_have_text("–")  # tce per 10,000 yuan
    page.click('#e-table th button[data-sort="energy_tce"]')  # back to the largest first by energy
    ready(page)
    assert table_ids(page)[-1] == "unallocated"
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "enterprises.png"), full_page=True)

    # English, at 1440 px: every column of the ranking whole (the long headers wrap), none clipped
    page.set_viewport_size({"width": 1440, "height": 1100})
    page.click("#lang")
    page.wait_for_function("LT.lang() === 'en' && LT.ready === true")
    assert_fits(page, "#e-table")
    expect(page.locator('#e-table tr[data-id="unallocated"] td').nth(1)).to_have_text(
        "Public use and losses (unallocated)")
    expect(page.locator('#e-table th button[data-sort="energy_tce_per_wan_yuan"]')).to_have_text(
        "Energy per 10,000 yuan value added tce/10⁴ yuan")
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "enterprises-en.png"), full_page=True)

    # a click on an enterprise opens its page
    page.click('#e-table tr[data-id="ent-b"] a')
    page.wait_for_function("location.hash === '#/enterprise/ent-b' && LT.ready && !!document.getElementById('e-name')")
    expect(page.locator("#e-name")).to_have_text("乙新材料 (New materials)")
    curve = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-curve')).getOption().series[0].data")
    assert len(curve) == 56  # today's quarter hours until 14:00
    assert all(kw > 0 for _, kw in curve)
    trend = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-trend')).getOption().series"
                          ".map((s) => ({name: s.name, n: s.data.filter((v) => v !== null).length}))")
    assert trend == [{"name": "2026", "n": 6}, {"name": "2025", "n": 12}]  # this year to June, all of last year
    tou = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-tou')).getOption().series[0].data"
                        ".map((d) => d.name)")
    assert tou == ["Critical peak", "Peak", "Flat", "Valley"]
    expect(page.locator("#e-carriers")).to_contain_text("Natural gas m³")
    # the carrier table is not cramped: a carrier's name on one line, the green share under it in at most two
    assert_fits(page, "#e-carriers")
    lines = page.evaluate("""() => { const lines = (node) => { const r = document.createRange();
            r.selectNodeContents(node); return r.getClientRects().length; };  // one rectangle per line of text
        const rows = [...document.querySelectorAll('#e-carriers tbody tr')].filter((r) => r.querySelector('td'));
        return {names: rows.map((r) => lines(r.querySelector('td').firstChild)),
                green: lines(document.querySelector('#e-carriers .sub').firstChild)}; }""")
    assert all(n == 1 for n in lines["names"]) and lines["green"] <= 2, lines
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "enterprise-en.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1100})

    page.click("#lang")
    page.wait_for_function("LT.lang() === 'zh' && LT.ready === true")
    expect(page.locator("#e-indicators")).to_contain_text("综合能耗（当量值） tce")
    expect(page.locator("#e-carriers")).to_contain_text("天然气 m³")
    tou = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-tou')).getOption().series[0].data"
                        ".map((d) => d.name)")
    assert tou == ["尖峰", "高峰", "平段", "低谷"]
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "enterprise.png"), full_page=True)

    # per 10,000 yuan of value added where the activity data give it: ent-a, not ent-b
    expect(page.locator("#e-indicators")).not_to_contain_text("万元增加值能耗")
    page.click(".back")
    page.wait_for_function("location.hash === '#/enterprises' && LT.ready && !!document.getElementById('e-table')")
    page.click('#e-table tr[data-id="ent-a"] a')
    page.wait_for_function("location.hash === '#/enterprise/ent-a' && LT.ready && !!document.getElementById('e-name')")
    expect(page.locator("#e-indicators")).to_contain_text("万元增加值能耗 tce/万元")
    assert_no_raw_text(page)

    # an enterprise the park does not have
    page.evaluate("location.hash = '#/enterprise/ent-z'")
    page.wait_for_function("LT.ready === true && !!document.getElementById('e-unknown')")
    expect(page.locator("#e-unknown")).to_have_text("园区没有这家企业：ent-z")
