"""The dashboard's history view in a real headless Chromium against a real uvicorn server: a day
(hourly), a month (daily) and a year (monthly) of the park's electricity, tce and CO₂, each with
the same period of the previous year drawn beside it and the change, navigated with the picker
and its buttons, in Chinese and in English; screenshots in docs/img/.

Data (tests/support/multiyear.py): daily aggregates from 2025-01-01 with a seasonal shape, today
(2026-06-15, until 14:00) and the same day of 2025 with a daily shape in 15-minute intervals.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.dashboard import assert_no_raw_text, open_dashboard, served_page
from tests.support.multiyear import PASSWORD, USER, dashboard_platform

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    platform = dashboard_platform(f"sqlite:///{tmp_path_factory.mktemp('history') / 'platform.db'}")
    IMG.mkdir(parents=True, exist_ok=True)
    with served_page(platform) as (base, page):
        page.base = base
        yield page
    platform.engine.dispose()


def chart_series(page, figure: str) -> list[dict]:
    """The series the view drew in the chart of `figure` (electricity_kwh, energy_tce, co2_t)."""
    return page.evaluate("""(figure) => {
        const el = document.querySelector(`.lt-card[data-figure="${figure}"] .chart`);
        return echarts.getInstanceByDom(el).getOption().series.map((s) => ({name: s.name, data: s.data}));
    }""", figure)


def kpi(page, figure: str):
    return page.locator(f'.lt-kpi[data-figure="{figure}"]')


def wait_ready(page):
    page.wait_for_function("window.LT.ready === true")


def test_history_day_month_year_with_last_year(page):
    open_dashboard(page, page.base, USER, PASSWORD, lang="zh", hash="history")
    # today (the platform's day, not the browser's), hourly, with 2025-06-15 beside it
    expect(page.locator("#h-period")).to_have_text("2026-06-15")
    series = chart_series(page, "electricity_kwh")
    assert [s["name"] for s in series] == ["2026年", "2025年"]
    now, then = series[0]["data"], series[1]["data"]
    assert len(now) == len(then) == 24
    assert all(v is not None for v in now[:14]) and all(v is None for v in now[14:])  # nothing after 14:00
    assert all(v is not None and v > 0 for v in then)  # last year's whole day
    # like for like: this year's 14 hours against the same 14 hours of last year (0.9 of this year's shape)
    expect(kpi(page, "electricity_kwh").locator(".lt-yoy")).to_have_text("同比 ▲ +11.1%")
    # the date is chosen in the page's language (selects), not with the browser's date input
    assert page.locator("input[type=date], input[type=month]").count() == 0
    assert page.locator(".lt-date select").evaluate_all("(s) => s.map((x) => x.selectedOptions[0].text)") == [
        "2026年", "6月", "15日"]
    # the wide chart, then the other two side by side filling the row: no empty third slot (at 1440 px
    # three 420 px columns would fit)
    page.set_viewport_size({"width": 1440, "height": 1000})
    cards = page.locator(".hist .lt-grid > .lt-card").evaluate_all(
        "(cs) => cs.map((c) => { const r = c.getBoundingClientRect(); return [r.left, r.right, r.top]; })")
    assert len(cards) == 3 and cards[1][2] == cards[2][2] > cards[0][2], cards
    assert abs(cards[2][1] - cards[0][1]) < 2 and abs(cards[1][0] - cards[0][0]) < 2, cards
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "history.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})

    # the previous day with the button: 2026-06-14, the API tests' constant day, against nothing in 2025
    page.click(".lt-prev")
    wait_ready(page)
    expect(page.locator("#h-period")).to_have_text("2026-06-14")
    assert page.evaluate("location.hash") == "#/history/day/2026-06-14"
    expect(kpi(page, "electricity_kwh").locator(".label")).to_have_text("用电量 · 2026-06-14")  # the period shown

    # the month: daily bars of June 2026 and June 2025
    page.click('.lt-seg button[data-mode="month"]')
    wait_ready(page)
    expect(page.locator("#h-period")).to_have_text("2026年6月")
    co2 = chart_series(page, "co2_t")
    assert [s["name"] for s in co2] == ["2026年", "2025年"] and len(co2[0]["data"]) == 30
    assert all(v is not None for v in co2[0]["data"][:15]) and all(v is None for v in co2[0]["data"][15:])
    assert all(v is not None and v > 0 for v in co2[1]["data"])
    expect(kpi(page, "co2_t").locator(".lt-yoy")).to_contain_text("同比")
    expect(page.locator("#h-note")).to_contain_text("去年同期全期")  # June so far against the same days
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "history-month.png"), full_page=True)

    # the year, chosen with the picker's own control: monthly bars of 2025 against 2024 (nothing then)
    page.click('.lt-seg button[data-mode="year"]')
    wait_ready(page)
    page.select_option(".lt-date select.lt-y", "2025")
    wait_ready(page)
    expect(page.locator("#h-period")).to_have_text("2025年")
    tce = chart_series(page, "energy_tce")
    assert [s["name"] for s in tce] == ["2025年", "2024年"] and len(tce[0]["data"]) == 12
    assert all(v is not None and v > 0 for v in tce[0]["data"])
    assert [i for i, v in enumerate(tce[1]["data"]) if v is not None] == [5]  # 2024: only the day in June
    expect(kpi(page, "energy_tce").locator(".lt-yoy")).to_contain_text("同比")
    assert_no_raw_text(page)
    # March 2025 against March 2024, when nothing was measured: "–", never 0
    page.evaluate("location.hash = '#/history/month/2025-03-15'")
    page.wait_for_function("LT.ready === true && document.querySelector('#h-period').textContent === '2025年3月'")
    expect(kpi(page, "electricity_kwh").locator(".label")).to_have_text("用电量 · 2025年3月")
    expect(kpi(page, "electricity_kwh").locator(".sub")).to_have_text("2024年同期 – · 同比 –")
    page.evaluate("location.hash = '#/history/year/2025-06-15'")
    page.wait_for_function("LT.ready === true && document.querySelector('#h-period').textContent === '2025年'")

    # English: the same view relabelled
    page.click("#lang")
    page.wait_for_function("LT.lang() === 'en' && LT.ready === true")
    expect(page.locator("#h-period")).to_have_text("2025")
    assert [s["name"] for s in chart_series(page, "energy_tce")] == ["2025", "2024"]
    expect(kpi(page, "energy_tce").locator(".label")).to_have_text("Energy (equivalent value) · 2025")
    expect(page.locator('.lt-seg button[data-mode="year"]')).to_have_text("Year")
    assert_no_raw_text(page)
    page.click('.lt-seg button[data-mode="day"]')
    wait_ready(page)
    page.select_option(".lt-date select.lt-y", "2026")
    wait_ready(page)
    expect(page.locator("#h-period")).to_have_text("Jun 15, 2026")
    assert page.locator(".lt-date select").evaluate_all("(s) => s.map((x) => x.selectedOptions[0].text)") == [
        "2026", "Jun", "15"]
    expect(kpi(page, "electricity_kwh").locator(".lt-yoy")).to_have_text("year on year ▲ +11.1%")
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "history-en.png"), full_page=True)
    page.click("#lang")  # back to Chinese for whoever runs next
    page.wait_for_function("LT.lang() === 'zh'")
