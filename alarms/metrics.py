"""Prometheus metrics of the alarms, served on `alarms.metrics_port` at /metrics.

Read from the platform database at scrape time (one grouped query each), so every process that
can reach the database reports the same numbers and nothing is counted twice after a restart.
"""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lingtan.kernel.config import ConfigError
from lingtan.store.models import Alarm, AlarmNotification


class AlarmCollector:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterable:
        active = GaugeMetricFamily("lingtan_alarms_active", "alarms raised and not cleared (acknowledged or not)",
                                   labels=["park", "rule", "severity", "state"])
        outbox = GaugeMetricFamily("lingtan_alarm_notifications", "notifications waiting to be sent (pending) or "
                                   "given up after max_attempts (failed)", labels=["channel", "status"])
        with self.sessions() as s:
            for park, rule, severity, state, n in s.execute(
                    select(Alarm.park, Alarm.rule, Alarm.severity, Alarm.state, func.count())
                    .where(Alarm.state.in_(("raised", "acknowledged")))
                    .group_by(Alarm.park, Alarm.rule, Alarm.severity, Alarm.state)):
                active.add_metric([park, rule, severity, state], n)
            for channel, status, n in s.execute(
                    select(AlarmNotification.channel, AlarmNotification.status, func.count())
                    .where(AlarmNotification.status.in_(("pending", "failed")))
                    .group_by(AlarmNotification.channel, AlarmNotification.status)):
                outbox.add_metric([channel, status], n)
        yield active
        yield outbox


def serve_metrics(sessions: sessionmaker[Session], port: int, host: str = "127.0.0.1"):
    """Start /metrics on a daemon thread; a port that cannot be bound raises ConfigError naming it."""
    registry = CollectorRegistry()
    registry.register(AlarmCollector(sessions))
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"alarms.metrics_port = {port} (alarms.metrics_host = {host!r}): cannot serve /metrics "
                          f"on {host}:{port}: {exc.strerror or exc}; free the port or choose another") from None
