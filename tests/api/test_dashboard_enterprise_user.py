"""An enterprise's own user on the dashboard, in a real headless Chromium against a real uvicorn
server: it opens on its enterprise's page (the platform's today, not the browser's), sees only
that page and its monthly report, never a park-wide view nor an alarm panel, and another
enterprise's page says "not found or not allowed" with no data. A park user's alarm panel is on
the overview and the health view only. Screenshot: docs/img/enterprise-user.png.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from lingtan.api.auth import Scope, create_user
from lingtan.store.db import sessions
from tests.support.api import NOW, PARK, chromium, serving
from tests.support.dashboard import assert_no_raw_text, open_dashboard, visible_text
from tests.support.multiyear import PASSWORD, USER, dashboard_platform

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TENANT, TENANT_PASSWORD = "tenant-b", "new materials 2026"  # bound to ent-b of PARK


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    platform = dashboard_platform(f"sqlite:///{tmp_path_factory.mktemp('tenant') / 'platform.db'}")
    with sessions(platform.engine).begin() as s:
        create_user(s, username=TENANT, password=TENANT_PASSWORD, parks=[PARK], scopes=[Scope.READ], now=NOW,
                    enterprises=["ent-b"])
    IMG.mkdir(parents=True, exist_ok=True)
    with serving(platform) as base, sync_playwright() as pw:
        browser = chromium(pw)
        errors = []
        yield platform, base, browser, errors
        browser.close()
    platform.engine.dispose()
    assert errors == []


def new_page(browser, errors):
    page = browser.new_context(viewport={"width": 1280, "height": 1100}, locale="zh-CN").new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def test_an_enterprise_user_sees_its_own_page_only(served):
    platform, base, browser, errors = served
    page = new_page(browser, errors)
    refused = []  # API answers of 400 and above: the dashboard asks for nothing it may not have
    page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if "/api/" in r.url and r.status >= 400
            else None)
    open_dashboard(page, base, TENANT, TENANT_PASSWORD, lang="zh")
    page.wait_for_function("!!document.getElementById('e-name')")
    assert refused == [f"401 {base}/api/v1/session"]  # before the login only
    refused.clear()
    assert page.evaluate("location.hash") == "#/enterprise/ent-b"  # opens on its enterprise's page
    expect(page.locator("#e-name")).to_have_text("乙新材料 (New materials)")
    assert page.eval_on_selector_all("#nav a", "as => as.map((a) => a.textContent)") == ["乙新材料 (New materials)"]
    expect(page.locator(".back")).to_have_count(0)  # no ranking to go back to
    expect(page.locator("#live")).to_be_hidden()
    # the platform's today (2026-06-15, 14:00), not the browser's: the curve has today's 56 quarter hours
    curve = page.evaluate("echarts.getInstanceByDom(document.getElementById('e-curve')).getOption().series[0].data")
    assert len(curve) == 56 and all(kw > 0 for _, kw in curve)
    expect(page.locator("#e-period")).to_have_text("2026年6月")
    # its monthly report, the newest closed month first chosen; the link downloads the file
    expect(page.locator("#e-reports select")).to_have_value("2026-05")
    href = page.locator('#e-reports a[data-format="xlsx"]').get_attribute("href")
    assert href.startswith(f"/api/v1/parks/{PARK}/enterprises/ent-b/reports/keu-monthly?period=2026-05&format=xlsx")
    report = page.request.get(base + href)
    assert report.status == 200 and report.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    page.wait_for_timeout(3500)  # one alarm refresh (alarms.js polls every 3 s): none for an enterprise user
    expect(page.locator("#alarms")).to_have_count(0)
    text = visible_text(page)
    assert "甲精密制造" not in text and "丙食品" not in text  # no other tenant's name
    assert_no_raw_text(page)
    page.screenshot(path=str(IMG / "enterprise-user.png"), full_page=True)

    # another enterprise's page: not found or not allowed, no data
    page.evaluate("location.hash = '#/enterprise/ent-a'")
    page.wait_for_function("LT.ready === true && !!document.getElementById('e-unknown')")
    expect(page.locator("#e-unknown")).to_have_text("找不到企业“ent-a”，或您的账号无权查看它。")
    expect(page.locator("#e-kpis")).to_have_count(0)
    expect(page.locator("#view canvas")).to_have_count(0)
    assert "甲精密制造" not in visible_text(page)
    assert_no_raw_text(page)
    # a park-wide view asked for by its address opens the enterprise's page instead
    for view in ("overview", "enterprises", "reports", "history", "health", "wall"):
        page.evaluate(f"location.hash = '#/{view}'")
        page.wait_for_function("LT.ready === true && location.hash === '#/enterprise/ent-b' "
                               "&& !!document.getElementById('e-name')")
    page.click("#lang")
    page.wait_for_function("LT.lang() === 'en' && LT.ready === true")
    expect(page.locator("#e-reports h2")).to_have_text("This enterprise's monthly energy and carbon report")
    page.evaluate("location.hash = '#/enterprise/ent-c'")
    page.wait_for_function("LT.ready === true && !!document.getElementById('e-unknown')")
    expect(page.locator("#e-unknown")).to_have_text("No enterprise \u201cent-c\u201d, or your account may not see it.")
    assert_no_raw_text(page)
    assert refused == []
    page.context.close()


def test_the_alarm_panel_is_on_the_overview_and_health_only(served):
    platform, base, browser, errors = served
    page = new_page(browser, errors)
    open_dashboard(page, base, USER, PASSWORD, lang="zh")
    expect(page.locator("#alarms")).to_be_visible(timeout=5000)  # the overview
    for view, shown in (("history", False), ("health", True), ("enterprises", False), ("reports", False),
                        ("overview", True)):
        page.evaluate(f"location.hash = '#/{view}'")
        page.wait_for_function(f"LT.ready === true && LT.views.current().name === '{view}'")
        if shown:
            expect(page.locator("#alarms")).to_be_visible()
        else:
            expect(page.locator("#alarms")).to_be_hidden()
    page.context.close()
