"""Tables out as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly) or XLSX (openpyxl).

A table is a list of columns, each with its header in English and Chinese (the request's
Accept-Language picks one; English by default) and a kind that says how XLSX shows it: times as
Excel dates in the park's zone, numbers as numbers with a number format, shares as percentages.
CSV stays the machine format: UTC times in RFC 3339 and numbers at full precision.
"""

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Response

from lingtan.api import schemas

Format = Literal["csv", "xlsx"]
Lang = Literal["en", "zh"]
Kind = Literal["text", "utc", "local", "int", "number", "share"]
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
XLSX_FORMATS = {"local": "yyyy-mm-dd hh:mm", "int": "0", "number": "#,##0.000", "share": "0.0%"}
WIDTHS = {"text": 14, "utc": 22, "local": 18, "int": 8, "number": 16, "share": 10}

SERIES_NAMES = {  # quantity -> Chinese name; the unit follows in brackets
    "electricity_kwh": "用电量", "grid_import_kwh": "电网购电", "grid_export_kwh": "上网电量", "pv_kwh": "光伏发电",
    "storage_charge_kwh": "储能充电", "storage_discharge_kwh": "储能放电", "natural_gas_m3": "天然气",
    "heat_gj": "热力", "energy_tce": "综合能耗", "co2_t": "碳排放", "energy_import_kwh": "正向有功电能",
    "energy_export_kwh": "反向有功电能", "gas_m3": "燃气量", "heat_export_gj": "供出热量", "fuel_kg": "燃料量",
}


@dataclass(frozen=True)
class Column:
    en: str
    zh: str
    kind: Kind = "text"

    def header(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


def language(accept_language: str | None, fmt: str = "xlsx") -> Lang:
    """zh or en, whichever Accept-Language prefers (RFC 9110 quality values). When it names
    neither: CSV, the machine format, keeps its English column keys (start_utc, grid_import_kwh);
    XLSX, for people, is in Chinese, the platform's language (as the reports and the dashboard)."""
    named: list[tuple[float, int, Lang]] = []
    for i, part in enumerate((accept_language or "")[:1000].split(",")):  # the first 1000 characters are plenty
        tag, _, params = part.strip().partition(";")
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            q = float(match.group(1)) if match else 1.0
        except ValueError:
            continue
        tag = tag.strip().lower()
        lang: Lang | None = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > 0:
            named.append((q, -i, lang))  # equal weights: the first named wins
    return max(named)[2] if named else ("en" if fmt == "csv" else "zh")


def table_response(columns: Sequence[Column], rows: list[Sequence[Any]], fmt: Format, filename: str,
                   sheet: str, lang: Lang = "en", zone: ZoneInfo | None = None) -> Response:
    header = [c.header(lang) for c in columns]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([[_csv(v) for v in row] for row in rows])
        body = ("\ufeff" + buf.getvalue()).encode("utf-8")
    else:
        body = _xlsx(columns, header, rows, sheet, zone or ZoneInfo("UTC"))
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition(f"{filename}.{fmt}"),
                                                          "Vary": "Accept-Language"})  # headers in its language


def _xlsx(columns: Sequence[Column], header: list[str], rows: list[Sequence[Any]], sheet: str,
          zone: ZoneInfo) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_excel(c.kind, v, zone) for c, v in zip(columns, row, strict=True)])
    for i, c in enumerate(columns, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(WIDTHS[c.kind], min(40, len(header[i - 1]) * 2 + 2))
        if c.kind in XLSX_FORMATS:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = XLSX_FORMATS[c.kind]
    ws.freeze_panes = "A2"  # the header stays in view
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _excel(kind: Kind, value: Any, zone: ZoneInfo) -> Any:
    if value is None:
        return None
    if kind == "local" and isinstance(value, datetime):  # Excel has no zones: the park's wall clock
        return value.astimezone(zone).replace(tzinfo=None)
    if kind == "utc" and isinstance(value, datetime):
        return _utc(value)
    if kind in ("number", "share") and isinstance(value, float):
        return round(value, 9)  # no 17-digit binary noise in the cell
    return value


def _csv(value: Any) -> Any:
    return _utc(value) if isinstance(value, datetime) else "" if value is None else value


def disposition(filename: str) -> str:
    """RFC 6266 attachment header: an ASCII fallback and the exact name as RFC 5987 `filename*`.
    Nothing of the name can end the header or add a parameter (quotes, `;`, CR/LF are encoded)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def series_filename(s: schemas.SeriesOut) -> str:
    """`demo-park-series-hour-2026-06-15`, `demo-park-meter-grid-main-day-2026-06-01-2026-06-30`."""
    what = "series" if s.scope == "park" else f"{s.scope}-{s.id}"
    days = str(s.first) if s.last == s.first else f"{s.first}-{s.last}"
    return f"{s.park}-{what}-{s.step}-{days}"


def series_table(s: schemas.SeriesOut, fmt: Format) -> tuple[list[Column], list[list[Any]]]:
    """One row per bucket. CSV: start and end in UTC and the local label; XLSX: start and end as
    park-local dates. Unmeasured buckets have empty cells, not 0."""
    keys = sorted({k for p in s.points for k in p.values} | set(s.units))
    values = [Column(f"{k} [{s.units.get(k, '')}]", f"{SERIES_NAMES.get(k, k)} [{s.units.get(k, '')}]", "number")
              for k in keys]
    share = Column("completeness", "数据完整度", "share")
    if fmt == "csv":
        columns = [Column("start_utc", "开始 (UTC)", "utc"), Column("end_utc", "结束 (UTC)", "utc"),
                   Column(f"local ({s.timezone})", f"当地时间 ({s.timezone})"), share, *values]
        rows = [[p.start, p.end, p.label, p.completeness, *(p.values.get(k) for k in keys)] for p in s.points]
    else:
        columns = [Column(f"start ({s.timezone})", f"开始 ({s.timezone})", "local"),
                   Column(f"end ({s.timezone})", f"结束 ({s.timezone})", "local"), share, *values]
        rows = [[p.start, p.end, p.completeness, *(p.values.get(k) for k in keys)] for p in s.points]
    return columns, rows


INDICATOR_COLUMNS = [
    Column("framework", "评价体系"), Column("year", "年份", "int"), Column("id", "指标编号"),
    Column("number", "序号", "int"), Column("name", "指标名称"), Column("kind", "类型"), Column("status", "状态"),
    Column("value", "数值", "number"), Column("comparator", "比较"), Column("target", "目标值", "number"),
    Column("target_text", "目标说明"), Column("unit", "单位"), Column("period", "统计期"),
    Column("completeness", "数据完整度", "share"), Column("horizon", "阶段"), Column("note", "说明"),
]


def indicators_table(r: schemas.IndicatorsOut) -> tuple[list[Column], list[list[Any]]]:
    rows = [[r.framework.id, r.year, i.id, i.number, i.name, i.kind, i.status,
             i.value if not isinstance(i.value, bool) else str(i.value).lower(), i.comparator, i.target,
             i.target_text, i.unit, i.period, i.completeness, i.horizon, i.note] for i in r.results]
    return INDICATOR_COLUMNS, rows


def _utc(t: datetime) -> str:
    """Same wire format as the JSON: RFC 3339 UTC with Z."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
