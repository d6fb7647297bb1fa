"""Reading counter series back from VictoriaMetrics, for accounting on the influx_v2 sink.

VictoriaMetrics turns the line `reading,park=P,meter=M energy_import_kwh=1.5 T` into the sample
`reading_energy_import_kwh{park="P",meter="M"} 1.5 @T`. /api/v1/export returns raw samples (no
step alignment, no staleness rules), which is what the interval engine needs.

Unlike InfluxDB, VictoriaMetrics keeps a second sample with the same timestamp instead of
overwriting it (unless it runs with -dedup.minScrapeInterval=1ms), so a redelivered reading is
stored twice; both copies carry the same value, and this reader returns one sample per timestamp.

A batch read (`read_windows`) exports every meter and quantity of a window with one selector
(`{__name__=~"reading_(a|b)",park="P",meter=~"m1|m2"}`): the window, the look-back, and the
first sample after the window by the same widening search as `neighbours`, for the series still
without one.
"""

import json
from collections import defaultdict

import httpx

from lingtan.store.timeseries.base import SinkUnavailable, WindowRead, WindowSamples, windows_by_group

_DAY_MS = 86_400_000
_WINDOWS_MS = (_DAY_MS, 35 * _DAY_MS, 400 * _DAY_MS, 40 * 366 * _DAY_MS)  # widening search for a neighbour


class VictoriaReader:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout_s, trust_env=False)
        self.exported = 0  # samples received from the export API (the work a batch read costs)

    def _export(self, park: str, meter: str, quantity: str, first_ms: int, last_ms: int) -> dict[int, float]:
        """Samples with first_ms <= t <= last_ms, one per timestamp."""
        got = self._export_match(f'reading_{quantity}{{park="{park}",meter="{meter}"}}', first_ms, last_ms)
        return got.get((meter, quantity), {})

    def _export_many(self, park: str, meters: list[str], quantities: tuple[str, ...], first_ms: int,
                     last_ms: int) -> dict[tuple[str, str], dict[int, float]]:
        # ids and quantity names are restricted to [a-z0-9_-]: nothing to escape in the regexes
        match = (f'{{__name__=~"reading_({"|".join(quantities)})",park="{park}",'
                 f'meter=~"{"|".join(meters)}"}}')
        return self._export_match(match, first_ms, last_ms)

    def _export_match(self, match: str, first_ms: int, last_ms: int) -> dict[tuple[str, str], dict[int, float]]:
        """Samples with first_ms <= t <= last_ms by (meter, quantity), one per timestamp."""
        try:
            resp = self.http.post("/api/v1/export", data={"match[]": match, "start": f"{first_ms / 1000:.3f}",
                                                          "end": f"{last_ms / 1000:.3f}"})
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"victoria-metrics {self.url}: {exc}") from exc
        if resp.status_code >= 300:
            raise SinkUnavailable(f"reading back needs VictoriaMetrics' /api/v1/export at {self.url}: "
                                  f"HTTP {resp.status_code} {resp.text[:200]}")
        out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for line in resp.text.splitlines():
            if line.strip():
                item = json.loads(line)
                metric = item["metric"]
                samples = out[(metric.get("meter"), metric["__name__"].removeprefix("reading_"))]
                self.exported += len(item["timestamps"])
                for t, v in zip(item["timestamps"], item["values"], strict=True):
                    if first_ms <= t <= last_ms and v is not None:
                        samples[t] = v
        return out

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """See TimeSeriesStore.read_windows: a few exports per group of meters sharing a window."""
        return windows_by_group(reads, look_back_ms, lambda meters, quantities, start_ms, end_ms: self._read_group(
            park, meters, quantities, start_ms, end_ms, look_back_ms))

    def _read_group(self, park: str, meters: list[str], quantities: tuple[str, ...], start_ms: int, end_ms: int,
                    look_back_ms: int) -> dict[tuple[str, str], WindowSamples]:
        """What meters sharing one window hold, by (meter, quantity)."""
        inside = (self._export_many(park, meters, quantities, start_ms, end_ms - 1) if end_ms > start_ms else {})
        back = self._export_many(park, meters, quantities, start_ms - look_back_ms, start_ms - 1)
        after: dict[tuple[str, str], tuple[int, float]] = {}
        # widen the search for the first sample after the window only for the (meter, quantity)
        # pairs still missing: a counter a meter never publishes (most meters' export) must not
        # bring its published siblings' samples up to now along, step after step
        missing = {q: meters for q in quantities}
        for window in _WINDOWS_MS:
            for q, wanted in missing.items():
                if not wanted:
                    continue
                for key, got in self._export_many(park, wanted, (q,), end_ms, end_ms + window).items():
                    if got and key not in after:
                        t = min(got)
                        after[key] = (t, got[t])
            missing = {q: [m for m in meters if (m, q) not in after] for q in quantities}
            if not any(missing.values()):
                break
        out = {}
        for m in meters:
            for q in quantities:
                b = back.get((m, q))
                t = max(b) if b else None
                out[(m, q)] = WindowSamples((t, b[t]) if b else None, sorted(inside.get((m, q), {}).items()),
                                            after.get((m, q)))
        return out

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        if end_ms <= start_ms:
            return []
        return sorted(self._export(park, meter, quantity, start_ms, end_ms - 1).items())

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[tuple | None, tuple | None]:
        before = after = None
        for window in _WINDOWS_MS:
            samples = self._export(park, meter, quantity, ts_ms - window, ts_ms - 1)
            if samples:
                t = max(samples)
                before = (t, samples[t])
                break
        for window in _WINDOWS_MS:
            samples = self._export(park, meter, quantity, ts_ms, ts_ms + window)
            if samples:
                t = min(samples)
                after = (t, samples[t])
                break
        return before, after

    def close(self) -> None:
        self.http.close()
