"""Helpers shared by the gateway tests.

The simulator in a background thread (for tests that run the gateway as a real subprocess), an
MQTT subscriber that records everything it receives, ground-truth comparisons between the
simulator's `served` log and the readings that arrived, and the gateway as a real process. The
park configs come from tests/support/configs.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lingtan.kernel.clock import SimClock
from lingtan.kernel.config import Config
from lingtan.simulator.server import ParkServer
from tests.support.netns import die_with_parent, enter, exec_prefix
from tests.support.process import wait_for

START = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # noon in Asia/Shanghai
REPO = Path(__file__).resolve().parents[2]
COUNTER = {"electricity": "energy_import_kwh", "natural_gas": "gas_m3", "heat": "heat_gj", "water": "water_m3"}


class SimThread:
    """The park simulator on its own event loop in a background thread (by default on a clock
    of its own from START; a wall-clock SimClock lets gateway processes share its time)."""

    def __init__(self, config: Config, speed: float = 60.0, clock: SimClock | None = None,
                 netns: str | None = None) -> None:
        self.clock = clock or SimClock(START, speed=speed)
        self.server = ParkServer(config, self.clock)
        self.server.served = {}
        self.loop = asyncio.new_event_loop()
        self.netns = netns  # serve Modbus inside this network namespace (tests/support/netns.py)
        self.thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        if self.netns is not None:
            enter(self.netns)
        self.loop.run_forever()

    def __enter__(self) -> SimThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def served(self, meter_id: str) -> list[tuple]:
        return list(self.server.served.get(meter_id, []))

    def call(self, fn, *args):
        """Run fn(*args) on the simulator's loop (the model is not thread-safe) and return its result."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


class Subscriber:
    """A paho MQTT v5 client with a persistent session that records every message it gets.

    It reconnects by itself (paho's loop), so it survives broker restarts; the broker keeps its
    QoS 1 messages meanwhile.
    """

    def __init__(self, port: int, topic: str = "lingtan/#", client_id: str = "test-subscriber",
                 username: str | None = None, password: str | None = None, ca_file: str | None = None,
                 clean: bool = False, host: str = "127.0.0.1", netns: str | None = None) -> None:
        self.messages: list[tuple[str, dict, bool]] = []  # (topic, payload, retain flag)
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.reconnect_delay_set(0.1, 1)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if clean else 3600
        if netns is None:
            self.client.connect(host, port, clean_start=clean, properties=props)
            self.client.loop_start()
        else:  # connect and reconnect from a thread inside the namespace, so every socket is there
            def run() -> None:
                enter(netns)
                self.client.connect(host, port, clean_start=clean, properties=props)
                self.client.loop_forever(retry_first_connection=True)
            self._thread = threading.Thread(target=run, name=f"subscriber-{netns}", daemon=True)
            self._thread.start()
        if not self.subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[tuple[dict, bool]]:
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t.endswith("/" + suffix)]

    def readings(self) -> list[dict]:
        """Every reading received, in arrival order (replays included)."""
        return [r for p, _ in self.on("readings") for r in p["readings"]]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(10)


def unique_by_seq(readings: list[dict]) -> dict[int, dict]:
    """Readings by seq; a seq that arrives twice must be an identical replay (at-least-once)."""
    out: dict[int, dict] = {}
    for r in readings:
        if r["seq"] in out:
            assert out[r["seq"]] == r, f"seq {r['seq']} reused for a different reading: {out[r['seq']]} vs {r}"
        out[r["seq"]] = r
    return out


def assert_in_order(readings: list[dict]) -> None:
    """Arrival order is seq order, apart from replays of what already arrived."""
    highest, seen = 0, set()
    for r in readings:
        assert r["seq"] > highest or r["seq"] in seen, f"seq {r['seq']} arrived after {highest}, out of order"
        highest = max(highest, r["seq"])
        seen.add(r["seq"])


def assert_served_exactly_once(config: Config, served: dict[str, list[tuple]], readings: dict[int, dict],
                               meters: list[str] | None = None) -> None:
    """Each value the simulator served arrived once, in the order served (counters in float64)."""
    for m in config.park("gw-park").meters:
        if meters is not None and m.id not in meters:
            continue
        q = COUNTER[m.carrier.value]
        truth = [v[q] for _, v in served.get(m.id, [])]
        got = [r["values"][q] for _, r in sorted(readings.items()) if r["meter"] == m.id]
        assert got == truth, f"{m.id}: {len(got)} readings arrived, {len(truth)} served"


def gateway_process(config_path: Path, log_path: Path, env: dict | None = None, verbose: bool = False,
                    netns: str | None = None) -> subprocess.Popen:
    """`lingtan gateway --config FILE --id gw-1` as a real process (in network namespace `netns` if
    given), logging to a file."""
    args = [*exec_prefix(netns), sys.executable, "-m", "lingtan", *(["-v"] if verbose else []), "gateway", "--config",
            str(config_path), "--id", "gw-1"]
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})},
                                preexec_fn=die_with_parent if netns else None)
    finally:
        log.close()


def spool_rows(path: Path) -> list[tuple[int, dict]]:
    """(seq, reading) of every row in a spool database, read from outside the gateway."""
    import sqlite3
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(seq, json.loads(text)) for seq, text in db.execute("SELECT seq, reading FROM spool ORDER BY seq")]
    finally:
        db.close()


def wait_spool(path: Path, n: int, timeout: float = 30) -> None:
    def enough():
        try:
            return len(spool_rows(path)) >= n
        except Exception:  # noqa: BLE001 - the file may not exist yet
            return False
    wait_for(enough, timeout, 0.1, f"{n} readings in spool {path}")
