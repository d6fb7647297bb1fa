"""Enterprise figures of a park for local days [first, last]: the core's enterprise account over metered totals.

Meter totals come from the daily and monthly aggregates (`carbon.period_sums`), the year's entered
activity data (value added, output, own certificates and direct contracts) from the activity
record; the balance, the allocation and the reconciliation are the pure core's
(accounting/enterprises.py), so the API shows what `lingtan account` computes. Entered yearly
quantities (value added, output) are taken pro rata by days for a span shorter than the year.
The time-of-use split reads the 15-minute intervals of the enterprise's electricity meters.

Multi-year: the ranking compares every row, the remainder and the park totals with the same
span of another year (`compare`: the previous year, or the park's declared `base_year`), each
year booked with its own factors and entered data; one enterprise's figures do the same on
request. The same span: the same days of that year, 29 February as 28 February.
"""

from datetime import date
from typing import Literal

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
Compare = Literal["previous_year", "base_year"]


class EnterpriseError(ValueError):
    """Figures that cannot be computed from what was asked (the API answers 422); the message names
    the field and value."""


class NoSuchEnterprise(LookupError):
    """The park has no such enterprise (the API answers 404)."""


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Previous(_Out):
    """The same figures over the compared span (`Ranking.compare`), and the change to them."""

    electricity_kwh: float | None = Field(description="null when the compared span has no measured data")
    energy_tce: float | None
    co2_t: float | None
    co2_t_per_tce: float | None
    completeness: float = Field(description="of the compared span's data (0: nothing measured, figures null)")
    energy_change: float | None = Field(description="(now - then) / then; null when then is 0 (nothing measured)")
    co2_change: float | None = Field(description="(now - then) / then; null when then is 0 (nothing measured)")


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
    co2_t_per_tce: float | None = Field(description="单位能耗碳排放, tCO2/tce (等价值); null without energy")
    previous: Previous | None = Field(None, description="the same span of the compared year (`compare`)")


class Remainder(_Out):
    """Park minus the sum over enterprises: public use, losses and what no enterprise meters."""

    electricity_kwh: float
    energy_tce: float
    energy_tce_calorific: float
    co2_t: float
    previous: Previous | None = None


class ComparedSpan(_Out):
    """The span compared with: the same days of the previous year or of the declared base year."""

    basis: Compare
    year: int
    first: date
    last: date
    park_energy_tce: float | None = Field(description="null when the compared span has no measured data")
    park_co2_t: float | None
    completeness: float = Field(description="mean completeness of the park's meters over the compared span "
                                            "(0: nothing measured); a partly measured span compares poorly")
    energy_change: float | None = Field(description="of the park's energy (tce 等价值); null when then is 0")
    co2_change: float | None = Field(description="of the park's CO2; null when then is 0")


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
    compare: ComparedSpan | None = Field(description="the compared span; null when no comparison was asked")
    flags: list[str]


class EnterpriseCompare(_Out):
    basis: Compare
    year: int
    first: date
    last: date
    figures: dict | None = Field(description="the core's enterprise figures over that span; null when the "
                                             "enterprise has no measured data there")
    completeness: float = Field(description="of the enterprise's data over that span (0: nothing measured)")
    change: dict[str, float | None] = Field(description="(now - then) / then of the headline figures; null when "
                                                        "then is 0 or missing")


class EnterpriseOut(_Out):
    park: str
    first: date
    last: date
    allocation_rule: str
    activity_share: float = Field(description="share of the year's entered value added and output used for the span")
    figures: dict = Field(description="the core's enterprise figures (docs/accounting.md, 9)")
    tou_kwh: dict[str, float] = Field(description="electricity by tariff period (sharp/peak/flat/valley, outside)")
    tou_calendar: dict = Field(description="the time-of-use calendar used, with its source and status")
    compare: EnterpriseCompare | None = Field(None, description="given `compare`: the same span of that year")


def compared_span(park: Park, first: date, last: date, basis: Compare) -> tuple[int, date, date]:
    """The same local days [first, last] in the previous year or the park's base year."""
    if basis == "previous_year":
        year = first.year - 1
    elif park.base_year is None:
        raise EnterpriseError(f"compare = 'base_year': park {park.id!r} declares no base year "
                        "(set parks[].base_year in the config); use compare = 'previous_year'")
    else:
        year = park.base_year
    return year, _in_year(first, year), _in_year(last, year)


def _in_year(d: date, year: int) -> date:
    return d.replace(year=year, day=28) if (d.month, d.day) == (2, 29) else d.replace(year=year)


def change(now: float | None, then: float | None) -> float | None:
    """(now - then) / then, or None when either is missing or then is 0."""
    if now is None or not then:
        return None
    return (now - then) / then


def _per_tce(co2_t: float, energy_tce: float) -> float | None:
    return co2_t / energy_tce if energy_tce > 0 else None


def _previous(now_tce: float, now_co2: float, then, completeness: float) -> Previous:
    """`then` (figures with electricity_kwh, energy_tce, total_co2_t) over the compared span, or
    None when nothing was measured there: null figures and changes, never 0."""
    if then is None or completeness <= 0:
        return Previous(electricity_kwh=None, energy_tce=None, co2_t=None, co2_t_per_tce=None, completeness=0.0,
                        energy_change=None, co2_change=None)
    tce, co2 = then.energy_tce, then.total_co2_t
    return Previous(electricity_kwh=then.electricity_kwh, energy_tce=tce, co2_t=co2, co2_t_per_tce=_per_tce(co2, tce),
                    completeness=completeness, energy_change=change(now_tce, tce), co2_change=change(now_co2, co2))


def _year(first: date, last: date) -> int:
    if first.year != last.year:
        raise EnterpriseError(f"first = {first}, last = {last}: the span must lie within one calendar year "
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
        raise EnterpriseError(str(exc)) from None


def _compared(session: Session, park: Park, first: date, last: date) -> tuple[EnterpriseAccount | None, float]:
    """The account of the compared span and the park's mean meter completeness there; (None, 0.0)
    when no meter has data in it."""
    totals, completeness = carbon.meter_totals(session, park, first, last)
    if not totals:
        return None, 0.0
    return account_of(session, park, first, last)[0], completeness


def _row(f: EnterpriseFigures, rank: int, then: EnterpriseFigures | None, compared: bool) -> EnterpriseRow:
    return EnterpriseRow(
        id=f.id, name=f.name, rank=rank, electricity_kwh=f.electricity_kwh,
        green_electricity_kwh=f.electricity.green_kwh,
        energy_tce=f.energy_tce, energy_tce_calorific=f.energy_calorific_tce, co2_t=f.total_co2_t,
        energy_tce_per_wan_yuan=f.energy_tce_per_wan_yuan, co2_t_per_wan_yuan=f.co2_t_per_wan_yuan,
        key_energy_user=f.key_user.key_energy_user, completeness=f.completeness,
        co2_t_per_tce=_per_tce(f.total_co2_t, f.energy_tce),
        previous=None if not compared else _previous(f.energy_tce, f.total_co2_t, then,
                                                     0.0 if then is None else then.completeness))


def ranking(session: Session, park: Park, first: date, last: date, by: RankBy,
            compare: Compare | None = "previous_year") -> Ranking:
    """The ranking over local days [first, last]; with `compare`, each figure beside the same span of
    that year (null figures where that span has no data). compare = None builds no second account."""
    acct, _ = account_of(session, park, first, last)
    then, then_of, compared = None, {}, None
    if compare is not None:
        year, then_first, then_last = compared_span(park, first, last, compare)
        then, completeness = _compared(session, park, then_first, then_last)
        then_of = {f.id: f for f in then.enterprises} if then is not None else {}
        compared = ComparedSpan(
            basis=compare, year=year, first=then_first, last=then_last, completeness=round(completeness, 6),
            park_energy_tce=None if then is None else then.park_energy_tce,
            park_co2_t=None if then is None else then.park_co2_t,
            energy_change=None if then is None else change(acct.park_energy_tce, then.park_energy_tce),
            co2_change=None if then is None else change(acct.park_co2_t, then.park_co2_t))
    key = {"energy": lambda f: f.energy_tce, "co2": lambda f: f.total_co2_t,
           "intensity": lambda f: -1.0 if f.energy_tce_per_wan_yuan is None else f.energy_tce_per_wan_yuan}[by]
    ordered = sorted(acct.enterprises, key=lambda f: (-key(f), f.id))  # largest first; no value added last
    u = acct.unallocated
    return Ranking(
        park=park.id, first=first, last=last, by=by, allocation_rule=acct.rule,
        enterprises=[_row(f, i + 1, then_of.get(f.id), compare is not None) for i, f in enumerate(ordered)],
        unallocated=Remainder(electricity_kwh=u.electricity_kwh, energy_tce=u.energy_tce,
                              energy_tce_calorific=u.energy_calorific_tce, co2_t=u.total_co2_t,
                              previous=None if compare is None else _previous(
                                  u.energy_tce, u.total_co2_t, None if then is None else then.unallocated,
                                  compared.completeness)),
        park_energy_tce=acct.park_energy_tce, park_co2_t=acct.park_co2_t,
        compare=compared,
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
            calendar_id: str, compare: Compare | None = None) -> EnterpriseOut:
    try:
        calendar = shipped_calendar(calendar_id)
    except TouError as exc:
        raise EnterpriseError(f"tou = {calendar_id!r}: {exc}") from None
    acct, share = account_of(session, park, first, last)
    row = enterprises_result(acct)["by_id"].get(enterprise_id)
    if row is None:  # the route checked the credential; the park may have no such enterprise
        raise NoSuchEnterprise(f"enterprise_id = {enterprise_id!r}: no enterprise of park {park.id!r}")
    carriers = {m.id: m.carrier for m in park.meters}
    meters = [m for m, e in counted_meters(park).items() if e == enterprise_id and carriers[m] is Carrier.ELECTRICITY]
    rows = [r for counters in _intervals(session, park, meters, first, last).values()
            for r in counters.get("energy_import_kwh", [])]
    split = tou_split(calendar, rows)
    return EnterpriseOut(
        park=park.id, first=first, last=last, allocation_rule=acct.rule, activity_share=share, figures=row,
        tou_kwh=_tou_out(split),
        tou_calendar={"id": calendar.id, "name": calendar.name, **calendar.source.model_dump(mode="json")},
        compare=None if compare is None else _compare_enterprise(session, park, enterprise_id, row, first, last,
                                                                 compare))


HEADLINE = ("electricity_kwh", "energy_tce", "energy_calorific_tce", "total_co2_t", "energy_tce_per_wan_yuan",
            "co2_t_per_wan_yuan")


def _compare_enterprise(session: Session, park: Park, enterprise_id: str, now: dict, first: date, last: date,
                        basis: Compare) -> EnterpriseCompare:
    year, then_first, then_last = compared_span(park, first, last, basis)
    acct, _ = _compared(session, park, then_first, then_last)
    then = None if acct is None else enterprises_result(acct)["by_id"][enterprise_id]
    completeness = 0.0 if then is None else float(then.get("completeness") or 0.0)
    if then is None or completeness <= 0:  # nothing measured for it then: missing, never 0
        return EnterpriseCompare(basis=basis, year=year, first=then_first, last=then_last, figures=None,
                                 completeness=0.0, change={k: None for k in (*HEADLINE, "co2_t_per_tce")})
    ratios = {k: change(now.get(k), then.get(k)) for k in HEADLINE}
    ratios["co2_t_per_tce"] = change(_per_tce(now["total_co2_t"], now["energy_tce"]),
                                     _per_tce(then["total_co2_t"], then["energy_tce"]))
    return EnterpriseCompare(basis=basis, year=year, first=then_first, last=then_last, figures=then,
                             completeness=round(completeness, 6), change=ratios)
