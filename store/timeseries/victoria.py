"""Reading counter series back from VictoriaMetrics, for accounting on the influx_v2 sink.

VictoriaMetrics turns the line `reading,park=P,meter=M energy_import_kwh=1.5 T` into the sample
`reading_energy_import_kwh{park="P",meter="M"} 1.5 @T`. /api/v1/export returns raw samples (no
step alignment, no staleness rules), which is what the interval engine needs.

Unlike InfluxDB, VictoriaMetrics keeps a second sample with the same timestamp instead of
overwriting it (unless it runs with -dedup.minScrapeInterval=1ms), so a redelivered reading is
stored twice; both copies carry the same value, and this reader returns one sample per timestamp.
"""

import json

import httpx

from lingtan.store.timeseries.base import SinkUnavailable

_DAY_MS = 86_400_000
_WINDOWS_MS = (_DAY_MS, 35 * _DAY_MS, 400 * _DAY_MS, 40 * 366 * _DAY_MS)  # widening search for a neighbour


class VictoriaReader:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout_s, trust_env=False)

    def _export(self, park: str, meter: str, quantity: str, first_ms: int, last_ms: int) -> dict[int, float]:
        """Samples with first_ms <= t <= last_ms, one per timestamp."""
        match = f'reading_{quantity}{{park="{park}",meter="{meter}"}}'
        try:
            resp = self.http.post("/api/v1/export", data={"match[]": match, "start": f"{first_ms / 1000:.3f}",
                                                          "end": f"{last_ms / 1000:.3f}"})
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"victoria-metrics {self.url}: {exc}") from exc
        if resp.status_code >= 300:
            raise SinkUnavailable(f"reading back needs VictoriaMetrics' /api/v1/export at {self.url}: "
                                  f"HTTP {resp.status_code} {resp.text[:200]}")
        samples: dict[int, float] = {}
        for line in resp.text.splitlines():
            if line.strip():
                item = json.loads(line)
                for t, v in zip(item["timestamps"], item["values"], strict=True):
                    if first_ms <= t <= last_ms and v is not None:
                        samples[t] = v
        return samples

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
