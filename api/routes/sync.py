"""Incremental sync for the city platform: intervals and indicator results after a cursor."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from lingtan.api import schemas, sync
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS, encoded

router = APIRouter(tags=["sync"], responses={**PARK_ERRORS, **NOT_MODIFIED})
_PAGE = TypeAdapter(schemas.IntervalPage)

Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page; omit to start")]
Limit = Annotated[int, Query(ge=1, le=sync.MAX_PAGE, description=f"page size, at most {sync.MAX_PAGE}")]


@router.get("/parks/{park_id}/sync/intervals", response_model=schemas.IntervalPage)
def sync_intervals(park: ReadPark, session: SessionDep, cursor: Cursor = None,
                   limit: Limit = sync.DEFAULT_PAGE) -> Response:
    """New and revised 15-minute intervals after the cursor, in revision order. A revised
    interval (late or replayed readings) comes again with its new values: upsert by
    (meter, quantity, start)."""
    return encoded(_PAGE, sync.intervals(session, park, cursor, limit))


@router.get("/parks/{park_id}/sync/indicators", response_model=schemas.IndicatorPage)
def sync_indicators(ctx: CtxDep, park: ReadPark, session: SessionDep, cursor: Cursor = None,
                    limit: Limit = sync.DEFAULT_PAGE) -> schemas.IndicatorPage:
    """Indicator results of the park's framework (current year and years with activity data)
    that changed after the cursor: upsert by (framework, year, result.id)."""
    return sync.indicators(session, park, cursor, limit, ctx.clock())
