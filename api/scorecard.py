"""Indicators of a park for one year: metered energy plus entered activity data, through the core.

The year's meter totals (local calendar, through today for the current year) are balanced by
the core, laid over the park's entered activity data (certificates, CCER, value added, waste,
water, ...), accounted, and evaluated by the core's one generic evaluator against the
framework. Results of the park's own framework are kept as snapshots (`IndicatorResult`) whose
revision changes only when a result changes: that is what the city platform syncs.
"""

import hashlib
import json
from dataclasses import asdict
from datetime import date, datetime

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.accounting.account import account
from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.balance import BalanceError, park_balance
from lingtan.accounting.factors import FactorError
from lingtan.accounting.framework import FrameworkError
from lingtan.accounting.indicators import evaluate_framework, load_framework
from lingtan.accounting.projection import year_end_outlook
from lingtan.accounting.resources import framework_names
from lingtan.api import carbon, schemas
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import ActivityRecord, IndicatorResult


def activity_base(park: Park, year: int, entered: dict, through: date | None, framework: str | None = None) -> dict:
    """The activity mapping for the core: entered data plus the park's identity and period."""
    data = {k: v for k, v in entered.items() if v not in (None, {}, [])}
    data.update(park=park.id, name=park.name, year=year, framework=framework or park.framework,
                park_type=park.park_type, timezone=park.timezone,
                period={"through": through.isoformat() if through else None})
    return data


def period_through(park: Park, year: int, now: datetime) -> date | None:
    """Last local day covered: today for the current year, None (whole year) for past years."""
    today = local_day(now, park.zone)
    if year > today.year:
        raise HTTPException(422, f"year = {year}: in the future (park-local today is {today})")
    return today if year == today.year else None


def evaluate(session: Session, park: Park, year: int, now: datetime, *, framework: str | None = None,
             horizon: str | None = None, variant: str | None = None) -> schemas.IndicatorsOut:
    fw_id = framework or park.framework
    if fw_id not in framework_names():
        raise HTTPException(422, f"framework = {fw_id!r}: unknown; available: {framework_names()}")
    fw = load_framework(fw_id)
    through = period_through(park, year, now)
    first, last = date(year, 1, 1), through or date(year, 12, 31)
    totals, _ = carbon.meter_totals(session, park, first, last)
    coverage = carbon.meter_coverage(session, park, first, last, now)
    record = session.get(ActivityRecord, (park.id, year))
    entered = dict(record.data) if record else {}
    horizon = horizon or entered.get("horizon")
    variant = variant or entered.get("variant")
    try:
        base = parse_activity(activity_base(park, year, entered, through, fw_id), f"activity of {park.id}/{year}")
        bal = park_balance(park, totals, {m: coverage.get(m, 0.0) for m in totals})
        acct = account(bal.to_activity(base))
        tier = None
        if through is not None and any(i.id == "carbon_per_energy" for i in fw.indicators):
            try:
                tier = year_end_outlook(acct, fw, park.zone, horizon=horizon, variant=variant).projected_energy_tce
            except (ValueError, KeyError, ZeroDivisionError):
                tier = None  # no projection (e.g. no energy yet): tiers by year-to-date energy
        results = evaluate_framework(fw, acct, horizon=horizon, variant=variant, energy_tce=tier)
    except (ActivityError, BalanceError, FactorError, FrameworkError) as exc:
        raise HTTPException(422, str(exc)) from None
    return schemas.IndicatorsOut(
        park=park.id, year=year,
        framework=schemas.FrameworkOut(id=fw.id, name=fw.name, document=fw.source.document,
                                       horizon=horizon or fw.default_horizon, horizons=fw.horizons,
                                       variant=variant, variants=fw.variants),
        period_start=first, period_through=last, completeness=round(acct.completeness, 6),
        energy_tce=acct.energy.total_tce, co2_t=acct.emissions.total_co2_t,
        results=[schemas.IndicatorOut(**_plain(asdict(r))) for r in results])


def _plain(d: dict) -> dict:
    return {k: (v.value if hasattr(v, "value") and not isinstance(v, (int, float, bool)) else v) for k, v in d.items()}


def refresh(session: Session, park: Park, year: int, now: datetime) -> int:
    """Store the park's own framework results for `year` where they changed; returns how many did."""
    out = evaluate(session, park, year, now)
    stored = {r.indicator: r for r in session.scalars(select(IndicatorResult).where(
        IndicatorResult.park == park.id, IndicatorResult.framework == out.framework.id, IndicatorResult.year == year))}
    changed = 0
    for res in out.results:
        payload = res.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        row = stored.get(res.id)
        if row is not None and row.digest == digest:
            continue
        changed += 1
        if row is None:
            session.add(IndicatorResult(park=park.id, framework=out.framework.id, year=year, indicator=res.id,
                                        result=payload, digest=digest, updated_at=now))
        else:
            row.result, row.digest, row.updated_at = payload, digest, now
    return changed


def years_to_refresh(session: Session, park: Park, now: datetime) -> list[int]:
    """The current year and every year with entered activity data."""
    years = {now.astimezone(park.zone).year}
    years |= set(session.scalars(select(ActivityRecord.year).where(ActivityRecord.park == park.id)))
    return sorted(y for y in years if y <= now.astimezone(park.zone).year)
