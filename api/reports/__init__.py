"""Reports as real documents: built once from the core numbers (`build`, `annual`), rendered as XLSX
(`xlsx`) or PDF (`pdf`), filed by key energy users (`submissions`). docs/reports.md."""

from datetime import datetime

from fastapi import HTTPException
from sqlalchemy.orm import Session

from lingtan.api.reports.accounts import ReportError, UnknownEnterprise
from lingtan.api.reports.model import Report
from lingtan.kernel.park import Park

KINDS = ("park-monthly", "keu-monthly", "annex4-annual", "jiangxi-annex1")
MONTHLY = ("park-monthly", "keu-monthly")

__all__ = ["KINDS", "MONTHLY", "Report", "ReportError", "UnknownEnterprise", "build_report"]


def build_report(session: Session, park: Park, kind: str, period: str, now: datetime, due_day: int,
                 enterprise: str | None = None) -> Report:
    """The report `kind` of `park` for `period` (YYYY-MM for the monthly kinds, YYYY for the annual)."""
    from lingtan.api import enterprises
    try:
        return _build(session, park, kind, period, now, due_day, enterprise)
    except enterprises.NoSuchEnterprise as exc:
        raise UnknownEnterprise(str(exc)) from None
    except enterprises.EnterpriseError as exc:
        raise ReportError(str(exc)) from None
    except HTTPException as exc:  # api/scorecard.py still answers bad input as 422 HTTPExceptions
        raise ReportError(str(exc.detail)) from None


def _build(session: Session, park: Park, kind: str, period: str, now: datetime, due_day: int,
           enterprise: str | None) -> Report:
    from lingtan.api.reports import annual, build
    if kind == "park-monthly":
        return build.park_monthly(session, park, period, now, due_day)
    if kind == "keu-monthly":
        if not enterprise:
            raise ReportError("enterprise: required for kind = 'keu-monthly' (the key energy user's id)")
        return build.keu_monthly(session, park, enterprise, period, now, due_day)
    if kind == "annex4-annual":
        return annual.annex4_annual(session, park, period, now)
    if kind == "jiangxi-annex1":
        return annual.jiangxi_annex1(session, park, period, now)
    raise ReportError(f"kind = {kind!r}: unknown; available: {', '.join(KINDS)}")
