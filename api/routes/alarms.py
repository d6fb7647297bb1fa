"""A park's alarms (docs/alarms.md): active ones and the history with cursor sync; acknowledge.

The alarm service (lingtan.alarms) raises and clears alarms; here they are read and acknowledged.
The history is synced like intervals: every change of an alarm gives it a new revision, so a
client that keeps `next_cursor` sees each alarm again whenever it changed (upsert by `id`).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from lingtan.api.cursor import decode, encode
from lingtan.api.deps import CtxDep, ReadPark, SessionDep, WritePark, Writer
from lingtan.api.routes import BAD_BODY, PARK_ERRORS
from lingtan.store.models import Alarm, AuditEntry
from lingtan.store.timeutil import aware

router = APIRouter(tags=["alarms"], responses=PARK_ERRORS)

MAX_PAGE = 1000
SHOWN = ("raised", "acknowledged", "cleared")  # pending alarms are not raised yet


class AlarmOut(BaseModel):
    id: int
    rule: str
    subject: str = Field(description="meter or gateway id, or the park id")
    severity: str
    state: str = Field(description="raised, acknowledged or cleared")
    raised_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None
    cleared_at: datetime | None
    flaps: int = Field(description="times the condition went away and came back before the alarm cleared")
    value: float | None
    message: str
    revision: int


class AlarmPage(BaseModel):
    park: str
    active: list[AlarmOut] = Field(description="raised or acknowledged, newest first")
    items: list[AlarmOut] = Field(description="alarms changed after the cursor, in revision order (upsert by id)")
    next_cursor: str
    has_more: bool


class AckIn(BaseModel):
    note: str = Field("", max_length=2000)


def _out(a: Alarm) -> AlarmOut:
    def t(x):
        return aware(x) if x is not None else None
    return AlarmOut(id=a.id, rule=a.rule, subject=a.subject, severity=a.severity, state=a.state,
                    raised_at=t(a.raised_at), acknowledged_at=t(a.acked_at), acknowledged_by=a.acked_by,
                    note=a.ack_note, cleared_at=t(a.cleared_at), flaps=a.flaps, value=a.value, message=a.message,
                    revision=a.revision)


@router.get("/parks/{park_id}/alarms", response_model=AlarmPage)
def list_alarms(park: ReadPark, session: SessionDep,
                cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]
                = None, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> AlarmPage:
    """Active alarms, and the alarm history changed after the cursor. Scope `read`."""
    stream = f"alarms:{park.id}"
    after = decode(cursor, stream)
    active = session.scalars(select(Alarm).where(Alarm.park == park.id, Alarm.state.in_(("raised", "acknowledged")))
                             .order_by(Alarm.id.desc()))
    rows = list(session.scalars(select(Alarm).where(Alarm.park == park.id, Alarm.revision > after,
                                                    Alarm.state.in_(SHOWN))
                                .order_by(Alarm.revision).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].revision if rows else after
    return AlarmPage(park=park.id, active=[_out(a) for a in active], items=[_out(a) for a in rows],
                     next_cursor=encode(stream, last), has_more=more)


@router.post("/parks/{park_id}/alarms/{alarm_id}/ack", response_model=AlarmOut,
             responses={**BAD_BODY, 409: {"description": "the alarm is already cleared"}})
def acknowledge(ctx: CtxDep, park: WritePark, who: Writer, session: SessionDep,
                alarm_id: Annotated[int, Path(ge=1)], body: AckIn | None = None) -> AlarmOut:
    """Acknowledge an alarm (who and a note are kept and audited); it stays until its condition
    clears. Acknowledging twice keeps the first. Scope `write`."""
    a = session.get(Alarm, alarm_id)
    if a is None or a.park != park.id or a.state not in SHOWN:
        raise HTTPException(404, f"alarm {alarm_id}: no such alarm in park {park.id!r}")
    if a.state == "cleared":
        raise HTTPException(409, f"alarm {alarm_id}: already cleared at {aware(a.cleared_at).isoformat()}")
    if a.state == "raised":
        now = ctx.clock()
        note = body.note if body else ""
        a.state, a.acked_at, a.acked_by, a.ack_note, a.updated_at = "acknowledged", now, who.actor, note, now
        session.add(AuditEntry(at=now, actor=who.actor, park=park.id, action="alarm.acknowledged",
                               target=f"alarm/{a.id}", before={"state": "raised"},
                               after={"state": "acknowledged", "rule": a.rule, "subject": a.subject, "note": note},
                               changes=[{"path": "state", "before": "raised", "after": "acknowledged"}]))
        session.commit()
    return _out(a)
