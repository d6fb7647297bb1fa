"""Time-series stores: write rows idempotently, read counter series back for accounting."""

from lingtan.kernel.config import Sink
from lingtan.store.timeseries.base import TimeSeriesStore


def open_sink(sink: Sink) -> TimeSeriesStore:
    """The store named by the config's `ingest.sink.kind`."""
    if sink.kind == "sqlite":
        from lingtan.store.timeseries.sqlite import SqliteSink
        return SqliteSink(sink.path)
    if sink.kind == "influx_v1":
        import os

        from lingtan.store.timeseries.influx_v1 import InfluxV1Sink
        return InfluxV1Sink(sink, os.environ.get(sink.password_env) if sink.password_env else None)
    from lingtan.store.timeseries.influx_v2 import InfluxV2Sink
    return InfluxV2Sink(sink)
