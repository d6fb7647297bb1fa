"""The alarm service (`lingtan alarms`): evaluate every park's rules, keep alarms, send notices.

Every `alarms.interval_s` one pass evaluates each park's effective rules (defaults, then
`alarms.rules`, then `alarms.parks[park]`) over the platform database, moves the alarms on
(lingtan.alarms.lifecycle) and queues their notifications in the same transaction, then hands
the due notifications to the channels' threads (lingtan.alarms.outbox) without waiting for them.
On stop, the loop waits at most `outbox.CLOSE_WAIT_S` (10 s) for the notices being sent; one still
hanging then stays pending and goes out after the next start.
A rule that fails (its table missing, the data not ready) is logged once and skipped; the other
rules and parks go on.
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from lingtan.alarms.channels import check_secrets
from lingtan.alarms.conditions import CHECKS
from lingtan.alarms.lifecycle import apply
from lingtan.alarms.outbox import BUSY_WAIT_S, CLOSE_WAIT_S, Dispatcher, enqueue
from lingtan.alarms.status import StatusListener
from lingtan.kernel.config import Config
from lingtan.store.db import sessions

log = logging.getLogger(__name__)


class AlarmService:
    def __init__(self, config: Config, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 listen: bool = True, busy_wait_s: float = BUSY_WAIT_S, close_wait_s: float = CLOSE_WAIT_S) -> None:
        check_secrets(config.alarms.channels)
        self.config = config
        self.sessions = sessions(engine)
        self.clock = clock
        self.dispatcher = Dispatcher(config, self.sessions, busy_wait_s, close_wait_s)
        self.listener = StatusListener(config, self.sessions, clock) if listen else None
        self.stop = threading.Event()
        self.failing: set[tuple[str, str]] = set()

    def evaluate(self) -> list:
        """One evaluation of every park's rules; returns the events (raised, cleared)."""
        now = self.clock()
        events = []
        for park in self.config.parks:
            for rule in self.config.alarms.rules_of(park.id):
                if not rule.enabled:
                    continue
                key = (park.id, rule.rule)
                with self.sessions() as session:
                    try:
                        conditions = CHECKS[rule.rule](session, self.config, park, rule, now)
                        new = apply(session, park.id, rule, conditions, now)
                        session.flush()
                        enqueue(session, self.config, new, now)
                        session.commit()
                    except Exception as exc:  # one rule's failure must not stop the others
                        session.rollback()
                        if key not in self.failing:
                            log.exception("alarm rule %s of park %s failed: %s", rule.rule, park.id, exc)
                            self.failing.add(key)
                        continue
                if key in self.failing:
                    log.info("alarm rule %s of park %s works again", rule.rule, park.id)
                    self.failing.discard(key)
                for ev in new:
                    log.info("alarm %s %s: park %s rule %s subject %s (%s)", ev.alarm.id, ev.kind, park.id,
                             rule.rule, ev.alarm.subject, ev.alarm.severity)
                events += new
        return events

    def dispatch(self, wait: bool = True) -> dict[str, int]:
        """Send the due notices: counts sent, failed and busy (channels still under way from an
        earlier pass after waiting for them, bounded); see `Dispatcher.dispatch`."""
        return self.dispatcher.dispatch(self.clock(), wait)

    def run_once(self, wait: bool = True) -> list:
        """One pass: evaluate, then send the due notices; `wait` for them to be sent (tools and
        tests), or leave them to the channels' threads (the loop: a hung channel must not delay
        the next evaluation)."""
        if self.listener is not None:
            self.listener.flush()  # statuses the database refused when they came
        events = self.evaluate()
        self.dispatch(wait)
        return events

    def serve_metrics(self):
        """Start /metrics if `alarms.metrics_port` is set (before the loop, so a taken port stops the start)."""
        a = self.config.alarms
        if a.metrics_port is None:
            return None
        from lingtan.alarms.metrics import serve_metrics
        server, _thread = serve_metrics(self.sessions, a.metrics_port, a.metrics_host)
        log.info("alarm metrics on http://%s:%d/metrics", a.metrics_host, a.metrics_port)
        return server

    def run(self) -> None:
        if self.listener is not None:
            self.listener.start()
        try:
            down = False
            while not self.stop.is_set():
                try:
                    self.run_once(wait=False)
                except Exception as exc:  # the database is away: log once, try again next pass
                    if not down:
                        log.error("alarm pass failed: %s; retrying every %g s", exc, self.config.alarms.interval_s)
                        down = True
                else:
                    if down:
                        log.info("alarm passes work again")
                        down = False
                self.stop.wait(self.config.alarms.interval_s)
        finally:
            if self.listener is not None:
                self.listener.stop()
            self.dispatcher.close()
