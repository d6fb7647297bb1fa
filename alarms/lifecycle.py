"""An alarm's life: pending → raised → acknowledged → cleared, with hysteresis and flap counting.

- A condition that starts holding opens a *pending* alarm; it is *raised* once it has held for
  the rule's `for_s` (at once when 0). A pending alarm whose condition goes away is dropped.
- A raised (or acknowledged) alarm whose condition goes away starts clearing; it is *cleared* once
  the condition has been gone for `clear_s`. If the condition comes back first, the same alarm
  stays and `flaps` counts it: a flapping meter gives one alarm, not a storm.
- All state is in the platform database (`alarm`), so a restart neither loses nor repeats one.
  Raising, acknowledging and clearing are written to the audit log.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.alarms.conditions import Condition
from lingtan.kernel.config import AlarmRule
from lingtan.store.models import Alarm, AuditEntry

OPEN = ("pending", "raised", "acknowledged")
ACTOR = "lingtan-alarms"


@dataclass(frozen=True, slots=True)
class Event:
    alarm: Alarm
    kind: str  # raised, cleared


def apply(session: Session, park: str, rule: AlarmRule, conditions: list[Condition], now: datetime) -> list[Event]:
    """Move the park's alarms of `rule` one step on; the events to notify."""
    rows = {a.subject: a for a in session.scalars(select(Alarm).where(
        Alarm.park == park, Alarm.rule == rule.rule, Alarm.state.in_(OPEN)))}
    seen = {c.subject: c for c in conditions}
    events: list[Event] = []
    for subject in sorted(set(rows) | set(seen)):
        c = seen.get(subject) or Condition(subject, False)  # a subject that is gone no longer holds
        a = rows.get(subject)
        if c.holds:
            if a is None:
                a = Alarm(park=park, rule=rule.rule, subject=subject, severity=rule.severity, state="pending",
                          since=now, flaps=0, message=c.message, value=c.value, updated_at=now)
                session.add(a)
            elif a.clearing_since is not None:
                a.clearing_since, a.flaps, a.value, a.message, a.updated_at = None, a.flaps + 1, c.value, c.message, now
            # value and message are those of the raise (and of the latest flap), not of every pass:
            # a meter's growing silence would otherwise give the alarm a new revision every pass
            if a.state == "pending" and (now - _utc(a.since)).total_seconds() >= rule.for_s:
                a.state, a.raised_at, a.value, a.message, a.updated_at = "raised", now, c.value, c.message, now
                session.flush()
                _audit(session, a, ACTOR, "alarm.raised", now, None, "raised")
                events.append(Event(a, "raised"))
        elif a is not None:
            if a.state == "pending":
                session.delete(a)
                continue
            if a.clearing_since is None:
                a.clearing_since, a.updated_at = now, now
            if (now - _utc(a.clearing_since)).total_seconds() >= rule.clear_s:
                before = a.state
                a.state, a.cleared_at, a.clearing_since, a.updated_at = "cleared", now, None, now
                _audit(session, a, ACTOR, "alarm.cleared", now, before, "cleared")
                events.append(Event(a, "cleared"))
    return events


def _audit(session: Session, a: Alarm, actor: str, action: str, now: datetime, before: str | None, after: str,
           note: str | None = None) -> None:
    entry = {"rule": a.rule, "subject": a.subject, "severity": a.severity, "state": after, "flaps": a.flaps}
    if note:
        entry["note"] = note
    session.add(AuditEntry(at=now, actor=actor, park=a.park, action=action, target=f"alarm/{a.id}",
                           before=None if before is None else {"state": before}, after=entry,
                           changes=[{"path": "state", "before": before, "after": after}]))


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite hands back naive UTC
