"""The scale benchmark's load and measurement tools: wrk runs and their parsing, a server
process's CPU time, waiting for it to go idle, and holding many SSE streams at once."""

import asyncio
import os
import re
import subprocess
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of a process (its own threads), seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def wait_idle(pid: int, timeout: float = 180.0, busy_s: float = 0.05, window: float = 0.5) -> float:
    """Wait until the process uses less than busy_s CPU over `window` seconds (requests that wrk
    abandoned at its deadline are still being answered); returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        c0 = cpu_s(pid)
        time.sleep(window)
        if cpu_s(pid) - c0 < busy_s:
            break
    return time.perf_counter() - start


@dataclass
class WrkResult:
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    non_2xx: int = 0
    socket_errors: int = 0
    server_cpu_s: float = 0.0
    alone_ms: float = float("nan")  # one request on an idle server
    body_bytes: int = 0
    raw: str = ""

    @property
    def failed(self) -> bool:
        return self.non_2xx > 0 or self.socket_errors > 0 or self.requests == 0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def parse_wrk(out: str) -> WrkResult:
    r = WrkResult(raw=out)
    if m := re.search(r"(\d+) requests in", out):
        r.requests = int(m.group(1))
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        r.rps = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        r.p50_ms = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        r.p99_ms = _ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        r.non_2xx = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r.socket_errors = sum(int(g) for g in m.groups())
    return r


def wrk(url: str, key: str, seconds: float, connections: int, threads: int, server_pid: int,
        timeout_s: float = 60.0) -> WrkResult:
    """One bounded wrk run (loopback only) with the bearer key; the server's CPU over it."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"{url}: the benchmark loads loopback servers only")
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            f"--timeout={int(timeout_s)}s", "-H", f"Authorization: Bearer {key}", url]
    c0 = cpu_s(server_pid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30).stdout
    result = parse_wrk(out)
    result.server_cpu_s = cpu_s(server_pid) - c0
    return result


# -- SSE streams ----------------------------------------------------------------------------
_GRID = re.compile(rb'"grid_kw":(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')


@dataclass
class Streams:
    """Hold N SSE streams open on raw asyncio sockets (the cheapest client: no SSE or chunk
    parsing), and note when each stream first shows each grid-power value."""

    host: str
    port: int
    path: str
    key: str
    arrivals: list[dict[float, float]] = field(default_factory=list)  # per stream: value -> loop time
    received: list[int] = field(default_factory=list)  # bytes per stream
    events: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, n: int) -> None:
        ready = []
        for _ in range(n):
            i = len(self.arrivals)
            self.arrivals.append({})
            self.received.append(0)
            self.events.append(0)
            started = asyncio.get_running_loop().create_future()
            ready.append(started)
            self.tasks.append(asyncio.create_task(self._hold(i, started)))
        await asyncio.wait_for(asyncio.gather(*ready), 60)

    async def _hold(self, i: int, started: asyncio.Future) -> None:
        loop = asyncio.get_running_loop()
        writer = None
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                         f"Authorization: Bearer {self.key}\r\nAccept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            started.set_result(True)
            tail = b""
            arrivals = self.arrivals[i]
            while True:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    raise RuntimeError("stream closed by the server")
                now = loop.time()
                self.received[i] += len(chunk)
                data = tail + chunk
                self.events[i] += chunk.count(b"event: update")
                for m in _GRID.finditer(data):
                    arrivals.setdefault(float(m.group(1)), now)
                tail = data[-64:]
        except asyncio.CancelledError:
            if writer is not None:
                writer.close()
            raise
        except Exception as exc:  # noqa: BLE001 - reported, the stream counts as failed
            self.errors.append(f"stream {i}: {exc}")
            if not started.done():
                started.set_exception(exc)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
