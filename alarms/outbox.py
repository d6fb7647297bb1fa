"""Notifications as an outbox in the platform database: queued with the alarm event, sent, retried.

Each (alarm event, channel) is one `alarm_notification` row, written in the transaction that
raises or clears the alarm, so a restart neither loses nor repeats one (a crash between a send
and its commit can repeat that one send). Routing: a channel takes the events of its parks, rules
and severities; in its quiet hours (park-local) anything below critical waits until they end.
Sending runs one thread per channel, off the evaluation path: a slow or failing channel (a mail
server that accepts and never answers) delays only itself, neither the next evaluation nor the
other channels; each notice's outcome is committed once it is known. A failure is retried with
exponential backoff (10 s doubling, at most an hour) up to `max_attempts`.

A waiting dispatch (tools, tests) waits at most `BUSY_WAIT_S` for a channel's job still under way
from an earlier, non-waiting dispatch, then starts its next job; a channel still busy after that is
counted as `busy`, not as nothing sent. Shutting down lets each job finish the notice under way
and waits at most `CLOSE_WAIT_S` for that: a send still hanging then is left behind (its thread is
a daemon's), and its row stays pending for the next start (which may repeat that one send).
"""

import logging
import threading
from concurrent.futures import Future
from datetime import UTC, datetime, time, timedelta
from time import monotonic

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lingtan.alarms.channels import ChannelFailed, send
from lingtan.alarms.lifecycle import Event
from lingtan.alarms.messages import SEVERITY_RANK, Digest, Notice
from lingtan.kernel.config import AlarmChannel, Config
from lingtan.store.models import Alarm, AlarmNotification

log = logging.getLogger(__name__)

BACKOFF_S = 10.0
BACKOFF_MAX_S = 3600.0
BUSY_WAIT_S = 30.0  # how long a waiting dispatch waits for a channel's job already under way
CLOSE_WAIT_S = 10.0  # how long shutting down waits for the sends under way


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
    """Sends due notifications off the evaluation path: each channel's on a (daemon) thread of its
    own, in a session of its own, one job per channel at a time."""

    def __init__(self, config: Config, sessions: sessionmaker, busy_wait_s: float = BUSY_WAIT_S,
                 close_wait_s: float = CLOSE_WAIT_S) -> None:
        self.config = config
        self.sessions = sessions
        self.channels = {c.id: c for c in config.alarms.channels}
        self.busy_wait_s, self.close_wait_s = busy_wait_s, close_wait_s
        self.jobs: dict[str, Future] = {}  # channel -> its job under way or last done
        self.failing: set[str] = set()  # channels whose last attempt failed: logged once, recovery once
        self.closing = threading.Event()  # jobs stop before their next notice

    def close(self) -> None:
        """Stop the jobs before their next notice and wait at most `close_wait_s` for the notices
        under way; a send still hanging is left to its daemon thread, its row pending."""
        self.closing.set()
        deadline = monotonic() + self.close_wait_s
        for cid, job in sorted(self.jobs.items()):
            try:
                job.result(max(0.0, deadline - monotonic()))
            except TimeoutError:
                log.warning("alarm channel %s: still sending at shutdown; its notification stays pending", cid)

    def _start(self, ch: AlarmChannel, now: datetime) -> Future:
        job: Future = Future()

        def work() -> None:
            try:
                job.set_result(self._channel_job(ch, now))
            except BaseException as exc:  # _channel_job catches its own; never leave the future open
                job.set_exception(exc)

        threading.Thread(target=work, name=f"alarm-channel-{ch.id}", daemon=True).start()
        return job

    def dispatch(self, now: datetime, wait: bool = True) -> dict[str, int]:
        """Start sending every channel's notifications due at `now`, except on a channel still
        busy with an earlier pass's (a hung mail server holds back its own channel only, never
        the evaluation or the other channels; its rows stay pending until its job settles them,
        so none goes out twice and none is lost). With `wait`, wait first (at most `busy_wait_s`
        in all) for the jobs still under way, counting what they sent and failed, start the
        channels they free, wait for the jobs started and return their sent and failed counts,
        and as `busy` the channels still under way; without, return at once (counts of nothing)."""
        with self.sessions() as session:
            due = set(session.scalars(select(AlarmNotification.channel).distinct().where(
                AlarmNotification.status == "pending", AlarmNotification.next_at <= now)))
            gone = sorted(due - set(self.channels))
            if gone:
                session.execute(update(AlarmNotification).where(
                    AlarmNotification.status == "pending", AlarmNotification.channel.in_(gone))
                    .values(status="failed", last_error="channel no longer configured"))
                session.commit()
        counts = {"sent": 0, "failed": 0, "busy": 0}
        waited = []
        if wait:  # an earlier, non-waiting dispatch's jobs: wait for them, bounded
            deadline = monotonic() + self.busy_wait_s
            for cid in sorted(due & set(self.channels)):
                job = self.jobs.get(cid)
                if job is not None and not job.done():
                    try:
                        waited.append(job.result(max(0.0, deadline - monotonic())))
                    except TimeoutError:
                        pass
        started = []
        for cid in sorted(due & set(self.channels)):
            job = self.jobs.get(cid)
            if job is not None and not job.done():
                counts["busy"] += 1
                continue  # still sending: its due rows wait for its next job
            self.jobs[cid] = self._start(self.channels[cid], now)
            started.append(self.jobs[cid])
        if wait:
            for job in started:
                waited.append(job.result())
            for result in waited:
                for k, n in result.items():
                    counts[k] += n
        return counts

    def _channel_job(self, ch: AlarmChannel, now: datetime) -> dict[str, int]:
        """Send one channel's due notifications and settle each in its own commit. A channel with
        `digest_s` gets its due info notices as one digest message."""
        counts = {"sent": 0, "failed": 0}
        try:
            with self.sessions() as session:
                items = self._due(session, ch, now)
                session.commit()  # rows of alarms that are gone
                for rows, notice in items:
                    if self.closing.is_set():
                        break  # shutting down: the rest stay pending for the next start
                    try:
                        [error] = self._send_all(ch, [notice])
                    except Exception as exc:  # never: send() makes every failure ChannelFailed
                        log.error("alarm channel %s: sending failed unexpectedly: %s", ch.id, type(exc).__name__)
                        error = type(exc).__name__
                    for row in rows:
                        self._settle(row, ch, error, now)
                        counts["sent" if error is None else "failed"] += 1
                    session.commit()
                    if error is not None:
                        break  # the channel is down: keep its other notices for the next pass
        except Exception as exc:  # the database went away: the rows stay pending for the next pass
            log.error("alarm channel %s: could not settle its notifications: %s", ch.id, type(exc).__name__)
        return counts

    def _due(self, session: Session, ch: AlarmChannel, now: datetime) -> list[tuple[list[AlarmNotification],
                                                                                     Notice | Digest]]:
        due = session.scalars(select(AlarmNotification).where(
            AlarmNotification.channel == ch.id, AlarmNotification.status == "pending",
            AlarmNotification.next_at <= now).order_by(AlarmNotification.id)).all()
        items: list[tuple[list[AlarmNotification], Notice | Digest]] = []
        digest: tuple[list[AlarmNotification], list[Notice]] = ([], [])
        for row in due:
            alarm = session.get(Alarm, row.alarm_id)
            if alarm is None:
                row.status, row.last_error = "failed", "alarm no longer exists"
                continue
            park = self.config.park(alarm.park)
            notice = Notice(alarm.id, row.event, alarm.park, park.name, alarm.rule, alarm.subject, alarm.severity,
                            alarm.message, _when(alarm, row.event), alarm.flaps, park.zone)
            if ch.digest_s is not None and alarm.severity == "info":
                digest[0].append(row)
                digest[1].append(notice)
            else:
                items.append(([row], notice))
        if digest[0]:
            rows, notices = digest
            items.append((rows, notices[0] if len(notices) == 1 else Digest(tuple(notices), now)))
        return items

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
