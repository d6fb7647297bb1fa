"""Enterprise figures of a park for local days [first, last]: the core's enterprise account over metered totals.

Meter totals come from the daily and monthly aggregates (`carbon.period_sums`), the year's entered
activity data (value added, output, own certificates and direct contracts) from the activity
record; the balance, the allocation and the reconciliation are the pure core's
(accounting/enterprises.py), so the API shows what `lingtan account` computes. Entered yearly
quantities (value added, output) are taken pro rata by days for a span shorter than the year.
The time-of-use split reads the 15-minute intervals of the enterprise's electricity meters.
"""

from datetime import date
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.accounting.account import account
from lingtan.accounting.activity import ActivityError, EnterpriseActivity, parse_activity
from lingtan.accounting.balance import BalanceError, park_balance
from lingtan.accounting.enterprises import (
    EnterpriseAccount,
    EnterpriseFigures,
    counted_meters,
    enterprise_account,
    metered_enterprises,
)
from lingtan.accounting.offline import enterprises_result
from lingtan.accounting.tou import TouError, park_consumption_intervals, shipped_calendar, tou_split
from lingtan.api import carbon, scorecard
from lingtan.kernel.localtime import days_bounds
from lingtan.kernel.park import Carrier, Park
from lingtan.store.models import ActivityRecord, IntervalEnergy
from lingtan.store.timeutil import aware

RankBy = Literal["energy", "co2", "intensity"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EnterpriseRow(_Out):
    id: str
    name: str
    rank: int
    electricity_kwh: float
    green_electricity_kwh: float = Field(description="own direct contract + own certificates + pooled share")
    energy_tce: float = Field(description="等价值")
    energy_tce_calorific: float = Field(description="当量值")
    co2_t: float
    energy_tce_per_wan_yuan: float | None
    co2_t_per_wan_yuan: float | None
    key_energy_user: bool
    completeness: float


class Remainder(_Out):
    """Park minus the sum over enterprises: public use, losses and what no enterprise meters."""

    electricity_kwh: float
    energy_tce: float
    energy_tce_calorific: float
    co2_t: float


class Ranking(_Out):
    park: str
    first: date
    last: date
    by: RankBy
    allocation_rule: str
    enterprises: list[EnterpriseRow]
    unallocated: Remainder
    park_energy_tce: float
    park_co2_t: float
    park_tou_kwh: dict[str, float] = Field(description="the park's electricity consumption by tariff period "
                                                       "(Jiangsu calendar), from its boundary flows' intervals")
    flags: list[str]


class EnterpriseOut(_Out):
    park: str
    first: date
    last: date
    allocation_rule: str
    activity_share: float = Field(description="share of the year's entered value added and output used for the span")
    figures: dict = Field(description="the core's enterprise figures (docs/accounting.md, 9)")
    tou_kwh: dict[str, float] = Field(description="electricity by tariff period (sharp/peak/flat/valley, outside)")
    tou_calendar: dict = Field(description="the time-of-use calendar used, with its source and status")


def _year(first: date, last: date) -> int:
    if first.year != last.year:
        raise HTTPException(422, f"first = {first}, last = {last}: the span must lie within one calendar year "
                            "(accounting is per year)")
    return first.year


def account_of(session: Session, park: Park, first: date, last: date) -> tuple[EnterpriseAccount, float]:
    """The enterprise account of local days [first, last], and the share of the year's entered quantities."""
    year = _year(first, last)
    sums = carbon.period_sums(session, park, first, last)
    ids = {m.id for m in park.meters}
    totals: dict[str, dict[str, float]] = {}
    completeness: dict[str, float] = {}
    for (meter, quantity), (amount, comp, n) in sums.items():
        if meter not in ids:
            continue
        totals.setdefault(meter, {})[quantity] = amount
        completeness[meter] = max(completeness.get(meter, 0.0), min(1.0, comp / n) if n else 0.0)
    record = session.get(ActivityRecord, (park.id, year))
    data = scorecard.activity_base(park, year, dict(record.data) if record else {}, last)
    data["period"]["start"] = first.isoformat()
    share = ((last - first).days + 1) / (date(year + 1, 1, 1) - date(year, 1, 1)).days
    try:
        base = parse_activity(data, f"activity data of {park.id} {year}")
        entered = {eid: e.model_copy(update={
            "value_added_wan_yuan": None if e.value_added_wan_yuan is None else e.value_added_wan_yuan * share,
            "output": [o.model_copy(update={"quantity": o.quantity * share}) for o in e.output]})
            for eid, e in base.enterprises.items()}
        balance = park_balance(park, totals, completeness)
        firms = metered_enterprises(park, totals, completeness, base=entered)
        for e in park.enterprises:  # every enterprise of the park appears, metered or not
            firms.setdefault(e.id, EnterpriseActivity(name=e.name))
        activity = balance.to_activity(base).model_copy(update={"enterprises": dict(sorted(firms.items()))})
        return enterprise_account(account(activity)), share
    except (ActivityError, BalanceError) as exc:
        raise HTTPException(422, str(exc)) from None


def _row(f: EnterpriseFigures, rank: int) -> EnterpriseRow:
    return EnterpriseRow(
        id=f.id, name=f.name, rank=rank, electricity_kwh=f.electricity_kwh,
        green_electricity_kwh=f.electricity.green_kwh,
        energy_tce=f.energy_tce, energy_tce_calorific=f.energy_calorific_tce, co2_t=f.total_co2_t,
        energy_tce_per_wan_yuan=f.energy_tce_per_wan_yuan, co2_t_per_wan_yuan=f.co2_t_per_wan_yuan,
        key_energy_user=f.key_user.key_energy_user, completeness=f.completeness)


def ranking(session: Session, park: Park, first: date, last: date, by: RankBy) -> Ranking:
    acct, _ = account_of(session, park, first, last)
    key = {"energy": lambda f: f.energy_tce, "co2": lambda f: f.total_co2_t,
           "intensity": lambda f: -1.0 if f.energy_tce_per_wan_yuan is None else f.energy_tce_per_wan_yuan}[by]
    ordered = sorted(acct.enterprises, key=lambda f: (-key(f), f.id))  # largest first; no value added last
    u = acct.unallocated
    return Ranking(
        park=park.id, first=first, last=last, by=by, allocation_rule=acct.rule,
        enterprises=[_row(f, i + 1) for i, f in enumerate(ordered)],
        unallocated=Remainder(electricity_kwh=u.electricity_kwh, energy_tce=u.energy_tce,
                              energy_tce_calorific=u.energy_calorific_tce, co2_t=u.total_co2_t),
        park_energy_tce=acct.park_energy_tce, park_co2_t=acct.park_co2_t,
        park_tou_kwh=_tou_out(tou_split(shipped_calendar(), park_consumption_intervals(park, _intervals(
            session, park, [m.id for m in park.meters if m.carrier is Carrier.ELECTRICITY and m.in_balance],
            first, last)))),
        flags=sorted(acct.flags))


def _intervals(session: Session, park: Park, meters: list[str], first: date, last: date) -> dict:
    """{meter: {counter: [(start, kWh)]}} of electricity counters over local days [first, last]."""
    start, end = days_bounds(first, last, park.zone)
    iv = IntervalEnergy
    out: dict[str, dict[str, list]] = {}
    if meters:
        for meter, quantity, ts, amount in session.execute(select(iv.meter, iv.quantity, iv.start, iv.amount).where(
                iv.park == park.id, iv.meter.in_(meters), iv.start >= start, iv.start < end,
                iv.quantity.in_(("energy_import_kwh", "energy_export_kwh")))):
            out.setdefault(meter, {}).setdefault(quantity, []).append((aware(ts), amount))
    return out


def _tou_out(split) -> dict[str, float]:
    return {**{str(k): v for k, v in split.kwh.items()}, "outside": split.outside_kwh}


def figures(session: Session, park: Park, enterprise_id: str, first: date, last: date,
            calendar_id: str) -> EnterpriseOut:
    try:
        calendar = shipped_calendar(calendar_id)
    except TouError as exc:
        raise HTTPException(422, f"tou = {calendar_id!r}: {exc}") from None
    acct, share = account_of(session, park, first, last)
    row = enterprises_result(acct)["by_id"].get(enterprise_id)
    if row is None:  # the route checked the credential; the park may have no such enterprise
        raise HTTPException(404, f"enterprise_id = {enterprise_id!r}: no enterprise of park {park.id!r}")
    carriers = {m.id: m.carrier for m in park.meters}
    meters = [m for m, e in counted_meters(park).items() if e == enterprise_id and carriers[m] is Carrier.ELECTRICITY]
    rows = [r for counters in _intervals(session, park, meters, first, last).values()
            for r in counters.get("energy_import_kwh", [])]
    split = tou_split(calendar, rows)
    return EnterpriseOut(
        park=park.id, first=first, last=last, allocation_rule=acct.rule, activity_share=share, figures=row,
        tou_kwh=_tou_out(split),
        tou_calendar={"id": calendar.id, "name": calendar.name, **calendar.source.model_dump(mode="json")})
