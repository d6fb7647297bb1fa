"""`lingtan demo`: the whole platform in one process on embedded defaults.

Simulated park (Modbus TCP) → gateway → embedded MQTT broker (amqtt, MQTT 3.1.1) → ingest →
SQLite → accounting → API and dashboard, with the alarm service on its default rules. No root,
no system services; data in one folder.

It starts with a simulated history (docs/demo.md): the API serves at once; meanwhile the park
model runs in the simulator's batch mode from the history's start (default 1 January, park-local;
`--history-days`) to the live start, sampled on every quarter hour, and those readings take the
same path as live ones: the time-series store's `write()`, the ingest ledger's commit (newest
readings, dirty days), then the accounting service's passes. The live simulator continues from
that very model, so no counter jumps at the handover. A data folder that already holds readings
gets no second history: the counters continue from its last readings and only the time since
then is filled in.
"""

import asyncio
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from lingtan.kernel.config import Config, parse_config

log = logging.getLogger(__name__)

HISTORY_GATEWAY = "demo-history"  # the gateway id history readings are stored under (seq 1, 2, ...)
WRITE_DAYS = 7  # history readings per store write and ledger commit: a week of the demo park is ~6,700
_FAR_MS = 7_258_118_400_000  # 2200-01-01, the latest time ingest accepts


def demo_config(data_dir: Path, port: int = 8000, speed: float = 1.0, mqtt_port: int | None = None,
                modbus_port: int | None = None) -> Config:
    from lingtan.cli.configfile import demo_config_text
    data = yaml.safe_load(demo_config_text())
    data["api"]["port"] = port
    if mqtt_port:
        data["mqtt"]["port"] = mqtt_port
    if modbus_port:
        for g in data["gateways"]:
            for b in g["buses"]:
                b["port"] = modbus_port
    data["simulator"]["speed"] = speed
    data["ingest"]["sink"]["path"] = str(data_dir / "lingtan-ts.db")
    data["store"]["url"] = f"sqlite:///{data_dir / 'lingtan.db'}"
    for g in data["gateways"]:
        g["spool"]["path"] = str(data_dir / f"{g['id']}-spool.db")
    return parse_config(data, "cli/demo.yaml (embedded)")


DEMO_HOST = "127.0.0.1"
DEFAULT_MQTT_PORT, DEFAULT_MODBUS_PORT = 18830, 15020  # as in cli/demo.yaml


def port_free(port: int, host: str = DEMO_HOST) -> bool:
    """Whether a server could listen on host:port now (with SO_REUSEADDR, as uvicorn and the
    broker bind: a port in TIME_WAIT counts as free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind((DEMO_HOST, 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port


def demo_ports(port: int, mqtt_port: int | None, modbus_port: int | None) -> tuple[int, int, int]:
    """The demo's API, broker and Modbus ports. A port given on the command line must be free,
    or the demo stops before starting anything, with one line naming the flag to change. The
    broker's and the simulator's ports, when not given, are their defaults if free and any free
    port otherwise: `--port` alone is enough to run a second demo beside a first."""
    from lingtan.cli.runner import CommandError
    wanted = [("--port", "the dashboard and API", port, None),
              ("--mqtt-port", "the embedded MQTT broker", mqtt_port, DEFAULT_MQTT_PORT),
              ("--modbus-port", "the simulated Modbus TCP meters", modbus_port, DEFAULT_MODBUS_PORT)]
    chosen: list[int] = []
    for flag, what, given, default in wanted:
        if given is not None:
            if given in chosen or not port_free(given):
                raise CommandError(f"port {given} on {DEMO_HOST} is already in use ({what}); "
                                   f"choose another with {flag} N")
            chosen.append(given)
        elif default not in chosen and port_free(default):
            chosen.append(default)
        else:
            chosen.append(_any_free_port(set(chosen)))
    return chosen[0], chosen[1], chosen[2]


def demo_key(engine, config: Config) -> str:
    """A read-only API key on every demo park, for the city-platform walkthrough (docs/demo.md).
    The previous run's demo key in the same data folder is revoked: one is valid at a time."""
    from sqlalchemy import select

    from lingtan.api.auth import create_key
    from lingtan.api.scopes import Scope
    from lingtan.store.db import sessions
    from lingtan.store.models import ApiKey
    now = datetime.now(UTC)
    with sessions(engine).begin() as s:
        for old in s.scalars(select(ApiKey).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))):
            old.revoked_at = now
        _, key = create_key(s, parks=[p.id for p in config.parks], scopes=[Scope.READ], name=DEMO_KEY_NAME,
                            now=now)
    return key


DEMO_KEY_NAME = "demo: read-only key for the city-platform walkthrough"


def broker_config(config: Config) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{config.mqtt.host}:{config.mqtt.port}"}},
        "sys_interval": 0,
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


# -- the simulated history ----------------------------------------------------------------------
def history_start(zone, now: datetime, days: int | None) -> datetime | None:
    """Where the history starts: local midnight `days` days before today, by default 1 January
    of the current park-local year; None for no history (days = 0)."""
    from lingtan.kernel.localtime import local_day, local_midnight
    today = local_day(now, zone)
    if days is None:
        first = date(today.year, 1, 1)
    elif days <= 0:
        return None
    else:
        first = today - timedelta(days=days)
    return local_midnight(first, zone).astimezone(UTC)


def _process_age() -> float:
    """Seconds since this process started (Linux; 0 where unknown), so "after start" counts the imports."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _local(t: datetime, zone) -> str:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@dataclass
class ParkHistory:
    """One park's history: the model the live simulator continues, and what it sampled."""

    park: object  # lingtan.kernel.park.Park
    model: object  # lingtan.simulator.model.ParkModel, advanced to `until`
    start: datetime  # first sampled instant
    until: datetime  # the live start
    samples: list = field(default_factory=list)  # simulator.model.Samples chunks
    after_ms: dict[str, int] = field(default_factory=dict)  # meter -> keep only readings after this
    stored: tuple[datetime, datetime] | None = None  # readings already in the data folder
    simulate_s: float = 0.0


def stored_readings(sink, park) -> tuple[int, dict[tuple[str, str], tuple[int, float]]] | None:
    """The first stored reading time of a park and each counter's last (time, value); None if none."""
    from lingtan.simulator.history import published
    from lingtan.simulator.model import counter_names
    first, last = None, {}
    for m in park.meters:
        for q in (q for q in counter_names(m.carrier) if q in published(m)):
            _, head = sink.neighbours(park.id, m.id, q, 0)
            tail, _ = sink.neighbours(park.id, m.id, q, _FAR_MS)
            if head is not None:
                first = head[0] if first is None else min(first, head[0])
            if tail is not None:
                last[(m.id, q)] = tail
    return None if first is None else (first, last)


def prepare_history(config: Config, sink, until: datetime, days: int | None,
                    stop: threading.Event | None = None) -> list[ParkHistory]:
    """Run each park's model in batch mode up to the live start `until`, sampling every quarter hour.

    A park whose readings are already stored starts its model where they start (same seed,
    so the same physics), presets every counter to its last stored value at that reading's
    time, and samples only from there. Returns the histories (none for days = 0 on an empty store).
    """
    from lingtan.simulator.history import STEP_S
    from lingtan.simulator.model import ParkModel
    seed = config.simulator.seed
    out = []
    for park in config.parks:
        found = stored_readings(sink, park)
        t0 = time.perf_counter()
        if found is not None:
            first_ms, last = found
            newest = max(ts for ts, _ in last.values())
            stored = (_utc(first_ms), _utc(newest))
            if newest >= until.timestamp() * 1000:
                log.warning("park %s: stored readings reach %s, after the live start %s (an earlier, faster "
                            "--speed run?); the live counters start afresh", park.id, stored[1], until)
                out.append(ParkHistory(park, None, until, until, stored=stored))
                continue
            model = ParkModel(park, seed, stored[0])
            for (meter, q), (ts, value) in sorted(last.items(), key=lambda kv: kv[1][0]):
                model.advance(_utc(ts))
                model.set_counter(meter, q, value)  # the counters continue from what the meters last showed
            after = {}
            for (meter, _q), (ts, _v) in last.items():
                after[meter] = max(after.get(meter, ts), ts)
            h = ParkHistory(park, model, _utc(newest), until, after_ms=after, stored=stored)
            if days == 0:  # no history, not even the time since the last reading
                out.append(h)
                continue
        else:
            start = history_start(park.zone, until, days)
            if start is None:
                continue
            h = ParkHistory(park, ParkModel(park, seed, start), start, until)
        for chunk in h.model.sample(until, STEP_S):
            h.samples.append(chunk)
            if stop is not None and stop.is_set():
                break
        h.simulate_s = time.perf_counter() - t0
        out.append(h)
    return out


def announce(h: ParkHistory, data_dir: Path) -> str:
    zone = h.park.zone
    if h.stored is not None:
        first, last = h.stored
        gap = _span((h.until - last).total_seconds())
        text = (f"history: {data_dir} already has readings of {h.park.id} from {_local(first, zone)} to "
                f"{_local(last, zone)} (park time): not generated again")
        if h.model is None:
            return text + "; they reach past now, so the live counters start afresh"
        if not h.samples:
            return text + f"; the counters continue from the last readings (the {gap} since are not filled in)"
        return text + f"; the counters continue from the last readings and the {gap} since are filled in"
    return (f"history: simulating {h.park.id} from {_local(h.start, zone)} to {_local(h.until, zone)} (park time) "
            f"in batch mode, one reading per meter every 15 minutes; the API answers meanwhile")


def _groups(samples: list, days: int) -> list[list]:
    """Consecutive sample chunks grouped into spans of about `days` days."""
    groups, current = [], []
    for chunk in samples:
        current.append(chunk)
        if chunk.t_s[-1] - current[0].t_s[0] >= days * 86400:
            groups.append(current)
            current = []
    return groups + ([current] if current else [])


def _kept(chunk, after) -> int:
    """Readings of a sample chunk later than each meter's `after` (epoch ms, per meter in park order)."""
    import numpy as np
    return int((np.rint(chunk.t_s * 1000).astype(np.int64)[:, None] > after).sum())


def feed_history(histories: list[ParkHistory], sink, ledger, stop, gate=None) -> dict[str, int]:
    """Push the sampled readings through the time-series store and the ingest ledger, a week per
    write and commit, newest week first (today and this month are accounted first); readings per park.

    `gate` (AccountingWorker) paces the commits: the next week's dirty marks are committed once
    an accounting pass has begun on the previous ones, so every pass (and every transaction of
    it, which holds the database's write lock) stays small and live ingest never waits long."""
    import numpy as np

    from lingtan.simulator.history import GatewayView
    from lingtan.store.timeseries.base import Row

    written = {}
    for h in histories:
        if h.model is None or not h.samples:
            continue
        view = GatewayView(h.model)
        after = np.array([h.after_ms.get(m.id, -1) for m in h.park.meters], dtype=np.int64)
        groups = _groups(h.samples, WRITE_DAYS)
        total = sum(_kept(c, after) for c in h.samples)
        seq = total  # per-gateway sequence numbers in time order, 1 … total, though written newest first
        for group in reversed(groups):
            if stop.is_set():
                return written
            n = sum(_kept(c, after) for c in group)
            rows, seq = [], seq - n
            for chunk in group:
                for meter, ts, values in view.readings(chunk):
                    if ts > h.after_ms.get(meter, -1):
                        rows.append(Row(h.park.id, meter, ts, HISTORY_GATEWAY, seq + len(rows) + 1, values))
            if rows:
                sink.write(rows)  # durable first, as ingest does
                if gate is not None:
                    gate.wait_turn(stop)
                ledger.commit(rows, [], uuid.uuid4().hex)  # then newest readings and dirty days
                if gate is not None:
                    gate.committed()
        written[h.park.id] = total
    return written


def account_history(config: Config, clock, ready, fed, halt, started, result) -> None:
    """The accounting worker: the accounting service's passes over the history as it is fed,
    until two passes that began after the last commit (the second takes the marks live
    readings renewed during the first). Its own process, so it has a core of its own: the
    passes are CPU-bound, the live demo keeps the other core."""
    import gc
    import multiprocessing
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the demo process stops us
    parent = multiprocessing.parent_process()
    alive = lambda: not halt.is_set() and (parent is None or parent.is_alive())  # noqa: E731
    from lingtan.accounting.service import Rollup
    from lingtan.store.db import make_engine
    from lingtan.store.timeseries import open_sink
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)  # a pass makes ~10⁵ objects per meter; ~10 % faster, short-lived process
    while not ready.wait(0.1):
        if not alive():
            return
    rollup = Rollup(config, open_sink(config.ingest.sink), make_engine(config.store.url, migrate=False),
                    clock=clock.now)
    busy, cpu, passes, after_fed, failures = 0.0, 0.0, 0, 0, 0
    while alive() and failures < 20:  # past that the demo's own accounting loop retries
        was_fed = fed.is_set()
        t0, c0 = time.perf_counter(), time.process_time()
        with started.get_lock():
            started.value += 1  # before the pass reads the dirty marks
        try:
            done = rollup.run_once()
        except Exception as exc:  # the database busy, say: the marks stay, the next pass takes them
            logging.getLogger(__name__).warning("history: accounting pass failed (%s); again", exc)
            failures += 1
            halt.wait(0.2)
            continue
        passes, failures = passes + 1, 0
        if done or was_fed:
            busy, cpu = busy + time.perf_counter() - t0, cpu + time.process_time() - c0
        if was_fed:
            after_fed += 1
            if after_fed >= 2:
                break
        elif not done:
            halt.wait(0.05)
    result.put((busy, cpu, passes))


class AccountingWorker:
    """The process of account_history, spawned early so its imports overlap the demo's start."""

    def __init__(self, config: Config, clock) -> None:
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # never fork a process that has threads
        self.ready, self.fed, self.halt, self.result = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        self.started = ctx.Value("q", 0)  # passes begun
        self._mark = None  # passes begun when the last commit was made
        self.waited = 0.0  # seconds the feeder waited for its turn
        self.process = ctx.Process(target=account_history, name="lingtan-demo-history-accounting", daemon=True,
                                   args=(config, clock, self.ready, self.fed, self.halt, self.started, self.result))
        self.process.start()

    def committed(self) -> None:
        self._mark = self.started.value

    def wait_turn(self, stop: threading.Event) -> None:
        """Until a pass has begun since the last commit (so it takes those marks)."""
        t0 = time.perf_counter()
        while self._mark is not None and self.started.value <= self._mark and self.process.is_alive() \
                and not stop.is_set():
            time.sleep(0.01)
        self.waited += time.perf_counter() - t0

    def wait(self, stop: threading.Event) -> tuple[float, float, int] | None:
        """(busy seconds, of them CPU seconds, passes) once done; None if stopped or failed."""
        import queue
        while not stop.is_set() and self.process.is_alive():
            try:
                return self.result.get(timeout=0.2)
            except queue.Empty:
                pass
        return None

    def close(self) -> None:
        self.halt.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()


def history_cost(h: ParkHistory, readings: int, intervals: int, t_ingest: float, t_account: float,
                 cpu_account: float, total: float) -> str:
    return (f"history: {_span((h.until - h.start).total_seconds())}, {len(h.park.meters)} meters, "
            f"{readings:,} readings → {intervals:,} intervals "
            f"in {total:.1f} s: simulation {h.simulate_s:.1f} s, then ingest {t_ingest:.1f} s and accounting "
            f"{t_account:.1f} s ({cpu_account:.1f} s CPU) side by side")


def count_intervals(engine, h: ParkHistory) -> int:
    """Intervals stored for the history's local days (with today's live ones)."""
    from sqlalchemy import func, select

    from lingtan.kernel.localtime import local_day
    from lingtan.store.models import IntervalEnergy
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(IntervalEnergy).where(
            IntervalEnergy.park == h.park.id, IntervalEnergy.day >= local_day(h.start, h.park.zone),
            IntervalEnergy.day <= local_day(h.until, h.park.zone))).scalar_one()


def store_history(config: Config, histories: list[ParkHistory], worker: AccountingWorker, sink, engine,
                  stop: threading.Event, started: float) -> None:
    """Feed the history (this thread) while the accounting worker accounts it; print the cost."""
    from lingtan.ingest.ledger import Ledger
    t0 = time.perf_counter()
    readings = feed_history(histories, sink, Ledger(config, engine), stop, gate=worker)
    t_ingest = time.perf_counter() - t0 - worker.waited  # its own work, not the waits for accounting
    worker.fed.set()
    done = worker.wait(stop)
    if done is None:
        return
    total = time.perf_counter() - t0
    for h in histories:
        if h.park.id in readings:
            line = history_cost(h, readings[h.park.id], count_intervals(engine, h), t_ingest, done[0], done[1],
                                h.simulate_s + total)
            print(f"{line}; figures complete {time.perf_counter() - started:.1f} s after start", file=sys.stderr,
                  flush=True)


def run_demo(data_dir: Path, port: int = 8000, speed: float = 1.0, mqtt_port: int | None = None,
             modbus_port: int | None = None, history_days: int | None = None, temporary: bool = False) -> None:
    """history_days: None = since 1 January (park-local), 0 = no history. temporary: data_dir is a
    temporary folder the caller removes at exit (said in the start-up line)."""
    port, mqtt_port, modbus_port = demo_ports(port, mqtt_port, modbus_port)  # before anything starts
    from amqtt.broker import Broker

    from lingtan.accounting.service import Rollup
    from lingtan.alarms.service import AlarmService
    from lingtan.api.app import create_app
    from lingtan.cli.runner import api_server, run_until_signal, utc_now
    from lingtan.gateway.service import GatewayService
    from lingtan.ingest.service import make_ingest
    from lingtan.kernel.clock import SimClock
    from lingtan.simulator.server import ParkServer
    from lingtan.store.db import make_engine, upgrade
    from lingtan.store.timeseries import open_sink

    started = time.perf_counter() - _process_age()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = demo_config(data_dir, port, speed, mqtt_port, modbus_port)

    async def main() -> None:
        clock = SimClock(utc_now(), config.simulator.speed)  # its start is where the history ends
        worker = AccountingWorker(config, clock) if history_days != 0 else None
        engine = make_engine(config.store.url, migrate=False)
        rollup = Rollup(config, open_sink(config.ingest.sink), engine, clock=clock.now)
        history_sink = open_sink(config.ingest.sink)  # the store ingest writes to, on its own connection
        broker = Broker(broker_config(config))
        await broker.start()
        upgrade(engine)
        if worker is not None:
            worker.ready.set()
        ingest = make_ingest(config, clock=clock.now)  # the time policy's "now" is the park's (--speed)
        server = api_server(create_app(config, engine, clock=clock.now), config.api.host, config.api.port)
        base = f"http://{config.api.host}:{config.api.port}"
        where = (f"data in the temporary folder {data_dir}, removed at exit: --data-dir DIR keeps it" if temporary
                 else f"data in {data_dir}")
        print(f"Lingtan demo: dashboard and API on {base}/ ({where}; MQTT broker on port {mqtt_port}, "
              f"simulated Modbus meters on port {modbus_port}); Ctrl-C stops.", file=sys.stderr, flush=True)
        key = demo_key(engine, config)
        sync = f"{base}/api/v1/parks/{config.parks[0].id}/sync/intervals"
        print(f"Read-only API key for the city-platform walkthrough (docs/demo.md), valid while this data folder "
              f"lives:\n  curl -H 'Authorization: Bearer {key}' {sync}", file=sys.stderr, flush=True)
        histories: list[ParkHistory] = []
        sims: list[ParkServer] = []
        live_started = threading.Event()
        history_in = threading.Event()  # the history is accounted (or there is none): the alarms may judge

        async def live() -> None:
            """The history's batch run (in a thread: the API serves meanwhile), then the simulated
            meters continue from its models and the gateways poll."""
            try:
                histories.extend(await asyncio.to_thread(prepare_history, config, history_sink, clock.start,
                                                         history_days, rollup.stop))
            except Exception:  # the live demo goes on without a history
                log.exception("history: could not be simulated")
            for h in histories:
                print(announce(h, data_dir), file=sys.stderr, flush=True)
            sim = ParkServer(config, clock, models={h.park.id: h.model for h in histories if h.model is not None})
            await sim.start()
            sims.append(sim)
            live_started.set()
            await asyncio.gather(*(GatewayService(config, g.id, clock=clock.now).run() for g in config.gateways))

        def accounting() -> None:
            """The history through store, ledger and the accounting worker; then the accounting loop."""
            while not live_started.wait(0.1):
                if rollup.stop.is_set():
                    return
            if worker is not None:
                try:
                    if any(h.samples for h in histories):
                        store_history(config, histories, worker, history_sink, engine, rollup.stop, started)
                except Exception:  # the live demo goes on without (the rest of) its history
                    log.exception("history: could not be stored")
                finally:
                    worker.close()
            history_in.set()
            rollup.run()

        def alarm_loop() -> None:
            """The alarm service once the history is in and the gateway polls: judging a half-accounted
            history, or meters not polled yet, would raise alarms that the next minutes clear."""
            while not history_in.wait(0.5):
                if alarms.stop.is_set():
                    return
            log.info("alarms: the history is in; evaluating the rules every %g s", config.alarms.interval_s)
            alarms.run()

        async def stop_sims() -> None:
            for sim in sims:
                await sim.stop()

        alarms = AlarmService(config, engine, clock=clock.now)  # its rules' defaults; status from the broker
        await run_until_signal(
            [server.serve(), live()],
            [(threading.Thread(target=ingest.run, name="ingest", daemon=True), ingest.stop),
             (threading.Thread(target=accounting, name="accounting", daemon=True), rollup.stop),
             (threading.Thread(target=alarm_loop, name="alarms", daemon=True), alarms.stop)],
            servers=[server], cleanup=[stop_sims, broker.shutdown])
        if worker is not None:
            worker.close()

    asyncio.run(main())
