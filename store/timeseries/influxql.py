"""Reading counter samples back with InfluxQL over the v1 `/query` API.

InfluxDB 1.x answers it natively; InfluxDB 2.7+ answers it on its 1.x compatibility API, with the
bucket as database (a "virtual DBRP mapping" exists for every bucket) and token authentication.
"""

from collections.abc import Callable

import httpx

from lingtan.store.timeseries.base import SinkUnavailable


class InfluxQLReader:
    def __init__(self, http: httpx.Client, url: str, database: str,
                 before_query: Callable[[], None] = lambda: None) -> None:
        self.http, self.url, self.database, self.before_query = http, url, database, before_query

    def _query(self, q: str) -> list[list]:
        self.before_query()
        try:
            resp = self.http.get("/query", params={"db": self.database, "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"influxdb {self.url}: {exc}") from exc
        if resp.status_code >= 300:
            raise SinkUnavailable(f"influxdb {self.url}/query: HTTP {resp.status_code} {resp.text[:200]}")
        result = resp.json()["results"][0]
        if "error" in result:
            raise SinkUnavailable(f"influxdb {self.url}/query: {result['error']}")
        series = result.get("series") or []
        return series[0]["values"] if series else []

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """(ts_ms, value) in [start_ms, end_ms), ordered by time."""
        rows = self._query(f'SELECT "{quantity}" FROM reading WHERE park=\'{park}\' AND meter=\'{meter}\' '
                           f'AND time >= {start_ms}ms AND time < {end_ms}ms')
        return [(t, v) for t, v in rows if v is not None]

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[tuple | None, tuple | None]:
        """The last sample before ts_ms and the first at or after it."""
        where = f"park='{park}' AND meter='{meter}'"
        before = self._query(f'SELECT last("{quantity}") FROM reading WHERE {where} AND time < {ts_ms}ms')
        after = self._query(f'SELECT first("{quantity}") FROM reading WHERE {where} AND time >= {ts_ms}ms')
        return (tuple(before[0]) if before else None), (tuple(after[0]) if after else None)
