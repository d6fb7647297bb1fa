"""The soak: a whole park through the whole platform under a schedule of faults, then compared
with the simulator's ground truth. `tests/test_soak.py` runs the short form, `bench/bench_soak.py`
the full form (docs/soak.md).

    simulator (in process, Modbus TCP, one bus per gateway)
      → `lingtan gateway` processes (one per gateway, spool on disk, simulated clock)
      → real Mosquitto (persistence on) → two ingest workers (static partition)
      → real InfluxDB 1.x → accounting (Rollup thread) → API (create_app, in process)

Faults, at fixed fractions of the run: meter replacements (counter reset), a register rollover,
a spike, Mosquitto `kill -9` and restart, InfluxDB stopped for a while, a gateway `kill -9` and
restart, old messages published again (duplicates, out of order) and malformed messages.

Ground truth: the simulator logs every value it served with the simulated time it served it;
the model gives each meter's true cumulative energy at any time. For each meter and counter the
expected energy is the true energy between the first and the last reading the platform stored,
less what no meter could show: the energy an old meter counted between its last stored reading
and its replacement (a real park takes a final reading by hand; the report lists it).
"""

from __future__ import annotations

import bisect
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select

from lingtan.accounting.service import Rollup
from lingtan.ingest.service import make_ingest
from lingtan.kernel.clock import SimClock
from lingtan.kernel.quantities import CARRIER_QUANTITIES, COUNTERS
from lingtan.simulator.fleet import fleet_config
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import IntervalEnergy
from lingtan.store.timeseries import open_sink
from tests.support import InfluxDBv1, Mosquitto, free_port, wait_for
from tests.support.configs import config_of, sqlite_url, write_config
from tests.support.gateway import SimThread

REPO = Path(__file__).resolve().parents[2]
PARK = "soak"
YEAR = 2026
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 20:00 local on 1 June: the first midnight comes soon
# Mosquitto: save to disk after every queued message (not only once a second) and queue without
# a count limit, so that what it acknowledged survives a kill -9 as far as Mosquitto can make it.
MOSQUITTO_DURABLE = ["autosave_on_changes true", "max_queued_messages 0"]
ROLLOVER_PROFILE = "acrel_adl400"  # uint32 × 0.01 kWh: wraps at 42,949,672.96 kWh
ROLLOVER_TOLERANCE = 0.02  # kWh: the register's resolution, twice (first and last reading)
MATCH = {ROLLOVER_PROFILE: 0.006}  # served (float) vs stored (register) value; float64 counters match exactly


@dataclass
class Plan:
    meters: int = 200
    gateways: int = 4
    days: float = 1.0  # simulated
    run_s: float = 90.0  # wall seconds of the faulted run
    poll_s: float = 0.8  # wall seconds between polls of a meter (12.8 simulated minutes)
    mosquitto_down_s: float = 8.0
    influx_down_s: float = 15.0
    gateway_down_s: float = 3.0
    seed: int = 7

    @property
    def speed(self) -> float:
        return self.days * 86400 / self.run_s


@dataclass
class Fault:
    at_s: float  # wall seconds after the start
    sim: datetime
    kind: str
    target: str
    effect: dict[str, Any] = field(default_factory=dict)


def soak_config(plan: Plan, folder: Path, mqtt_port: int, influx_url: str) -> dict:
    """A fleet park with one Modbus TCP bus per gateway, float64 counters, a few meters in
    integer registers (for the rollover), everything on loopback."""
    per_bus = -(-plan.meters // plan.gateways)
    ports = [free_port() for _ in range(plan.gateways)]
    data = fleet_config(plan.meters, per_bus=per_bus, park_id=PARK, buses_per_gateway=1, ports=ports)
    for m in data["parks"][0]["meters"]:
        m["profile"] = "generic_float32"
        m["poll_interval_s"] = plan.poll_s
    for g in data["gateways"]:
        g["spool"] = {"path": str(folder / f"spool-{g['id']}.db")}
        for b in g["buses"]:
            b["timeout_s"] = 1
    data.update({
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "ingest": {"client_id": "soak-ingest", "shared_group": None,
                   "sink": {"kind": "influx_v1", "url": influx_url, "database": "soak"}},
        "store": {"url": sqlite_url(folder)},
        "accounting": {"interval_s": 2},
        "simulator": {"seed": plan.seed},
    })
    return data


class Recorder:
    """Keeps every readings message the gateways publish, to publish some again later."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-recorder", protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda c, *_: c.subscribe("lingtan/v1/+/+/readings", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def publish(self, items: list[tuple[str, bytes]]) -> None:
        for topic, payload in items:
            self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def spool_size(path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM spool").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


class Soak:
    def __init__(self, plan: Plan, folder: Path, mosquitto: Mosquitto, influx: InfluxDBv1,
                 log=lambda text: None) -> None:
        self.plan, self.folder, self.mosquitto, self.influx, self.log = plan, folder, mosquitto, influx, log
        self.data = soak_config(plan, folder, mosquitto.port, influx.url)
        self.rng = random.Random(plan.seed)
        meters = self.data["parks"][0]["meters"]
        electric = [m for m in meters if m["role"] == "enterprise" and m["carrier"] == "electricity"]
        self.rollover_meter = electric[3]["id"]
        next(m for m in meters if m["id"] == self.rollover_meter)["profile"] = ROLLOVER_PROFILE
        self.gas = [m["id"] for m in meters if m["carrier"] == "natural_gas" and m["role"] == "enterprise"]
        self.electric = [m["id"] for m in electric[4:]]
        self.reset_meters: list[str] = []
        self.spike_meter = electric[7]["id"]
        self.config_path = write_config(self.data, folder / "soak.yaml")
        self.config = config_of(self.data, self.config_path)
        self.park = self.config.park(PARK)
        self.faults: list[Fault] = []
        self.resets: dict[str, datetime] = {}  # meter -> simulated time of its replacement
        self.gateways: dict[str, subprocess.Popen] = {}
        self.peak_spool: Counter[str] = Counter()
        self.t0 = 0.0

    # -- processes ------------------------------------------------------------------------------
    def start_gateway(self, gw: str) -> None:
        log = open(self.folder / f"{gw}.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            self.gateways[gw] = subprocess.Popen(
                [sys.executable, "-m", "lingtan", "gateway", "--config", str(self.config_path), "--id", gw,
                 "--clock-start", START.isoformat(), "--clock-speed", repr(self.plan.speed),
                 "--clock-epoch", repr(self.epoch)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        finally:
            log.close()

    def spool(self, gw: str) -> Path:
        return Path(self.config.gateway(gw).spool.path)

    def now_s(self) -> float:
        return time.monotonic() - self.t0

    def fault(self, kind: str, target: str, **effect) -> Fault:
        f = Fault(round(self.now_s(), 1), self.sim.clock.now(), kind, target, dict(effect))
        self.faults.append(f)
        self.log(f"{f.at_s:7.1f} s  {f.sim:%m-%d %H:%M}  {kind} {target} {effect or ''}")
        return f

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> dict:
        plan = self.plan
        self.epoch = time.time()
        clock = SimClock(START, plan.speed, wall=time.time, wall_start=self.epoch)  # the gateways' too
        with SimThread(self.config, clock=clock) as self.sim:
            self.engine = make_engine(self.config.store.url)
            self.workers = [make_ingest(self.config, client_id=f"soak-ingest-{i}", partition=(i, 2)) for i in range(2)]
            threads = [threading.Thread(target=w.run, name=w.client_id, daemon=True) for w in self.workers]
            for t in threads:
                t.start()
            for w in self.workers:
                wait_for(w.connected.is_set, 20, message=f"{w.client_id} connected")
            self.rollup = Rollup(self.config, open_sink(self.config.ingest.sink), self.engine, clock=self.sim.clock.now)
            rollup_thread = threading.Thread(target=self.rollup.run, name="rollup", daemon=True)
            rollup_thread.start()
            self.recorder = Recorder(self.mosquitto.port)
            self.t0 = time.monotonic()
            # before the first poll, a counter ~20 polls' worth below its register's wrap: it wraps early on
            kw = self.sim.call(self.sim.server.values, self.rollover_meter)["power_kw"]
            before = max(0.5, abs(kw) * 20 * plan.poll_s * plan.speed / 3600)
            self.sim.call(self.sim.server.faults.rollover, self.rollover_meter, "energy_import_kwh", before)
            self.fault("counter preset below its register's wrap", self.rollover_meter, below_kwh=round(before, 2),
                       wrap_kwh=self.sim.server.wrap_of(self.rollover_meter, "energy_import_kwh"))
            for g in self.config.gateways:
                self.start_gateway(g.id)
            try:
                self._faulted_run()
                self._drain()
            finally:
                for proc in self.gateways.values():
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                for proc in self.gateways.values():
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                for w in self.workers:
                    w.stop.set()
                self.rollup.stop.set()
                for t in [*threads, rollup_thread]:
                    t.join(30)
                self.recorder.close()
        while self.rollup.run_once():  # what is still dirty
            pass
        return self.compare()

    def _until(self, fraction: float) -> None:
        """Sleep until `fraction` of the run, sampling the gateways' spools meanwhile."""
        while self.now_s() < fraction * self.plan.run_s:
            for gw in self.gateways:
                self.peak_spool[gw] = max(self.peak_spool[gw], spool_size(self.spool(gw)))
            time.sleep(0.25)

    def _faulted_run(self) -> None:
        plan, sim = self.plan, self.sim
        self._until(0.10)
        for ids, q in ((self.electric, "energy_import_kwh"), (self.gas, "gas_m3")):
            # a meter whose counter is well above what it counts per poll, so the drop is a restart
            m = next(i for i in ids if sim.call(sim.server.values, i)[q] > 1e4)
            def replace(m=m):  # meter replaced: the new one starts at 0; when, by the model's own time
                sim.server.faults.reset(m)
                return sim.server.model_of(m).now
            self.resets[m] = sim.call(replace)
            self.reset_meters.append(m)
            self.fault("meter replaced (counter reset to 0)", m)
        self._until(0.20)
        sim.call(sim.server.faults.spike, self.spike_meter, "energy_import_kwh", 1000.0)
        self.fault("one poll answers ×1000", self.spike_meter)

        self._until(0.25)
        held = sum(w.stats["received"] for w in self.workers)
        self.mosquitto.kill9()
        f = self.fault("Mosquitto kill -9", "mosquitto", down_s=plan.mosquitto_down_s)
        before = dict(self.peak_spool)
        self.peak_spool.clear()
        down = plan.mosquitto_down_s / plan.run_s
        self._until(0.25 + down / 3)  # a gateway crashes while its spool holds the outage's readings
        gw = self.config.gateways[0].id
        self.gateways[gw].kill()
        self.gateways[gw].wait(10)
        self.fault("gateway kill -9 while the broker is down", gw, spool_at_kill=spool_size(self.spool(gw)))
        self._until(0.25 + 2 * down / 3)
        self.start_gateway(gw)
        self._until(0.25 + down)
        self.mosquitto.start()
        f.effect["peak_spool_readings"] = sum(self.peak_spool.values())
        f.effect["messages_ingested_before"] = held
        for gw_id, peak in before.items():  # the whole run's peaks again
            self.peak_spool[gw_id] = max(self.peak_spool[gw_id], peak)

        self._until(0.40)
        errors = sum(w.stats["sink_errors"] for w in self.workers)
        self.influx.stop()
        f = self.fault("InfluxDB stopped", "influxdb", down_s=plan.influx_down_s)
        self._until(0.40 + plan.influx_down_s / plan.run_s)
        f.effect["ingest_holding_unacked_at_restart"] = sum(w.held for w in self.workers)
        self.influx.start()
        f.effect["failed_flushes"] = sum(w.stats["sink_errors"] for w in self.workers) - errors

        self._until(0.60)
        gw = self.config.gateways[1].id
        proc = self.gateways[gw]
        proc.kill()
        proc.wait(10)
        self.fault("gateway kill -9", gw, spool_at_kill=spool_size(self.spool(gw)))
        self._until(0.60 + plan.gateway_down_s / plan.run_s)
        self.start_gateway(gw)

        self._until(0.70)
        with self.recorder.lock:
            old = list(self.recorder.messages[: max(1, len(self.recorder.messages) // 2)])
        again = self.rng.sample(old, min(40, len(old)))
        self.rng.shuffle(again)
        self.recorder.publish(again)
        self.fault("old messages published again, shuffled (duplicates, out of order)", "mqtt",
                   messages=len(again), readings=sum(len(json.loads(p)["readings"]) for _, p in again))

        self._until(0.75)
        bad = self.malformed()
        self.recorder.publish(bad)
        self.fault("malformed messages published", "mqtt", messages=len(bad))
        self._until(1.0)

    def malformed(self) -> list[tuple[str, bytes]]:
        gw = self.config.gateways[0].id
        topic = f"lingtan/v1/{PARK}/{gw}/readings"
        meter = next(m.id for m in self.park.meters if m.gateway == gw)
        ts = self.sim.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

        def reading(**values):
            return {"v": 1, "park": PARK, "gateway": gw,
                    "readings": [{"meter": meter, "ts": ts, "seq": 1, "values": values}]}
        return [
            (topic, b'{"v":1,"park":'),  # not JSON
            (topic, json.dumps({"v": 1, "park": PARK}).encode()),  # no gateway, no readings
            (topic, json.dumps(reading(energy_import_kwh=-5.0)).encode()),  # impossible value
            (topic, json.dumps(reading(energy_import_mwh=5.0)).encode()),  # unknown quantity / unit
            (topic, json.dumps({**reading(power_kw=1.0), "park": "other-park"}).encode()),  # foreign park
            (f"lingtan/v1/{PARK}/gw-nobody/readings", json.dumps(reading(power_kw=1.0)).encode()),
            (topic, b"x" * (self.config.ingest.max_payload_bytes + 1)),  # oversized
        ]

    def _drain(self) -> None:
        """No new values from now on; wait until everything served is stored."""
        sim = self.sim
        sim.call(lambda: sim.server.faults.modes.update({m.id: "exception" for m in self.park.meters}))
        self.stopped_at = sim.clock.now()
        time.sleep(2 * self.plan.poll_s + 1)
        for gw in self.gateways:
            wait_for(lambda gw=gw: spool_size(self.spool(gw)) == 0, 120, 0.2, f"spool of {gw} drained")
        settled = {"n": -1, "since": time.monotonic()}

        def quiet() -> bool:
            n = sum(w.stats["received"] for w in self.workers)
            if n != settled["n"] or any(w.pending for w in self.workers):
                settled.update(n=n, since=time.monotonic())
            return time.monotonic() - settled["since"] > 3
        wait_for(quiet, 120, 0.2, "ingest caught up")

    # -- the comparison -------------------------------------------------------------------------
    def stored(self, meter: str, quantity: str) -> list[tuple[int, float]]:
        return self.rollup.sink.series(PARK, meter, quantity, 0, int(self.stopped_at.timestamp() * 1000) + 86_400_000)

    def compare(self) -> dict:
        model = self.sim.server.model_of(self.park.meters[0].id)
        served = self.sim.server.served
        with sessions(self.engine)() as s:
            rows = s.execute(select(IntervalEnergy.meter, IntervalEnergy.quantity, IntervalEnergy.amount,
                                    IntervalEnergy.flags)).all()
        platform: dict[tuple[str, str], float] = Counter()
        flags: dict[str, Counter] = {}
        for meter, quantity, amount, fl in rows:
            platform[(meter, quantity)] += amount
            for f in filter(None, (fl or "").split(",")):
                flags.setdefault(meter, Counter())[f] += 1

        def true_at(meter: str, quantity: str, t: datetime) -> float:
            return model.truth(t, t).meters[meter].counters[quantity].start

        meters, worst = [], {"abs": 0.0, "rel": 0.0}
        unread: dict[str, float] = {}  # "meter.quantity" -> what the replaced meter counted unread
        expected_totals: dict[str, dict[str, float]] = {}
        for m in self.park.meters:
            log = served.get(m.id, [])
            for q in sorted(CARRIER_QUANTITIES[m.carrier.value] & COUNTERS):
                if not log or q not in log[0][1]:
                    continue
                stored = self.stored(m.id, q)
                times = self._served_times(m.id, q, stored, log, MATCH.get(m.profile, 0.0))
                t_first, t_last = times[0], times[-1]
                expected = true_at(m.id, q, t_last) - true_at(m.id, q, t_first)
                if m.id in self.resets:  # what the old meter counted after its last stored reading
                    t_reset = self.resets[m.id]
                    before = [t for t in times if t < t_reset]
                    lost = true_at(m.id, q, t_reset) - true_at(m.id, q, before[-1])
                    expected -= lost
                    if lost:
                        unread[f"{m.id}.{q}"] = lost
                got = platform.get((m.id, q), 0.0)
                tolerance = ROLLOVER_TOLERANCE if m.profile == ROLLOVER_PROFILE else 1e-9 * max(1.0, abs(expected))
                diff = got - expected
                worst["abs"] = max(worst["abs"], abs(diff) if m.profile != ROLLOVER_PROFILE else 0.0)
                if expected:
                    worst["rel"] = max(worst["rel"], abs(diff / expected) if m.profile != ROLLOVER_PROFILE else 0.0)
                expected_totals.setdefault(m.id, {})[q] = expected
                meters.append({"meter": m.id, "quantity": q, "expected": expected, "platform": got,
                               "ok": abs(diff) <= tolerance, "readings_served": len(log),
                               "readings_stored": len(stored), "flags": dict(flags.get(m.id, {}))})
        meters.sort(key=lambda r: -abs(r["platform"] - r["expected"]) / max(1.0, abs(r["expected"])))
        return {"meters": meters, "worst": worst, "expected_totals": expected_totals,
                "sequence": self.sequence(),
                "reset_unread": unread, "flags": {k: dict(v) for k, v in flags.items()},
                "period": (START, self.stopped_at)}

    def sequence(self) -> dict[str, dict]:
        """Per gateway: readings it took (its highest seq), how many distinct ones were stored, and
        the stored time just before each missing seq (the gateway numbers what it spools, 1, 2, …)."""
        stored: dict[str, dict[int, int]] = {}
        for m in self.park.meters:
            res = self.influx.query(f"SELECT seq FROM reading WHERE meter='{m.id}'", db="soak")["results"][0]
            rows = res["series"][0]["values"] if "series" in res else []
            stored.setdefault(m.gateway, {}).update({int(seq): t for t, seq in rows})
        out = {}
        for gw, by_seq in stored.items():
            top = max(by_seq)
            missing = [s for s in range(1, top + 1) if s not in by_seq]
            order = sorted(by_seq)
            after = [by_seq[order[bisect.bisect_left(order, s) - 1]] for s in missing if s > order[0]]
            out[gw] = {"taken": top, "stored": len(by_seq), "missing": len(missing),
                       "missing_after": [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in after if t]}
        return out

    @staticmethod
    def _served_times(meter: str, quantity: str, stored: list[tuple[int, float]], log: list[tuple],
                      tolerance: float) -> list[datetime]:
        """Simulated serve time of each stored reading, matched by value (the served log is in order)."""
        out, i = [], 0
        for _ts, value in stored:
            j = i
            while j < len(log) and not abs(log[j][1][quantity] - value) <= tolerance:
                j += 1
            if j == len(log):
                raise AssertionError(f"{meter}.{quantity}: stored value {value} was never served (after #{i})")
            out.append(log[j][0])
            i = j
        return out

    # -- through the API ------------------------------------------------------------------------
    def api_check(self, result: dict) -> dict:
        """The API's year figures and indicators against the accounting core applied to the
        expected (ground-truth) meter energies."""
        from fastapi.testclient import TestClient

        from lingtan.accounting.figures import park_figures
        from lingtan.api.app import create_app
        from lingtan.api.auth import Scope, create_key

        now = self.stopped_at
        today = now.astimezone(self.park.zone).date()
        with sessions(self.engine).begin() as s:
            _, key = create_key(s, parks=[PARK], scopes=[Scope.READ], name="soak", now=now)
        client = TestClient(create_app(self.config, self.engine, clock=lambda: now),
                            headers={"Authorization": f"Bearer {key}"})
        expected = park_figures(self.park, result["expected_totals"], today.year, today).model_dump()
        realtime = client.get(f"/api/v1/parks/{PARK}/carbon/realtime")
        realtime.raise_for_status()
        year = realtime.json()["year"]
        indicators = client.get(f"/api/v1/parks/{PARK}/indicators/{today.year}")
        indicators.raise_for_status()
        ind = indicators.json()
        core = next(r for r in ind["results"] if r["id"] == "carbon_per_energy")
        pairs = {
            "energy_tce": (year["energy_tce"], expected["energy_tce"]),
            "co2_t": (year["co2_t"], expected["co2_t"]),
            "intensity_t_per_tce": (year["intensity_t_per_tce"], expected["intensity_t_per_tce"]),
            "indicator energy_tce": (ind["energy_tce"], expected["energy_tce"]),
            "indicator co2_t": (ind["co2_t"], expected["co2_t"]),
            "indicator carbon_per_energy": (core["value"], expected["intensity_t_per_tce"]),
            **{f"energy_by_carrier.{k}": (year["energy_by_carrier"].get(k), v)
               for k, v in expected["energy_by_carrier"].items()},
            **{f"electricity_kwh.{k}": (year["electricity_kwh"].get(k), v)
               for k, v in expected["electricity_kwh"].items()},
        }
        return {"pairs": pairs, "core_status": core["status"], "core_note": core["note"],
                "completeness": ind["completeness"]}


def close(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def report(soak: Soak, result: dict, api: dict) -> str:
    """The soak's report in Markdown: every fault and its effect, then the comparison."""
    plan = soak.plan
    bad = [r for r in result["meters"] if not r["ok"]]
    t0, t1 = result["period"]
    lines = [
        f"# Soak report: {len(soak.park.meters)} meters, {len(soak.config.gateways)} gateways",
        "",
        f"Simulated {t0:%Y-%m-%d %H:%M} → {t1:%Y-%m-%d %H:%M} UTC ({(t1 - t0).total_seconds() / 86400:.2f} days) "
        f"in {plan.run_s:.0f} s of faulted run (×{plan.speed:.0f}); poll every {plan.poll_s:g} s.",
        "",
        "## Faults injected",
        "",
        "| wall s | simulated (UTC) | fault | target | effect |",
        "|---:|---|---|---|---|",
    ]
    lost_after: Counter[int] = Counter()  # readings taken but never stored, by the fault before them
    for seq in result["sequence"].values():
        for t in seq["missing_after"]:
            before = [i for i, f in enumerate(soak.faults) if f.sim <= t]
            lost_after[before[-1] if before else -1] += 1
    for i, f in enumerate(soak.faults):
        effect = ", ".join(f"{k} {v}" for k, v in f.effect.items())
        if lost_after.get(i):
            effect += f", {lost_after[i]} readings taken but never stored before the next fault"
        flags = result["flags"].get(f.target)
        if flags:
            effect = (effect + "; " if effect else "") + "interval flags " + ", ".join(
                f"{k} ×{v}" for k, v in sorted(flags.items()))
        lines.append(f"| {f.at_s:.1f} | {f.sim:%m-%d %H:%M} | {f.kind} | {f.target} | {effect} |")
    letters = sum(w.stats["rejected"] for w in soak.workers)
    seq = result["sequence"]
    lines += [
        "",
        "## Outcome",
        "",
        f"- readings the gateways took: {sum(g['taken'] for g in seq.values())}; stored in InfluxDB: "
        f"{sum(g['stored'] for g in seq.values())}; taken but never stored: "
        f"{sum(g['missing'] for g in seq.values())} (by gateway: "
        f"{ {gw: g['missing'] for gw, g in sorted(seq.items())} })",
        f"- messages dead-lettered: {letters}; redelivered by the broker: "
        f"{sum(w.stats['redelivered'] for w in soak.workers)}",
        f"- gateways' peak spool: {dict(soak.peak_spool)}",
        f"- meter counters compared: {len(result['meters'])}; outside tolerance: {len(bad)}; worst float64 "
        f"deviation {result['worst']['abs']:.3g} (relative {result['worst']['rel']:.3g})",
        "- what the replaced meters counted after their last stored reading (needs a manual final reading; "
        "excluded from the expected energy): " + (", ".join(f"{k} {v:.3f}" for k, v in result["reset_unread"].items())
                                                   or "none"),
        "",
        "| figure | API | ground truth through the accounting core | equal |",
        "|---|---:|---:|---|",
    ]
    for name, (got, want) in api["pairs"].items():
        lines.append(f"| {name} | {got} | {want} | {'yes' if close(got, want) else '**NO**'} |")
    lines.append(f"\nCore indicator (carbon_per_energy) status: {api['core_status']} ({api['core_note']}); "
                 f"completeness of the year so far {api['completeness']}.")
    lines.append("\nLargest deviations (platform − expected):\n")
    for r in result["meters"][:5]:
        lines.append(f"- {r['meter']}.{r['quantity']}: {r['platform'] - r['expected']:+.3g} of {r['expected']:.6g} "
                     f"({r['readings_stored']} readings stored)")
    for r in bad[:20]:
        lines.append(f"- MISMATCH {r['meter']}.{r['quantity']}: platform {r['platform']} expected {r['expected']}")
    return "\n".join(lines) + "\n"
