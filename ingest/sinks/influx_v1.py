"""InfluxDB 1.x store through its v1 HTTP API (/write, /query): what Debian ships (1.6.7)."""

import httpx

from accounting.config import Sink
from ingest.rows import Row, SinkRejected, SinkUnavailable, line_protocol


class InfluxV1Sink:
    def __init__(self, sink: Sink, password: str | None = None) -> None:
        self.sink = sink
        auth = (sink.username, password or "") if sink.username else None
        self.http = httpx.Client(base_url=sink.url, timeout=sink.timeout_s, auth=auth)
        self._created = False

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

    def write(self, rows: list[Row]) -> None:
        self._ensure_database()
        step = self.sink.batch_lines
        for i in range(0, len(rows), step):
            self._post("/write", params={"db": self.sink.database, "precision": "ms"},
                       content=line_protocol(rows[i:i + step]))

    def _query(self, q: str) -> list[list]:
        self._ensure_database()
        try:
            resp = self.http.get("/query", params={"db": self.sink.database, "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"influxdb {self.sink.url}: {exc}") from exc
        if resp.status_code >= 300:
            raise SinkUnavailable(f"influxdb query: HTTP {resp.status_code} {resp.text[:200]}")
        result = resp.json()["results"][0]
        if "error" in result:
            raise SinkUnavailable(f"influxdb query: {result['error']}")
        series = result.get("series") or []
        return series[0]["values"] if series else []

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        rows = self._query(f'SELECT "{quantity}" FROM reading WHERE park=\'{park}\' AND meter=\'{meter}\' '
                           f'AND time >= {start_ms}ms AND time < {end_ms}ms')
        return [(t, v) for t, v in rows if v is not None]

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int):
        where = f"park='{park}' AND meter='{meter}'"
        before = self._query(f'SELECT last("{quantity}") FROM reading WHERE {where} AND time < {ts_ms}ms')
        after = self._query(f'SELECT first("{quantity}") FROM reading WHERE {where} AND time >= {ts_ms}ms')
        return (tuple(before[0]) if before else None), (tuple(after[0]) if after else None)

    def close(self) -> None:
        self.http.close()
