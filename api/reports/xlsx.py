"""A Report as an XLSX workbook (openpyxl): a first sheet with the report's facts and notes, then
one sheet per table. Dates are Excel dates, numbers are numbers with a number format of the
column's digits, units are in the headers, the header row is frozen, widths fit the content.
The renderer computes nothing: it writes what the Report holds. Formats follow the exports'
(lingtan.api.exports: `XLSX_FORMATS`, `WIDTHS`)."""

import io
import re
from datetime import date, datetime

from lingtan.api.exports import WIDTHS, XLSX_FORMATS
from lingtan.api.reports.model import Cell, Column, Report, Table, Text

SUMMARY = Text("概况", "Summary")
DATE_FORMAT = "yyyy-mm-dd"
MONTH_FORMAT = "yyyy-mm"
MAX_WIDTH = 60


def number_format(column: Column) -> str | None:
    if column.kind == "number":
        return "#,##0" if column.digits <= 0 else "#,##0." + "0" * column.digits
    if column.kind == "percent":
        return "0%" if column.digits <= 0 else "0." + "0" * column.digits + "%"
    if column.kind == "date":
        return DATE_FORMAT
    if column.kind == "datetime":
        return XLSX_FORMATS["local"]
    return None


def header(column: Column, lang: str) -> str:
    return f"{column.label(lang)} ({column.unit})" if column.unit else column.label(lang)


def _value(v: Cell | Text, lang: str) -> Cell:
    if isinstance(v, Text):
        return v(lang)
    if isinstance(v, datetime):  # Excel has no zones: the wall clock of the report's zone
        return v.replace(tzinfo=None)
    if isinstance(v, float):
        return round(v, 9)  # no 17-digit binary noise in the cell
    return v


def _width(text: object) -> int:
    """Display width in characters: CJK characters count twice."""
    s = str(text)
    return len(s) + sum(1 for ch in s if ord(ch) > 0x2E7F)


def _sheet_title(text: str, taken: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", text)[:31] or "sheet"
    base, n = title, 2
    while title in taken:
        title = f"{base[:28]} {n}"
        n += 1
    taken.add(title)
    return title


def render_xlsx(report: Report, lang: str = "zh") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    taken: set[str] = set()
    bold = Font(bold=True)
    ws = wb.active
    ws.title = _sheet_title(SUMMARY(lang), taken)
    ws.append([report.title(lang)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([report.park_name, report.park_id])
    ws.append([report.period(lang)])
    ws.append(["生成时间" if lang == "zh" else "Generated", report.generated_at.replace(tzinfo=None)])
    ws.cell(4, 2).number_format = XLSX_FORMATS["local"]
    ws.append([])
    ws.append(["项目", "数值", "单位"] if lang == "zh" else ["Item", "Value", "Unit"])
    for cell in ws[6]:
        cell.font = bold
    for label, value, unit in report.facts:
        ws.append([label(lang), _value(value, lang), None if unit == "%" else unit])
        c = ws.cell(ws.max_row, 2)
        if unit == "%" and isinstance(value, float):
            c.number_format = "0.0%"
        elif isinstance(value, float):
            c.number_format = "#,##0.000" if abs(value) >= 1 or value == 0 else "0.0000"
        elif isinstance(value, datetime):
            c.number_format = XLSX_FORMATS["local"]
        elif isinstance(value, date):
            c.number_format = DATE_FORMAT
    if report.notes:
        ws.append([])
        ws.append(["说明" if lang == "zh" else "Notes"])
        ws.cell(ws.max_row, 1).font = bold
        for note in report.notes:
            ws.append([note(lang)])
    ws.freeze_panes = "A7"  # the facts' header stays in view
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = 12
    for table in report.tables:
        _table_sheet(wb.create_sheet(_sheet_title(table.title(lang), taken)), table, lang, bold, Alignment,
                     get_column_letter)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _table_sheet(ws, table: Table, lang: str, bold, alignment, letter) -> None:
    heads = [header(c, lang) for c in table.columns]
    ws.append(heads)
    for cell in ws[1]:
        cell.font = bold
        cell.alignment = alignment(wrap_text=True, vertical="top")
    if not table.rows:  # a table without rows says so rather than leave a bare header
        ws.append(["无" if lang == "zh" else "None"])
    rows = list(table.rows) + ([table.total] if table.total else [])
    for row in rows:
        ws.append([_value(row.get(c.key), lang) for c in table.columns])
    if table.total:
        for cell in ws[ws.max_row]:
            cell.font = bold
    for i, c in enumerate(table.columns, start=1):
        fmt = number_format(c)
        if c.kind == "date" and c.key == "month":
            fmt = MONTH_FORMAT  # a column of months: its first days, shown as months
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        if c.width:
            width = c.width
        else:
            content = max((_width(_value(r.get(c.key), lang)) for r in rows if r.get(c.key) is not None), default=0)
            width = max(WIDTHS.get("number", 12) if c.kind in ("number", "percent") else 10, content + 2)
        ws.column_dimensions[letter(i)].width = min(MAX_WIDTH, max(width, min(_width(heads[i - 1]) + 2, 30)))
    ws.freeze_panes = "A2"  # the header stays in view
    if table.note:
        ws.append([])
        ws.append([table.note(lang)])
