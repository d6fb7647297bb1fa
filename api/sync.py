"""Incremental sync for the city platform: pages of rows whose revision is after a cursor.

Every new or changed interval and every changed indicator result gets a new revision
(lingtan.store.models); an interval the accounting service recomputes to the same value keeps
its revision. So a client that keeps the last `next_cursor` receives each new or revised row
exactly once per revision, in revision order, without gaps, and a poll with nothing new
returns no rows.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lingtan.api import schemas, scorecard
from lingtan.api.cursor import decode, encode
from lingtan.api.series import QUARTER
from lingtan.kernel.park import Park
from lingtan.kernel.quantities import QUANTITIES
from lingtan.store.models import IndicatorResult, IntervalEnergy
from lingtan.store.timeutil import aware

MAX_PAGE = 5000
DEFAULT_PAGE = 1000


def intervals(session: Session, park: Park, cursor: str | None, limit: int) -> schemas.IntervalPage:
    stream = f"intervals:{park.id}"
    after = decode(cursor, stream)
    rows = list(session.scalars(
        select(IntervalEnergy).where(IntervalEnergy.park == park.id, IntervalEnergy.revision > after)
        .order_by(IntervalEnergy.revision).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [schemas.IntervalOut(
        meter=r.meter, quantity=r.quantity, unit=QUANTITIES[r.quantity].unit if r.quantity in QUANTITIES else "",
        start=aware(r.start), end=aware(r.start) + QUARTER, local_day=r.day, amount=r.amount,
        completeness=r.completeness, estimated=r.estimated, flags=[f for f in r.flags.split(",") if f],
        final=r.final, revision=r.revision, updated_at=aware(r.updated_at)) for r in rows]
    last = rows[-1].revision if rows else after
    return schemas.IntervalPage(park=park.id, items=items, next_cursor=encode(stream, last), has_more=more)


def indicators(session: Session, park: Park, cursor: str | None, limit: int, now: datetime) -> schemas.IndicatorPage:
    stream = f"indicators:{park.id}"
    after = decode(cursor, stream)
    # evaluate now, so the page reflects the latest data; unchanged results keep their revision
    try:
        for year in scorecard.years_to_refresh(session, park, now):
            scorecard.refresh(session, park, year, now)
        session.commit()
    except IntegrityError:  # a concurrent request stored the same new results first
        session.rollback()
    rows = list(session.scalars(
        select(IndicatorResult).where(IndicatorResult.park == park.id, IndicatorResult.revision > after)
        .order_by(IndicatorResult.revision).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [schemas.IndicatorSync(framework=r.framework, year=r.year, result=schemas.IndicatorOut(**r.result),
                                   updated_at=aware(r.updated_at)) for r in rows]
    last = rows[-1].revision if rows else after
    return schemas.IndicatorPage(park=park.id, items=items, next_cursor=encode(stream, last), has_more=more)
