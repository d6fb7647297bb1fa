"""Reports as files (XLSX, PDF), key energy users' filings and their status (docs/reports.md)."""

import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from lingtan.api.deps import CtxDep, ReadPark, SessionDep, WritePark, Writer
from lingtan.api.exports import disposition, language
from lingtan.api.reports import KINDS, MONTHLY, ReportError, UnknownEnterprise, build_report, files, submissions
from lingtan.api.reports.accounts import NoData, key_users, month_span
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS
from lingtan.kernel.contract import IDENT
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park

router = APIRouter(tags=["reports"], responses={**PARK_ERRORS, **NOT_MODIFIED})

Kind = Literal["park-monthly", "keu-monthly", "annex4-annual", "jiangxi-annex1"]
assert set(Kind.__args__) == set(KINDS)
Period = Annotated[str | None, Query(description="YYYY-MM for the monthly reports, YYYY for the annual ones "
                                     "(default: the current month or year, park-local, through today)",
                                     min_length=4, max_length=7, pattern=r"^\d{4}(-\d{2})?$")]
Fmt = Annotated[files.Format, Query(description="xlsx or pdf")]
Lang = Annotated[Literal["zh", "en"] | None, Query(description="zh (default) or en; overrides Accept-Language")]
AcceptLanguage = Annotated[str | None, Header(description="zh or en, when `lang` is not given")]
Month = Annotated[str, Path(description="YYYY-MM", pattern=r"^\d{4}-\d{2}$")]
_FILES = {200: {"description": "the report", "content": {v: {} for v in files.MEDIA.values()}},
          501: {"description": "no PDF renderer in this installation"},
          503: {"description": "the PDF renderer is busy or Chromium is missing; see the detail"}}


class FilingOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    park: str
    enterprise: str
    month: str
    due: date
    status: submissions.Status
    submitted_at: datetime | None
    submitted_by: str | None


class StatusOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    park: str
    month: str
    due_day: int
    reports: list[FilingOut]


def _lang(lang: str | None, accept_language: str | None) -> str:
    """`lang`, else what Accept-Language prefers of zh and en (as the exports read it), else zh."""
    if lang:
        return lang
    if accept_language and re.search(r"(^|[\s,])(zh|en)", accept_language.lower()):
        return language(accept_language)
    return "zh"


def _period(ctx, park: Park, kind: str, period: str | None) -> str:
    """The period asked for, or the current month (monthly kinds) or year (annual kinds)."""
    if period:
        return period
    today = local_day(ctx.clock(), park.zone)
    return f"{today:%Y-%m}" if kind in MONTHLY else f"{today:%Y}"


def _answer(request: Request, ctx, session, park: Park, kind: str, period: str | None, fmt: str, lang: str,
            enterprise: str | None) -> Response:
    now = ctx.clock()
    period = _period(ctx, park, kind, period)
    try:
        report = build_report(session, park, kind, period, now, ctx.config.reports.keu_due_day, enterprise)
    except UnknownEnterprise as exc:
        raise HTTPException(404, str(exc)) from None
    except ReportError as exc:
        raise HTTPException(422, str(exc)) from None
    session.close()  # the report is built: its connection goes back to the pool before any wait for a PDF
    tag = f'"{files.digest(report)[:32]}-{fmt}-{lang}"'
    headers = {"ETag": tag, "Vary": "Accept-Language"}
    wanted = request.headers.get("if-none-match")
    if wanted and any(t.strip().removeprefix("W/") == tag for t in wanted.split(",")):
        return Response(status_code=304, headers=headers)
    try:
        body = files.render(report, fmt, lang)
    except files.PdfUnavailable as exc:
        status = 501 if "not installed" in str(exc) else 503
        raise HTTPException(status, str(exc), headers={"Retry-After": "10"} if status == 503 else None) from None
    name = files.filename(report, period, fmt, lang, enterprise)
    return Response(body, media_type=files.MEDIA[fmt], headers={**headers, "Content-Disposition": disposition(name)})


@router.get("/parks/{park_id}/reports/{kind}", response_class=Response, responses=_FILES)
def get_report(request: Request, ctx: CtxDep, park: ReadPark, session: SessionDep, kind: Kind,
               period: Period = None, format: Fmt = "xlsx", lang: Lang = None,
               enterprise: Annotated[str | None, Query(description="keu-monthly: the key energy user's id",
                                                       max_length=64, pattern=IDENT)] = None,
               accept_language: AcceptLanguage = None) -> Response:
    """One report as a file: park-monthly (YYYY-MM), keu-monthly (YYYY-MM, with `enterprise`),
    annex4-annual (YYYY), jiangxi-annex1 (YYYY: that year and the two before). Chinese by
    default. The ETag is the report's data version."""
    if kind == "keu-monthly" and not enterprise:
        raise HTTPException(422, "enterprise: required for kind = 'keu-monthly' (the key energy user's id)")
    return _answer(request, ctx, session, park, kind, period, format, _lang(lang, accept_language),
                   enterprise if kind == "keu-monthly" else None)


@router.get("/parks/{park_id}/enterprises/{enterprise_id}/reports/keu-monthly", response_class=Response,
            responses=_FILES)
def get_keu_report(request: Request, ctx: CtxDep, park: ReadPark, session: SessionDep,
                   enterprise_id: Annotated[str, Path(max_length=64)], period: Period = None, format: Fmt = "xlsx",
                   lang: Lang = None, accept_language: AcceptLanguage = None) -> Response:
    """The key energy user's monthly report (YYYY-MM): for its own enterprise credential too."""
    return _answer(request, ctx, session, park, "keu-monthly", period, format, _lang(lang, accept_language),
                   enterprise_id)


@router.post("/parks/{park_id}/enterprises/{enterprise_id}/reports/keu-monthly/{month}/submit",
             response_model=FilingOut, status_code=200)
def submit_keu_report(ctx: CtxDep, park: WritePark, who: Writer, session: SessionDep,
                      enterprise_id: Annotated[str, Path(max_length=64)], month: Month,
                      response: Response) -> FilingOut:
    """File the key energy user's report for a month that is over. The first filing counts (on time
    up to `reports.keu_due_day` of the next month, late after); every submission is audited.
    Scope `write`; an enterprise credential with write scope files its own."""
    now = ctx.clock()
    due_day = ctx.config.reports.keu_due_day
    try:
        span = month_span(month, park, now, field="month")
        try:
            digest = files.digest(build_report(session, park, "keu-monthly", month, now, due_day, enterprise_id))
        except NoData:  # the platform has no data for the month: the filing is recorded all the same
            digest = ""
        filing, new = submissions.submit(session, park, enterprise_id, month, span, digest, who, now, due_day)
    except UnknownEnterprise as exc:
        raise HTTPException(404, str(exc)) from None
    except ReportError as exc:  # the month is the path's `month`
        raise HTTPException(422, str(exc).replace("period = ", "month = ", 1)) from None
    session.commit()
    response.headers["X-Changed"] = "true" if new else "false"
    return FilingOut(park=park.id, **vars(filing))


@router.get("/parks/{park_id}/reports/keu-monthly/status", response_model=StatusOut)
def keu_status(ctx: CtxDep, park: ReadPark, session: SessionDep,
               period: Annotated[str | None, Query(description="YYYY-MM (default: the current month)",
                                                   pattern=r"^\d{4}-\d{2}$")] = None) -> StatusOut:
    """Every key energy user's monthly report for `period`: on time, late, missing or not yet due.
    Key energy users are the declared ones and those over the threshold on the 12 months ending with
    the month (docs/reports.md), and every enterprise that has filed for the month."""
    now = ctx.clock()
    period = _period(ctx, park, "keu-monthly", period)
    try:
        span = month_span(period, park, now)
        ids = [u.id for u in key_users(session, park, span, submissions.filers(session, park, period))]
    except ReportError as exc:
        raise HTTPException(422, str(exc)) from None
    due_day = ctx.config.reports.keu_due_day
    rows = submissions.filings(session, park, ids, period, due_day, now)
    return StatusOut(park=park.id, month=period, due_day=due_day,
                     reports=[FilingOut(park=park.id, **vars(f)) for f in rows])
