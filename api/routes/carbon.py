"""Realtime figures and energy series of a park, an enterprise or a meter."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from lingtan.api import live, schemas, series
from lingtan.api.auth import Scope
from lingtan.api.deps import CtxDep, ParkId, PrincipalDep, ReadPark, SessionDep, read_park, require
from lingtan.api.etag import cached_response
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS
from lingtan.kernel.contract import IDENT
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park

router = APIRouter(tags=["carbon"], responses={**PARK_ERRORS, **NOT_MODIFIED})


@router.get("/parks/{park_id}/carbon/realtime", response_model=schemas.Realtime)
def realtime(ctx: CtxDep, park: ReadPark, session: SessionDep) -> schemas.Realtime:
    """Power now by source, carbon rate (tCO₂/h), and for today, this month and this year (park-local):
    energy by carrier, electricity split, tce (等价值 and 当量值), CO₂ by source, 单位能耗碳排放."""
    return ctx.snapshots.realtime(park, session, ctx.clock())


def _range(ctx, park, first: date | None, last: date | None) -> tuple[date, date]:
    today = local_day(ctx.clock(), park.zone)
    first, last = first or last or today, last or first or today
    for name, d in (("first", first), ("last", last)):
        if not date(2000, 1, 1) <= d <= date(2100, 12, 31):
            raise HTTPException(422, f"{name} = {d}: must be between 2000-01-01 and 2100-12-31")
    if last < first:
        raise HTTPException(422, f"last = {last}: must not be before first = {first}")
    return first, last


def _query(ctx, park, scope, id, step, first, last) -> tuple[str, str, str, date, date]:
    if scope != "park" and not id:
        raise HTTPException(422, f"id: required for scope = {scope!r} (the {scope} id)")
    first, last = _range(ctx, park, first, last)
    days = (last - first).days + 1
    if step == "day" and days > series.MAX_POINTS:
        raise HTTPException(422, f"{days} days; at most {series.MAX_POINTS} points per request")
    return scope, id or park.id, step, first, last


def series_of(ctx, park, session, scope, id, step, first, last) -> schemas.SeriesOut:
    scope, ident, step, first, last = _query(ctx, park, scope, id, step, first, last)
    return series.series(session, park, scope, ident, step, first, last)


_read = require(Scope.READ)  # deps' check of every other park route (scope, enterprise binding)


def series_park(ctx: CtxDep, principal: PrincipalDep, park_id: ParkId, request: Request) -> Park:
    """`ReadPark` for the series routes (GET /series and GET /exports/series), enterprises' routes
    too: an enterprise credential (lingtan.api.deps) may read `scope=enterprise` for its own
    enterprises. Any other enterprise
    answers 404 exactly as one that does not exist, and the park-wide scopes exactly as a park
    that does not exist."""
    if principal.enterprises is None or request.query_params.get("scope") != "enterprise":
        return read_park(ctx, _read(principal, request), park_id, request)
    if not principal.can(Scope.READ):
        has = sorted(s.value for s in principal.scopes)
        raise HTTPException(403, f"this credential lacks scope 'read' (it has {has})")
    park = ctx.parks.get(park_id)
    if park is None or not principal.sees(park_id):
        raise HTTPException(404, f"park_id = {park_id!r}: no such park")
    ident = request.query_params.get("id")
    if ident not in principal.enterprises:
        raise HTTPException(404, series.no_enterprise(park, ident))
    return park


@router.get("/parks/{park_id}/series", response_model=schemas.SeriesOut)
def get_series(request: Request, ctx: CtxDep, park: Annotated[Park, Depends(series_park)], session: SessionDep,
               scope: Annotated[schemas.SeriesScope, Query(description="park, enterprise or meter")] = "park",
               id: Annotated[str | None, Query(description="enterprise or meter id (not for scope park)",
                                               max_length=64, pattern=IDENT)] = None,
               step: Annotated[schemas.Step, Query(description="bucket: 15min, hour, day or month")] = "hour",
               first: Annotated[date | None, Query(description="first park-local day (default today)")] = None,
               last: Annotated[date | None, Query(description="last park-local day, inclusive (default first)")] = None,
               ) -> Response:
    """Energy per bucket in park-local time, from the 15-minute intervals. Park: electricity, grid,
    PV, storage, gas, heat, tce and CO₂ by the accounting core; enterprise and meter: counters.
    At most 3000 points per request."""
    # the park was authorised above (ReadPark); the answer is shared by park and query, per data version
    query = _query(ctx, park, scope, id, step, first, last)
    fp = ctx.snapshots.fingerprint(session, park)
    answer = ctx.answers.get((park.id, "series", *query), (fp.revision, fp.activity),
                             lambda: live.json_body(series.series(session, park, *query)))
    return cached_response(request, answer.body, answer.etag)
