"""A real InfluxDB 1.x server (Debian's influxd) on free loopback ports."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx

from .netns import call_in, exec_prefix
from .process import ServerProcess, ServiceHandle, find_binary, free_port

HOST = "127.0.0.1"


class InfluxDBv1(ServiceHandle):
    """Handle on one influxd: `url`, `host`, `port`; `stop()`, `start()`, `kill9()`;
    `query(q, db)` and `write(lines, db)` over the v1 HTTP API.
    """

    def __init__(self, workdir: Path, *, host: str = HOST, netns: str | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = host  # another address only inside a namespace a test made (tests/support/netns.py)
        self.netns = netns  # where influxd runs; ping, query and write are made from inside it too
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.data_dir = workdir
        self.conf_path = workdir / "influxdb.conf"
        self.conf_path.write_text(self._config(workdir, rpc_port=free_port()))
        self._server = ServerProcess(
            "influxd",
            [*exec_prefix(netns), find_binary("influxd", "influxdb"), "run", "-config", str(self.conf_path)],
            workdir / "influxd.log",
            self._ping,
            stop_signal=signal.SIGTERM,
        )

    def _config(self, workdir: Path, rpc_port: int) -> str:
        # Only the HTTP API listens; the RPC (backup) service is pinned to loopback too,
        # and the _internal monitor database is off so queries see only test data.
        return f"""\
reporting-enabled = false
bind-address = "{self.host}:{rpc_port}"

[meta]
  dir = "{workdir}/meta"

[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  pprof-enabled = false

[logging]
  suppress-logo = true
  level = "warn"

[continuous_queries]
  enabled = false
"""

    def _here(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) from inside the server's namespace, if it has one."""
        if self.netns is None:
            return fn(*args, **kwargs)
        return call_in(self.netns, lambda: fn(*args, **kwargs))

    def _ping(self) -> bool:
        try:
            return self._here(httpx.get, f"{self.url}/ping", timeout=1.0, trust_env=False).status_code == 204
        except httpx.TransportError:
            return False

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL through POST /query and return the parsed JSON body.

        Raises httpx.HTTPStatusError on an HTTP error and AssertionError when a
        statement returns an error, so a bad query never passes silently.
        """
        params = {"q": q, **({"db": db} if db else {})}
        response = self._here(httpx.post, f"{self.url}/query", params=params, timeout=10.0, trust_env=False)
        response.raise_for_status()
        body = response.json()
        errors = [result["error"] for result in body.get("results", []) if "error" in result]
        assert not errors, f"InfluxQL {q!r} failed: {errors}"
        return body

    def write(self, lines: str, db: str, precision: str = "ns") -> None:
        """Write line protocol through POST /write (204 expected)."""
        response = self._here(
            httpx.post,
            f"{self.url}/write",
            params={"db": db, "precision": precision},
            content=lines,
            timeout=10.0,
            trust_env=False,
        )
        response.raise_for_status()

    def __repr__(self) -> str:
        return f"InfluxDBv1({self.url}, running={self.running})"
