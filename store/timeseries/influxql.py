"""Reading counter samples back with InfluxQL over the v1 `/query` API.

InfluxDB 1.x answers it natively; InfluxDB 2.7+ answers it on its 1.x compatibility API, with the
bucket as database (a "virtual DBRP mapping" exists for every bucket) and token authentication.

A batch read (`read_windows`) sends, per group of meters with the same window, three kinds of
statement in one request (InfluxQL answers `;`-separated statements together): the window's
samples of every quantity `GROUP BY meter`; per quantity, the last sample in the look-back
(`ORDER BY time DESC LIMIT 1`, LIMIT applies per meter); and per quantity the first sample at
or after the window's end, without an upper bound. Selecting one field returns only the points
that have it, so LIMIT 1 finds that field's neighbour. InfluxQL has no OR of time ranges, hence
one group per window.
"""

from collections.abc import Callable

import httpx

from lingtan.store.timeseries.base import SinkUnavailable, WindowRead, WindowSamples, windows_by_group

_FAR_MS = 9_223_372_036_854  # InfluxDB's largest timestamp, in ms: "no upper bound"


class InfluxQLReader:
    def __init__(self, http: httpx.Client, url: str, database: str,
                 before_query: Callable[[], None] = lambda: None) -> None:
        self.http, self.url, self.database, self.before_query = http, url, database, before_query

    def _results(self, q: str, post: bool = False) -> list[dict]:
        """The answers of the `;`-separated statements in q, in order."""
        self.before_query()
        params = {"db": self.database, "epoch": "ms"}
        try:
            if post:
                resp = self.http.post("/query", params=params, data={"q": q})
            else:
                resp = self.http.get("/query", params={**params, "q": q})
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"influxdb {self.url}: {exc}") from exc
        if resp.status_code >= 300:
            raise SinkUnavailable(f"influxdb {self.url}/query: HTTP {resp.status_code} {resp.text[:200]}")
        results = resp.json()["results"]
        for result in results:
            if "error" in result:
                raise SinkUnavailable(f"influxdb {self.url}/query: {result['error']}")
            if result.get("partial") or any(s.get("partial") for s in result.get("series") or []):
                # a server-side max-row-limit cut the answer: reading on would lose samples
                raise SinkUnavailable(f"influxdb {self.url}/query: answer truncated (partial); "
                                      "set [http] max-row-limit = 0")
        return results

    def _query(self, q: str) -> list[list]:
        series = self._results(q)[0].get("series") or []
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

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """See TimeSeriesStore.read_windows: one request per group of up to 250 meters sharing a window."""
        return windows_by_group(reads, look_back_ms, lambda meters, quantities, start_ms, end_ms: self._read_group(
            park, meters, quantities, start_ms, end_ms, look_back_ms))

    def _read_group(self, park: str, meters: list[str], quantities: tuple[str, ...], start_ms: int, end_ms: int,
                    look_back_ms: int) -> dict[tuple[str, str], WindowSamples]:
        """What meters sharing one window hold, by (meter, quantity)."""
        # ids are restricted to [a-z0-9_-] (kernel.config), so they need no escaping in a regex
        where = f"park='{park}' AND meter=~/^({'|'.join(meters)})$/"
        fields = ",".join(f'"{q}"' for q in quantities)
        statements = [f"SELECT {fields} FROM reading WHERE {where} AND time >= {start_ms}ms AND time < {end_ms}ms "
                      "GROUP BY meter"]
        statements += [f'SELECT "{q}" FROM reading WHERE {where} AND time >= {start_ms - look_back_ms}ms '
                       f"AND time < {start_ms}ms GROUP BY meter ORDER BY time DESC LIMIT 1" for q in quantities]
        statements += [f'SELECT "{q}" FROM reading WHERE {where} AND time >= {end_ms}ms AND time <= {_FAR_MS}ms '
                       "GROUP BY meter LIMIT 1" for q in quantities]
        results = self._results(";".join(statements), post=True)
        samples: dict[tuple[str, str], list] = {}
        for series in results[0].get("series") or []:
            meter = series["tags"]["meter"]
            cols = series["columns"]
            for j, q in enumerate(cols[1:], start=1):
                got = [(row[0], row[j]) for row in series["values"] if row[j] is not None]
                if got:
                    samples[(meter, q)] = got
        n = len(quantities)
        before = self._firsts(results[1:1 + n], quantities)
        after = self._firsts(results[1 + n:1 + 2 * n], quantities)
        return {key: WindowSamples(before.get(key), samples.get(key, []), after.get(key))
                for key in samples.keys() | before.keys() | after.keys()}

    @staticmethod
    def _firsts(results: list[dict], quantities: tuple[str, ...]) -> dict[tuple[str, str], tuple[int, float]]:
        out = {}
        for q, result in zip(quantities, results, strict=True):
            for series in result.get("series") or []:
                for t, v in series["values"]:
                    if v is not None:
                        out[(series["tags"]["meter"], q)] = (t, v)
        return out
