"""InfluxDB v2 write API (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics) through influxdb-client.

Line protocol is built by us (ingest.rows) and handed to the client's synchronous write API in
gzip-compressed batches, so a write either lands or raises and nothing is buffered unseen.
"""

import os

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from accounting.config import Sink
from ingest.rows import Row, SinkUnavailable, line_protocol


class InfluxV2Sink:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        token = os.environ.get(sink.token_env, "") if sink.token_env else ""
        self.client = InfluxDBClient(url=sink.url, token=token, org=sink.org, enable_gzip=True,
                                     timeout=int(sink.timeout_s * 1000))
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def write(self, rows: list[Row]) -> None:
        step = self.sink.batch_lines
        try:
            for i in range(0, len(rows), step):
                self.api.write(bucket=self.sink.bucket, org=self.sink.org, record=line_protocol(rows[i:i + step]),
                               write_precision=WritePrecision.MS)
        except (ApiException, HTTPError, OSError) as exc:
            raise SinkUnavailable(f"influxdb v2 {self.sink.url}: {exc}") from exc

    def series(self, *args, **kwargs):
        raise NotImplementedError("reading back from a v2 store is not implemented yet; "
                                  "run accounting on the sqlite or influx_v1 store")

    neighbours = series

    def close(self) -> None:
        self.client.close()
