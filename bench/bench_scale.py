"""Scale benchmark: a 1,000-meter park with a year of 15-minute intervals (~36 million rows) on
PostgreSQL, served by one API process, loaded by wrk; SSE fan-out; accounting per pass.

    .venv/bin/python bench/bench_scale.py              # PostgreSQL, 1,000 meters, a year (~25 min cold, ~10 cached)
    .venv/bin/python bench/bench_scale.py --sqlite     # SQLite, 200 meters, a year
    .venv/bin/python bench/bench_scale.py --quick      # smoke run: 50 meters, 35 days, short runs (~2-3 min)

Needs `wrk` (Debian package wrk), PostgreSQL's server binaries and `influxd` (as the tests do);
the PostgreSQL cluster is the tests' own (tests.support.Postgres), so no system service is used.

Every figure is printed with a baseline measured in the same run (the machine is shared):
- data: a park of N meters (simulator.fleet.fleet_config, polled every 15 s) with D days of
  intervals written by set-based SQL (bench/scale_data.py), daily and monthly sums by GROUP BY,
  spot-checked against the accounting service's update_aggregates; a second park with the same
  meters and one month of history. The generated PostgreSQL data folder is cached under
  .cache/bench-scale/, keyed by the schema's head revision, and copied for every run.
- HTTP: one API process (lingtan.cli.runner.api_server, the server `lingtan api` runs, with a
  clock that starts at the data's "now" so the cache stays valid) on 127.0.0.1; wrk with 100
  connections and 2 threads for a fixed time per endpoint after a warm-up, against
  /api/v1/health in the same run (measured first and last). Non-2xx answers or socket errors
  mark the figure FAILED.
- realtime with a year vs a month of history: one connection, cached path (wrk -c1) and cold
  path (after each change: an interval rewritten and a new reading, then, once the API's reuse of
  the park's fingerprint (POLL_S) has run out, one request).
- SSE: the API process's CPU (utime+stime) over a fixed time with 0, 1 and 100 open streams
  while a new reading is committed through ingest's Ledger every second; with 100 open, the
  delay from each commit to its arrival on every stream (p99).
- accounting: readings of every meter every 15 s into InfluxDB 1.x (tests.support.InfluxDBv1)
  and the ledger, passes of lingtan.accounting.service.Rollup: CPU per pass (time.process_time)
  as a share of one core over 15 s, early (2 h) and late (20 h) in a simulated day.
Only loopback traffic; every run is bounded in count and time; every server is stopped at the end.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import scale_data as sd  # noqa: E402
import yaml  # noqa: E402
from scale_load import Streams, WrkResult, cpu_s, wait_idle, wrk  # noqa: E402
from sqlalchemy import select  # noqa: E402

from lingtan.api.live import POLL_S  # noqa: E402
from tests.support import free_port, wait_for  # noqa: E402

CACHE = ROOT / ".cache" / "bench-scale"
YEAR, MONTH = "fleet", "fleet-month"


def say(*a) -> None:
    print(*a, flush=True)


# -- data --------------------------------------------------------------------------------------
def config_data(args, url: str) -> dict:
    data = sd.merge_configs(sd.park_config(args.meters, YEAR, url),
                            sd.park_config(args.meters, MONTH, url, gateway_prefix="m-"))
    data.setdefault("api", {})["rate_limit_per_key"] = None  # wrk from one key: no per-key rate limit
    return data


def generate(engine, args) -> dict:
    """Both parks' intervals, aggregates and latest readings; returns what was made."""
    cfg = sd.parse(config_data(args, "sqlite://"))
    year, month = cfg.park(YEAR), cfg.park(MONTH)
    t = time.perf_counter()
    try:  # monthly partitions of interval_energy (PostgreSQL, migration 0004): the year's months exist
        from lingtan.store.partitions import ensure_partitions
        made = ensure_partitions(engine, sd.NOW.date(), since=sd.history_start(args.days).date())
        if made:
            say(f"  {len(made)} monthly partitions made: {made[0]} ... {made[-1]}")
    except ImportError:
        pass
    rows = sd.fill_intervals(engine, year, args.days, 0, say)
    rows_month = sd.fill_intervals(engine, month, args.month_days, rows, say)
    t_intervals = time.perf_counter() - t
    daily, monthly = sd.fill_aggregates(engine, year)
    daily_m, monthly_m = sd.fill_aggregates(engine, month)
    t_aggregates = time.perf_counter() - t - t_intervals
    bad = sd.spot_check(engine, year) + sd.spot_check(engine, month)
    if bad:
        raise SystemExit("aggregates disagree with update_aggregates:\n" + "\n".join(bad))
    sd.fill_latest(engine, year)
    sd.fill_latest(engine, month)
    top = sd.set_revision_counter(engine)
    sd.analyze(engine)
    return {"interval_rows": rows, "interval_rows_month": rows_month, "daily_rows": daily + daily_m,
            "monthly_rows": monthly + monthly_m, "top_revision": top, "intervals_s": round(t_intervals, 1),
            "aggregates_s": round(t_aggregates, 1), "total_s": round(time.perf_counter() - t, 1),
            "spot_checks": 12, "bytes": sd.database_bytes(engine), "built": datetime.now(UTC).isoformat()}


def cache_key(args, dialect: str) -> str:
    from lingtan.store.db import head_revision
    return f"{dialect}-rev{head_revision()}-g{sd.GENERATOR}-{args.meters}m-{args.days}d-{args.month_days}d"


def prune(folder: Path) -> None:
    """Drop the caches of the same park made for other schema revisions or generators."""
    dialect, _rev, _gen, size = folder.name.split("-", 3)
    for other in CACHE.glob(f"{dialect}-rev*-g*-{size}"):
        if other != folder:
            shutil.rmtree(other, ignore_errors=True)


def postgres_database(args, work: Path):
    """A running cluster with the data: copied from the cache, or generated (and cached)."""
    from lingtan.store.db import make_engine
    from tests.support import Postgres
    folder = CACHE / cache_key(args, "postgresql")
    meta_path = folder / "meta.json"
    if meta_path.exists() and not args.rebuild:
        t = time.perf_counter()
        pg = Postgres(template=folder / "data")
        pg.start()
        meta = json.loads(meta_path.read_text())
        meta["copied_s"] = round(time.perf_counter() - t, 1)
        return pg, meta
    pg = Postgres()
    pg.start()
    engine = make_engine(pg.url)
    say(f"generating {args.meters} meters x {args.days} days (+ {args.month_days} days) on PostgreSQL ...")
    meta = generate(engine, args)
    engine.dispose()
    if not args.no_cache:
        pg.stop()
        tmp = folder.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(pg.data_dir), str(tmp / "data")], check=True)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        prune(folder)
        pg.start()
    return pg, meta


def sqlite_database(args, work: Path) -> tuple[str, dict]:
    from lingtan.store.db import make_engine
    folder = CACHE / cache_key(args, "sqlite")
    target = work / "platform.db"
    if (folder / "meta.json").exists() and not args.rebuild:
        t = time.perf_counter()
        shutil.copy(folder / "platform.db", target)
        meta = json.loads((folder / "meta.json").read_text())
        meta["copied_s"] = round(time.perf_counter() - t, 1)
        return f"sqlite:///{target}", meta
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    say(f"generating {args.meters} meters x {args.days} days (+ {args.month_days} days) on SQLite ...")
    meta = generate(engine, args)
    engine.dispose()
    if not args.no_cache:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, folder / "platform.db")
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))
        prune(folder)
    return url, meta


# -- the server ----------------------------------------------------------------------------------
def sim_now(epoch: float) -> datetime:
    """The clock of the run: the data's NOW when the run started, then real time."""
    return sd.NOW + timedelta(seconds=time.time() - epoch)


def serve(config_path: str, port: int, epoch: float) -> None:
    """The server process: what `lingtan api --config FILE` runs, with the run's clock."""
    from lingtan.api.app import create_app
    from lingtan.cli.configfile import load_config
    from lingtan.cli.runner import api_server
    from lingtan.store.db import make_engine
    config = load_config(config_path)
    app = create_app(config, make_engine(config.store.url), clock=lambda: sim_now(epoch))
    asyncio.run(api_server(app, "127.0.0.1", port).serve())


def start_server(config_path: Path, epoch: float) -> tuple[subprocess.Popen, str, int]:
    port = free_port()
    log = open(config_path.parent / "api.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(config_path), str(port), repr(epoch)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"API server exited: {(config_path.parent / 'api.log').read_text()[-2000:]}")
        try:
            return httpx.get(base + "/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(up, 120, 0.3, "API server up")
    return proc, base, port


# -- measurements -----------------------------------------------------------------------------------
def endpoints(args, top_revision: int) -> dict[str, str]:
    from lingtan.api.cursor import encode
    today, yesterday = sd.TODAY, sd.TODAY - timedelta(days=1)
    p = f"/api/v1/parks/{YEAR}"
    near_end = encode(f"intervals:{YEAR}", max(0, top_revision - 5000))
    return {
        "health (baseline)": "/api/v1/health",
        "realtime": f"{p}/carbon/realtime",
        "series park hour, 1 day": f"{p}/series?step=hour&first={yesterday}&last={yesterday}",
        "series meter 15min, 2 days": f"{p}/series?scope=meter&id=el-10&step=15min&first={yesterday - timedelta(1)}"
                                      f"&last={yesterday}",
        "series park day, year to date": f"{p}/series?step=day&first={today.replace(month=1, day=1)}&last={today}",
        "meters": f"{p}/meters",
        "sync page 1000, from start": f"{p}/sync/intervals?limit=1000",
        "sync page 1000, near end": f"{p}/sync/intervals?limit=1000&cursor={near_end}",
    }


class Server:
    """The API process; restarted when requests that wrk abandoned would keep it busy too long."""

    def __init__(self, config_path: Path, epoch: float) -> None:
        self.config_path, self.epoch = config_path, epoch
        self.proc, self.base, self.port = start_server(config_path, epoch)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def settle(self, limit_s: float) -> str:
        """Wait for the server to go idle; past limit_s, restart it. Returns what happened."""
        waited = wait_idle(self.pid, timeout=limit_s)
        if waited < limit_s:
            return f"busy {waited:.0f} s after" if waited > 2 else ""
        self.stop()
        self.proc, self.base, self.port = start_server(self.config_path, self.epoch)
        return f"still busy {limit_s:.0f} s after: restarted"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


def load_phase(args, server: Server, key: str, top_revision: int) -> dict[str, WrkResult]:
    results: dict[str, WrkResult] = {}
    eps = endpoints(args, top_revision)
    order = list(eps.items()) + [("health (baseline, again)", eps["health (baseline)"])]
    for name, path in order:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            t = time.perf_counter()
            first = client.get(server.base + path)  # alone, and a warm-up of its caches
            alone_ms = 1000 * (time.perf_counter() - t)
        if first.status_code != 200:
            raise SystemExit(f"{name}: HTTP {first.status_code} {first.text[:300]}")
        if alone_ms < 1000:  # a slow endpoint needs no warm-up, and its backlog would outlast it
            wrk(server.base + path, key, args.warmup, args.connections, 2, server.pid)
            server.settle(args.settle)
        r = results[name] = wrk(server.base + path, key, args.seconds, args.connections, 2, server.pid)
        r.alone_ms = alone_ms
        r.body_bytes = len(first.content)
        note = server.settle(args.settle)
        say(f"  {name:<32} {r.rps:>8.1f} req/s  p50 {r.p50_ms:>8.1f} ms  p99 {r.p99_ms:>8.1f} ms  "
            f"{r.requests} requests, non-2xx {r.non_2xx}, socket errors {r.socket_errors}; alone {alone_ms:.0f} ms, "
            f"{len(first.content) / 1024:.0f} KiB{status(r, args.seconds)}{f'  ({note})' if note else ''}")
    return results


def status(r: WrkResult, seconds: float) -> str:
    if r.non_2xx or r.socket_errors:
        return "  FAILED (non-2xx or socket errors)"
    return f"  NONE completed in {seconds:g} s" if r.requests == 0 else ""


class Bumper:
    """A change of a park's data, as an accounting pass and ingest make it: the newest interval of
    the grid meter rewritten (new revision) and a new reading."""

    def __init__(self, cfg, engine, epoch: float) -> None:
        from lingtan.ingest.ledger import Ledger
        from lingtan.store.db import sessions
        self.cfg, self.engine, self.epoch = cfg, engine, epoch
        self.sessions = sessions(engine)
        self.ledger = Ledger(cfg, engine)
        self.seq = 0

    def commit_reading(self, park_id: str, values: dict[str, dict[str, float]]) -> float:
        """Latest rows through ingest's ledger; returns the monotonic time the commit returned."""
        from lingtan.store.timeseries.base import Row
        park = self.cfg.park(park_id)
        ts = int(sim_now(self.epoch).timestamp() * 1000)
        rows = []
        for meter_id, v in values.items():
            self.seq += 1
            rows.append(Row(park_id, meter_id, ts, park.meter(meter_id).gateway, self.seq, v))
        self.ledger.commit(rows, [], token=f"bump{self.seq}")
        return time.monotonic()

    def bump(self, park_id: str) -> None:
        from lingtan.store.models import IntervalEnergy
        with self.sessions.begin() as s:
            row = s.scalars(select(IntervalEnergy).where(
                IntervalEnergy.park == park_id, IntervalEnergy.meter == "grid-main",
                IntervalEnergy.quantity == "energy_import_kwh").order_by(IntervalEnergy.start.desc()).limit(1)).one()
            row.updated_at = sim_now(self.epoch)
        self.commit_reading(park_id, {"grid-main": {"power_kw": 4100.0 + self.seq % 100}})


def realtime_phase(args, base: str, key: str, pid: int, bumper: Bumper) -> dict:
    out = {}
    for park in (YEAR, MONTH):
        url = f"{base}/api/v1/parks/{park}/carbon/realtime"
        wrk(url, key, 1, 1, 1, pid)
        out[f"cached {park}"] = wrk(url, key, args.seconds / 2, 1, 1, pid)
    cold: dict[str, list[float]] = {YEAR: [], MONTH: []}
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for i in range(args.cold * 2):
            park = (YEAR, MONTH)[i % 2]
            bumper.bump(park)
            time.sleep(POLL_S + 0.05)  # the API reuses a park's fingerprint for POLL_S: then it sees the change
            t = time.perf_counter()
            r = client.get(f"{base}/api/v1/parks/{park}/carbon/realtime")
            cold[park].append(1000 * (time.perf_counter() - t))
            if r.status_code != 200:
                raise SystemExit(f"realtime {park}: HTTP {r.status_code} {r.text[:300]}")
    for park in (YEAR, MONTH):
        xs = sorted(cold[park])
        out[f"cold {park}"] = {"median_ms": statistics.median(xs), "p90_ms": xs[int(0.9 * (len(xs) - 1))],
                               "n": len(xs)}
    wait_idle(pid)
    return out


async def sse_phase(args, port: int, key: str, pid: int, bumper: Bumper, cfg) -> dict:
    """Server CPU with 0, 1 and N streams while a reading arrives every second; delays with N."""
    park = cfg.park(YEAR)
    streams = Streams("127.0.0.1", port, f"/api/v1/parks/{YEAR}/stream", key)
    commits: dict[float, float] = {}  # grid power value -> monotonic time its commit returned
    others = [m for m in park.meters if m.role.value != "grid"]
    stop = asyncio.Event()

    async def feeder() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            value = 5000.0 + 0.25 * k  # exact in binary: printed and parsed back unchanged
            # the grid meter and 1/15 of the other meters: what ingest commits in a second at 15 s polls
            batch = {"grid-main": {"power_kw": value, "energy_import_kwh": 1.2e6 + k}}
            for m in others[(k * len(others) // 15) % len(others):][:max(1, len(others) // 15)]:
                batch[m.id] = sd.latest_values(m, 20.0 + k % 7)
            commits[value] = await asyncio.to_thread(bumper.commit_reading, YEAR, batch)
            await asyncio.sleep(1.0)

    async def window(seconds: float) -> tuple[float, float, float]:
        t0, c0 = time.monotonic(), cpu_s(pid)
        await asyncio.sleep(seconds)
        return t0, time.monotonic(), cpu_s(pid) - c0

    feed = asyncio.create_task(feeder())
    out: dict = {}
    try:
        await asyncio.sleep(2)
        _, _, out["cpu_0"] = await window(args.sse_seconds)
        await streams.open(1)
        await asyncio.sleep(3)
        bytes0 = streams.received[0]
        events0 = streams.events[0]
        _, _, out["cpu_1"] = await window(args.sse_seconds)
        out["bytes_per_event"] = (streams.received[0] - bytes0) / max(1, streams.events[0] - events0)
        await streams.open(args.streams - 1)
        await asyncio.sleep(3)
        ev = list(streams.events)
        t0, t1, out["cpu_n"] = await window(args.sse_seconds)
        out["events_per_s"] = statistics.mean(e - e0 for e, e0 in zip(streams.events, ev, strict=True)) / (t1 - t0)
        await asyncio.sleep(2)  # the last readings of the window still travel
    finally:
        stop.set()
        await feed
        await streams.close()
    delays, missed = [], 0
    for value, at in commits.items():
        if not t0 <= at <= t1:
            continue
        for arrivals in streams.arrivals:
            got = arrivals.get(value)
            if got is None:
                missed += 1
            else:
                delays.append(got - at)
    delays.sort()
    n = len(delays) + missed
    out.update(streams=len(streams.arrivals), errors=streams.errors, missed=missed, deliveries=n,
               readings=sum(1 for at in commits.values() if t0 <= at <= t1),
               p50_s=delays[len(delays) // 2] if delays else float("inf"),
               # a missed delivery counts as never arrived
               p99_s=(delays[int(0.99 * (n - 1))] if delays and int(0.99 * (n - 1)) < len(delays) else float("inf")),
               max_s=delays[-1] if delays else float("inf"))
    return out


def accounting_phase(args, cfg, engine, db_pid: int | None, work: Path) -> dict:
    from scale_accounting import AccountingRun

    from lingtan.kernel.config import Sink
    from lingtan.store.timeseries import open_sink
    from tests.support import InfluxDBv1
    influx = InfluxDBv1(work / "influxdb")
    influx.start()
    try:
        sink = open_sink(Sink(kind="influx_v1", url=influx.url, database="lingtan", timeout_s=60))
        run = AccountingRun(cfg, engine, cfg.park(YEAR), sink, args.days, sd.TODAY + timedelta(days=1),
                            db_pid, influx._server._proc.pid, say)
        out = {}
        db_server = "PostgreSQL " if db_pid else "SQLite (in process) "
        for label, hour in (("early", args.early_hour), ("late", args.late_hour)):
            cu = run.catch_up(hour)
            say(f"  to {hour:g} h: {cu.readings:,} readings fed in {cu.feed_s:.1f} s; catch-up pass over "
                f"{cu.hours:g} h: {cu.samples:,} samples, {cu.wall_s:.1f} s wall, {cu.cpu_s:.1f} s CPU")
            out[label] = run.passes(args.passes)
            f = out[label]
            say(f"  at {f.at_hour:.2f} h: {args.passes} passes, per pass median CPU {f.median('cpu_s'):.2f} s, "
                f"wall {f.median('wall_s'):.2f} s, samples {f.median('samples'):.0f}, "
                f"store reads {f.median('store_calls'):.0f} ({f.median('store_cpu_s'):.2f} s CPU), "
                f"intervals written {f.median('written'):.0f}; {db_server}{f.median('db_cpu_s'):.2f} s, "
                f"influxd {f.median('ts_cpu_s'):.2f} s CPU; baseline, the same window of every meter in one query: "
                f"{f.median('bare_cpu_s'):.3f} s CPU, {f.median('bare_wall_s'):.3f} s wall")
            out[f"catch_up_{label}"] = cu
        sink.close()
        return out
    finally:
        influx.stop()


# -- the report ----------------------------------------------------------------------------------------
def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL (default 200 meters)")
    p.add_argument("--quick", action="store_true", help="smoke run: small park, short runs")
    p.add_argument("--meters", type=int)
    p.add_argument("--days", type=int, help="history of the 'year' park (default 365)")
    p.add_argument("--month-days", type=int, help="history of the 'month' park (default 30)")
    p.add_argument("--seconds", type=float, help="per wrk run (default 15)")
    p.add_argument("--warmup", type=float, help="wrk warm-up per endpoint (default 3)")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--sse-seconds", type=float, help="CPU window per stream count (default 20)")
    p.add_argument("--cold", type=int, help="cold realtime requests per park (default 15)")
    p.add_argument("--passes", type=int, help="accounting passes measured early and late (default 8)")
    p.add_argument("--early-hour", type=float)
    p.add_argument("--late-hour", type=float)
    p.add_argument("--settle", type=float, default=120, help="seconds to wait for an idle server before a restart")
    p.add_argument("--skip", default="", help="comma-separated phases to skip: load,realtime,sse,accounting")
    p.add_argument("--rebuild", action="store_true", help="regenerate the data even if cached")
    p.add_argument("--no-cache", action="store_true", help="do not store the generated data")
    args = p.parse_args()
    quick = args.quick
    defaults = dict(meters=50 if quick else (200 if args.sqlite else 1000), days=35 if quick else 365,
                    month_days=7 if quick else 30, seconds=3 if quick else 15, warmup=1 if quick else 3,
                    sse_seconds=4 if quick else 20, cold=5 if quick else 15, passes=3 if quick else 5,
                    early_hour=0.5 if quick else 2, late_hour=1.5 if quick else 20)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    skip = set(filter(None, args.skip.split(",")))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not installed: apt-get install -y wrk")

    from lingtan.api.auth import Scope, create_key
    from lingtan.store.db import make_engine, sessions

    work = Path(tempfile.mkdtemp(prefix="lingtan-bench-scale-"))
    started = time.perf_counter()
    pg = None
    server = None
    try:
        if args.sqlite:
            url, meta = sqlite_database(args, work)
        else:
            pg, meta = postgres_database(args, work)
            url = pg.url
        engine = make_engine(url)
        dialect = engine.dialect.name
        partitioned = False
        if dialect == "postgresql":
            with engine.connect() as c:
                from sqlalchemy import text
                partitioned = bool(c.execute(text("SELECT count(*) FROM pg_partitioned_table pt JOIN pg_class c "
                                                  "ON c.oid = pt.partrelid WHERE c.relname = 'interval_energy'"))
                                   .scalar_one())
        data = config_data(args, url)
        cfg = sd.parse(data)
        config_path = work / "platform.yaml"
        config_path.write_text(yaml.safe_dump(data))
        with sessions(engine).begin() as s:
            _, key = create_key(s, parks=None, scopes=[Scope.READ], name="bench-scale", now=sd.NOW)

        say(f"== data: {dialect}{' (interval_energy partitioned)' if partitioned else ''}, {args.meters} meters "
            f"x 2 parks ({len(sd.counters(cfg.park(YEAR))[0])} counters each)")
        say(f"  '{YEAR}': {args.days} days + today to 14:00, {meta['interval_rows']:,} interval rows; "
            f"'{MONTH}': {args.month_days} days, {meta['interval_rows_month']:,}; daily {meta['daily_rows']:,}, "
            f"monthly {meta['monthly_rows']:,}; database {meta['bytes'] / 2**30:.2f} GiB")
        say(f"  generated in {meta['total_s']:.0f} s (intervals {meta['intervals_s']:.0f} s = "
            f"{(meta['interval_rows'] + meta['interval_rows_month']) / max(meta['intervals_s'], 1e-9):,.0f} rows/s, "
            f"aggregates {meta['aggregates_s']:.0f} s); {meta['spot_checks']} aggregates equal to update_aggregates"
            + (f"; from the cache of {meta['built'][:16]}, copied in {meta['copied_s']:.0f} s"
               if "copied_s" in meta else ""))

        epoch = time.time()
        server = Server(config_path, epoch)
        say(f"== API: one process (lingtan.cli.runner.api_server) on {server.base}, pid {server.pid}")
        bumper = Bumper(cfg, engine, epoch)
        results: dict = {}
        if "load" not in skip:
            say(f"== wrk: {args.connections} connections, 2 threads, {args.seconds:g} s each after "
                f"{args.warmup:g} s warm-up (none for an endpoint slower than 1 s alone); 'alone': one request "
                "on an idle server")
            results["load"] = load_phase(args, server, key, meta["interval_rows"])
        if "realtime" not in skip:
            say(f"== realtime, one connection: '{YEAR}' ({args.days} days) vs '{MONTH}' ({args.month_days} days)")
            results["realtime"] = realtime_phase(args, server.base, key, server.pid, bumper)
        if "sse" not in skip:
            say(f"== SSE: server CPU over {args.sse_seconds:g} s with 0, 1 and {args.streams} streams, "
                "a new reading committed every second")
            results["sse"] = asyncio.run(sse_phase(args, server.port, key, server.pid, bumper, cfg))
        server.stop()
        if "accounting" not in skip:
            say(f"== accounting: {args.meters} meters polled every 15 s, readings into InfluxDB 1.x "
                f"({shutil.which('influxd')}), {args.passes} passes at {args.early_hour:g} h and "
                f"{args.late_hour:g} h of a simulated day")
            db_pid = pg._server._proc.pid if pg is not None else None
            results["accounting"] = accounting_phase(args, cfg, engine, db_pid, work)
        engine.dispose()
        report(args, dialect, results)
        say(f"(whole run {time.perf_counter() - started:.0f} s)")
        return 0 if not any(m is False for m in results.get("met", {}).values()) else 1
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            pg.remove()
        shutil.rmtree(work, ignore_errors=True)


def report(args, dialect: str, results: dict) -> None:
    met: dict[str, bool] = {}
    lines = []
    if "load" in results:
        load = results["load"]
        h1, h2 = load["health (baseline)"], load["health (baseline, again)"]
        health = (h1.rps + h2.rps) / 2
        lines.append(f"\nwrk, {args.connections} connections, {dialect}, {args.meters} meters, {args.days} days; "
                     f"baseline health = mean of first and last run: {health:.0f} req/s")
        lines.append(f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'× health':>10}{'CPU s/req':>11}"
                     f"{'alone ms':>10}{'KiB':>7}  answered")
        for name, r in load.items():
            lines.append(f"{name:<34}{r.rps:>9.1f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{ratio(r.rps, health):>10.3f}"
                         f"{ratio(r.server_cpu_s, r.requests):>11.4f}{r.alone_ms:>10.0f}{r.body_bytes / 1024:>7.0f}"
                         f"  {status(r, args.seconds).strip() or 'yes'}")
        for name in ("realtime", "series park hour, 1 day", "series meter 15min, 2 days",
                     "series park day, year to date"):
            met[f"{name} >= 0.5 x health"] = ratio(load[name].rps, health) >= 0.5 and not load[name].failed
    if "realtime" in results:
        rt = results["realtime"]
        cy, cm = rt[f"cached {YEAR}"], rt[f"cached {MONTH}"]
        oy, om = rt[f"cold {YEAR}"], rt[f"cold {MONTH}"]
        lines.append(f"\nrealtime, one connection: {args.days} days of history vs {args.month_days} days (same run)")
        lines.append(f"  cached (wrk -c1): p50 {cy.p50_ms:.2f} ms vs {cm.p50_ms:.2f} ms = "
                     f"{ratio(cy.p50_ms, cm.p50_ms):.2f}x; p99 {cy.p99_ms:.2f} vs {cm.p99_ms:.2f} ms; "
                     f"{cy.rps:.0f} vs {cm.rps:.0f} req/s")
        lines.append(f"  cold (after a change, {oy['n']} each): median {oy['median_ms']:.1f} ms vs "
                     f"{om['median_ms']:.1f} ms = {ratio(oy['median_ms'], om['median_ms']):.2f}x; "
                     f"p90 {oy['p90_ms']:.1f} vs {om['p90_ms']:.1f} ms")
        met["realtime year <= 1.5 x month (cached)"] = ratio(cy.p50_ms, cm.p50_ms) <= 1.5
        met["realtime year <= 1.5 x month (cold)"] = ratio(oy["median_ms"], om["median_ms"]) <= 1.5
    if "sse" in results:
        s = results["sse"]
        lines.append(f"\nSSE, a reading every second, server CPU over {args.sse_seconds:g} s "
                     f"(payload {s['bytes_per_event'] / 1024:.0f} KiB per update, {s['events_per_s']:.2f} updates/s "
                     "per stream)")
        lines.append(f"  0 streams {s['cpu_0']:.2f} s, 1 stream {s['cpu_1']:.2f} s, {s['streams']} streams "
                     f"{s['cpu_n']:.2f} s CPU: {s['streams']} vs 1 = {ratio(s['cpu_n'], s['cpu_1']):.2f}x")
        lines.append(f"  delay commit -> stream with {s['streams']} open: p50 {s['p50_s'] * 1000:.0f} ms, "
                     f"p99 {s['p99_s'] * 1000:.0f} ms, max {s['max_s'] * 1000:.0f} ms over {s['deliveries']} "
                     f"deliveries ({s['readings']} readings), {s['missed']} missed"
                     + (f"; stream errors: {s['errors'][:3]}" if s["errors"] else ""))
        met[f"{s['streams']} streams <= 2 x CPU of 1"] = ratio(s["cpu_n"], s["cpu_1"]) <= 2.0
        met["reading on every stream within 1 s (p99)"] = s["p99_s"] <= 1.0 and not s["errors"]
    if "accounting" in results:
        a = results["accounting"]
        e, late = a["early"], a["late"]
        lines.append(f"\naccounting, {args.meters} meters polled every 15 s (InfluxDB 1.x), per pass (median of "
                     f"{args.passes})")
        for label, f in (("early", e), ("late", late)):
            lines.append(f"  {label} ({f.at_hour:.1f} h): CPU {f.median('cpu_s'):.2f} s = "
                         f"{f.median('cpu_s') / 15:.3f} of a core over 15 s; wall {f.median('wall_s'):.2f} s; "
                         f"samples {f.median('samples'):.0f}; store reads {f.median('store_calls'):.0f} "
                         f"({f.median('store_cpu_s'):.2f} s of the CPU); "
                         + (f"PostgreSQL {f.median('db_cpu_s'):.2f} s, " if dialect == "postgresql" else "")
                         + f"influxd {f.median('ts_cpu_s'):.2f} s")
        bare = statistics.median(e.bare_cpu_s + late.bare_cpu_s)
        lines.append(f"  baseline, same run: the pass's window of every meter in one InfluxQL query (GROUP BY meter) "
                     f"{bare:.3f} s CPU: the service's reads are {ratio(e.median('store_cpu_s'), bare):.0f}x that, "
                     f"its whole pass {ratio(e.median('cpu_s'), bare):.0f}x")
        lines.append(f"  late vs early: samples {ratio(late.median('samples'), e.median('samples')):.2f}x, CPU "
                     f"{ratio(late.median('cpu_s'), e.median('cpu_s')):.2f}x, wall "
                     f"{ratio(late.median('wall_s'), e.median('wall_s')):.2f}x "
                     f"(the day's readings: {ratio(late.at_hour, e.at_hour):.1f}x)")
        share = max(e.median("cpu_s"), late.median("cpu_s")) / 15
        met["accounting < 0.25 core at 15 s polls"] = share < 0.25 and max(e.median("wall_s"),
                                                                           late.median("wall_s")) < 15
        met["accounting work follows new readings (samples late/early <= 1.5)"] = \
            ratio(late.median("samples"), e.median("samples")) <= 1.5
    lines.append("\nmust-show")
    for k, v in met.items():
        lines.append(f"  {'met    ' if v else 'NOT MET'}  {k}")
    results["met"] = met
    say("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
