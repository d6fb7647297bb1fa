"""The dashboard in a real headless Chromium marks a gateway whose clock is off (as ingest
measured it) next to its health chip; a gateway whose clock is right gets no mark."""


from playwright.sync_api import expect, sync_playwright

from lingtan.api.auth import Scope, create_user
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import sessions
from tests.support.api import NOW, PARK, chromium, make_platform, serving


def test_dashboard_marks_a_gateway_whose_clock_is_off(tmp_path):
    platform = make_platform(f"sqlite:///{tmp_path / 'platform.db'}")
    with sessions(platform.engine).begin() as s:
        create_user(s, username="manager", password="zero-carbon-2026", parks=[PARK], scopes=[Scope.READ], now=NOW)
    ledger = Ledger(platform.config, platform.engine)
    ledger.commit([], [], "t1", {(PARK, "gw-demo"): (3600.0, NOW)})
    try:
        with serving(platform) as base:
            with sync_playwright() as pw:
                browser = chromium(pw)
                try:
                    page = browser.new_page(locale="zh-CN")
                    errors = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.goto(f"{base}/")
                    page.fill("input[name=username]", "manager")
                    page.fill("input[name=password]", "zero-carbon-2026")
                    page.click("#login-form button[type=submit]")
                    chip = page.locator("#gateways .chip")
                    expect(chip).to_contain_text("gw-demo", timeout=5000)
                    expect(chip.locator(".clock-off")).to_have_text("时钟偏差 +3,600 s", timeout=5000)
                    expect(chip).to_have_class("chip ok clock")
                    page.click("#lang")
                    expect(chip.locator(".clock-off")).to_have_text("clock off by +3,600 s")
                    assert errors == []
                finally:
                    browser.close()
            ledger.commit([], [], "t2", {(PARK, "gw-demo"): (-0.2, NOW)})  # same time: replaces it
            c = platform.client("read")
            assert c.get(f"/api/v1/parks/{PARK}/gateways").json()[0]["clock_off"] is False
    finally:
        platform.engine.dispose()
