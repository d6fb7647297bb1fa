"""Each rule's condition over data the platform already has: which subjects are in alarm now.

A rule looks at one table (the newest readings, the gateways' last status and clock, the daily
aggregates, the dead letters, the indicators) and returns one `Condition` per subject it watches,
holding or not. The lifecycle (lingtan.alarms.lifecycle) turns conditions into alarms.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lingtan.kernel.config import AlarmRule, Config
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park, Role
from lingtan.store.models import DeadLetter, GatewayClock, GatewayStatus, IntervalEnergy, Latest


@dataclass(frozen=True, slots=True)
class Condition:
    subject: str
    holds: bool
    value: float | None = None
    message: str = ""


Check = Callable[[Session, Config, Park, AlarmRule, datetime], list[Condition]]


def meter_no_data(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """A meter whose newest reading is older than `threshold` of its polls (no reading at all counts)."""
    polls = rule.threshold if rule.threshold is not None else 3
    latest = {r.meter: r.ts for r in session.scalars(select(Latest).where(Latest.park == park.id))}
    out = []
    for m in park.meters:
        limit_s = polls * m.poll_interval_s
        ts = latest.get(m.id)
        age = None if ts is None else (now - _aware(ts)).total_seconds()
        holds = age is None or age > limit_s
        out.append(Condition(m.id, holds, age, f"no reading for {age:.0f} s (limit {polls:g} polls = {limit_s:g} s)"
                             if age is not None else "no reading received yet"))
    return out


def gateway_offline(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """A gateway whose last status (retained; the broker publishes its last will when it dies) is offline."""
    rows = {r.gateway: r for r in session.scalars(select(GatewayStatus).where(GatewayStatus.park == park.id))}
    out = []
    for g in config.gateways:
        if g.park != park.id or g.id not in rows:
            continue  # no status seen yet: nothing to say
        row = rows[g.id]
        out.append(Condition(g.id, row.state == "offline", None,
                             f"status {row.state} since {_aware(row.ts).isoformat()}"))
    return out


def gateway_spool(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """A gateway whose last status says its spool's disk refuses writes (`spool_error`), or that more
    than `threshold` readings wait in its spool. The status carries a count, not bytes, so the share
    of `spool.max_mb` is not known here."""
    limit = rule.threshold if rule.threshold is not None else 100_000
    out = []
    for r in session.scalars(select(GatewayStatus).where(GatewayStatus.park == park.id)):
        waiting = r.spooled or 0
        if r.spool_error:
            out.append(Condition(r.gateway, True, float(waiting), f"spool error: {r.spool_error}"))
        else:
            out.append(Condition(r.gateway, waiting > limit, float(waiting),
                                 f"{waiting} readings spooled (limit {limit:g}), {r.dropped or 0} dropped so far"))
    return out


def gateway_clock(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    limit = rule.threshold if rule.threshold is not None else 300
    return [Condition(r.gateway, abs(r.offset_s) > limit, r.offset_s,
                      f"clock off by {r.offset_s:+.0f} s (limit ±{limit:g} s)")
            for r in session.scalars(select(GatewayClock).where(GatewayClock.park == park.id))]


COUNTER_EVENTS = ("reset", "rollover", "spike", "rate", "negative")  # accounting.counter.Flag values


def counter_events(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """A meter with intervals in the last `window_s` that accounting flagged: counter reset, register
    rollover, a spike dropped, a rate above the plausible one, or a counter going down."""
    since = now - timedelta(seconds=rule.window_s)
    seen: dict[str, Counter] = {m.id: Counter() for m in park.meters}
    rows = session.execute(select(IntervalEnergy.meter, IntervalEnergy.flags).where(
        IntervalEnergy.park == park.id, IntervalEnergy.day >= local_day(since, park.zone) - timedelta(days=1),
        IntervalEnergy.start >= since, IntervalEnergy.flags != ""))
    for meter_id, flags in rows:
        if meter_id in seen:
            seen[meter_id].update(f for f in flags.split(",") if f in COUNTER_EVENTS)
    limit = rule.threshold or 0
    return [Condition(m, sum(c.values()) > limit, float(sum(c.values())),
                      "intervals flagged in the last {:g} s: {}".format(
                          rule.window_s, ", ".join(f"{k} ×{n}" for k, n in sorted(c.items())) or "none"))
            for m, c in seen.items()]


def _completeness(session: Session, park: Park, first: date, last: date, now: datetime, rule: AlarmRule,
                  what: str) -> list[Condition]:
    from lingtan.api.carbon import meter_coverage
    if not park.meters:
        return []
    limit = rule.threshold if rule.threshold is not None else 0.9
    coverage = meter_coverage(session, park, first, last, now)
    share = sum(coverage.get(m.id, 0.0) for m in park.meters) / len(park.meters)
    low = sorted(m.id for m in park.meters if coverage.get(m.id, 0.0) < limit)
    return [Condition(park.id, share < limit, share,
                      f"{what} {first.isoformat()}..{last.isoformat()}: completeness {share:.1%} "
                      f"(threshold {limit:.0%}); below: {', '.join(low[:10]) or 'none'}")]


def completeness_day(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """Yesterday (park-local): the mean over the park's meters of their measured share."""
    yesterday = local_day(now, park.zone) - timedelta(days=1)
    return _completeness(session, park, yesterday, yesterday, now, rule, "day")


def completeness_month(session: Session, config: Config, park: Park, rule: AlarmRule,
                       now: datetime) -> list[Condition]:
    """The month of yesterday, from its first day through yesterday (park-local)."""
    yesterday = local_day(now, park.zone) - timedelta(days=1)
    return _completeness(session, park, yesterday.replace(day=1), yesterday, now, rule, "month")


def dead_letters(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    limit = rule.threshold if rule.threshold is not None else 10
    n = session.scalar(select(func.count()).select_from(DeadLetter).where(
        DeadLetter.park == park.id, DeadLetter.received_at >= now - timedelta(seconds=rule.window_s))) or 0
    return [Condition(park.id, n > limit, float(n),
                      f"{n} dead letters in the last {rule.window_s:g} s (limit {limit:g})")]


def power(session: Session, config: Config, park: Park, rule: AlarmRule, now: datetime) -> list[Condition]:
    """`power_kw` of the watched meters (default: the grid meters) above `threshold` kW."""
    if rule.threshold is None:
        return []
    watched = set(rule.meters) or {m.id for m in park.meters if m.role == Role.GRID}
    out = []
    for r in session.scalars(select(Latest).where(Latest.park == park.id, Latest.meter.in_(watched))):
        kw = (r.values or {}).get("power_kw")
        if isinstance(kw, (int, float)):
            out.append(Condition(r.meter, kw > rule.threshold, float(kw),
                                 f"power {kw:.1f} kW (threshold {rule.threshold:g} kW)"))
    return out


def projection_off_track(session: Session, config: Config, park: Park, rule: AlarmRule,
                         now: datetime) -> list[Condition]:
    """The year-end projection of the core indicator (carbon per energy) does not meet its target."""
    from lingtan.alarms.projection import outlook
    result = outlook(session, park, now)
    if result is None:
        return []
    p = result.projected
    return [Condition(park.id, p.status == "not_met", p.value if isinstance(p.value, float) else None,
                      f"{p.name}: projected {p.value} {p.unit} for {local_day(now, park.zone).year}, "
                      f"target {p.comparator} {p.target} ({p.status})")]


def _aware(t: datetime) -> datetime:
    from datetime import UTC
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite hands back naive UTC


CHECKS: dict[str, Check] = {
    "meter_no_data": meter_no_data, "gateway_offline": gateway_offline, "gateway_spool": gateway_spool,
    "gateway_clock": gateway_clock, "counter_events": counter_events, "completeness_day": completeness_day,
    "completeness_month": completeness_month, "dead_letters": dead_letters, "power": power,
    "projection_off_track": projection_off_track,
}
