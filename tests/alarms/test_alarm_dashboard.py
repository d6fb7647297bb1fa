"""The alarm panel in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core)
against a real uvicorn server: an alarm raised by the alarm service appears live on the dashboard
with a badge on the gateway it concerns, is acknowledged from the panel, and leaves the active list."""


import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.api.auth import Scope, create_user
from lingtan.kernel.config import Alarms
from lingtan.store.db import sessions, upsert
from lingtan.store.models import Alarm, GatewayStatus
from tests.support.alarms import only
from tests.support.api import NOW, PARK, chromium, make_platform, serving


@pytest.fixture
def served(tmp_path):
    platform = make_platform(f"sqlite:///{tmp_path / 'platform.db'}")
    with sessions(platform.engine).begin() as s:
        create_user(s, username="operator", password="zero-carbon-2026", parks=[PARK],
                    scopes=[Scope.READ, Scope.WRITE], now=NOW)
    try:
        with serving(platform) as base:
            yield platform, base
    finally:
        platform.engine.dispose()


def test_an_alarm_appears_live_is_acknowledged_and_leaves_the_active_list(served):
    platform, base = served
    config = platform.config.model_copy(update={"alarms": Alarms(rules=only("gateway_offline"))})
    svc = AlarmService(config, platform.engine, lambda: platform.clock[0], listen=False)
    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", "zero-carbon-2026")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#alarm-list")).to_contain_text("无活动告警", timeout=10000)

            with sessions(platform.engine)() as s:  # the gateway's last will, as the status listener stores it
                upsert(s, GatewayStatus, [{"park": PARK, "gateway": "gw-demo", "state": "offline", "ts": NOW,
                                           "spooled": 0, "received_at": NOW}], ["state"])
                s.commit()
            [ev] = svc.run_once()
            item = page.locator(f"#alarm-list li[data-alarm='{ev.alarm.id}']")
            expect(item).to_contain_text("网关离线", timeout=10000)  # appears without reloading
            expect(item).to_contain_text("严重")
            expect(page.locator("#gateways .chip .alarm-badge")).to_have_count(1, timeout=10000)

            item.locator("button.ack").click()
            expect(page.locator(f"#alarm-list li[data-alarm='{ev.alarm.id}']")).to_have_count(0, timeout=10000)
            expect(page.locator(f"#alarm-acked li[data-alarm='{ev.alarm.id}']")).to_contain_text("user:operator")
            expect(page.locator("#alarm-list")).to_contain_text("无活动告警")
            assert errors == []
        finally:
            browser.close()
    with sessions(platform.engine)() as s:
        a = s.scalars(select(Alarm)).one()
        assert (a.state, a.acked_by) == ("acknowledged", "user:operator")
