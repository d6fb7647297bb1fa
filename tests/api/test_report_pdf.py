"""Reports as PDF: real headless Chromium prints the report's HTML; Debian's poppler (pdftoppm, pdftotext,
pdfinfo) reads the PDF back. Three prints in all (module-scoped), shared by the assertions."""

from __future__ import annotations

import math
import re
import stat
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lingtan.api.reports import pdf
from lingtan.api.reports.charts import _ticks, chart_svg
from lingtan.api.reports.html import _css_string, format_cell, render_html
from lingtan.api.reports.model import Chart, Column, Text
from lingtan.api.reports.pdf import ChromiumMissing, FontsMissing, PdfRenderFailed, PdfTimeout, render_pdf
from tests.support import report_samples, wait_for
from tests.support.api import PARK

SVG = "{http://www.w3.org/2000/svg}"
PAGE_ZH = re.compile(r"第\s*(\d+)\s*页\s*/\s*共\s*(\d+)\s*页")
PAGE_EN = re.compile(r"Page\s+(\d+)\s+of\s+(\d+)")


class Printed:
    """One report printed to PDF and read back: its bytes, page count, per-page text and PNG pages."""

    def __init__(self, name: str, report, lang: str, folder: Path):
        self.report, self.lang = report, lang
        self.pdf = render_pdf(report, lang)
        path = folder / f"{name}.pdf"
        path.write_bytes(self.pdf)
        info = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(path)], capture_output=True, text=True,
                              check=True).stdout
        self.pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
        self.landscape = [float(w) > float(h) for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)",
                                                                       info, re.M)]
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        self.page_texts = text.split("\f")[:self.pages]
        self.text = text
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(folder / name)],
                       check=True)
        self.pngs = sorted(folder.glob(f"{name}-*.png"))


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf")
    scratch = tmp_path_factory.mktemp("scratch")
    with pytest.MonkeyPatch.context() as mp:
        # the prints' temporary folders go here, away from other processes' prints in /tmp
        mp.setattr(tempfile, "tempdir", str(scratch))
        out = {"zh": Printed("zh", report_samples.park_monthly(), "zh", folder),
               "en": Printed("en", report_samples.park_monthly(), "en", folder),
               "hostile": Printed("hostile", report_samples.hostile(), "en", folder)}
    out["left_behind"] = sorted(p.name for p in scratch.iterdir())
    return out


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---- printed by Chromium -----------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_are_counted_numbered_and_rendered(printed, lang):
    p = printed[lang]
    assert p.pdf.startswith(b"%PDF-")
    # 4 charts and a 40-row table cannot fit on fewer than 3 A4 pages; the annex-4 table (10 columns)
    # gets a landscape page of its own
    assert p.pages >= 4
    assert len(p.pngs) == p.pages
    assert all(png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5000 for png in p.pngs)
    numbers = [(PAGE_ZH if lang == "zh" else PAGE_EN).findall(t) for t in p.page_texts]
    assert numbers == [[(str(n), str(p.pages))] for n in range(1, p.pages + 1)]
    wide = [i for i, t in enumerate(p.page_texts) if p.report.tables[2].title(lang) in t]
    assert len(wide) == 1 and p.landscape[wide[0]]
    assert sum(p.landscape) == 1
    # the running header (a CSS string of escapes) reads back exactly, from page 2 on
    header = f"{p.report.park_name} · {p.report.title(lang)}"
    assert header not in p.page_texts[0]
    assert all(header in t for t in p.page_texts[1:])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_table_chart_and_total_as_the_table_shows_it(printed, lang):
    p = printed[lang]
    text = p.text
    r = p.report
    for title in [t.title(lang) for t in r.tables] + [c.title(lang) for c in r.charts]:
        assert title in text, title
    # totals (hand-worked: the 40 electricity values are 180,000 + 23,457.5 × a permutation of 1..40)
    total_line = next(line for line in text.splitlines() if "26,435,150.0" in line)
    assert ("合计" if lang == "zh" else "Total") in total_line
    assert "100.0%" in total_line
    assert re.search(r"(合计|Total)\s+5,300\.33", text)  # emissions by source
    assert re.search(r"(合计|Total)\s+1,233\.737\s+1,233\.737\s+4,948\.333", text)  # annex 4
    # a row: 1,047,927.5 kWh is 3.964 % of the total, shown with the column's one decimal
    assert re.search(r"E01\s+" + re.escape(r.tables[1].rows[0]["name"](lang)) + r"\s+1,047,927\.5\s+128\.79\s+"
                     r"562\.32\s+4\.0%", text)
    # the missing diesel row shows dashes, not zeros; dates as ISO dates
    assert re.search(r"(柴油|Diesel)\s+–\s+–\s+–", text)
    assert "2026-11-01" in text
    # facts: fractions in % shown as percents, a missing one as a dash
    assert re.search(r"31\.4\s*%", text) and re.search(r"-3\.2\s*%", text)
    assert re.search(r"1,234\.6\s*tce", text) and re.search(r"0\.4120\s*tCO2/万元", text)
    assert "2026-12-01 09:30 (Asia/Shanghai, UTC+08:00)" in text
    for note in r.notes:
        assert _flat(note(lang)) in _flat(text)
    assert ("说明与数据来源" if lang == "zh" else "Notes and sources") in text
    assert ("主要指标" if lang == "zh" else "Key figures") in text
    other = "en" if lang == "zh" else "zh"
    assert r.tables[1].title(other) not in text


def test_a_long_table_repeats_its_header_and_never_splits_a_row(printed):
    p = printed["zh"]
    table = p.report.tables[1]
    pages_of = {}
    for n, page in enumerate(p.page_texts):
        for line in page.splitlines():
            m = re.match(r"\s*(E\d\d)\s+(\S+)\s+([\d,.]+)\s+([\d,.]+)\s+([\d,.]+)\s+([\d.]+%)\s+(是|否)\s*$", line)
            if m:
                pages_of.setdefault(m.group(1), []).append(n)
    # every row once, whole on one line of one page
    assert sorted(pages_of) == [row["id"] for row in table.rows]
    assert all(len(v) == 1 for v in pages_of.values())
    spanned = sorted({v[0] for v in pages_of.values()})
    assert len(spanned) >= 2
    for n in spanned:
        assert re.search(r"编号\s+企业", p.page_texts[n]) and "(kWh)" in p.page_texts[n], n


def test_hostile_labels_print_as_text(printed):
    p = printed["hostile"]
    assert p.pages == 1 and len(p.pngs) == 1
    flat = _flat(p.text)
    assert _flat("Report <script>alert('x')</script> & test") in flat
    assert _flat("Hostile & <table>") in flat and _flat("Name <b>") in flat and "R&D" in p.text
    assert _flat('园区 "</style><h1>x</h1> (p&1)') in flat
    # the long name wraps in its cell, never cut (its row's other cells sit on its first line)
    assert _flat("超长企业名称" * 12 + "&Co<b>") in flat.replace("1,234.5002026-12-0100:00", "", 1)
    assert "<img src=x>" in p.text and "t&CO2" in p.text and "12.50 <i>t</i>" in p.text
    # missing values: a dash in the facts, the table (None and NaN) and the chart
    assert re.search(r"Missing.*\n\s*–", p.text)
    assert len(re.findall(r"\s–\s+–", p.text)) >= 2
    assert re.search(r"B&C\s+–", p.text)
    assert re.search(r"Total\s+1,234\.500", p.text)
    assert "2026-12-01 00:00" in p.text  # 16:00 UTC is midnight in the park's zone


def test_prints_leave_no_temporary_folder(printed):
    assert printed["left_behind"] == []


# ---- Chromium missing, failing, hung -----------------------------------------------------------

def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_no_chromium_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LINGTAN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ChromiumMissing) as err:
        render_pdf(report_samples.small())
    assert "LINGTAN_CHROMIUM" in str(err.value) and "no-such-chromium" in str(err.value)
    monkeypatch.delenv("LINGTAN_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no chromium on it
    with pytest.raises(ChromiumMissing) as err:
        render_pdf(report_samples.small())
    message = str(err.value)
    assert "chromium" in message and "apt-get install chromium fonts-noto-cjk" in message
    assert "LINGTAN_CHROMIUM" in message


def test_no_chinese_font_is_a_clear_error(monkeypatch, tmp_path):
    """fontconfig with a configuration that lists no fonts, as on a server without fonts-noto-cjk."""
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts.conf").write_text(f'<?xml version="1.0"?><fontconfig><dir>{tmp_path / "fonts"}</dir>'
                                         f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    monkeypatch.setenv("FONTCONFIG_FILE", str(tmp_path / "fonts.conf"))
    monkeypatch.setattr(pdf, "_fonts_found", False)
    with pytest.raises(FontsMissing, match="Noto Sans CJK SC is missing.*apt-get install chromium fonts-noto-cjk"):
        render_pdf(report_samples.small())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_api_answers_503_naming_what_to_install(platform, monkeypatch, tmp_path):
    monkeypatch.setenv("LINGTAN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    r = platform.client("read").get(f"/api/v1/parks/{PARK}/reports/park-monthly",
                                    params={"period": "2026-06", "format": "pdf"})
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json"), r.text
    detail = r.json()["detail"]
    assert "LINGTAN_CHROMIUM" in detail and "no-such-chromium" in detail and "fonts-noto-cjk" in detail


def test_a_failing_chromium_says_what_it_said(monkeypatch, tmp_path):
    fake = _script(tmp_path / "chromium", 'echo "cannot open display: boom" >&2\nexit 3\n')
    monkeypatch.setenv("LINGTAN_CHROMIUM", str(fake))
    with pytest.raises(PdfRenderFailed) as err:
        render_pdf(report_samples.small())
    assert "status 3" in str(err.value) and "boom" in str(err.value)
    # one that exits 0 but writes no PDF
    monkeypatch.setenv("LINGTAN_CHROMIUM", str(_script(tmp_path / "quiet", "exit 0\n")))
    with pytest.raises(PdfRenderFailed, match="made no PDF"):
        render_pdf(report_samples.small())


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # killed; a zombie waits only for its (new) parent to reap it


def test_a_hung_print_is_killed_with_its_children(monkeypatch, tmp_path):
    """A stand-in for a Chromium that hangs (a shell script, named as a fake): it starts a child
    that sleeps, as Chromium's renderer would, and waits for it."""
    fake = _script(tmp_path / "chromium", f'echo "$@" > {tmp_path}/args\necho $$ > {tmp_path}/pid\n'
                                         f"env > {tmp_path}/env\nsleep 300 &\necho $! > {tmp_path}/child\nwait\n")
    monkeypatch.setenv("LINGTAN_CHROMIUM", str(fake))
    monkeypatch.setenv("LINGTAN_DB_PASSWORD", "s3cret")  # the process's secrets stay out of the browser
    with pytest.raises(PdfTimeout, match=r"within 1\.5 s"):
        render_pdf(report_samples.small(), timeout_s=1.5)
    pids = [int((tmp_path / name).read_text()) for name in ("pid", "child")]
    wait_for(lambda: all(_gone(pid) for pid in pids), 5, message="the hung print's processes are gone")
    args = (tmp_path / "args").read_text().split()
    profile = next(a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir="))
    assert "--headless" in args and "--no-sandbox" in args and "--disable-quic" in args
    assert not Path(profile).parent.exists()  # the temporary folder went with it
    env = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
    assert "s3cret" not in (tmp_path / "env").read_text() and env["HOME"] == str(Path(profile).parent)


# ---- HTML and SVG, without a browser -----------------------------------------------------------

def test_html_escapes_everything_and_runs_nothing():
    html = render_html(report_samples.hostile(), "zh")
    assert "<script" not in html.lower() and "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "\x08" not in html and "\x00" not in html and "R&amp;D</td>" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "default-src 'none'" in html
    body_css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "</" not in body_css and "<h1>" not in body_css
    assert _css_string('a "b" </style>\\ 园') == '"a\\20 \\22 b\\22 \\20 \\3c \\2f style\\3e \\5c \\20 \\56ed "'
    with pytest.raises(ValueError, match="lang: 'fr'"):
        render_html(report_samples.small(), "fr")


def test_cells_are_formatted_by_their_column():
    num = Column("v", Text("量", "Qty"), digits=2)
    pct = Column("p", Text("占比", "Share"), kind="percent", digits=1)
    when = Column("t", Text("时间", "Time"), kind="datetime")
    assert format_cell(1234567.891, num, "zh") == "1,234,567.89"
    assert format_cell(-0.001, num, "zh") == "0.00"
    assert format_cell(None, num, "zh") == "–" and format_cell(float("nan"), num, "zh") == "–"
    assert format_cell(0.1254, pct, "zh") == "12.5%" and format_cell(1, pct, "en") == "100.0%"
    assert format_cell(Text("是", "yes"), Column("k", Text("", ""), kind="text"), "en") == "yes"
    shanghai = report_samples.SHANGHAI
    assert format_cell(datetime(2026, 11, 30, 16, 5, tzinfo=UTC), when, "zh", shanghai) == "2026-12-01 00:05"


def _svg(chart: Chart, lang: str = "zh") -> ET.Element:
    return ET.fromstring(chart_svg(chart, lang))


def test_bar_chart_has_axes_labels_legend_and_unit():
    chart = Chart("c", Text("用电", "Electricity"), "bar", (Text("1月", "Jan"), Text("2月", "Feb"), "3月"),
                  ((Text("今年", "This year"), (1200.0, None, 3400.5)),
                   (Text("去年", "Last year"), (1000.0, 900.0, 3000.0))),
                  "kWh")
    root = _svg(chart, "en")
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 5  # five known values; the missing one is a dash, not a zero-height bar
    assert "Unit: kWh" in texts and "This year" in texts and "Last year" in texts
    assert {"Jan", "Feb", "3月"} <= set(texts)
    assert {"1,200", "3,400", "900"} <= set(texts) and "–" in texts  # value labels
    ticks = [t for t in texts if re.fullmatch(r"[\d,]+", t) and t not in {"1,200", "3,400", "1,000", "900", "3,000"}]
    assert "0" in ticks and len(ticks) >= 3  # the value axis
    assert any(line.get("stroke") == "#dcdcdc" for line in root.iter(f"{SVG}line"))  # gridlines


def test_line_chart_breaks_at_missing_values_and_hbar_ranks():
    line = Chart("l", Text("排放", "CO2"), "line", tuple(f"{m}月" for m in range(1, 7)),
                 ((Text("2026年", "2026"), (5.0, 6.0, None, 7.5, 8.0, 9.0)),), "tCO2")
    root = _svg(line)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2  # one run each side of the gap
    assert len(list(root.iter(f"{SVG}circle"))) == 5
    assert "单位：tCO2" in ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    # a line's axis starts at 0 (U1-15: the trend's axis started at 500, flattening the line on its labels)
    high = _svg(Chart("l", Text("排放", "CO2"), "line", ("1月", "2月", "3月"),
                      ((Text("x", "x"), (520.0, 610.0, 700.0)),), "tCO2"))
    assert "0" in ["".join(t.itertext()) for t in high.iter(f"{SVG}text")]
    names = tuple(f"企业{i}" for i in range(1, 6)) + ("一家名字非常非常非常非常长的有限责任公司",)
    hbar = Chart("h", Text("排名", "Ranking"), "hbar", names, ((Text("能耗", "Energy"), (50, 40, 30, 20, 10, 5)),),
                 "tce")
    root = _svg(hbar)
    rects = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    widths = [float(r.get("width")) for r in rects]
    assert widths == sorted(widths, reverse=True) and len(widths) == 6
    shown = [(t.text or "") + "".join(c.tail or "" for c in t) for t in root.iter(f"{SVG}text")]  # not tooltips
    # a long name wraps onto a second line, whole (U1-15: "乙新材料 (New material…" was cut)
    name = names[-1]
    assert any(a + b == name for a, b in zip(shown, shown[1:], strict=False)), shown
    longer = Chart("h", hbar.title, "hbar", ("甲" * 40, "Yi New Materials Co., Ltd. (New material process line)"),
                   ((Text("能耗", "Energy"), (2, 1)),), "tce")
    shown = [(t.text or "") + "".join(c.tail or "" for c in t) for t in _svg(longer).iter(f"{SVG}text")]
    assert "Yi New Materials Co., Ltd." in shown and "(New material process line)" in shown
    assert any(s.endswith("…") and s.startswith("甲") for s in shown)  # longer than two lines: cut, tooltip whole
    many = Chart("m", Text("排名", "Ranking"), "hbar", tuple(f"企业{i}" for i in range(45)),
                 ((Text("能耗", "Energy"), tuple(float(45 - i) for i in range(45))),), "tce")
    root = _svg(many, "zh")
    assert len([r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 40
    assert "前 40 项（共 45 项，全部见表）" in ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    with pytest.raises(ValueError, match="chart 'h': series '能耗' has 2 values for 6 categories"):
        chart_svg(Chart("h", hbar.title, "hbar", names, ((Text("能耗", "Energy"), (1, 2)),), "tce"))


def test_gridlines_are_round_and_cover_the_values():
    assert _ticks(0, 1_034_980.5) == [0, 250_000, 500_000, 750_000, 1_000_000, 1_250_000]
    assert _ticks(0, 1_034_980.5, pad_hi=0.2) == [0, 250_000, 500_000, 750_000, 1_000_000, 1_250_000]
    assert _ticks(0, 1_034_980.5, pad_hi=0.3) == [0, 500_000, 1_000_000, 1_500_000]
    assert _ticks(-3.2, 4.1, zero=True) == [-4, -2, 0, 2, 4, 6]
    assert _ticks(0.0, 0.0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert _ticks(408, 564) == [400, 450, 500, 550, 600]



def test_a_totals_row_gets_a_label_only_when_it_has_none():
    from lingtan.api.reports.model import Report, Table
    cols = (Column("id", Text("编号", "Id"), kind="text"), Column("name", Text("企业", "Name"), kind="text"),
            Column("kwh", Text("电量", "Energy"), unit="kWh", digits=1))
    rows = ({"id": "E1", "name": "甲", "kwh": 1.0},)

    def total_row(total: dict) -> str:
        report = Report("park-monthly", Text("月报", "Monthly"), "p", "园区", Text("2026年11月", "November 2026"),
                        datetime(2026, 12, 1, tzinfo=report_samples.SHANGHAI),
                        tables=(Table("t", Text("表", "Table"), cols, rows, total=total),))
        return render_html(report, "zh").split('<tr class="total">', 1)[1].split("</tr>", 1)[0]

    assert re.findall(r">([^<]*)</td>", total_row({"name": Text("园区合计", "Park total"), "kwh": 1.0})) == \
        ["", "园区合计", "1.0"]
    assert re.findall(r">([^<]*)</td>", total_row({"kwh": 1.0})) == ["合计", "", "1.0"]



def test_an_empty_table_says_none_and_a_table_keeps_its_last_rows_together():
    """U1-15: 重点用能单位月报报送情况 printed a bare header; 电力平衡 left 储能放电 alone on the next page."""
    from lingtan.api.reports.model import Report, Table
    cols = (Column("name", Text("企业", "Name"), kind="text"), Column("kwh", Text("电量", "Energy"), unit="kWh"))
    rows = tuple({"name": f"项{i}", "kwh": float(i)} for i in range(16))
    report = Report("park-monthly", Text("月报", "Monthly"), "p", "园区", Text("2026年11月", "November 2026"),
                    datetime(2026, 12, 1, tzinfo=report_samples.SHANGHAI),
                    tables=(Table("empty", Text("空表", "Empty"), cols, ()),
                            Table("long", Text("长表", "Long"), cols, rows, total={"kwh": 28.0})))
    for lang, none, total in (("zh", "无", "合计"), ("en", "None", "Total")):
        html = render_html(report, lang)
        empty = html.split('id="t-empty"', 1)[1].split("</section>", 1)[0]
        assert f'<td class="txt" colspan="2">{none}</td>' in empty
        tail = html.split('id="t-long"', 1)[1].split('<tbody class="tail">', 1)[1].split("</tbody>", 1)[0]
        assert re.findall(r'<td class="txt">([^<]*)</td>', tail) == ["项13", "项14", "项15", total]
    assert "tbody.tail { break-inside: avoid; break-before: avoid; }" in html


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["bar", "line", "hbar"]), n=st.integers(0, 14), ns=st.integers(1, 3), data=st.data())
def test_any_values_make_a_well_formed_chart(kind, n, ns, data):
    value = st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False), st.just(0.0))
    series = tuple((Text(f"系列{s}", f"S{s}"), tuple(data.draw(st.lists(value, min_size=n, max_size=n))))
                   for s in range(ns))
    cats = tuple(data.draw(st.text(min_size=0, max_size=30)) for _ in range(n))
    svg = chart_svg(Chart("k", Text("图", "Chart"), kind, cats, series, "kWh"))
    root = ET.fromstring(svg)
    numbers = [float(v) for e in root.iter() for k, v in e.attrib.items()
               if k in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height")]
    numbers += [float(v) for p in root.iter(f"{SVG}polyline") for v in re.split("[ ,]", p.get("points"))]
    assert all(math.isfinite(v) for v in numbers)
    assert all(float(r.get("width")) >= 0 and float(r.get("height")) >= 0 for r in root.iter(f"{SVG}rect"))
