"""The scale benchmark's accounting part: counter readings of every meter of the park, polled
every 15 s over a simulated day, fed as ingest would (time-series store first, then the ledger),
and passes of the accounting service (lingtan.accounting.service.Rollup) measured per pass.

Readings follow the same amounts as the generated history (bench/scale_data.py): a counter's
value at time t is its start value plus the energy of the quarters before t plus the share of
the current quarter, so the intervals the service computes are the history's formula.
"""

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psutil
from scale_data import POLL_S, QUARTER, _numpy_amounts, counters, history_start
from sqlalchemy import delete

from lingtan.accounting.service import Rollup
from lingtan.ingest.ledger import Ledger
from lingtan.kernel.config import Config
from lingtan.store.models import Dirty
from lingtan.store.timeseries.base import Row

_INSTANT = {"electricity": ("power_kw", 4.0), "natural_gas": ("gas_flow_m3h", 4.0),
            "heat": ("heat_power_kw", 4.0 / 0.0036), "water": ("water_flow_m3h", 4.0)}


class ParkReadings:
    """Readings of every meter of `park` on local `day`, one per meter every 15 s (meter j at
    second j mod 15 of each poll period, so every 15 s of time holds one reading per meter)."""

    def __init__(self, park, history_days: int, day: date) -> None:
        self.park = park
        cs, grid = counters(park)
        self.t_day = datetime(day.year, day.month, day.day, tzinfo=park.zone).astimezone(UTC)
        self.day_ms = int(self.t_day.timestamp() * 1000)
        t0 = history_start(history_days)
        slot0 = int((self.t_day - t0) / QUARTER)
        amounts, _ = _numpy_amounts(cs, grid, np.arange(slot0, slot0 + 97), t0)  # [slot, counter]
        self.amounts = amounts
        start = 1e5 + 100.0 * np.arange(len(cs))
        self.cum = start + np.vstack([np.zeros(len(cs)), np.cumsum(amounts, axis=0)])
        by_meter: dict[str, list[tuple[str, int]]] = {}
        for c in cs:
            by_meter.setdefault(c.meter, []).append((c.quantity, c.idx))
        self.meters = [(j, m, by_meter[m.id]) for j, m in enumerate(park.meters) if m.id in by_meter]
        self.seq = 0

    def rows(self, a_ms: int, b_ms: int) -> list[Row]:
        """Every reading with a_ms <= time < b_ms."""
        out: list[Row] = []
        poll_ms = int(POLL_S * 1000)
        for j, m, cols in self.meters:
            off = self.day_ms + (j % 15) * 1000
            k0 = max(0, -(-(a_ms - off) // poll_ms))
            instant, scale = _INSTANT[m.carrier.value]
            for t in range(off + k0 * poll_ms, b_ms, poll_ms):
                pos = (t - self.day_ms) / 900_000
                si = int(pos)
                frac = pos - si
                values = {q: float(self.cum[si, c] + frac * self.amounts[si, c]) for q, c in cols}
                rate = sum(self.amounts[si, c] * (-1.0 if q == "energy_export_kwh" else 1.0) for q, c in cols)
                values[instant] = float(rate * scale)
                self.seq += 1
                out.append(Row(self.park.id, m.id, t, m.gateway, self.seq, values))
        out.sort(key=lambda r: r.ts_ms)
        return out


class MeteredStore:
    """The time-series store with a count of read calls and the CPU spent inside them."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0
        self.cpu_s = 0.0

    def write(self, rows, lines=None):
        return self.inner.write(rows, lines)

    def _timed(self, fn, *args):
        t = time.process_time()
        try:
            return fn(*args)
        finally:
            self.calls += 1
            self.cpu_s += time.process_time() - t

    def series(self, *args):
        return self._timed(self.inner.series, *args)

    def neighbours(self, *args):
        return self._timed(self.inner.neighbours, *args)

    def read_windows(self, *args):
        return self._timed(self.inner.read_windows, *args)

    def close(self) -> None:
        self.inner.close()


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a server process and its children (PostgreSQL backends)."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for q in procs:
        try:
            t = q.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class PassFigures:
    at_hour: float
    passes: int
    cpu_s: list[float]
    wall_s: list[float]
    samples: list[int]
    windows: list[int]
    written: list[int]
    store_calls: list[int]
    store_cpu_s: list[float]
    db_cpu_s: list[float]
    ts_cpu_s: list[float]
    bare_cpu_s: list[float]  # baseline: the pass's window of every meter read in one InfluxQL query
    bare_wall_s: list[float]
    bare_samples: list[int]

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))


@dataclass
class CatchUp:
    hours: float
    readings: int
    feed_s: float
    wall_s: float
    cpu_s: float
    samples: int


class AccountingRun:
    def __init__(self, config: Config, engine, park, sink, history_days: int, day: date,
                 db_pid: int | None, ts_pid: int | None, say=print) -> None:
        self.config, self.engine, self.park, self.say = config, engine, park, say
        self.sink = MeteredStore(sink)
        self.raw_sink = sink
        self.readings = ParkReadings(park, history_days, day)
        self.ledger = Ledger(config, engine)
        self.now = self.readings.t_day
        self.rollup = Rollup(config, self.sink, engine, clock=lambda: self.now)
        self.fed_ms = self.readings.day_ms  # readings up to here are in the store
        self.db_pid, self.ts_pid = db_pid, ts_pid
        self.tokens = 0
        with engine.begin() as c:  # marks left by the API phases are not this day's work
            c.execute(delete(Dirty))

    def _feed(self, until_ms: int, batch_ms: int = 3_600_000) -> int:
        n = 0
        while self.fed_ms < until_ms:
            b = min(until_ms, self.fed_ms + batch_ms)
            rows = self.readings.rows(self.fed_ms, b)
            self.raw_sink.write(rows)  # durable first, then the ledger: as ingest does
            self.tokens += 1
            self.ledger.commit(rows, [], token=f"bench{self.tokens}")
            n += len(rows)
            self.fed_ms = b
        return n

    def catch_up(self, hour: float) -> CatchUp:
        """Readings from where the store stands to `hour` of the day, then one pass over them."""
        hours = (self.readings.day_ms + hour * 3_600_000 - self.fed_ms) / 3_600_000
        t = time.perf_counter()
        n = self._feed(self.readings.day_ms + int(hour * 3_600_000))
        feed_s = time.perf_counter() - t
        self.now = datetime.fromtimestamp(self.fed_ms / 1000, UTC) + timedelta(seconds=1)
        w, c = time.perf_counter(), time.process_time()
        self.rollup.run_once()
        return CatchUp(hours, n, feed_s, time.perf_counter() - w, time.process_time() - c,
                       self.rollup.last_pass.samples)

    def passes(self, count: int) -> PassFigures:
        """`count` passes, each after 15 s more readings of every meter."""
        f = PassFigures((self.fed_ms - self.readings.day_ms) / 3_600_000, count, *([] for _ in range(12)))
        for _ in range(count):
            self._feed(self.fed_ms + int(POLL_S * 1000), batch_ms=int(POLL_S * 1000))
            self.now = datetime.fromtimestamp(self.fed_ms / 1000, UTC) + timedelta(seconds=1)
            calls, store_cpu = self.sink.calls, self.sink.cpu_s
            db0 = _tree_cpu(self.db_pid) if self.db_pid else 0.0
            ts0 = _tree_cpu(self.ts_pid) if self.ts_pid else 0.0
            w, c = time.perf_counter(), time.process_time()
            self.rollup.run_once()
            f.cpu_s.append(time.process_time() - c)
            f.wall_s.append(time.perf_counter() - w)
            f.db_cpu_s.append((_tree_cpu(self.db_pid) - db0) if self.db_pid else 0.0)
            f.ts_cpu_s.append((_tree_cpu(self.ts_pid) - ts0) if self.ts_pid else 0.0)
            s = self.rollup.last_pass
            f.samples.append(s.samples)
            f.windows.append(s.windows)
            f.written.append(s.intervals_written)
            f.store_calls.append(self.sink.calls - calls)
            f.store_cpu_s.append(self.sink.cpu_s - store_cpu)
            cpu, wall, n = self.bare_read()
            f.bare_cpu_s.append(cpu)
            f.bare_wall_s.append(wall)
            f.bare_samples.append(n)
        return f

    def bare_read(self) -> tuple[float, float, int]:
        """The baseline of a pass: every meter's readings from the start of the quarter before the
        newest 15 s to now, in one InfluxQL query (GROUP BY meter), decoded; CPU, wall, values."""
        reader = self.raw_sink.reader
        end = self.fed_ms
        start = (end - int(POLL_S * 1000)) // 900_000 * 900_000 - 900_000
        q = (f"SELECT * FROM reading WHERE park='{self.park.id}' AND time >= {start}ms AND time < {end}ms "
             "GROUP BY meter")
        w, c = time.perf_counter(), time.process_time()
        resp = reader.http.get("/query", params={"db": reader.database, "q": q, "epoch": "ms"})
        series = resp.json()["results"][0].get("series") or []
        n = sum(len(row) - 1 for s in series for row in s["values"])
        return time.process_time() - c, time.perf_counter() - w, n
