"""InfluxDB v2 write API (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics) through influxdb-client.

Line protocol is built by us (by ingest while it validates, else store.timeseries.base) and
handed to the client's synchronous write API in gzip-compressed batches of `sink.batch_lines`, so
a write either lands or raises and nothing is buffered unseen. Reading back (for accounting), by
`sink.reader`: `influxql` — InfluxQL on the 1.x compatibility `/query` API with the bucket as
database and the token (InfluxDB 2.7+ maps every bucket virtually; 1.8+); `victoria_metrics` —
VictoriaMetrics' export API (lingtan.store.timeseries.victoria). InfluxDB 3 Core's InfluxQL API
is not covered by either yet.
"""

import os

import httpx
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from lingtan.kernel.config import Sink
from lingtan.store.timeseries.base import Row, SinkRejected, SinkUnavailable, WindowRead, WindowSamples, line_bodies
from lingtan.store.timeseries.influxql import InfluxQLReader
from lingtan.store.timeseries.victoria import VictoriaReader

# a 4xx other than these means the store refused the data itself, not that it is unreachable
_RETRYABLE = {401, 403, 404, 408, 429}


class InfluxV2Sink:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        token = os.environ.get(sink.token_env, "") if sink.token_env else ""
        self.client = InfluxDBClient(url=sink.url, token=token, org=sink.org, enable_gzip=True,
                                     timeout=int(sink.timeout_s * 1000))
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.http = None
        if sink.reader == "victoria_metrics":
            self.reader = VictoriaReader(sink.url, sink.timeout_s)
        else:
            self.http = httpx.Client(base_url=sink.url, timeout=sink.timeout_s,
                                     headers={"Authorization": f"Token {token}"} if token else {})
            self.reader = InfluxQLReader(self.http, sink.url, sink.bucket)

    def write(self, rows: list[Row], lines: list[str] | None = None) -> None:
        try:
            for body in line_bodies(rows, lines, self.sink.batch_lines):
                self.api.write(bucket=self.sink.bucket, org=self.sink.org, record=body,
                               write_precision=WritePrecision.MS)
        except ApiException as exc:
            text = f"influxdb v2 {self.sink.url}: HTTP {exc.status} {str(exc.body)[:200]}"
            if exc.status and 400 <= exc.status < 500 and exc.status not in _RETRYABLE:
                raise SinkRejected(text) from exc
            raise SinkUnavailable(text) from exc
        except (HTTPError, OSError) as exc:
            raise SinkUnavailable(f"influxdb v2 {self.sink.url}: {exc}") from exc

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """(ts_ms, value) in [start_ms, end_ms), ordered by time."""
        return self.reader.series(park, meter, quantity, start_ms, end_ms)

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[tuple | None, tuple | None]:
        """The last sample before ts_ms and the first at or after it."""
        return self.reader.neighbours(park, meter, quantity, ts_ms)

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """See TimeSeriesStore.read_windows."""
        return self.reader.read_windows(park, reads, look_back_ms)

    def close(self) -> None:
        self.client.close()
        if self.http is not None:
            self.http.close()
        else:
            self.reader.close()
