"""The core numbers a report is built from, read exactly as the API's routes read them.

A report never computes a figure of its own: the month figures are `carbon.period`'s (what
/carbon/realtime shows for the month), the enterprises' are `enterprises.account_of`'s (what
/enterprise-ranking and /enterprises/{id}/figures show), and a year's account is the one
/indicators/{year} evaluates (meter totals with their coverage, over the year's entered activity
data). Only the annex-4 lines, which the API does not return, come from the same account here.
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from lingtan.accounting.account import Account, account, with_overrides
from lingtan.accounting.activity import Activity, ActivityError, Period, parse_activity
from lingtan.accounting.balance import BalanceError, park_balance
from lingtan.accounting.factors import FactorError, FactorSet, default_factors
from lingtan.api import carbon, scorecard
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord


class ReportError(ValueError):
    """A report that cannot be built from what was asked; the message names the field and value."""


class NoData(ReportError):
    """The period has no metered energy (and, for a year, no entered activity data): nothing to report."""


class UnknownEnterprise(LookupError):
    """No such enterprise in the park (or not one the credential may see)."""


@dataclass(frozen=True)
class Span:
    """Park-local days [first, last] of a report's period, cut at `through` (today) when it is still open."""

    first: date
    last: date
    through: date

    @property
    def closed(self) -> bool:
        return self.through == self.last


def month_span(period: str, park: Park, now: datetime, field: str = "period") -> Span:
    """`2026-11` -> the month's local days; refuses a month that has not begun."""
    try:
        year, month = (int(x) for x in period.split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise ReportError(f"{field} = {period!r}: a month is written YYYY-MM, e.g. 2026-11") from None
    if len(period) != 7 or not 2000 <= year <= 2100:
        raise ReportError(f"{field} = {period!r}: a month is written YYYY-MM, between 2000-01 and 2100-12")
    last = date(year, month, calendar.monthrange(year, month)[1])
    return _cut(first, last, park, now, field, period)


def year_span(period: str, park: Park, now: datetime, field: str = "period") -> Span:
    """`2026` -> the year's local days; refuses a year that has not begun."""
    if not (len(period) == 4 and period.isdigit() and 2000 <= int(period) <= 2100):
        raise ReportError(f"{field} = {period!r}: a year is written YYYY, between 2000 and 2100")
    year = int(period)
    return _cut(date(year, 1, 1), date(year, 12, 31), park, now, field, period)


def _cut(first: date, last: date, park: Park, now: datetime, field: str, period: str) -> Span:
    today = local_day(now, park.zone)
    if first > today:
        raise ReportError(f"{field} = {period!r}: has not begun (park-local today is {today})")
    return Span(first, last, min(last, today))


def entered(session: Session, park: Park, year: int) -> dict:
    record = session.get(ActivityRecord, (park.id, year))
    return dict(record.data) if record else {}


def park_activity(session: Session, park: Park, year: int, through: date | None) -> Activity:
    """The year's entered activity data as the core's Activity (the park's identity and period added)."""
    try:
        return parse_activity(scorecard.activity_base(park, year, entered(session, park, year), through),
                              f"activity data of {park.id} {year}")
    except ActivityError as exc:
        raise ReportError(str(exc)) from None


def factors_of(session: Session, park: Park, year: int, through: date | None) -> FactorSet:
    """The shipped factors with the park's entered values for `year`, as `account` uses them."""
    return with_overrides(park_activity(session, park, year, through), default_factors())


def month_account(session: Session, park: Park, span: Span) -> Account:
    """The account behind `carbon.period` (the same balance and base): for its annex-4 lines."""
    totals, _ = carbon.meter_totals(session, park, span.first, span.through)
    factors = carbon.entered_factors(session, park, span.first.year)
    base = Activity(park=park.id, year=span.first.year, framework=park.framework, park_type=park.park_type,
                    period=Period(through=span.through), factors=factors)
    try:
        return account(park_balance(park, totals).to_activity(base))
    except (ActivityError, BalanceError, FactorError) as exc:
        raise ReportError(str(exc)) from None


def has_data(session: Session, park: Park, first: date, last: date) -> bool:
    """Whether any meter has aggregates in local days [first, last]."""
    return bool(carbon.period_sums(session, park, first, last))


def measured_share(session: Session, park: Park, first: date, last: date, now: datetime) -> float:
    """The measured share (0..1) of local days [first, last]'s meter-time so far: the mean over the park's
    meters of carbon.meter_coverage (as the scorecard measures it); a meter without data counts 0."""
    if not park.meters:
        return 0.0
    coverage = carbon.meter_coverage(session, park, first, last, now)
    return sum(coverage.get(m.id, 0.0) for m in park.meters) / len(park.meters)


def year_account(session: Session, park: Park, year: int, now: datetime) -> Account | None:
    """The account /indicators/{year} evaluates (through today for the current year); None for a
    year with neither metered energy nor entered activity data (missing, never zero)."""
    through = scorecard.period_through(park, year, now) if year <= local_day(now, park.zone).year else None
    first, last = date(year, 1, 1), through or date(year, 12, 31)
    totals, _ = carbon.meter_totals(session, park, first, last)
    if not totals and not entered(session, park, year):
        return None
    coverage = carbon.meter_coverage(session, park, first, last, now)
    base = park_activity(session, park, year, through)
    try:
        bal = park_balance(park, totals, {m: coverage.get(m, 0.0) for m in totals})
        return account(bal.to_activity(base))
    except (ActivityError, BalanceError, FactorError) as exc:
        raise ReportError(str(exc)) from None


@dataclass(frozen=True)
class KeyUser:
    """An enterprise that owes the month's key-energy-user report, and why."""

    id: str
    name: str
    declared: bool
    annual_tce: float  # energy use over the 12 months ending with the month, on `basis` (missing days: none)
    threshold_tce: float
    basis: str  # calorific (当量值) or equivalent (等价值)
    filed: bool  # it has a filing for the month (listed for that even when it counts otherwise not)

    @property
    def over_threshold(self) -> bool:
        return self.annual_tce >= self.threshold_tce


def key_users(session: Session, park: Park, span: Span, filed: set[str]) -> list[KeyUser]:
    """Who owes the report of the month `span`: the enterprises declared key energy users in the
    year's activity data, those whose energy use over the 12 months ending with the month (cut at
    today) reaches the threshold, and any that has filed for the month. The threshold of
    《重点用能单位节能管理办法》第二条 is on a year's energy use, so it is judged on a year of data,
    never on the month alone: a month whose meters were offline does not drop a key energy user
    from the list (it shows as missing). The 12 months are booked per calendar year, each with its
    own factors; days without data count nothing. Ordered by id."""
    from lingtan.api import enterprises
    last = span.through
    first = (date(last.year - 1, last.month, min(last.day, 28)) if (last.month, last.day) == (2, 29)
             else date(last.year - 1, last.month, last.day)) + timedelta(days=1)
    parts = [(first, date(first.year, 12, 31)), (date(last.year, 1, 1), last)] if first.year < last.year \
        else [(first, last)]
    tce: dict[str, float] = {}
    for a, b in parts:
        if not has_data(session, park, a, b):
            continue
        try:
            acct, _ = enterprises.account_of(session, park, a, b)
        except enterprises.EnterpriseError as exc:
            raise ReportError(str(exc)) from None
        year_days = (date(a.year + 1, 1, 1) - date(a.year, 1, 1)).days
        for f in acct.enterprises:  # annual_tce is scaled to a year from the span's days: undo that
            tce[f.id] = tce.get(f.id, 0.0) + f.key_user.annual_tce * ((b - a).days + 1) / year_days
    year = park_activity(session, park, last.year, last)
    names = {e.id: e.name for e in park.enterprises}
    out = []
    for eid in sorted({*names, *year.enterprises, *filed}):
        e = year.enterprises.get(eid)
        declared = bool(e and e.key_energy_user)
        u = KeyUser(eid, (e.name if e and e.name else None) or names.get(eid, ""), declared, tce.get(eid, 0.0),
                    year.key_energy_user_threshold_tce, year.key_energy_user_basis, eid in filed)
        if u.declared or u.over_threshold or u.filed:
            out.append(u)
    return out
