"""The core indicator's year-end outlook of a park from its stored data, for the off-track rule.

The same path as the scorecard (lingtan.api.scorecard): the year's meter totals, balanced, laid
over the entered activity data, accounted, then projected by the core (accounting.projection).
"""

from datetime import date, datetime

from sqlalchemy.orm import Session

from lingtan.accounting.account import account
from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.balance import BalanceError, park_balance
from lingtan.accounting.factors import FactorError
from lingtan.accounting.framework import FrameworkError
from lingtan.accounting.indicators import load_framework
from lingtan.accounting.projection import Outlook, year_end_outlook
from lingtan.api import carbon
from lingtan.api.scorecard import activity_base
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord

INDICATOR = "carbon_per_energy"


def outlook(session: Session, park: Park, now: datetime) -> Outlook | None:
    """None when the framework has no core indicator or the data cannot be projected yet."""
    fw = load_framework(park.framework)
    if not any(i.id == INDICATOR for i in fw.indicators):
        return None
    today = local_day(now, park.zone)
    first = date(today.year, 1, 1)
    totals, _ = carbon.meter_totals(session, park, first, today)
    coverage = carbon.meter_coverage(session, park, first, today, now)
    record = session.get(ActivityRecord, (park.id, today.year))
    entered = dict(record.data) if record else {}
    try:
        base = parse_activity(activity_base(park, today.year, entered, today, fw.id), f"activity of {park.id}")
        acct = account(park_balance(park, totals, {m: coverage.get(m, 0.0) for m in totals}).to_activity(base))
        return year_end_outlook(acct, fw, park.zone, indicator=INDICATOR, horizon=entered.get("horizon"),
                                variant=entered.get("variant"))
    except (ActivityError, BalanceError, FactorError, FrameworkError, ValueError, KeyError, ZeroDivisionError):
        return None
