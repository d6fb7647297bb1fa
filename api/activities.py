"""Entered activity data: validated by the core's Activity model, stored per park and year, and
every accepted change written to the audit log with who, when and what changed."""

from datetime import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.indicators import MANDATORY, load_framework
from lingtan.api import schemas, scorecard
from lingtan.api.auth import Principal
from lingtan.api.cursor import decode, encode
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord, AuditEntry

MAX_AUDIT_PAGE = 500


def get(session: Session, park: Park, year: int) -> schemas.ActivityOut:
    row = session.get(ActivityRecord, (park.id, year))
    if row is None:
        return schemas.ActivityOut(park=park.id, year=year, version=0, updated_at=None, updated_by=None, data={})
    return schemas.ActivityOut(park=park.id, year=year, version=row.version, updated_at=row.updated_at,
                               updated_by=row.updated_by, data=row.data)


def put(session: Session, park: Park, year: int, body: schemas.ActivityIn, who: Principal,
        now: datetime, if_match: int | None = None) -> tuple[schemas.ActivityOut, bool]:
    """Replace the year's activity data; returns the stored record and whether anything changed."""
    if not 2000 <= year <= 2100:
        raise HTTPException(422, f"year = {year}: must be between 2000 and 2100")
    data = body.model_dump(mode="json", exclude_defaults=True)
    _refuse_mandatory_exclusions(park, data.get("indicators", {}))
    through = scorecard.period_through(park, year, now)
    try:
        parse_activity(scorecard.activity_base(park, year, data, through), "body")
    except ActivityError as exc:
        raise HTTPException(422, str(exc)) from None
    row = session.get(ActivityRecord, (park.id, year))
    if if_match is not None and if_match != (row.version if row else 0):
        raise HTTPException(412, f"If-Match = {if_match}: the stored version is {row.version if row else 0}; "
                            "GET the record, apply your change to it and PUT again")
    before = row.data if row else None
    changes = diff(before or {}, data)
    if row is not None and not changes:
        return get(session, park, year), False
    if row is None:
        row = ActivityRecord(park=park.id, year=year, data=data, version=1, updated_at=now, updated_by=who.actor)
        session.add(row)
    else:
        row.data, row.version, row.updated_at, row.updated_by = data, row.version + 1, now, who.actor
    session.add(AuditEntry(at=now, actor=who.actor, park=park.id, action="activity.put", target=f"activity/{year}",
                           before=before, after=data, changes=changes))
    session.flush()
    scorecard.refresh(session, park, year, now)
    return get(session, park, year), True


def _refuse_mandatory_exclusions(park: Park, reported: dict) -> None:
    """Annex 3 lets a park exclude only guidance indicators (as `lingtan account` refuses too)."""
    kinds = {i.id: i.kind for i in load_framework(park.framework).indicators}
    for key, value in reported.items():
        if isinstance(value, dict) and kinds.get(key) in MANDATORY:
            raise HTTPException(422, f"indicators.{key}.excluded = {value.get('excluded')!r}: {key} is a "
                                f"{kinds[key]} indicator of framework {park.framework!r}; annex 3 lets a park "
                                "exclude only guidance indicators, with a reason")


def diff(before: Any, after: Any, path: str = "") -> list[dict]:
    """Changed leaves between two JSON documents, as {path, before, after}."""
    if isinstance(before, dict) and after is None or before is None and isinstance(after, dict):
        before, after = before or {}, after or {}
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            out += diff(before.get(key), after.get(key), sub)
        return out
    return [] if before == after else [{"path": path, "before": before, "after": after}]


def audit(session: Session, park: Park, cursor: str | None, limit: int) -> schemas.AuditPage:
    """Newest first; the cursor continues with older entries."""
    stream = f"audit:{park.id}"
    before_id = decode(cursor, stream) or None
    q = select(AuditEntry).where(AuditEntry.park == park.id).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    rows = list(session.scalars(q))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [schemas.AuditOut(id=r.id, at=r.at, actor=r.actor, park=r.park, action=r.action, target=r.target,
                              changes=[schemas.Change(**c) for c in r.changes]) for r in rows]
    return schemas.AuditPage(items=items, next_cursor=encode(stream, rows[-1].id) if more and rows else None)
