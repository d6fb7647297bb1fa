"""Key energy users' monthly reports as filed, and their status: on time, late, missing or not yet due.

A report counts as filed when a user or key with write scope submits it (POST
/parks/{park}/enterprises/{enterprise}/reports/keu-monthly/{month}/submit): the first filing is
kept with who and when and decides on time or late; every submission is written to the audit log
as activity data are. A month's report is due by the end of day `reports.keu_due_day` of the
following month, park-local (default 10, an assumption: see kernel/config.py `Reports`).
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.api.auth import Principal
from lingtan.api.reports.accounts import ReportError, Span
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import AuditEntry, KeuReport
from lingtan.store.timeutil import aware

Status = Literal["on_time", "late", "missing", "not_due"]
STATUS_TEXT = {"on_time": ("按时报送", "on time"), "late": ("逾期报送", "late"), "missing": ("未报送", "missing"),
               "not_due": ("未到期", "not yet due")}


@dataclass(frozen=True)
class Filing:
    enterprise: str
    month: str
    due: date
    status: Status
    submitted_at: datetime | None
    submitted_by: str | None


def due_date(month: str, due_day: int) -> date:
    """The last park-local day a month's report may be filed on time: `due_day` of the next month."""
    year, m = (int(x) for x in month.split("-"))
    year, m = (year + 1, 1) if m == 12 else (year, m + 1)
    return date(year, m, min(due_day, calendar.monthrange(year, m)[1]))


def status_of(row: KeuReport | None, month: str, due_day: int, park: Park, now: datetime) -> Filing:
    due = due_date(month, due_day)
    if row is not None:
        filed = local_day(aware(row.submitted_at), park.zone)
        status: Status = "on_time" if filed <= due else "late"
        return Filing(row.enterprise, month, due, status, aware(row.submitted_at), row.submitted_by)
    return Filing("", month, due, "not_due" if local_day(now, park.zone) <= due else "missing", None, None)


def filings(session: Session, park: Park, enterprises: list[str], month: str, due_day: int,
            now: datetime) -> list[Filing]:
    """The status of each enterprise's report for `month`, in the order given."""
    rows = {r.enterprise: r for r in session.scalars(select(KeuReport).where(
        KeuReport.park == park.id, KeuReport.month == month))}
    out = []
    for eid in enterprises:
        f = status_of(rows.get(eid), month, due_day, park, now)
        out.append(Filing(eid, f.month, f.due, f.status, f.submitted_at, f.submitted_by))
    return out


def filers(session: Session, park: Park, month: str) -> set[str]:
    """The enterprises that have filed their report for `month`."""
    return set(session.scalars(select(KeuReport.enterprise).where(KeuReport.park == park.id,
                                                                  KeuReport.month == month)))


def submit(session: Session, park: Park, enterprise: str, month: str, span: Span, digest: str, who: Principal,
           now: datetime, due_day: int) -> tuple[Filing, bool]:
    """File the enterprise's report for `month` (over, park-local); returns its status and whether it is new."""
    if not span.closed or local_day(now, park.zone) <= span.last:
        raise ReportError(f"month = {month!r}: not over yet (park-local today is {local_day(now, park.zone)}); "
                          "a month's report is filed after its last day")
    # INSERT ... ON CONFLICT DO NOTHING: of concurrent first filings exactly one inserts; the others
    # find the row and count as repeated filings (new = False), each audited all the same
    inserted = session.execute(_insert(session).values(
        park=park.id, enterprise=enterprise, month=month, submitted_at=now, submitted_by=who.actor,
        digest=digest).on_conflict_do_nothing(index_elements=["park", "enterprise", "month"]).returning(
        KeuReport.month))
    new = inserted.first() is not None
    row = session.scalars(select(KeuReport).where(KeuReport.park == park.id, KeuReport.enterprise == enterprise,
                                                  KeuReport.month == month).execution_options(
        populate_existing=True)).one()
    after = {"month": month, "enterprise": enterprise, "digest": digest, "first_filed_at": _iso(row.submitted_at)}
    session.add(AuditEntry(at=now, actor=who.actor, park=park.id, action="keu_report.submit",
                           target=f"enterprises/{enterprise}/reports/keu-monthly/{month}", before=None, after=after,
                           changes=[{"path": "submitted", "before": None if new else _iso(row.submitted_at),
                                     "after": now.isoformat()}]))
    session.flush()
    f = status_of(row, month, due_day, park, now)
    return Filing(enterprise, month, f.due, f.status, f.submitted_at, f.submitted_by), new


def _insert(session: Session):
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(KeuReport)


def _iso(t: datetime) -> str:
    return aware(t).isoformat()
