"""Prometheus metrics of the ingest workers, served on `ingest.metrics_port` at /metrics.

The workers count in plain Counters on their own thread; this collector reads them at scrape time,
so the hot path never takes a lock and several Ingest objects (tests, --workers N) never clash in
a global registry.
"""

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from lingtan.ingest.consumer import Ingest
from lingtan.kernel.config import ConfigError

_COUNTERS = [
    ("received", "lingtan_ingest_messages_received", "messages taken from MQTT and settled (written or rejected)"),
    ("received_bytes", "lingtan_ingest_received_bytes", "payload bytes of those messages"),
    ("written", "lingtan_ingest_readings_written", "readings written to the time-series store"),
    ("acked", "lingtan_ingest_messages_acked", "messages acknowledged to the broker after the durable write"),
    ("redelivered", "lingtan_ingest_messages_redelivered", "messages the broker delivered again (DUP flag)"),
    ("sink_errors", "lingtan_ingest_store_errors", "flushes that failed because a store was unavailable"),
    ("flushes", "lingtan_ingest_flushes", "successful flushes"),
    ("connects", "lingtan_ingest_connects", "MQTT connections established"),
    ("dead_letters_lost", "lingtan_ingest_dead_letters_lost", "dead letters the platform database refused (logged)"),
    ("retained_rejected", "lingtan_ingest_retained_rejected", "bad messages delivered as retained: logged, "
     "not dead-lettered again"),
]


class IngestCollector:
    def __init__(self, workers: list[Ingest]) -> None:
        self.workers = workers

    def collect(self) -> Iterable:
        counters = {key: CounterMetricFamily(name, doc, labels=["worker"]) for key, name, doc in _COUNTERS}
        rejected = CounterMetricFamily("lingtan_ingest_messages_rejected", "messages dead-lettered, by kind of "
                                       "problem (size, json, contract, identity, value, store)",
                                       labels=["worker", "kind"])
        held = GaugeMetricFamily("lingtan_ingest_messages_held", "messages received but not yet acknowledged "
                                 "(bounded by the MQTT v5 Receive Maximum)", labels=["worker"])
        held_bytes = GaugeMetricFamily("lingtan_ingest_held_bytes", "payload bytes of those messages",
                                       labels=["worker"])
        lag = GaugeMetricFamily("lingtan_ingest_lag_seconds", "time of the last flush minus measurement time of "
                                "the newest reading it wrote", labels=["worker"])
        down = GaugeMetricFamily("lingtan_ingest_store_down_seconds", "how long the store has been unavailable "
                                 "(0 when it is up)", labels=["worker"])
        connected = GaugeMetricFamily("lingtan_ingest_connected", "1 while connected to the broker",
                                      labels=["worker"])
        now = time.monotonic()
        for w in self.workers:
            stats = w.stats
            for key, _name, _doc in _COUNTERS:
                counters[key].add_metric([w.client_id], stats.get(key, 0))
            for kind, n in list(w.rejected_by_kind.items()):
                rejected.add_metric([w.client_id, kind], n)
            held.add_metric([w.client_id], w.held)
            held_bytes.add_metric([w.client_id], w.held_bytes)
            lag.add_metric([w.client_id], w.lag_s)
            since = w.store_down_since
            down.add_metric([w.client_id], 0.0 if since is None else now - since)
            connected.add_metric([w.client_id], 1.0 if w.connected.is_set() else 0.0)
        yield from counters.values()
        yield from (rejected, held, held_bytes, lag, down, connected)


def serve_metrics(workers: list[Ingest], port: int, host: str = "127.0.0.1"):
    """Start the /metrics HTTP server on a daemon thread; returns (server, thread).

    `workers` is read at scrape time, so it may be filled after the server started. A port that
    cannot be bound (taken by another process, privileged, an address not on this host) raises
    ConfigError naming ingest.metrics_port and the address.
    """
    registry = CollectorRegistry()
    registry.register(IngestCollector(workers))
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"ingest.metrics_port = {port} (ingest.metrics_host = {host!r}): cannot serve /metrics "
                          f"on {host}:{port}: {reason}; free the port or choose another") from None
