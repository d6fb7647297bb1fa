"""InfluxDB 1.x store through its v1 HTTP API (/write, /query): what Debian ships (1.6.7)."""

import httpx

from lingtan.kernel.config import Sink
from lingtan.store.timeseries.base import Row, SinkRejected, SinkUnavailable, WindowRead, WindowSamples, line_bodies
from lingtan.store.timeseries.influxql import InfluxQLReader


class InfluxV1Sink:
    def __init__(self, sink: Sink, password: str | None = None) -> None:
        self.sink = sink
        auth = (sink.username, password or "") if sink.username else None
        self.http = httpx.Client(base_url=sink.url, timeout=sink.timeout_s, auth=auth)
        self._created = False
        self.reader = InfluxQLReader(self.http, sink.url, sink.database, before_query=self._ensure_database)

    def _ensure_database(self) -> None:
        if not self._created:
            self._post("/query", params={"q": f'CREATE DATABASE "{self.sink.database}"'})
            self._created = True

    def _post(self, path: str, **kw) -> httpx.Response:
        try:
            resp = self.http.post(path, **kw)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"influxdb {self.sink.url}: {exc}") from exc
        if resp.status_code >= 300:
            text = f"influxdb {self.sink.url}{path}: HTTP {resp.status_code} {resp.text[:200]}"
            if resp.status_code in (400, 413, 422):  # the data itself, e.g. a field type conflict
                raise SinkRejected(text)
            raise SinkUnavailable(text)
        return resp

    def write(self, rows: list[Row], lines: list[str] | None = None) -> None:
        self._ensure_database()
        for body in line_bodies(rows, lines, self.sink.batch_lines):
            self._post("/write", params={"db": self.sink.database, "precision": "ms"}, content=body)

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        return self.reader.series(park, meter, quantity, start_ms, end_ms)

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int):
        return self.reader.neighbours(park, meter, quantity, ts_ms)

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """See TimeSeriesStore.read_windows."""
        return self.reader.read_windows(park, reads, look_back_ms)

    def close(self) -> None:
        self.http.close()
