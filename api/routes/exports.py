"""Exports of series and indicators as CSV or XLSX."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lingtan.api import exports, schemas
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import PARK_ERRORS
from lingtan.api.routes.carbon import series_of
from lingtan.api.routes.indicators import Year, indicators_of
from lingtan.kernel.contract import IDENT

router = APIRouter(tags=["exports"])
Fmt = Annotated[exports.Format, Query(description="csv (UTF-8 with BOM) or xlsx")]
_FILES = {200: {"description": "the file", "content": {v: {} for v in exports.MEDIA.values()}}, **PARK_ERRORS}


@router.get("/parks/{park_id}/exports/series", response_class=Response, responses=_FILES)
def export_series(ctx: CtxDep, park: ReadPark, session: SessionDep, format: Fmt = "csv",
                  scope: schemas.SeriesScope = "park",
                  id: Annotated[str | None, Query(max_length=64, pattern=IDENT)] = None,
                  step: schemas.Step = "hour", first: date | None = None, last: date | None = None) -> Response:
    """The series of GET /series as a table: one row per bucket."""
    s = series_of(ctx, park, session, scope, id, step, first, last)
    header, rows = exports.series_table(s)
    return exports.table_response(header, rows, format, f"{park.id}-{scope}-{s.id}-{step}-{s.first}-{s.last}", "series")


@router.get("/parks/{park_id}/exports/indicators/{year}", response_class=Response, responses=_FILES)
def export_indicators(ctx: CtxDep, park: ReadPark, session: SessionDep, year: Year, format: Fmt = "csv",
                      framework: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The indicators of GET /indicators/{year} as a table: one row per indicator."""
    r = indicators_of(ctx, park, session, year, framework, None, None)
    header, rows = exports.indicators_table(r)
    return exports.table_response(header, rows, format, f"{park.id}-{r.framework.id}-{year}", "indicators")
