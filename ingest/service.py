"""The ingest process: one worker thread per configured worker, sharing one subscription group."""

import gc
import logging
import os
from collections.abc import Callable
from datetime import datetime

from lingtan.ingest.consumer import Ingest
from lingtan.kernel.config import Config
from lingtan.store.db import make_engine
from lingtan.store.timeseries import open_sink

log = logging.getLogger(__name__)


# Young-generation threshold of the cycle collector in an ingest process. A flush's rows live
# for a few hundred milliseconds; at CPython's default (700 allocations) they outlive hundreds of
# young collections, reach the old generation and make each full collection walk them: 4–5 µs of
# collector time per reading while bench/bench_ingest.py drains its backlog. The threshold counts
# allocations less deallocations, and 100,000 is more than the rows of the batches a worker holds
# at once (three of at most FLUSH_BYTES, ~26,000 readings each in the bench): rows are freed by
# reference counting long before a young collection, which still comes for other garbage.
GC_YOUNG_THRESHOLD = 100_000


def tune_gc() -> None:
    """Raise the collector's young threshold to GC_YOUNG_THRESHOLD for this process (never lower it)."""
    young, *older = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *older)


def make_ingest(config: Config, client_id: str | None = None, partition: tuple[int, int] | None = None,
                clock: Callable[[], datetime] | None = None) -> Ingest:
    """One worker; `partition=(i, n)` gives worker i of n its static share of the gateways
    when no shared subscription group is configured (see Ingest.topics); `clock` (default: the
    wall clock) is the receive time of the time policy, a simulated clock for a faster-than-real
    demo. Tunes the process's garbage collector for ingest (tune_gc)."""
    tune_gc()
    extra = {} if clock is None else {"clock": clock}
    return Ingest(config, open_sink(config.ingest.sink), make_engine(config.store.url), client_id=client_id,
                  partition=partition, **extra)


def start_metrics(config: Config, workers: list[Ingest]):
    """Serve /metrics for these workers if `ingest.metrics_port` is set; returns the server or None."""
    port = config.ingest.metrics_port
    if port is None:
        return None
    from lingtan.ingest.metrics import serve_metrics
    server, _thread = serve_metrics(workers, port, config.ingest.metrics_host)
    log.info("ingest metrics on http://%s:%d/metrics (pid %d)", config.ingest.metrics_host, port, os.getpid())
    return server
