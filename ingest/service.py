"""The ingest process: one worker thread per configured worker, sharing one subscription group."""

import logging
import os

from lingtan.ingest.consumer import Ingest
from lingtan.kernel.config import Config
from lingtan.store.db import make_engine
from lingtan.store.timeseries import open_sink

log = logging.getLogger(__name__)


def make_ingest(config: Config, client_id: str | None = None, partition: tuple[int, int] | None = None) -> Ingest:
    """One worker; `partition=(i, n)` gives worker i of n its static share of the gateways
    when no shared subscription group is configured (see Ingest.topics)."""
    return Ingest(config, open_sink(config.ingest.sink), make_engine(config.store.url), client_id=client_id,
                  partition=partition)


def start_metrics(config: Config, workers: list[Ingest]):
    """Serve /metrics for these workers if `ingest.metrics_port` is set; returns the server or None."""
    port = config.ingest.metrics_port
    if port is None:
        return None
    from lingtan.ingest.metrics import serve_metrics
    server, _thread = serve_metrics(workers, port, config.ingest.metrics_host)
    log.info("ingest metrics on http://%s:%d/metrics (pid %d)", config.ingest.metrics_host, port, os.getpid())
    return server
