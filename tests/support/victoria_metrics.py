"""A real single-node VictoriaMetrics (Debian's victoria-metrics) on a free loopback port."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx

from .process import ServerProcess, ServiceHandle, find_binary, free_port

HOST = "127.0.0.1"


class VictoriaMetrics(ServiceHandle):
    """Handle on one victoria-metrics: `url`, `host`, `port`; `stop()`, `start()`, `kill9()`;
    `export(match)` reads stored samples back.

    It accepts InfluxDB line protocol on `{url}/write` and `{url}/api/v2/write`; a field
    `f` of measurement `m` becomes the series `m_f`.
    """

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.data_dir = workdir / "data"
        self._server = ServerProcess(
            "victoria-metrics",
            [
                find_binary("victoria-metrics"),
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr={HOST}:{self.port}",
                "-retentionPeriod=100y",  # test samples may carry old timestamps
                "-search.disableCache",  # read-after-write must see the write
                "-loggerLevel=WARN",
            ],
            workdir / "victoria-metrics.log",
            self._healthy,
            stop_signal=signal.SIGTERM,
        )

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0, trust_env=False).status_code == 200
        except httpx.TransportError:
            return False

    def flush(self) -> None:
        """Make everything written so far searchable (normally this takes up to a second)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10.0, trust_env=False).raise_for_status()

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        """Samples of the series matching `match`, from /api/v1/export after a flush.

        Each item is VictoriaMetrics' export JSON: {"metric": {labels}, "values": [...],
        "timestamps": [milliseconds since the epoch]}.
        """
        self.flush()
        response = httpx.post(
            f"{self.url}/api/v1/export", data={"match[]": match}, timeout=10.0, trust_env=False
        )
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"VictoriaMetrics({self.url}, running={self.running})"
