"""Exports of series and indicators as CSV or XLSX."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

from lingtan.api import exports, schemas
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import PARK_ERRORS
from lingtan.api.routes.carbon import series_of, series_park
from lingtan.api.routes.indicators import Year, indicators_of
from lingtan.kernel.contract import IDENT
from lingtan.kernel.park import Park

router = APIRouter(tags=["exports"])
Fmt = Annotated[exports.Format, Query(description="csv (UTF-8 with BOM) or xlsx")]
Lang = Annotated[str | None, Header(description="zh or en (default): the language of the column headers")]
_FILES = {200: {"description": "the file", "content": {v: {} for v in exports.MEDIA.values()}}, **PARK_ERRORS}


@router.get("/parks/{park_id}/exports/series", response_class=Response, responses=_FILES)
def export_series(ctx: CtxDep, park: Annotated[Park, Depends(series_park)], session: SessionDep, format: Fmt = "csv",
                  scope: schemas.SeriesScope = "park",
                  id: Annotated[str | None, Query(max_length=64, pattern=IDENT)] = None,
                  step: schemas.Step = "hour", first: date | None = None, last: date | None = None,
                  accept_language: Lang = None) -> Response:
    """The series of GET /series as a table: one row per bucket, unmeasured buckets empty. XLSX:
    times as Excel dates in the park's zone, numbers with formats, units in the headers, the header
    row frozen; headers in the language of Accept-Language (zh or en). An enterprise credential may
    export `scope=enterprise` for its own enterprises (as GET /series)."""
    s = series_of(ctx, park, session, scope, id, step, first, last)
    columns, rows = exports.series_table(s, format)
    return exports.table_response(columns, rows, format, exports.series_filename(s), "series",
                                  exports.language(accept_language, format), park.zone)


@router.get("/parks/{park_id}/exports/indicators/{year}", response_class=Response, responses=_FILES)
def export_indicators(ctx: CtxDep, park: ReadPark, session: SessionDep, year: Year, format: Fmt = "csv",
                      framework: Annotated[str | None, Query(max_length=64)] = None,
                      accept_language: Lang = None) -> Response:
    """The indicators of GET /indicators/{year} as a table: one row per indicator (headers as for
    the series export)."""
    r = indicators_of(ctx, park, session, year, framework, None, None)
    columns, rows = exports.indicators_table(r)
    return exports.table_response(columns, rows, format, f"{park.id}-{r.framework.id}-{year}", "indicators",
                                  exports.language(accept_language, format), park.zone)
