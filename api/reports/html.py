"""A report as one self-contained HTML document for print (A4), which `pdf` hands to Chromium.

Nothing in it is fetched or run: the styles are inline, the charts are inline SVG (`charts`), and a
Content-Security-Policy forbids scripts and every network load. Every text from the report is
escaped. Numbers are formatted here from the column's kind and digits (the renderers never compute
a figure); an empty cell shows "–".
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, tzinfo

from lingtan.api.reports.charts import chart_svg, escape
from lingtan.api.reports.model import Cell, Column, Report, Table, Text

LANGS = ("zh", "en")
EMPTY = "–"  # en dash: a value that is not there (never 0)
WORDS = {
    "park": Text("园区", "Park"),
    "period": Text("报告期", "Period"),
    "generated": Text("生成时间", "Generated"),
    "facts": Text("主要指标", "Key figures"),
    "charts": Text("图表", "Charts"),
    "tables": Text("数据表", "Tables"),
    "notes": Text("说明与数据来源", "Notes and sources"),
    "total": Text("合计", "Total"),
    "none": Text("无", "None"),
    "brand": Text("Lingtan 零碳 · 园区能源与碳排放监测", "Lingtan 零碳 · park energy and carbon monitoring"),
}
# The page counter in the bottom margin (CSS page-margin boxes, which Chromium prints).
PAGE_OF = {"zh": '"第 " counter(page) " 页 / 共 " counter(pages) " 页"',
           "en": '"Page " counter(page) " of " counter(pages)'}
# How wide a table is (characters, CJK counting two) decides its page: portrait A4 less 30 mm of
# margins holds about 115 characters of 8.5 pt text with the cells' padding, and 135 set at 7.5 pt;
# wider tables get a landscape page of their own (about 170, more at 7 pt).
PORTRAIT_CHARS, PORTRAIT_SMALL_CHARS, LANDSCAPE_CHARS = 115, 135, 170
TEXT_CHARS = 30
TAIL_ROWS = 3  # a table's last rows that move to the next page together rather than leave one alone
SHORT_ROWS = 12  # a table of at most this many rows (with its total) moves to the next page whole


def render_html(report: Report, lang: str = "zh") -> str:
    """The report in `lang` ("zh" or "en") as an HTML document laid out for A4 print."""
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not a report language; use one of {', '.join(LANGS)}")
    zone = report.generated_at.tzinfo
    title = report.title(lang)
    parts = [
        "<!doctype html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'img-src data:; font-src data:">',
        f"<title>{escape(title)} · {escape(report.park_name)} · {escape(report.period(lang))}</title>",
        f"<style>{_css(report, lang)}</style></head><body>",
        _header(report, lang),
    ]
    if report.warning is not None:
        parts.append(f'<p class="warning" role="alert">{escape(report.warning(lang))}</p>')
    if report.facts:
        parts.append(_facts(report, lang, zone))
    for chart in report.charts:
        parts.append(f'<figure class="chart-block"><figcaption>{escape(chart.title(lang))}</figcaption>'
                     f"{chart_svg(chart, lang)}</figure>")
    for table in report.tables:
        parts.append(_table(table, lang, zone))
    if report.notes:
        items = "".join(f"<li>{escape(note(lang))}</li>" for note in report.notes)
        parts.append(f'<section class="notes"><h2>{escape(WORDS["notes"](lang))}</h2><ol>{items}</ol></section>')
    parts.append("</body></html>")
    return "\n".join(parts)


# ---- sections ----------------------------------------------------------------------------------

def _header(report: Report, lang: str) -> str:
    rows = [(WORDS["park"](lang), f"{report.park_name} ({report.park_id})"),
            (WORDS["period"](lang), report.period(lang)),
            (WORDS["generated"](lang), _when(report.generated_at))]
    meta = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in rows)
    return (f'<header class="masthead"><div class="brand">{escape(WORDS["brand"](lang))}</div>'
            f"<h1>{escape(report.title(lang))}</h1><dl>{meta}</dl></header>")


def _facts(report: Report, lang: str, zone: tzinfo | None) -> str:
    cards = []
    for label, value, unit in report.facts:
        shown = _fact_value(value, unit, lang, zone)
        if unit == "%" and shown != EMPTY:
            shown, unit = f"{shown}%", None
        unit_html = f'<span class="unit">{escape(unit)}</span>' if unit and shown != EMPTY else ""
        # a sentence rather than a figure is set smaller, and a long one takes two cards' width
        words = value is not None and (not isinstance(value, int | float) or isinstance(value, bool))
        wide = " wide" if _chars(shown) > (16 if words else 28) else ""
        kind = " words" if words else ""
        cards.append(f'<div class="kpi{wide}"><div class="label">{escape(label(lang))}</div>'
                     f'<div class="value{kind}">{escape(shown)}{unit_html}</div></div>')
    return (f'<section class="facts"><h2>{escape(WORDS["facts"](lang))}</h2>'
            f'<div class="kpis">{"".join(cards)}</div></section>')


def _table(table: Table, lang: str, zone: tzinfo | None) -> str:
    cols = table.columns
    rows = [[format_cell(row.get(c.key), c, lang, zone) for c in cols] for row in table.rows]
    total = None
    if table.total is not None:
        total = [format_cell(table.total[c.key], c, lang, zone) if c.key in table.total else "" for c in cols]
        texts = [i for i, c in enumerate(cols) if c.kind == "text"] or [0]
        if all(total[i] in ("", EMPTY) for i in texts):  # a totals row without a label of its own
            total[texts[0]] = WORDS["total"](lang)
    heads = [_head(c, lang) for c in cols]
    # text wraps, so a text column counts at most TEXT_CHARS towards the table's width; numbers do not
    widths = [min(max([_head_chars(heads[i])] + [_chars(r[i]) for r in rows]
                      + [_chars(total[i]) if total else 0]), TEXT_CHARS if c.kind == "text" else 10**6) + 2
              for i, c in enumerate(cols)]
    span = sum(c.width + 2 if c.width else w for c, w in zip(cols, widths, strict=True))
    layout = ("portrait" if span <= PORTRAIT_CHARS else "portrait small" if span <= PORTRAIT_SMALL_CHARS
              else "landscape" if span <= LANDSCAPE_CHARS else "landscape dense")
    colgroup = "".join(f'<col style="width:{c.width}ch">' if c.width else "<col>" for c in cols)
    # a number column's header wraps at its words, never inside one ("2024 实物量" → "2024 / 实物量")
    head = "".join(f'<th class="{_align(c)}" scope="col">'
                   f'{"<br>".join(escape(part) for part in h.split(chr(10)))}</th>'
                   for c, h in zip(cols, heads, strict=True))
    lines = ["<tr>" + "".join(f'<td class="{_align(c)}">{escape(v)}</td>' for c, v in zip(cols, r, strict=True))
             + "</tr>" for r in rows]
    # the totals row is a row of the body, not a tfoot, which would repeat on every page
    if total is not None:
        lines.append('<tr class="total">' + "".join(f'<td class="{_align(c)}">{escape(v)}</td>'
                                                    for c, v in zip(cols, total, strict=True)) + "</tr>")
    if not rows:  # a table without rows says so rather than print a bare header
        lines.insert(0, f'<tr class="empty"><td class="txt" colspan="{len(cols)}">{escape(WORDS["none"](lang))}'
                        "</td></tr>")
    # the last rows (and the total) stay together, so a page never starts with one row alone; a short
    # table is kept whole, so it never leaves one row alone at a page's foot either
    keep = TAIL_ROWS + (1 if total is not None else 0)
    keep = len(lines) if len(lines) <= SHORT_ROWS else keep
    body = "".join(lines[:-keep]) + '</tbody><tbody class="tail">' + "".join(lines[-keep:])
    note = f'<p class="note">{escape(table.note(lang))}</p>' if table.note else ""
    return (f'<section class="table-block {layout}" id="t-{escape(table.key)}">'
            f"<h2>{escape(table.title(lang))}</h2>"
            f"<table><colgroup>{colgroup}</colgroup><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"{note}</section>")


def _head(column: Column, lang: str) -> str:
    """A column header: its label, and its unit on a second line ("电量\\n(kWh)")."""
    label = column.label(lang)
    return f"{label}\n({column.unit})" if column.unit else label


def _align(column: Column) -> str:
    return {"number": "num", "percent": "num", "date": "when", "datetime": "when"}.get(column.kind, "txt")


# ---- values ------------------------------------------------------------------------------------

def format_cell(value: Cell | Text, column: Column, lang: str, zone: tzinfo | None = None) -> str:
    """A table cell as the PDF shows it: numbers with the column's digits and thousands separators,
    percents from fractions (0.125 → "12.50%"), dates as ISO dates, times in the report's zone."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return EMPTY
    if isinstance(value, Text):
        return value(lang)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if column.kind == "percent":
            return f"{format_number(value * 100, column.digits)}%"
        if column.kind in ("number",):
            return format_number(value, column.digits)
        return format_number(value, column.digits if isinstance(value, float) else 0)
    if isinstance(value, datetime):
        if column.kind == "date":
            return value.date().isoformat()
        return _when(value.astimezone(zone) if zone is not None and value.tzinfo is not None else value, zone=False)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_number(value: float | int, digits: int) -> str:
    """"12,345.68": thousands separators and `digits` decimals; never "-0.00"."""
    text = f"{value:,.{max(digits, 0)}f}"
    return text[1:] if text.startswith("-") and set(text) <= set("-0.,") else text


def _fact_value(value: Cell | Text, unit: str | None, lang: str, zone: tzinfo | None) -> str:
    """A headline figure. A fact in "%" is a fraction, as percent columns are (0.314 → "31.4");
    integers are whole (and without a unit, a year, without separators); other numbers have 1 decimal
    from 1,000, 2 from 1, else 4 (intensities)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return EMPTY
        if unit == "%":
            return format_number(value * 100, 1)
        if isinstance(value, int):  # without a unit an integer is a year or a count: 2026, not 2,026
            return format_number(value, 0) if unit else str(value)
        size = abs(value)
        return format_number(value, 1 if size >= 1000 else 2 if size >= 1 else 4)
    kind = "datetime" if isinstance(value, datetime) else "date" if isinstance(value, date) else "text"
    return format_cell(value, Column("fact", Text("", ""), kind=kind), lang, zone)


def _when(moment: datetime, zone: bool = True) -> str:
    """"2026-12-01 09:30 (Asia/Shanghai, UTC+08:00)"; without the zone for table cells."""
    text = f"{moment:%Y-%m-%d %H:%M}"
    if not zone or moment.tzinfo is None:
        return text
    offset = moment.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else ""
    name = getattr(moment.tzinfo, "key", None)
    return f"{text} ({name}, {offset})" if name else f"{text} ({offset})"


def _chars(text: str) -> int:
    """Width in characters, a CJK character counting two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _head_chars(head: str) -> int:
    """A header wraps at its spaces and before an opening bracket ("综合能耗 / （等价值）"; th.num keeps
    CJK words whole): its longest piece sets its width."""
    return max([_chars(w) for w in re.split(r"\s+|(?=[（(])", head) if w] or [0])


def _css_string(text: str) -> str:
    """`text` as a CSS string literal: everything but plain letters, digits and spaces is a hex escape,
    so nothing in a park's name can end the string or the style element."""
    # the space after each escape ends it (and is consumed), so an escape never eats the next character
    return '"' + "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):x} " for c in text) + '"'


# ---- style -------------------------------------------------------------------------------------

def _css(report: Report, lang: str) -> str:
    running = _css_string(f"{report.park_name} · {report.title(lang)}")
    period = _css_string(report.period(lang))
    made = _css_string(f"{WORDS['generated'](lang)} {_when(report.generated_at, zone=False)}")
    margin = 'font-family: "Noto Sans CJK SC", sans-serif; font-size: 7.5pt; color: #666;'
    return f"""
@page {{ size: A4; margin: 20mm 15mm 18mm 15mm;
  @top-left {{ content: {running}; {margin} }}
  @top-right {{ content: {period}; {margin} }}
  @bottom-left {{ content: {made}; {margin} }}
  @bottom-right {{ content: {PAGE_OF[lang]}; {margin} }} }}
@page :first {{ @top-left {{ content: none }} @top-right {{ content: none }} }}
@page wide {{ size: A4 landscape; }}
* {{ box-sizing: border-box; }}
html {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
body {{ font-family: "Noto Sans CJK SC", "DejaVu Sans", sans-serif; font-size: 9pt; line-height: 1.45;
  color: #222; margin: 0; }}
h1 {{ font-size: 17pt; font-weight: 700; margin: 2mm 0 3mm; color: #1d4d38; }}
h2 {{ font-size: 11pt; font-weight: 700; margin: 6mm 0 2mm; padding-left: 2mm; border-left: 3px solid #2e7d5b;
  break-after: avoid; }}
.masthead {{ border-bottom: 1.5px solid #2e7d5b; padding-bottom: 2mm; margin-bottom: 2mm; }}
.brand {{ font-size: 8pt; color: #2e7d5b; letter-spacing: 0.5pt; }}
.masthead dl {{ display: flex; flex-wrap: wrap; gap: 1mm 8mm; margin: 0; }}
.masthead dl div {{ display: flex; gap: 2mm; }}
.masthead dt {{ color: #666; }}
.masthead dd {{ margin: 0; font-weight: 500; }}
.kpis {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 2.5mm; }}
.kpi {{ border: 0.6pt solid #cfd8d3; border-top: 2pt solid #2e7d5b; border-radius: 1mm; padding: 2mm 2.5mm;
  break-inside: avoid; background: #f7faf8; }}
.kpi .label {{ font-size: 8pt; color: #555; }}
.kpi.wide {{ grid-column: span 2; }}
.kpi .value {{ font-size: 13pt; font-weight: 700; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }}
.kpi .value.words {{ font-size: 9.5pt; font-weight: 500; line-height: 1.35; padding-top: 1mm; }}
.kpi .unit {{ font-size: 8pt; font-weight: 400; color: #555; margin-left: 1mm; }}
figure.chart-block {{ margin: 5mm 0 0; break-inside: avoid; }}
figure.chart-block figcaption {{ font-size: 10.5pt; font-weight: 700; margin-bottom: 1mm; }}
svg.chart {{ width: 100%; height: auto; display: block; }}
.table-block.landscape {{ page: wide; }}
.table-block.small table {{ font-size: 7.5pt; }}
.table-block.dense table {{ font-size: 7pt; }}
table {{ width: 100%; border-collapse: collapse; font-size: 8.5pt; font-variant-numeric: tabular-nums; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; }}
th {{ background: #e8f0ec; font-weight: 700; border-top: 1pt solid #2e7d5b; border-bottom: 1pt solid #2e7d5b;
  padding: 1.2mm 1.5mm; vertical-align: bottom; line-height: 1.25; }}
td {{ padding: 0.9mm 1.5mm; border-bottom: 0.4pt solid #ddd; vertical-align: top; }}
tbody tr:nth-child(even) td {{ background: #fafafa; }}
td.txt, th.txt {{ text-align: left; overflow-wrap: anywhere; }}
td.num, td.when {{ text-align: right; white-space: nowrap; }}
td.when {{ text-align: left; }}
th.num {{ text-align: right; word-break: keep-all; }}
tr.total td.txt {{ overflow-wrap: normal; }}
tr.total td {{ font-weight: 700; border-top: 1pt solid #222; border-bottom: 1.5pt double #222; background: #f0f4f2; }}
tbody.tail {{ break-inside: avoid; break-before: avoid; }}
.note {{ font-size: 7.5pt; color: #555; margin: 1.5mm 0 0; overflow-wrap: anywhere; break-before: avoid; }}
.warning {{ border: 1pt solid #b3261e; border-left: 3pt solid #b3261e; background: #fdecea; color: #8c1d18;
  font-weight: 700; padding: 2mm 3mm; margin: 2mm 0 3mm; }}
.notes ol {{ margin: 0; padding-left: 5mm; font-size: 8pt; color: #333; }}
.notes li {{ margin-bottom: 1mm; overflow-wrap: anywhere; }}
"""
