"""Activity data entry (audited) and the audit log."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from lingtan.api import activities, schemas
from lingtan.api.deps import Admin, CtxDep, ReadPark, SessionDep, WritePark, Writer
from lingtan.api.routes import BAD_BODY, NOT_MODIFIED, PARK_ERRORS
from lingtan.api.routes.indicators import Year

router = APIRouter(tags=["activity"])


@router.get("/parks/{park_id}/activity/{year}", response_model=schemas.ActivityOut,
            responses={**PARK_ERRORS, **NOT_MODIFIED})
def get_activity(park: ReadPark, session: SessionDep, year: Year) -> schemas.ActivityOut:
    """The activity data entered for a year (version 0 and empty data if none)."""
    return activities.get(session, park, year)


@router.put("/parks/{park_id}/activity/{year}", response_model=schemas.ActivityOut, responses={
    **PARK_ERRORS, **BAD_BODY, 412: {"model": schemas.Problem, "description": "If-Match names an older version"}})
def put_activity(ctx: CtxDep, park: WritePark, who: Writer, session: SessionDep, year: Year,
                 body: schemas.ActivityIn, response: Response,
                 if_match: Annotated[int | None, Header(description="the version you edited (optimistic locking)",
                                                        ge=0)] = None) -> schemas.ActivityOut:
    """Replace the year's activity data. Validated by the core's Activity model; every accepted
    change is written to the audit log (who, when, each changed field before and after).
    Scope `write`."""
    out, changed = activities.put(session, park, year, body, who, ctx.clock(), if_match)
    session.commit()
    response.headers["X-Changed"] = "true" if changed else "false"
    return out


@router.get("/parks/{park_id}/audit", response_model=schemas.AuditPage, tags=["audit"],
            responses={**PARK_ERRORS, **NOT_MODIFIED})
def get_audit(park: ReadPark, who: Admin, session: SessionDep,
              cursor: Annotated[str | None, Query(max_length=200)] = None,
              limit: Annotated[int, Query(ge=1, le=activities.MAX_AUDIT_PAGE)] = 100) -> schemas.AuditPage:
    """Every change to the park's entered data, newest first. Scope `admin`."""
    return activities.audit(session, park, cursor, limit)
