"""The network-fault run: gateway, Mosquitto, ingest and InfluxDB each in a network namespace of its
own, the links gateway↔broker and ingest↔store through the impairing router (tests/support/netns.py),
a schedule of loss, delay and partitions, then a comparison with what the simulator served.
`tests/system/test_network_faults.py` runs the short form, `bench/bench_network_faults.py` the long.

    lt gw ns: simulator (Modbus TCP on 127.0.0.1, a thread of this process) + `lingtan gateway`
      ══ gw-mq (impaired) ══ mq ns: Mosquitto, and a subscriber that records what it delivers
      ── in-mq (plain) ──── in ns: `lingtan ingest`
      ══ in-db (impaired) ══ db ns: InfluxDB 1.6

Each phase sets one link's impairment, holds it, heals the link and waits until everything the
simulator served before the heal is stored (the drain). The first phase has no fault: its drain is
the same-run baseline. At the end the meters stop answering, the pipeline drains, and each phase's
readings are counted: served (sent), stored, lost, and duplicates (stored twice, or delivered by the
broker more than once, which at-least-once allows and ingest must absorb).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.support.configs import config_of, meter, platform, sqlite_url, write_config
from tests.support.gateway import REPO, SimThread, Subscriber, gateway_process, spool_rows
from tests.support.influxdb import InfluxDBv1
from tests.support.mosquitto import Mosquitto
from tests.support.netns import Network, die_with_parent
from tests.support.process import wait_for

ROLES = ("gw", "mq", "in", "db")
LINKS = (("gw", "mq"), ("in", "mq"), ("in", "db"))
MQTT_PORT = 1883  # each server has a namespace to itself: the usual ports are free there
DB = "netfaults"
COUNTER = "energy_import_kwh"
SAMPLE_S = 0.25  # how often the drain looks at the store: the resolution of every drain figure


@dataclass(frozen=True)
class Phase:
    name: str
    link: str | None  # None: no fault (the baseline)
    hold_s: float
    loss: float = 0.0
    delay_s: float = 0.0
    jitter_s: float = 0.0
    partition: bool = False


@dataclass
class Plan:
    phases: list[Phase]
    meters: int = 4
    poll_s: float = 0.5
    seed: int = 14
    drain_timeout_s: float = 180.0
    keepalive_s: int | None = None  # mqtt.keepalive_s; None: the config's default (30 s)


def short_plan() -> Plan:
    """The suite's form: about two minutes on a 2-core machine. A 5 s MQTT keepalive makes both
    clients give up their connection during the 20 s partitions and reconnect, replaying what
    was not acknowledged."""
    impaired = {"loss": 0.10, "delay_s": 0.5, "jitter_s": 0.1}
    return Plan([
        Phase("no fault (baseline)", None, 6),
        Phase("gateway-broker: 10 % loss, 500 ± 100 ms", "gw-mq", 20, **impaired),
        Phase("gateway-broker: partition", "gw-mq", 20, partition=True),
        Phase("ingest-store: 10 % loss, 500 ± 100 ms", "in-db", 20, **impaired),
        Phase("ingest-store: partition", "in-db", 20, partition=True),
    ], keepalive_s=5, drain_timeout_s=60.0)  # within the suite's 300 s per-test timeout


def long_plan() -> Plan:
    """The bench's form: each fault alone, longer, and 5-minute partitions."""
    return Plan([
        Phase("no fault (baseline)", None, 30),
        Phase("gateway-broker: 10 % loss", "gw-mq", 90, loss=0.10),
        Phase("gateway-broker: 500 ± 100 ms", "gw-mq", 90, delay_s=0.5, jitter_s=0.1),
        Phase("gateway-broker: partition 5 min", "gw-mq", 300, partition=True),
        Phase("ingest-store: 10 % loss", "in-db", 90, loss=0.10),
        Phase("ingest-store: 500 ± 100 ms", "in-db", 90, delay_s=0.5, jitter_s=0.1),
        Phase("ingest-store: partition 5 min", "in-db", 300, partition=True),
    ], drain_timeout_s=400.0)


@dataclass
class PhaseResult:
    phase: Phase
    first: dict[str, int] = field(default_factory=dict)  # meter -> index of its first served reading
    end: dict[str, int] = field(default_factory=dict)  # meter -> index after its last
    drain_s: float | None = None  # from the heal until all served before it was stored
    sent: int = 0
    stored: int = 0
    lost: int = 0
    duplicates_stored: int = 0
    duplicates_delivered: int = 0  # readings the broker delivered more than once (QoS 1 replays)
    packets: dict[str, int] = field(default_factory=dict)  # the router's counts for the link


class Run:
    """The platform in four namespaces; `run()` walks the plan and returns the phases' results."""

    def __init__(self, plan: Plan, folder: Path, log=lambda text: None) -> None:
        self.plan, self.folder, self.log = plan, folder, log
        self.results: list[PhaseResult] = []

    def run(self) -> list[PhaseResult]:
        with Network(ROLES, LINKS, seed=self.plan.seed, log_path=self.folder / "router.log") as self.net:
            self._start_servers()
            try:
                self._walk()
            finally:
                self._stop_all()
        return self.results

    # -- set-up ---------------------------------------------------------------------------------
    def _start_servers(self) -> None:
        net = self.net
        self.mosquitto = Mosquitto(self.folder / "mosquitto", host=net.addr("mq"), port=MQTT_PORT,
                                   netns=net.ns("mq"))
        self.mosquitto.start()
        self.influx = InfluxDBv1(self.folder / "influxdb", host=net.addr("db"), netns=net.ns("db"))
        self.influx.start()
        self.influx.query(f"CREATE DATABASE {DB}")  # so counting works before ingest's first write
        modbus_port = 1502
        meters = [meter(f"m{i}", "bus-1", i, interval=self.plan.poll_s) for i in range(1, self.plan.meters + 1)]
        data = platform(meters, [{"id": "bus-1", "port": modbus_port, "timeout_s": 1}], MQTT_PORT,
                        self.folder / "spool.db", sink={"kind": "influx_v1", "url": self.influx.url, "database": DB},
                        store=sqlite_url(self.folder), ingest={"client_id": "netfaults-ingest"})
        data["mqtt"]["host"] = net.addr("mq")  # the broker's address inside the namespaces
        if self.plan.keepalive_s is not None:
            data["mqtt"]["keepalive_s"] = self.plan.keepalive_s
        self.config_path = write_config(data, self.folder / "platform.yaml")
        self.config = config_of(data, self.config_path)
        self.meters = [m["id"] for m in meters]
        self.sim = SimThread(self.config, netns=net.ns("gw")).__enter__()
        self.subscriber = Subscriber(MQTT_PORT, "lingtan/v1/+/+/readings", client_id="netfaults-recorder",
                                     host=net.addr("mq"), netns=net.ns("mq"))
        self.ingest = self._process(["-m", "lingtan", "ingest", "--config", str(self.config_path)], "in", "ingest")
        # a shared subscription keeps nothing for a group before its first subscriber: wait for it
        wait_for(lambda: self._check_alive() or "subscribed to" in (self.folder / "ingest.log").read_text(), 60, 0.1,
                 "ingest to subscribe")
        self.gateway = gateway_process(self.config_path, self.folder / "gateway.log", netns=net.ns("gw"))

    def _process(self, args: list[str], role: str, name: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            return subprocess.Popen([*self.net.prefix(role), sys.executable, *args], cwd=REPO, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        finally:
            log.close()

    def _stop_all(self) -> None:
        for proc in (getattr(self, "gateway", None), getattr(self, "ingest", None)):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if getattr(self, "subscriber", None) is not None:
            self.subscriber.close()
        if getattr(self, "sim", None) is not None:
            self.sim.__exit__(None, None, None)
        for server in (getattr(self, "influx", None), getattr(self, "mosquitto", None)):
            if server is not None:
                server.kill9()

    # -- the run --------------------------------------------------------------------------------
    def served_counts(self) -> dict[str, int]:
        return {m: len(self.sim.served(m)) for m in self.meters}

    def stored_count(self) -> int:
        result = self.influx.query("SELECT count(seq) FROM reading", db=DB)["results"][0]
        return result["series"][0]["values"][0][1] if "series" in result else 0

    def _check_alive(self) -> None:
        for name in ("gateway", "ingest"):
            proc = getattr(self, name, None)
            if proc is not None and proc.poll() is not None:
                log = (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} exited with code {proc.returncode}:\n{log}")

    def _drain(self, what: str) -> float:
        """Wait until everything served so far is stored; the seconds it took."""
        target = sum(self.served_counts().values())
        start = time.monotonic()

        def caught_up() -> bool:
            self._check_alive()
            return self.stored_count() >= target
        try:
            wait_for(caught_up, self.plan.drain_timeout_s, SAMPLE_S, f"{target} readings stored after {what}")
        except TimeoutError as exc:  # say which readings never arrived (the latest may still be in flight)
            self.stored = self.stored_rows()
            raise AssertionError(f"{exc}: {'; '.join(self.mismatches())}") from exc
        return time.monotonic() - start

    def _walk(self) -> None:
        wait_for(lambda: self.stored_count() > 0, 60, 0.25, "the first reading stored")
        t0 = time.monotonic()
        for phase in self.plan.phases:
            # the readings served before the first phase count to it (the baseline)
            first = self.results[-1].end if self.results else {m: 0 for m in self.meters}
            result = PhaseResult(phase, first=dict(first))
            if phase.link is not None:
                self.net.set(phase.link, loss=phase.loss, delay_s=phase.delay_s, jitter_s=phase.jitter_s,
                             partition=phase.partition)
                before = self.net.stats(phase.link)
            self.log(f"{time.monotonic() - t0:7.1f} s  {phase.name} for {phase.hold_s:g} s")
            deadline = time.monotonic() + phase.hold_s
            while time.monotonic() < deadline:
                self._check_alive()
                time.sleep(0.5)
            result.end = self.served_counts()
            if phase.link is not None:
                after = self.net.stats(phase.link)
                result.packets = {k: after[k] - before[k] for k in after}
                self.net.clear(phase.link)
            result.drain_s = self._drain(phase.name)
            self.log(f"{time.monotonic() - t0:7.1f} s  healed; drained in {result.drain_s:.1f} s; "
                     f"packets {result.packets or '-'}")
            self.results.append(result)
        # the meters stop answering; what is in flight settles, then the spool and ingest drain
        self.sim.call(lambda: self.sim.server.faults.modes.update({m: "exception" for m in self.meters}))
        settled = [self.served_counts()]

        def served_stopped() -> bool:
            time.sleep(1.0)
            settled.append(self.served_counts())
            return settled[-1] == settled[-2]
        wait_for(served_stopped, 30, 0, "the simulator to stop serving")
        wait_for(lambda: not spool_rows(self.config.gateway("gw-1").spool.path), self.plan.drain_timeout_s, 0.25,
                 "the gateway's spool to empty")
        self._drain("the end")
        self.results[-1].end = self.served_counts()  # the readings served while settling count to the last phase
        self._count()

    # -- the comparison -------------------------------------------------------------------------
    def stored_rows(self) -> list[dict]:
        """Every stored reading: meter, time (text, as InfluxDB returns it), seq and the counter."""
        result = self.influx.query(f"SELECT meter, seq, {COUNTER} FROM reading", db=DB)["results"][0]
        rows = []
        for series in result.get("series", []):
            for row in series["values"]:
                rows.append(dict(zip(series["columns"], row, strict=True)))
        return rows

    def _count(self) -> None:
        self.stored = self.stored_rows()
        self.delivered = self.subscriber.readings()
        stored_values: dict[str, Counter] = {m: Counter() for m in self.meters}
        for row in self.stored:
            stored_values[row["meter"]][row[COUNTER]] += 1
        delivered_values: dict[str, Counter] = {m: Counter() for m in self.meters}
        for r in self.delivered:
            delivered_values[r["meter"]][r["values"][COUNTER]] += 1
        for result in self.results:
            for m in self.meters:
                for _, values in self.sim.served(m)[result.first[m]:result.end[m]]:
                    v = values[COUNTER]
                    result.sent += 1
                    result.stored += 1 if stored_values[m][v] else 0
                    result.lost += 0 if stored_values[m][v] else 1
                    result.duplicates_stored += max(0, stored_values[m][v] - 1)
                    result.duplicates_delivered += max(0, delivered_values[m][v] - 1)

    def stored_by_meter(self) -> dict[str, list[dict]]:
        """Stored readings of each meter in time order."""
        out: dict[str, list[dict]] = {m: [] for m in self.meters}
        for row in sorted(self.stored, key=lambda r: datetime.fromisoformat(r["time"].replace("Z", "+00:00"))):
            out[row["meter"]].append(row)
        return out

    def mismatches(self) -> list[str]:
        """What differs from the ground truth: per meter in time order the stored counter values
        must be the values served, in the order served, with seq rising; the seqs of all stored
        readings must be 1..N, each once. Empty when all is well."""
        problems = []
        for m, rows in self.stored_by_meter().items():
            truth = [v[COUNTER] for _, v in self.sim.served(m)]
            got = [row[COUNTER] for row in rows]
            if got != truth:
                missing = [i for i, v in enumerate(truth) if v not in set(got)]
                problems.append(f"{m}: {len(got)} stored, {len(truth)} served; served #{missing[:10]} missing")
            seqs = [row["seq"] for row in rows]
            if seqs != sorted(set(seqs)):
                problems.append(f"{m}: seqs not rising in time order: {seqs}")
        seqs = sorted(row["seq"] for row in self.stored)
        if seqs != list(range(1, len(seqs) + 1)):
            twice = [s for s, n in Counter(seqs).items() if n > 1]
            missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
            problems.append(f"stored seqs are not 1..N once each: missing {missing[:20]}, twice {twice[:20]}")
        return problems


def report(results: list[PhaseResult]) -> str:
    """One line per phase: sent, stored, lost, duplicates, drain (and its ratio to the baseline's,
    which is the pipeline's own lag, counted as at least the sampling interval)."""
    base = max(results[0].drain_s or 0.0, SAMPLE_S)
    lines = [f"{'phase':44} {'sent':>6} {'stored':>6} {'lost':>5} {'dup st':>6} {'dup mq':>6} "
             f"{'drain s':>8} {'× base':>7}  packets fwd/lost/cut"]
    for r in results:
        ratio = f"{r.drain_s / base:7.1f}" if r.drain_s is not None else f"{'-':>7}"
        pk = "/".join(str(r.packets.get(k, 0)) for k in ("forwarded", "lost", "cut")) if r.packets else "-"
        lines.append(f"{r.phase.name:44} {r.sent:6d} {r.stored:6d} {r.lost:5d} {r.duplicates_stored:6d} "
                     f"{r.duplicates_delivered:6d} {r.drain_s:8.1f} {ratio}  {pk}")
    return "\n".join(lines)
