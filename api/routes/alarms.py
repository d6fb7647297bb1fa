"""A park's alarms (docs/alarms.md): active ones and the history with cursor sync; acknowledge.

The alarm service (lingtan.alarms) raises and clears alarms; here they are read and acknowledged.
The history is synced like intervals: every change of an alarm gives it a new revision, so a
client that keeps `next_cursor` sees each alarm again whenever it changed (upsert by `id`).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from lingtan.api.cursor import decode, encode
from lingtan.api.deps import CtxDep, ReadPark, SessionDep, WritePark, Writer
from lingtan.api.routes import BAD_BODY, PARK_ERRORS
from lingtan.kernel.park import Park
from lingtan.store.models import Alarm, AuditEntry, RevisionCounter
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
    value: float | None = Field(description="what the rule measured (see docs/alarms.md): meter_no_data seconds "
                                "since the last reading (null: none yet), gateway_spool readings waiting, "
                                "gateway_clock seconds, counter_events flagged intervals, completeness_* share "
                                "0..1, dead_letters count, power kW, projection_off_track the projected value")
    threshold: float | None = Field(None, description="the rule's configured threshold for this park, in the "
                                    "unit of `value` (meter_no_data: missed polls)")
    subject_name: str = Field("", description="the subject's configured name (meter or park name; a gateway's id), "
                              "for showing; the dashboard words the alarm from rule, value, threshold and this")
    message: str = Field(description="the condition in English, for machines and logs")
    revision: int


class AlarmPage(BaseModel):
    park: str
    active: list[AlarmOut] = Field(description="raised or acknowledged, newest first")
    items: list[AlarmOut] = Field(description="alarms changed after the cursor, in revision order (upsert by id)")
    next_cursor: str
    has_more: bool


class AckIn(BaseModel):
    note: str = Field("", max_length=2000)


def _out(a: Alarm, park: Park | None = None, thresholds: dict[str, float | None] | None = None) -> AlarmOut:
    def t(x):
        return aware(x) if x is not None else None
    return AlarmOut(id=a.id, rule=a.rule, subject=a.subject, severity=a.severity, state=a.state,
                    raised_at=t(a.raised_at), acknowledged_at=t(a.acked_at), acknowledged_by=a.acked_by,
                    note=a.ack_note, cleared_at=t(a.cleared_at), flaps=a.flaps, value=a.value,
                    threshold=(thresholds or {}).get(a.rule), subject_name=_name(park, a.subject),
                    message=a.message, revision=a.revision)


def _name(park: Park | None, subject: str) -> str:
    if park is None:
        return subject
    if subject == park.id:
        return park.name
    meter = next((m for m in park.meters if m.id == subject), None)
    return (meter.name or meter.id) if meter is not None else subject  # a gateway has no name but its id


@router.get("/parks/{park_id}/alarms", response_model=AlarmPage)
def list_alarms(ctx: CtxDep, park: ReadPark, session: SessionDep,
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
    thresholds = {r.rule: r.threshold for r in ctx.config.alarms.rules_of(park.id)}
    return AlarmPage(park=park.id, active=[_out(a, park, thresholds) for a in active],
                     items=[_out(a, park, thresholds) for a in rows],
                     next_cursor=encode(stream, last), has_more=more)


@router.post("/parks/{park_id}/alarms/{alarm_id}/ack", response_model=AlarmOut,
             responses={**BAD_BODY, 409: {"description": "the alarm is already cleared (also when the alarm "
                                              "service cleared it while it was being acknowledged)"}})
def acknowledge(ctx: CtxDep, park: WritePark, who: Writer, session: SessionDep,
                alarm_id: Annotated[int, Path(ge=1)], body: AckIn | None = None) -> AlarmOut:
    """Acknowledge an alarm (who and a note are kept and audited); it stays until its condition
    clears. Acknowledging twice keeps the first. Scope `write`.

    The acknowledgement is a compare-and-set on the state read (UPDATE ... WHERE state = 'raised'):
    if the alarm service cleared the alarm in between, nothing is written and the answer is 409,
    never an acknowledged alarm that had already cleared."""
    a = session.get(Alarm, alarm_id)
    if a is None or a.park != park.id or a.state not in SHOWN:
        raise HTTPException(404, f"alarm {alarm_id}: no such alarm in park {park.id!r}")
    if a.state == "raised":
        now = ctx.clock()
        note = body.note if body else ""
        counter = RevisionCounter.__table__.c  # the revision first, as every revisioned write takes its locks
        revision = session.execute(update(RevisionCounter.__table__).where(counter.name == "revision")
                                   .values(value=counter.value + 1).returning(counter.value)).scalar_one()
        acked = session.execute(
            update(Alarm.__table__).where(Alarm.__table__.c.id == a.id, Alarm.__table__.c.state == "raised")
            .values(state="acknowledged", acked_at=now, acked_by=who.actor, ack_note=note, updated_at=now,
                    revision=revision)).rowcount
        if acked:
            session.add(AuditEntry(at=now, actor=who.actor, park=park.id, action="alarm.acknowledged",
                                   target=f"alarm/{a.id}", before={"state": "raised"},
                                   after={"state": "acknowledged", "rule": a.rule, "subject": a.subject,
                                          "note": note},
                                   changes=[{"path": "state", "before": "raised", "after": "acknowledged"}]))
            session.commit()
        else:
            session.rollback()  # lost the race: what the alarm is now decides the answer
        session.refresh(a)
    if a.state == "cleared":
        raise HTTPException(409, f"alarm {alarm_id}: already cleared at {aware(a.cleared_at).isoformat()}")
    return _out(a, park, {r.rule: r.threshold for r in ctx.config.alarms.rules_of(park.id)})
