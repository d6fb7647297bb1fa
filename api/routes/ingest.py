"""The dead-letter view: messages ingest rejected, with the reason and the raw payload."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from lingtan.api import schemas
from lingtan.api.cursor import decode, encode
from lingtan.api.deps import Admin, SessionDep
from lingtan.api.routes import AUTH_ERRORS, NOT_MODIFIED
from lingtan.store.models import DeadLetter

router = APIRouter(tags=["ingest"])


@router.get("/dead-letters", response_model=list[schemas.DeadLetterOut], responses={**AUTH_ERRORS, **NOT_MODIFIED})
def dead_letters(who: Admin, session: SessionDep, response: Response,
                 park_id: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 cursor: Annotated[str | None, Query(max_length=200,
                                                     description="X-Next-Cursor of the previous page")] = None,
                 ) -> list[schemas.DeadLetterOut]:
    """Newest first. Scope `admin`. A key for some parks sees only their letters (another
    park's id gives an empty list, as an unknown one does); letters whose topic names no park are
    visible to all-park admin keys only. Older pages: pass the `X-Next-Cursor` header back as `cursor`."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if park_id is not None:
        q = q.where(DeadLetter.park == park_id)
    if who.parks is not None:
        q = q.where(DeadLetter.park.in_(sorted(who.parks)))
    before = decode(cursor, "dead-letters")
    if before:
        q = q.where(DeadLetter.id < before)
    rows = list(session.scalars(q))
    if len(rows) == limit:
        response.headers["X-Next-Cursor"] = encode("dead-letters", rows[-1].id)
    return [schemas.DeadLetterOut.model_validate(d, from_attributes=True) for d in rows]
