"""Checks of report files shared by the report tests (demo data, soak data): the XLSX opened with
openpyxl (real numbers and dates, number formats, frozen headers), the PDF turned into PNG pages
with poppler's pdftoppm and read back with pdftotext, and each report's totals against the API's
answers for the same period."""

import io
import re
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from lingtan.api.reports.html import format_number

API = "/api/v1/parks/{park}"
TITLES = {  # the tables each report must have, by kind (Chinese titles; sheets and PDF headings)
    "park-monthly": ["分品种能源消费", "电力平衡", "分来源二氧化碳排放", "分时电量（尖峰平谷）", "企业能耗排名",
                     "重点用能单位月报报送情况"],
    "keu-monthly": ["分品种能源消费与碳排放", "电力构成", "分时电量（尖峰平谷）", "同比与年初至今"],
    "annex4-annual": ["综合能源消费量核算表", "碳排放核算表（附件4）", "排放汇总", "所用系数及来源"],
    "jiangxi-annex1": ["能源供应情况（外购与自供）", "能源消费情况（按用途）", "碳排放情况及结构"],
}


def workbook(body: bytes):
    return load_workbook(io.BytesIO(body))


def facts(wb) -> dict[str, object]:
    """The summary sheet's facts: label -> value (real cells)."""
    ws = wb.worksheets[0]
    out = {}
    for row in ws.iter_rows(min_row=7, max_col=2):
        if row[0].value is None:
            break
        out[row[0].value] = row[1].value
    return out


def table(wb, title: str) -> tuple[list[str], list[list[object]]]:
    """A table sheet: its header and its rows (up to the blank line before the note)."""
    ws = wb[title[:31]]
    rows = []
    for row in ws.iter_rows(min_row=2, values_only=True):
        if all(v is None for v in row):
            break
        rows.append(list(row))
    return [c.value for c in ws[1]], rows


def column(header: list[str], name: str) -> int:
    return next(i for i, h in enumerate(header) if h == name or h.startswith(name + " ("))


def check_cells(wb) -> dict[str, int]:
    """Every table sheet: header frozen, numbers are numeric cells with a number format, dates are
    date cells; returns how many numeric and date cells were seen."""
    seen = {"numbers": 0, "dates": 0}
    for ws in wb.worksheets[1:]:
        assert ws.freeze_panes == "A2", ws.title
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, bool) or cell.value is None:
                    continue
                if isinstance(cell.value, (int, float)):
                    assert cell.data_type == "n" and cell.number_format != "General", (ws.title, cell.coordinate)
                    seen["numbers"] += 1
                elif isinstance(cell.value, (date, datetime)):
                    assert cell.is_date and "yy" in cell.number_format, (ws.title, cell.coordinate)
                    seen["dates"] += 1
                else:
                    assert isinstance(cell.value, str)
                    try:  # text cells never hold a number written as text
                        float(cell.value.replace(",", ""))
                    except ValueError:
                        pass
                    else:
                        pytest.fail(f"{ws.title}!{cell.coordinate}: number as text {cell.value!r}")
        for letter, dim in ws.column_dimensions.items():
            assert 6 <= dim.width <= 60, (ws.title, letter, dim.width)
    assert wb.worksheets[0].freeze_panes == "A7"
    return seen


def get_report(client, park: str, kind: str, period: str, fmt: str = "xlsx", **params) -> bytes:
    r = client.get(f"{API.format(park=park)}/reports/{kind}", params={"period": period, "format": fmt, **params})
    assert r.status_code == 200, r.text
    media = "application/pdf" if fmt == "pdf" else "spreadsheetml"
    assert media in r.headers["content-type"]
    assert r.headers["content-disposition"].startswith("attachment; filename=\"")
    return r.content


def check_pdf(body: bytes, folder: Path, titles: list[str], totals: list[str]) -> int:
    """The PDF as PNG pages (pdftoppm) and as text (pdftotext): its page count, every table title
    and each total (as the PDF writes it) present; returns the page count."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "report.pdf"
    pdf.write_bytes(body)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(folder / "page")], check=True)
    assert len(list(folder.glob("page*.png"))) == pages >= 1
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    squeezed = text.replace(" ", "").replace("\n", "")
    for title in titles:
        assert title.replace(" ", "") in squeezed, title
    for total in totals:
        assert total in text, total
    return pages


def pdf_text(body: bytes, folder: Path, last_page: int | None = None) -> str:
    """The PDF's text (pdftotext), of its pages up to `last_page` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / "text.pdf"
    pdf.write_bytes(body)
    pages = ["-l", str(last_page)] if last_page else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def cell_texts(wb, quoted: str = "（系数库原文）") -> list[str]:
    """Every text cell of every sheet, but for columns that quote a source in its own words."""
    out = []
    for ws in wb.worksheets:
        skip = {c.column for c in ws[1] if isinstance(c.value, str) and quoted in c.value}
        out += [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.column not in skip]
    return out


# raw identifiers and English a Chinese report must not print (U1-10); an identifier in brackets is allowed
RAW = re.compile(r"pro_rata|by_origin|keu_due_day|\bm3\b|unconfirmed|热力调入 \d|own_green_capped|"
                 r"enterprises_exceed_park")
BRACKETED = re.compile(r"（[A-Za-z_]+）|\([A-Za-z_]+\)")


def raw_tokens(texts: list[str]) -> list[str]:
    """The raw tokens in `texts`, outside brackets, each with its text."""
    return [f"{m.group(0)!r} in {t!r}" for t in texts for m in RAW.finditer(BRACKETED.sub("", t))]


def approx(value, rel: float = 1e-9):
    return pytest.approx(value, rel=rel, abs=1e-9)


def check_park_monthly(client, park: str, month: str, first: str, last: str, folder: Path | None) -> dict:
    """park-monthly against /enterprise-ranking (same span): park energy and CO2, each enterprise,
    the unallocated remainder and the time-of-use split; the PDF's tables and its energy total."""
    wb = workbook(get_report(client, park, "park-monthly", month))
    seen = check_cells(wb)
    assert seen["numbers"] > 20 and seen["dates"] >= 2  # trend months, due dates
    rank = client.get(f"{API.format(park=park)}/enterprise-ranking", params={"first": first, "last": last}).json()
    f = facts(wb)
    assert f["综合能源消费量（等价值）"] == approx(rank["park_energy_tce"])
    assert f["二氧化碳排放量"] == approx(rank["park_co2_t"])
    header, rows = table(wb, "企业能耗排名")
    tce, co2, eid = column(header, "综合能耗（等价值）"), column(header, "碳排放"), column(header, "企业编号")
    by_id = {r[eid]: r for r in rows if r[eid]}
    assert set(by_id) == {e["id"] for e in rank["enterprises"]}
    for e in rank["enterprises"]:
        assert by_id[e["id"]][tce] == approx(e["energy_tce"]) and by_id[e["id"]][co2] == approx(e["co2_t"])
    unallocated = next(r for r in rows if r[eid] is None and r[column(header, "企业名称")].startswith("公共"))
    assert unallocated[tce] == approx(rank["unallocated"]["energy_tce"])
    assert rows[-1][tce] == approx(rank["park_energy_tce"])  # the totals row
    header, rows = table(wb, "分时电量（尖峰平谷）")
    assert sum(r[column(header, "电量")] for r in rows[:-1]) == approx(sum(rank["park_tou_kwh"].values()))
    header, rows = table(wb, "分品种能源消费")
    assert rows[-1][column(header, "综合能耗（等价值）")] == approx(rank["park_energy_tce"])
    if folder is not None:
        pdf = get_report(client, park, "park-monthly", month, "pdf")
        check_pdf(pdf, folder / "park-monthly", TITLES["park-monthly"], [format_number(rank["park_energy_tce"], 3)])
    return {"wb": wb, "ranking": rank}


def check_keu_monthly(client, park: str, enterprise: str, month: str, first: str, last: str,
                      folder: Path | None, path: str | None = None) -> dict:
    """keu-monthly against /enterprises/{id}/figures (same span)."""
    r = client.get(path or f"{API.format(park=park)}/reports/keu-monthly",
                   params={"period": month, **({} if path else {"enterprise": enterprise})})
    assert r.status_code == 200, r.text
    wb = workbook(r.content)
    check_cells(wb)
    fig = client.get(f"{API.format(park=park)}/enterprises/{enterprise}/figures",
                     params={"first": first, "last": last}).json()
    f = facts(wb)
    assert f["综合能源消费量（等价值）"] == approx(fig["figures"]["energy_tce"])
    assert f["综合能源消费量（当量值）"] == approx(fig["figures"]["energy_calorific_tce"])
    assert f["二氧化碳排放量"] == approx(fig["figures"]["total_co2_t"])
    assert f["用电量"] == approx(fig["figures"]["electricity_kwh"])
    header, rows = table(wb, "分时电量（尖峰平谷）")
    kwh = column(header, "电量")
    assert {r[0]: r[kwh] for r in rows[:-1]}["高峰"] == approx(fig["tou_kwh"]["peak"])
    header, rows = table(wb, "分品种能源消费与碳排放")
    assert rows[-1][column(header, "碳排放")] == approx(fig["figures"]["total_co2_t"])
    if folder is not None:
        pdf = get_report(client, park, "keu-monthly", month, "pdf", enterprise=enterprise)
        check_pdf(pdf, folder / "keu-monthly", TITLES["keu-monthly"], [format_number(fig["figures"]["energy_tce"], 3)])
    return {"wb": wb, "figures": fig}


def check_annual(client, park: str, year: int, folder: Path | None) -> dict:
    """annex4-annual and jiangxi-annex1 against /indicators/{year} (energy_tce, co2_t)."""
    ind = client.get(f"{API.format(park=park)}/indicators/{year}").json()
    wb = workbook(get_report(client, park, "annex4-annual", str(year)))
    check_cells(wb)
    f = facts(wb)
    assert f["综合能源消费量（等价值）"] == approx(ind["energy_tce"])
    assert f["二氧化碳排放量"] == approx(ind["co2_t"])
    header, rows = table(wb, "碳排放核算表（附件4）")
    co2 = column(header, "排放量")
    assert sum(r[co2] for r in rows[:-1]) == approx(ind["co2_t"]) and rows[-1][co2] == approx(ind["co2_t"])
    header, rows = table(wb, "所用系数及来源")
    sources = {r[0]: r[column(header, "来源")] for r in rows}
    assert "零碳园区碳排放核算方法" in sources["co2.electricity.fossil"]
    assert rows[[r[0] for r in rows].index("co2.electricity.fossil")][column(header, "数值")] == 0.8325
    jx = workbook(get_report(client, park, "jiangxi-annex1", str(year)))
    check_cells(jx)
    header, rows = table(jx, "碳排放情况及结构")
    total = next(r for r in rows if r[0] == "碳排放总量")
    assert total[column(header, str(year))] == approx(ind["co2_t"])
    energy = next(r for r in rows if r[0] == "综合能源消费量（等价值）")
    assert energy[column(header, str(year))] == approx(ind["energy_tce"])
    if folder is not None:
        pdf = get_report(client, park, "annex4-annual", str(year), "pdf")
        check_pdf(pdf, folder / "annex4", TITLES["annex4-annual"], [format_number(ind["co2_t"], 3)])
        pdf = get_report(client, park, "jiangxi-annex1", str(year), "pdf")
        check_pdf(pdf, folder / "jiangxi", TITLES["jiangxi-annex1"], [format_number(ind["co2_t"], 3)])
    return {"annex4": wb, "jiangxi": jx, "indicators": ind, "jiangxi_header": header, "jiangxi_total": total}


def check_soak_reports(soak, folder: Path) -> dict:
    """Each report from the soak's data (its platform database, as the soak left it), through the
    API at the soak's end: the XLSX totals against the API's and the PDF's pages and tables."""
    from fastapi.testclient import TestClient

    from lingtan.api.app import create_app
    from lingtan.api.auth import Scope, create_key
    from lingtan.store.db import sessions

    now = soak.stopped_at
    park = soak.park
    today = now.astimezone(park.zone).date()
    with sessions(soak.engine).begin() as s:
        _, key = create_key(s, parks=[park.id], scopes=[Scope.READ], name="soak-reports", now=now)
    client = TestClient(create_app(soak.config, soak.engine, clock=lambda: now),
                        headers={"Authorization": f"Bearer {key}"})
    month, first = f"{today:%Y-%m}", f"{today:%Y-%m}-01"
    pm = check_park_monthly(client, park.id, month, first, str(today), folder)
    biggest = pm["ranking"]["enterprises"][0]["id"]
    check_keu_monthly(client, park.id, biggest, month, first, str(today), folder)
    an = check_annual(client, park.id, today.year, folder)
    return {"park_energy_tce": pm["ranking"]["park_energy_tce"], "co2_t": an["indicators"]["co2_t"]}
