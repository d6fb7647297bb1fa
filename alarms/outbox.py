"""Notifications as an outbox in the platform database: queued with the alarm event, sent, retried.

Each (alarm event, channel) is one `alarm_notification` row, written in the transaction that
raises or clears the alarm, so a restart neither loses nor repeats one (a crash between a send
and its commit can repeat that one send). Routing: a channel takes the events of its parks, rules
and severities; in its quiet hours (park-local) anything below critical waits until they end.
Sending runs one thread per channel, so a slow or failing channel delays only itself; a failure
is retried with exponential backoff (10 s doubling, at most an hour) up to `max_attempts`.
"""

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lingtan.alarms.channels import ChannelFailed, send
from lingtan.alarms.lifecycle import Event
from lingtan.alarms.messages import SEVERITY_RANK, Digest, Notice
from lingtan.kernel.config import AlarmChannel, Config
from lingtan.store.models import Alarm, AlarmNotification

log = logging.getLogger(__name__)

BACKOFF_S = 10.0
BACKOFF_MAX_S = 3600.0


def routes(channel: AlarmChannel, alarm: Alarm) -> bool:
    return ((not channel.parks or alarm.park in channel.parks) and (not channel.rules or alarm.rule in channel.rules)
            and SEVERITY_RANK[alarm.severity] >= SEVERITY_RANK[channel.min_severity])


def quiet_until(channel: AlarmChannel, severity: str, now: datetime, zone) -> datetime:
    """When a notice of `severity` may go out: now, or the end of the channel's quiet hours."""
    if channel.quiet_hours is None or severity == "critical":
        return now
    start_s, end_s = channel.quiet_hours.split("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    local = now.astimezone(zone)
    t = local.time()
    inside = start <= t < end if start <= end else (t >= start or t < end)
    if not inside:
        return now
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)  # stored as UTC (SQLite keeps no zone)


def digest_at(channel: AlarmChannel, severity: str, at: datetime) -> datetime:
    """Info notices of a channel with `digest_s` wait for the next multiple of digest_s (UTC epoch)."""
    if channel.digest_s is None or severity != "info":
        return at
    step = channel.digest_s
    return datetime.fromtimestamp(-(-at.timestamp() // step) * step, UTC)


def enqueue(session: Session, config: Config, events: list[Event], now: datetime) -> int:
    n = 0
    for ev in events:
        zone = config.park(ev.alarm.park).zone
        for ch in config.alarms.channels:
            if routes(ch, ev.alarm):
                session.add(AlarmNotification(alarm_id=ev.alarm.id, channel=ch.id, event=ev.kind, status="pending",
                                              attempts=0,
                                              next_at=digest_at(ch, ev.alarm.severity,
                                                                quiet_until(ch, ev.alarm.severity, now, zone)),
                                              last_error="", created_at=now))
                n += 1
    return n


class Dispatcher:
    """Sends due notifications, one worker thread per channel."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.channels = {c.id: c for c in config.alarms.channels}
        self.pool = ThreadPoolExecutor(max(1, len(self.channels)), thread_name_prefix="alarm-channel")
        self.failing: set[str] = set()  # channels whose last attempt failed: logged once, recovery once

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def dispatch(self, session: Session, now: datetime) -> dict[str, int]:
        """Send every due notification; commit their outcome. Returns sent and failed counts.

        A channel with `digest_s` gets its due info notices as one digest message."""
        due = session.scalars(select(AlarmNotification).where(
            AlarmNotification.status == "pending", AlarmNotification.next_at <= now)
            .order_by(AlarmNotification.id)).all()
        by_channel: dict[str, list[tuple[list[AlarmNotification], Notice | Digest]]] = defaultdict(list)
        digests: dict[str, tuple[list[AlarmNotification], list[Notice]]] = {}
        for row in due:
            ch = self.channels.get(row.channel)
            alarm = session.get(Alarm, row.alarm_id)
            if ch is None or alarm is None:
                row.status, row.last_error = "failed", "channel no longer configured"
                continue
            park = self.config.park(alarm.park)
            notice = Notice(alarm.id, row.event, alarm.park, park.name, alarm.rule, alarm.subject, alarm.severity,
                            alarm.message, _when(alarm, row.event), alarm.flaps, park.zone)
            if ch.digest_s is not None and alarm.severity == "info":
                rows, notices = digests.setdefault(row.channel, ([], []))
                rows.append(row)
                notices.append(notice)
            else:
                by_channel[row.channel].append(([row], notice))
        for cid, (rows, notices) in digests.items():
            by_channel[cid].append((rows, notices[0] if len(notices) == 1 else Digest(tuple(notices), now)))
        futures = {cid: self.pool.submit(self._send_all, self.channels[cid], [n for _, n in items])
                   for cid, items in by_channel.items()}
        counts = {"sent": 0, "failed": 0}
        for cid, future in futures.items():
            try:
                outcomes = future.result()
            except Exception as exc:  # never: send() makes every failure ChannelFailed; but one channel's
                # surprise must not leave the other channels' sent rows pending (they would go out again)
                log.error("alarm channel %s: sending failed unexpectedly: %s", cid, type(exc).__name__)
                outcomes = [type(exc).__name__]
            # items after a channel's first failure were not tried this pass: they wait for the next one
            for (rows, _), error in zip(by_channel[cid], outcomes, strict=False):
                for row in rows:
                    self._settle(row, self.channels[cid], error, now)
                    counts["sent" if error is None else "failed"] += 1
        session.commit()
        return counts

    def _settle(self, row: AlarmNotification, channel: AlarmChannel, error: str | None, now: datetime) -> None:
        row.attempts += 1
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            return
        row.last_error = error[:300]
        if row.attempts >= channel.max_attempts:
            row.status = "failed"
            log.error("alarm channel %s: gave up on notification %d after %d attempts: %s", channel.id, row.id,
                      row.attempts, error)
        else:
            row.next_at = now + timedelta(seconds=min(BACKOFF_S * 2 ** (row.attempts - 1), BACKOFF_MAX_S))

    def _send_all(self, channel: AlarmChannel, notices: list[Notice | Digest]) -> list[str | None]:
        outcomes: list[str | None] = []
        for notice in notices:
            try:
                send(channel, notice)
            except ChannelFailed as exc:
                if channel.id not in self.failing:
                    log.warning("alarm channel %s (%s) failing: %s; retrying with backoff", channel.id,
                                channel.kind, exc)
                    self.failing.add(channel.id)
                outcomes.append(str(exc))
                break  # the channel is down: keep its other notices for the next pass
            else:
                if channel.id in self.failing:
                    log.info("alarm channel %s (%s) recovered", channel.id, channel.kind)
                    self.failing.discard(channel.id)
                outcomes.append(None)
        return outcomes


def _when(alarm: Alarm, event: str) -> datetime:
    t = (alarm.cleared_at if event == "cleared" else alarm.raised_at) or alarm.updated_at
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite hands back naive UTC
