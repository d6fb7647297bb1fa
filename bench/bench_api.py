"""Benchmark of the API: requests per second and p99 latency of realtime and series under 100
concurrent clients, against the same server's health endpoint in the same run.

    .venv/bin/python bench/bench_api.py [--clients 100] [--requests 2000] [--seconds 20] [--db URL]

Fills a temporary SQLite database with two days of 15-minute intervals of the demo park (the
fixtures of tests/test_api_support.py), starts one uvicorn server process (one worker) on
127.0.0.1 over it, then for each endpoint runs N concurrent httpx.AsyncClient workers in this
process until the request count or the time bound is reached. Only loopback traffic; bounded in
count and time; stops the server by itself.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import free_port, wait_for  # noqa: E402
from tests.support.api import NOW, PARK, make_platform, two_park_config  # noqa: E402

ENDPOINTS = {
    "health": "/api/v1/health",
    "realtime": f"/api/v1/parks/{PARK}/carbon/realtime",
    "series (park, hour, 1 day)": f"/api/v1/parks/{PARK}/series?step=hour",
    "series (meter, 15min, 2 days)": f"/api/v1/parks/{PARK}/series?scope=meter&id=grid-main&step=15min"
                                     "&first=2026-06-14&last=2026-06-15",
}


async def load(base: str, path: str, key: str, clients: int, total: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=30) as client:
        async def worker() -> None:
            nonlocal issued, errors
            while issued < total and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                try:
                    r = await client.get(path)
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {"n": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def serve(url: str, port: int) -> None:
    """The server process: the API over the prepared database, clock fixed at the data's 'now'."""
    from lingtan.api.app import create_app
    from lingtan.store.db import make_engine
    config = two_park_config(url)  # thousands of requests from one key: no per-key rate limit
    config = config.model_copy(update={"api": config.api.model_copy(update={"rate_limit_per_key": None})})
    app = create_app(config, make_engine(url), clock=lambda: NOW)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--requests", type=int, default=2000, help="per endpoint (bound)")
    p.add_argument("--seconds", type=float, default=20, help="per endpoint (bound)")
    p.add_argument("--db", help="SQLAlchemy URL (default: a temporary SQLite file)")
    args = p.parse_args()
    folder = tempfile.mkdtemp(prefix="lingtan-bench-")
    url = args.db or f"sqlite:///{folder}/platform.db"
    platform = make_platform(url)
    platform.engine.dispose()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/api/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_for(up, 30, 0.2, "API server up")
        results = {}
        for name, path in ENDPOINTS.items():
            results[name] = asyncio.run(load(base, path, platform.keys["read"], args.clients, args.requests,
                                             args.seconds))
    finally:
        server.terminate()
        server.wait(10)
    health = results["health"]
    print(f"{args.clients} concurrent clients, one uvicorn worker process, {platform.engine.dialect.name}")
    print(f"{'endpoint':<32}{'requests':>9}{'errors':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'rps vs health':>15}")
    for name, r in results.items():
        print(f"{name:<32}{r['n']:>9}{r['errors']:>7}{r['rps']:>9.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{r['rps'] / health['rps']:>15.2f}")
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
