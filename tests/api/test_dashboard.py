"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core;
no browser is downloaded) against a real uvicorn server on loopback fed with data: a person logs
in, sees the figures, a new reading arrives and is on screen within 2 s (pushed over SSE), the
language switches to English, and screenshots are saved to docs/img/."""

import math
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import delete

from lingtan.accounting.service import update_aggregates
from lingtan.api.auth import Scope, create_user
from lingtan.store.db import sessions
from lingtan.store.models import IntervalEnergy
from tests.support.api import NOW, PARK, TODAY, ZONE, chromium, feed_latest, local_midnight_utc, make_platform, serving

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


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


@pytest.fixture
def served(tmp_path):
    platform = make_platform(f"sqlite:///{tmp_path / 'platform.db'}")
    shaped_day(platform.engine)
    with sessions(platform.engine).begin() as s:
        create_user(s, username="manager", password="zero-carbon-2026", parks=[PARK], scopes=[Scope.READ], now=NOW)
    try:
        with serving(platform) as base:
            yield platform, base
    finally:
        platform.engine.dispose()


def test_dashboard_logs_in_updates_live_and_switches_language(served):
    platform, base = served
    IMG.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            expect(page.locator("#login")).to_be_visible()  # no data without a login
            page.fill("input[name=username]", "manager")
            page.fill("input[name=password]", "wrong password")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
            page.fill("input[name=password]", "zero-carbon-2026")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#p-grid")).to_have_text("400", timeout=5000)
            expect(page.locator("#park-name")).to_contain_text("示范零碳产业园")
            expect(page.locator("#scorecard tbody tr").first).to_contain_text("单位能耗碳排放", timeout=5000)
            expect(page.locator("#curve canvas").first).to_be_visible(timeout=5000)
            expect(page.locator("#meters tbody tr")).to_have_count(10)

            # a new reading arrives (through ingest's ledger): on screen within 2 s, pushed
            platform.clock[0] = NOW + timedelta(seconds=10)
            feed_latest(platform.config, platform.engine, PARK, NOW + timedelta(seconds=9), grid_kw=777.5, seq=2)
            expect(page.locator("#p-grid")).to_have_text("777.5", timeout=2000)
            expect(page.locator("#live")).to_have_class("dot on")
            page.wait_for_timeout(500)  # let the bars' width transition finish for the picture
            page.screenshot(path=str(IMG / "dashboard.png"), full_page=True)

            page.click("#lang")
            expect(page.locator("h1")).to_contain_text("Zero-carbon park energy & carbon")
            expect(page.locator("#scorecard thead")).to_contain_text("Indicator")
            expect(page.locator("#p-grid")).to_have_text("777.5")
            page.screenshot(path=str(IMG / "dashboard-en.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert (IMG / "dashboard.png").stat().st_size > 20_000
