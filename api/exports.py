"""Tables out as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly) or XLSX (openpyxl)."""

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Response

from lingtan.api import schemas

Format = Literal["csv", "xlsx"]
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def table_response(header: Sequence[str], rows: list[Sequence[Any]], fmt: Format, filename: str,
                   sheet: str) -> Response:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        body = ("\ufeff" + buf.getvalue()).encode("utf-8")
    else:
        from openpyxl import Workbook
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet[:31])
        ws.append(list(header))
        for row in rows:
            ws.append(list(row))
        out = io.BytesIO()
        wb.save(out)
        body = out.getvalue()
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition(f"{filename}.{fmt}")})


def disposition(filename: str) -> str:
    """RFC 6266 attachment header: an ASCII fallback and the exact name as RFC 5987 `filename*`.
    Nothing of the name can end the header or add a parameter (quotes, `;`, CR/LF are encoded)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def series_table(s: schemas.SeriesOut) -> tuple[list[str], list[list[Any]]]:
    keys = sorted({k for p in s.points for k in p.values} | set(s.units))
    header = ["start_utc", "end_utc", f"local ({s.timezone})", "completeness",
              *(f"{k} [{s.units.get(k, '')}]" for k in keys)]
    rows = [[_utc(p.start), _utc(p.end), p.label, p.completeness, *(p.values.get(k, 0.0) for k in keys)]
            for p in s.points]
    return header, rows


def indicators_table(r: schemas.IndicatorsOut) -> tuple[list[str], list[list[Any]]]:
    header = ["framework", "year", "id", "number", "name", "kind", "status", "value", "comparator", "target",
              "target_text", "unit", "period", "completeness", "horizon", "note"]
    rows = [[r.framework.id, r.year, i.id, i.number, i.name, i.kind, i.status,
             i.value if not isinstance(i.value, bool) else str(i.value).lower(), i.comparator, i.target,
             i.target_text, i.unit, i.period, i.completeness, i.horizon, i.note] for i in r.results]
    return header, rows


def _utc(t: datetime) -> str:
    """Same wire format as the JSON: RFC 3339 UTC with Z."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
