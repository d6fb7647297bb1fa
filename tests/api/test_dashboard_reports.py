"""The dashboard's reports view in a real headless Chromium against a real uvicorn server: a park
energy manager picks the month, downloads the monthly park report as XLSX and PDF (opened with
openpyxl; the PDF's magic bytes and its text by pdftotext), sees the key energy users' reports with
their status, and records a filing, which turns 未报送 (missing) into 逾期报送 (late); in
Chinese and in English, with a screenshot in docs/img/reports.png."""

import subprocess
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lingtan.api.auth import Scope, create_user
from lingtan.store.db import sessions
from lingtan.store.models import KeuReport
from tests.support.api import NOW, PARK, make_platform
from tests.support.dashboard import assert_no_raw_text, open_dashboard, served_page, set_lang

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
USER, PASSWORD = "energy-manager", "reports-pass-7"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    platform = make_platform(f"sqlite:///{tmp_path_factory.mktemp('reports') / 'platform.db'}")
    r = platform.client("write").put(f"/api/v1/parks/{PARK}/activity/2026",
                                     json={"enterprises": {"ent-b": {"key_energy_user": True}}})
    assert r.status_code == 200, r.text
    with sessions(platform.engine).begin() as s:
        create_user(s, username=USER, password=PASSWORD, parks=[PARK], scopes=[Scope.READ, Scope.WRITE], now=NOW)
    with served_page(platform, height=900, accept_downloads=True) as (base, page):
        page.base, page.platform = base, platform
        yield page
    platform.engine.dispose()


def download(page, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    d = info.value
    return d.suggested_filename, Path(d.path()).read_bytes()


def test_reports_download_and_a_keu_filing(page, tmp_path):
    open_dashboard(page, page.base, USER, PASSWORD, lang="zh", hash="reports/2026-06")
    kinds = page.locator("table.reports tr")
    expect(kinds).to_have_count(3)
    expect(page.locator('tr[data-kind="park-monthly"] th')).to_contain_text("园区月度能耗与碳排放报告")
    # the annual reports are of the chosen month's year
    assert "period=2026&" in page.get_attribute('tr[data-kind="annex4-annual"] a[data-format="xlsx"]', "href")
    keu = page.locator('table.keu tr[data-enterprise="ent-b"]')
    expect(keu.locator("td.filing")).to_have_text("未到期")  # due 2026-07-10, today is 2026-06-15
    assert_no_raw_text(page)

    name, body = download(page, 'tr[data-kind="park-monthly"] a[data-format="xlsx"]')
    assert name.endswith(".xlsx") and "2026-06" in name
    (tmp_path / name).write_bytes(body)
    book = openpyxl.load_workbook(tmp_path / name)
    assert len(book.sheetnames) >= 2
    cells = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert any(isinstance(v, float) and v > 0 for v in cells), "no positive number in the report"
    assert any(isinstance(v, (date, datetime)) for v in cells), "no real date in the report"

    name, body = download(page, 'tr[data-kind="park-monthly"] a[data-format="pdf"]')
    assert name.endswith(".pdf") and body.startswith(b"%PDF")
    (tmp_path / name).write_bytes(body)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / name), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "2026年6月" in text

    expect(keu.locator("button")).to_have_count(0)  # June is not over: nothing to file yet

    # May's report, due by 2026-06-10 and not filed: missing; the manager records it now, late
    page.select_option(".view-reports select.rep-month", "05")
    page.wait_for_function("window.LT.ready === true && location.hash === '#/reports/2026-05'")
    expect(keu.locator("td.filing")).to_have_text("未报送")
    keu.locator("button").click()
    page.wait_for_function("window.LT.ready === true")
    expect(keu.locator("td.filing")).to_have_text("逾期报送")
    expect(keu.locator("td").nth(4)).to_have_text(USER)
    expect(keu.locator("button")).to_have_count(0)
    with sessions(page.platform.engine)() as s:
        row = s.scalars(select(KeuReport).where(KeuReport.park == PARK, KeuReport.enterprise == "ent-b")).one()
    assert row.month == "2026-05" and row.submitted_by == f"user:{USER}"
    assert_no_raw_text(page)
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "reports.png"), full_page=True)

    set_lang(page, "en")
    expect(page.locator('tr[data-kind="park-monthly"] th')).to_contain_text("Monthly park energy and carbon report")
    expect(keu.locator("td.filing")).to_have_text("late")
    assert "lang=en" in page.get_attribute('tr[data-kind="park-monthly"] a[data-format="pdf"]', "href")
    assert_no_raw_text(page)


def test_a_reader_without_write_scope_is_refused_the_filing(page):
    # a read-only session: the API refuses the filing (403), the page says so and the status stays missing
    with sessions(page.platform.engine).begin() as s:
        create_user(s, username="reader", password="reader-pass-7", parks=[PARK], scopes=[Scope.READ], now=NOW)
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    reader = context.new_page()
    try:
        open_dashboard(reader, page.base, "reader", "reader-pass-7", lang="zh", hash="reports/2026-04")
        row = reader.locator('table.keu tr[data-enterprise="ent-b"]')
        expect(row.locator("td.filing")).to_have_text("未报送")  # April's was due by 2026-05-10
        row.locator("button").click()
        reader.wait_for_function("window.LT.ready === true")
        expect(reader.locator(".view-reports p.bad")).to_be_visible()
        expect(row.locator("td.filing")).to_have_text("未报送")
    finally:
        context.close()


def test_reports_on_a_phone_fit_the_screen(page):
    context = page.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        phone = context.new_page()
        open_dashboard(phone, page.base, USER, PASSWORD, hash="reports/2026-06")
        expect(phone.locator("table.reports tr")).to_have_count(3)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the descriptions wrap
        boxes = [a.bounding_box() for a in phone.locator("a.lt-file").all()]
        assert len(boxes) >= 6 and all(b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes), boxes
        phone.screenshot(path=str(IMG / "phone-reports.png"), full_page=True)
    finally:
        context.close()
