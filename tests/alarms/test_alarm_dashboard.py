"""The alarm panel in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core)
against a real uvicorn server: an alarm raised by the alarm service appears live on the dashboard
with a badge on the gateway it concerns, is acknowledged from the panel, and leaves the active list."""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import delete, select

from lingtan.alarms.service import AlarmService
from lingtan.api.auth import Scope, create_user
from lingtan.kernel.config import Alarms
from lingtan.store.db import sessions, upsert
from lingtan.store.models import Alarm, GatewayStatus, Latest
from tests.support.alarms import only
from tests.support.api import NOW, PARK, chromium, make_platform, serving
from tests.support.dashboard import assert_no_raw_text, set_lang

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


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
    rules = [r for r in only("gateway_offline") if r["rule"] != "meter_no_data"] + [{"rule": "meter_no_data"}]
    config = platform.config.model_copy(update={"alarms": Alarms(rules=rules)})
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
                s.execute(delete(Latest).where(Latest.park == PARK, Latest.meter == "steam-main"))
                s.commit()  # and a meter that never reported
            events = {e.alarm.rule: e for e in svc.run_once()}
            ev, silent = events["gateway_offline"], events["meter_no_data"]
            # what the page words the alarm from: the subject's configured name and the rule's threshold
            listed = platform.client("read").get(f"/api/v1/parks/{PARK}/alarms").json()["active"]
            active = {a["rule"]: a for a in listed}
            assert {k: active["meter_no_data"][k] for k in ("subject", "subject_name", "value", "threshold")} == {
                "subject": "steam-main", "subject_name": "外购蒸汽 Purchased steam", "value": None, "threshold": 3.0}
            assert active["gateway_offline"]["subject_name"] == "gw-demo"
            assert active["meter_no_data"]["message"] == "no reading received yet"  # kept for machines
            item = page.locator(f"#alarm-list li[data-alarm='{ev.alarm.id}']")
            expect(item).to_contain_text("网关离线", timeout=10000)  # appears without reloading
            expect(item).to_contain_text("严重")
            expect(page.locator("#gateways .chip .alarm-badge")).to_have_count(1, timeout=10000)

            # worded in the page's language, the meter by its configured name, never the API's English message
            meter = page.locator(f"#alarm-list li[data-alarm='{silent.alarm.id}']")
            expect(meter).to_contain_text("[警告] 仪表无数据 · 外购蒸汽")
            expect(meter).to_contain_text("尚未收到读数")
            expect(meter.locator(".lt-name")).to_have_text("外购蒸汽 Purchased steam")
            expect(page.locator("#alarms-title")).to_have_text("告警 (2)")
            assert "steam-main" not in page.locator("#alarms").inner_text()
            assert_no_raw_text(page)
            set_lang(page, "en")
            expect(page.locator("#alarms-title")).to_have_text("Alarms (2)")
            expect(meter).to_contain_text("[warning] Meter not reporting · 外购蒸汽 Purchased steam")
            expect(meter).to_contain_text("no reading received yet")
            expect(item).to_contain_text("[critical] Gateway offline · gw-demo")
            expect(item.locator("button.ack")).to_have_text("Acknowledge")
            assert_no_raw_text(page)
            page.locator("#alarms").screenshot(path=str(IMG / "alarms-en.png"))
            # every rule has words in both languages, every placeholder filled
            cases = [[12, 3], [None, None], [0.42, 0.9], [200000, 100000]]  # value, threshold
            for lang in ("zh", "en"):  # ends in English, as the page is
                texts = page.evaluate("""([lang, cases]) => { LT.setLang(lang); return LT.alarms.RULES.flatMap((rule) =>
                    cases.map(([value, threshold]) =>
                        [LT.alarms.ruleName(rule), LT.alarms.wording({rule, value, threshold})])); }""", [lang, cases])
                assert all(name and words and "{" not in words for name, words in texts), texts
                assert page.evaluate("[...LT.i18n.missing]") == []
            page.wait_for_function("LT.ready === true")
            set_lang(page, "zh")
            expect(page.locator("#alarms-title")).to_have_text("告警 (2)")
            page.locator("#alarms").screenshot(path=str(IMG / "alarms.png"))

            item.locator("button.ack").click()
            expect(page.locator(f"#alarm-list li[data-alarm='{ev.alarm.id}']")).to_have_count(0, timeout=10000)
            expect(page.locator(f"#alarm-acked li[data-alarm='{ev.alarm.id}']")).to_contain_text("确认人 user:operator")
            expect(page.locator("#alarms-title")).to_have_text("告警 (1)")
            assert errors == []
        finally:
            browser.close()
    with sessions(platform.engine)() as s:
        a = s.scalars(select(Alarm).where(Alarm.rule == "gateway_offline")).one()
        assert (a.state, a.acked_by) == ("acknowledged", "user:operator")
