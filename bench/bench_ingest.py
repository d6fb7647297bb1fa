"""Ingest throughput: readings per second from a real Mosquitto into a real InfluxDB 1.x.

    .venv/bin/python bench/bench_ingest.py [--messages 2000] [--readings 250] [--repeat 2] [--no-node-red]

Starts its own Mosquitto and influxd on free loopback ports (tests/support), queues the same
backlog of readings messages (QoS 1, `--readings` readings per message, as gateways batch them)
in a persistent session for each consumer, then times how long each consumer takes to drain it:

  ceiling  the store's own: the same points as pre-built line-protocol bodies, POSTed to /write
           in batches of the sink's `batch_lines` from this process, one request at a time
  bound    a bare paho subscriber that only receives and acknowledges (the MQTT upper bound)
  naive    one message at a time: json + full schema + one InfluxDB write + ack per message
  lingtan  the ingest worker (ingest.consumer.Ingest) with its influx_v1 sink
  node-red a Node-RED flow (mqtt in → function → influxdb batch, node-red-contrib-influxdb),
           installed from the npm registry into .cache/node-red; skipped, with the reason, when
           npm or the registry is not there (or with --no-node-red)

Every consumer writes to its own database; each is counted afterwards (stored == sent). Figures
are sustained readings per second while catching up a backlog, which is what a worker does after
an outage and the most it can do live. Then the per-reading CPU of each ingest stage, measured
in this process on the same messages. Bounded: --messages per consumer, every drain gives up
after --timeout seconds. Read the ratios: absolute rates follow the machine's load.
"""

import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lingtan.ingest.consumer import BATCH_MESSAGES, FLUSH_BYTES, RECEIVE_MAXIMUM  # noqa: E402
from lingtan.ingest.ledger import Ledger  # noqa: E402
from lingtan.ingest.service import make_ingest  # noqa: E402
from lingtan.ingest.validation import Validator, ts_ms  # noqa: E402
from lingtan.kernel import contract  # noqa: E402
from lingtan.kernel.config import parse_config  # noqa: E402
from lingtan.store.db import make_engine  # noqa: E402
from lingtan.store.timeseries.base import Row, line_bodies, line_protocol  # noqa: E402
from tests.support import InfluxDBv1, Mosquitto, free_port  # noqa: E402

PARK = "bench-park"
TOPIC = contract.readings_subscription("lingtan")
NODE_RED_DIR = ROOT / ".cache" / "node-red"  # git-ignored (.cache/)
NODE_RED_PACKAGES = ("node-red@4.1.8", "node-red-contrib-influxdb@0.7.0")  # 4.x: runs on Node.js >= 18.5


def platform(mqtt_port: int, influx_url: str, database: str, gateways: int, meters: int, tmp: Path):
    return parse_config({
        "parks": [{"id": PARK, "name": "Bench park", "meters": [
            {"id": f"m{g}-{i}", "carrier": "electricity", "role": "load", "boundary": False, "gateway": f"gw-{g}",
             "modbus": {"bus": "b", "unit": 1}, "profile": "generic_float32"}
            for g in range(gateways) for i in range(meters)]}],
        "gateways": [{"id": f"gw-{g}", "park": PARK, "buses": [{"id": "b"}]} for g in range(gateways)],
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "ingest": {"shared_group": None, "sink": {"kind": "influx_v1", "url": influx_url, "database": database}},
        "store": {"url": f"sqlite:///{tmp / (database + '-platform.db')}"},
    }, "bench")


def messages(n: int, gateways: int, meters: int) -> list[tuple[str, bytes]]:
    """n messages, each one reading of every meter of one gateway, 3 quantities per reading."""
    out = []
    t0 = 1781488800000
    for k in range(n):
        g = k % gateways
        step = k // gateways
        ts = contract.utc_text(datetime.fromtimestamp((t0 + step * 5000) / 1000, UTC))
        readings = [{"meter": f"m{g}-{i}", "ts": ts, "seq": step * meters + i,
                     "values": {"energy_import_kwh": round(10000 + step * 0.731 + i * 1.37, 3),
                                "energy_export_kwh": round(50 + i * 0.11, 3),
                                "power_kw": round(80 + (i * step) % 97 / 3, 4)}}
                    for i in range(meters)]
        body = {"v": 1, "park": PARK, "gateway": f"gw-{g}", "sent_at": ts, "readings": readings}
        out.append((contract.readings_topic("lingtan", PARK, f"gw-{g}"), json.dumps(body).encode()))
    return out


def plain_rows(batch: list[tuple[str, bytes]]) -> list[Row]:
    """The messages' readings as rows, without any validation: the points every consumer stores."""
    rows = []
    for _topic, payload in batch:
        m = json.loads(payload)
        rows.extend(Row(m["park"], r["meter"], ts_ms(r["ts"]), m["gateway"], r["seq"], r["values"])
                    for r in m["readings"])
    return rows


def v5_props(**kw) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    for k, v in kw.items():
        setattr(props, k, v)
    return props


def prequeue(port: int, client_id: str, batch: list[tuple[str, bytes]]) -> None:
    """Create client_id's persistent session with the readings subscription and queue the backlog."""
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    sub.connect("127.0.0.1", port, clean_start=True, properties=v5_props())
    sub.loop_start()
    sub.subscribe(TOPIC, qos=1)
    time.sleep(0.3)  # SUBACK
    sub.disconnect()
    sub.loop_stop()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-pub", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(200)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in batch]
    for info in infos:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


def drain_ceiling(influx_url: str, db: str, bodies: list[bytes]) -> float:
    """Seconds InfluxDB takes to accept pre-built bodies, posted one after the other over one
    keep-alive connection, as the influx_v1 sink posts them."""
    with httpx.Client(base_url=influx_url, timeout=60, trust_env=False) as http:
        http.post("/query", params={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
        start = time.perf_counter()
        for body in bodies:
            http.post("/write", params={"db": db, "precision": "ms"}, content=body).raise_for_status()
        return time.perf_counter() - start


def drain_bound(port: int, client_id: str, n: int, timeout: float) -> float:
    """Seconds a bare paho subscriber needs to receive and acknowledge n queued messages."""
    got = 0
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)

    def on_message(_c, _u, _m):
        nonlocal got
        got += 1
    c.on_message = on_message
    start = time.perf_counter()
    c.connect("127.0.0.1", port, clean_start=False, properties=v5_props(ReceiveMaximum=RECEIVE_MAXIMUM))
    while got < n and time.perf_counter() - start < timeout:
        c.loop(0.05)
    elapsed = time.perf_counter() - start
    c.disconnect()
    return elapsed if got >= n else float("inf")


def drain_naive(port: int, client_id: str, n: int, influx_url: str, timeout: float) -> float:
    """One message at a time: parse, validate with the full schema, one write, then acknowledge."""
    http = httpx.Client(base_url=influx_url, timeout=30, trust_env=False)
    http.post("/query", params={"q": 'CREATE DATABASE "naive"'})
    got = 0
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)

    def on_message(client, _u, msg):
        nonlocal got
        message = json.loads(msg.payload)
        contract.validate_readings(message)
        rows = [Row(message["park"], r["meter"], int(contract.parse_utc(r["ts"]).timestamp() * 1000),
                    message["gateway"], r["seq"], r["values"]) for r in message["readings"]]
        http.post("/write", params={"db": "naive", "precision": "ms"}, content=line_protocol(rows)).raise_for_status()
        client.ack(msg.mid, msg.qos)
        got += 1
    c.on_message = on_message
    start = time.perf_counter()
    c.connect("127.0.0.1", port, clean_start=False, properties=v5_props(ReceiveMaximum=RECEIVE_MAXIMUM))
    while got < n and time.perf_counter() - start < timeout:
        c.loop(0.05)
    elapsed = time.perf_counter() - start
    c.disconnect()
    http.close()
    return elapsed if got >= n else float("inf")


def drain_lingtan(config, n_readings: int, timeout: float) -> float:
    worker = make_ingest(config, client_id="bench-lingtan")
    thread = threading.Thread(target=worker.run, daemon=True)
    start = time.perf_counter()
    thread.start()
    while worker.stats["written"] < n_readings and time.perf_counter() - start < timeout:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    worker.stop.set()
    thread.join(10)
    return elapsed if worker.stats["written"] >= n_readings else float("inf")


# -- Node-RED --------------------------------------------------------------------------------
# The flow converts each message into points for the `influxdb batch` node, which writes them
# with node-influx (`writePoints`, one /write per message) and calls done() once InfluxDB
# answered; a `complete` node counts those and logs DONE when all readings are written.
# Node-RED acknowledges each MQTT message on receipt (MQTT.js), before anything is written.
_TO_POINTS = """const m = msg.payload;
const rs = m.readings;
const points = new Array(rs.length);
for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    const fields = Object.assign({}, r.values);
    fields.seq = r.seq;
    points[i] = {measurement: "reading", tags: {park: m.park, meter: r.meter}, fields: fields,
                 timestamp: Date.parse(r.ts)};
}
msg.payload = points;
return msg;"""

_COUNT = """const n = (context.get("n") || 0) + msg.payload.length;
context.set("n", n);
if (n >= %d) { node.warn("DONE " + n); }
return null;"""


def node_red_install() -> tuple[Path | None, str]:
    """node-red's red.js, installed into .cache/node-red if need be; or None and why not."""
    red = NODE_RED_DIR / "node_modules" / "node-red" / "red.js"
    plugin = NODE_RED_DIR / "node_modules" / "node-red-contrib-influxdb" / "influxdb.js"
    if red.exists() and plugin.exists():
        return red, "cached"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None, "npm/node not installed (Debian: apt-get install npm)"
    NODE_RED_DIR.mkdir(parents=True, exist_ok=True)
    try:
        # one retry, briefly: an unreachable registry fails in seconds instead of minutes
        done = subprocess.run([npm, "install", "--prefix", str(NODE_RED_DIR), "--no-audit", "--no-fund",
                               "--loglevel=error", "--fetch-retries=1", "--fetch-retry-mintimeout=2000",
                               "--fetch-retry-maxtimeout=5000", *NODE_RED_PACKAGES],
                              capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        return None, "npm install did not finish within 240 s (is the npm registry reachable?)"
    if done.returncode != 0 or not red.exists():
        said = [line for line in done.stderr.splitlines() if line.strip() and "complete log" not in line]
        return None, f"npm install failed (is the npm registry reachable?): {' / '.join(said[:3]) or 'no output'}"
    return red, "installed"


def node_red_files(workdir: Path, mqtt_port: int, influx: InfluxDBv1, db: str, total: int) -> Path:
    """Flow and settings for a headless Node-RED (no editor, no HTTP at all); returns settings.js."""
    user_dir = workdir / "user"
    user_dir.mkdir(parents=True, exist_ok=True)
    flow = [
        {"id": "bench-tab", "type": "tab", "label": "bench"},
        {"id": "bench-broker", "type": "mqtt-broker", "name": "bench", "broker": "127.0.0.1", "port": str(mqtt_port),
         "clientid": "bench-nodered", "autoConnect": True, "usetls": False, "protocolVersion": 5, "keepalive": 60,
         "cleansession": False, "autoUnsubscribe": False, "sessionExpiry": "3600"},
        {"id": "bench-influx", "type": "influxdb", "hostname": influx.host, "port": influx.port, "protocol": "http",
         "database": db, "name": "bench", "usetls": False, "influxdbVersion": "1.x"},
        {"id": "bench-in", "type": "mqtt in", "z": "bench-tab", "name": "readings", "topic": TOPIC, "qos": "1",
         "datatype": "json", "broker": "bench-broker", "nl": False, "rap": True, "rh": 0, "inputs": 0,
         "wires": [["bench-points"]]},
        {"id": "bench-points", "type": "function", "z": "bench-tab", "name": "to points", "func": _TO_POINTS,
         "outputs": 1, "wires": [["bench-batch"]]},
        {"id": "bench-batch", "type": "influxdb batch", "z": "bench-tab", "name": "write", "influxdb": "bench-influx",
         "precision": "ms", "retentionPolicy": "", "wires": []},
        {"id": "bench-complete", "type": "complete", "z": "bench-tab", "name": "written", "scope": ["bench-batch"],
         "uncaught": False, "wires": [["bench-count"]]},
        {"id": "bench-count", "type": "function", "z": "bench-tab", "name": "count", "func": _COUNT % total,
         "outputs": 1, "wires": [[]]},
    ]
    flow_file = workdir / "flows.json"
    flow_file.write_text(json.dumps(flow, indent=1))
    settings = workdir / "settings.js"
    settings.write_text(f"""module.exports = {{
    flowFile: {json.dumps(str(flow_file))},
    userDir: {json.dumps(str(user_dir))},
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    uiHost: "127.0.0.1",
    uiPort: {free_port()},
    telemetry: {{enabled: false, updateNotification: false}},
    diagnostics: {{enabled: false, ui: false}},
    externalModules: {{autoInstall: false, palette: {{allowInstall: false}}, modules: {{allowInstall: false}}}},
    logging: {{console: {{level: "info", metrics: false, audit: false}}}},
}};
""")
    return settings


def drain_node_red(red: Path, settings: Path, timeout: float) -> tuple[float, str]:
    """Seconds from Node-RED's broker connection to its last completed write, and a note."""
    marks: dict[str, float] = {}
    tail: list[str] = []
    proc = subprocess.Popen(["node", str(red), "--settings", str(settings)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def read() -> None:
        for line in proc.stdout:
            now = time.perf_counter()
            tail.append(line.rstrip())
            del tail[:-20]
            if "Connected to broker" in line:
                marks.setdefault("connected", now)
            elif "DONE" in line:
                marks.setdefault("done", now)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    start = time.perf_counter()
    try:
        while "done" not in marks and proc.poll() is None and time.perf_counter() - start < timeout + 30:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
    if "connected" in marks and "done" in marks:
        return marks["done"] - marks["connected"], ""
    return float("inf"), "did not finish; last log lines:\n  " + "\n  ".join(tail[-8:])


# -- per-reading CPU -------------------------------------------------------------------------
def cpu_stages(config, batch: list[tuple[str, bytes]], tmp: Path) -> dict[str, float]:
    """CPU µs per reading of each ingest stage, in this process, best of 5: JSON, validation
    (with the line protocol built in the same pass), request bodies, ledger commit per flush
    (as many messages per flush as the worker takes under a backlog)."""
    flush_messages = max(1, min(BATCH_MESSAGES, FLUSH_BYTES // len(batch[0][1])))
    validator = Validator(config)
    ledger = Ledger(config, make_engine(f"sqlite:///{tmp / 'cpu-platform.db'}"))
    parsed = [validator.parse_lines(t, p) for t, p in batch]
    rows = [r for rs, _ in parsed for r in rs]
    lines = [s for _, ls in parsed for s in ls]
    step = config.ingest.sink.batch_lines
    per_flush = flush_messages * len(rows) // len(batch)

    def commit() -> None:
        for i in range(0, len(rows), per_flush):
            ledger.commit(rows[i:i + per_flush], [], uuid.uuid4().hex)
    stages = {
        "orjson": lambda: [orjson.loads(p) for _, p in batch],
        "validation + lines": lambda: [validator.parse_lines(t, p) for t, p in batch],
        "bodies": lambda: list(line_bodies(rows, lines, step)),
        "ledger": commit,
    }
    out = {}
    for name, fn in stages.items():
        best = float("inf")
        for _ in range(5):
            gc.collect()
            t = time.process_time_ns()
            fn()
            best = min(best, time.process_time_ns() - t)
        out[name] = best / len(rows) / 1000
    out["validation + lines"] -= out["orjson"]  # parse_lines includes the JSON decoding
    return out


def count(influx_url: str, db: str) -> int:
    r = httpx.post(f"{influx_url}/query", params={"db": db, "q": "SELECT count(seq) FROM reading"},
                   timeout=60, trust_env=False).json()["results"][0]
    return r["series"][0]["values"][0][1] if "series" in r else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000, help="messages per consumer (default 2000)")
    ap.add_argument("--readings", type=int, default=250, help="readings per message (default 250)")
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=120, help="give up a drain after this many seconds")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each consumer (default 2); the best is reported")
    ap.add_argument("--no-node-red", action="store_true", help="skip the Node-RED comparison")
    args = ap.parse_args()
    n, per = args.messages, args.readings
    total = n * per
    red, red_note = (None, "--no-node-red") if args.no_node_red else node_red_install()
    with tempfile.TemporaryDirectory(prefix="lingtan-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp / "mosquitto")
        # the backlog is queued while the consumer is away: lift the default 1000-message queue
        broker.conf_path.write_text(broker.conf_path.read_text().replace("log_type all", "log_type error")
                                    + "max_queued_messages 0\n")
        influx = InfluxDBv1(tmp / "influxdb")
        broker.start()
        influx.start()
        try:
            batch = messages(n, args.gateways, per)
            size = sum(len(p) for _, p in batch)
            print(f"backlog: {n} messages x {per} readings = {total:,} readings, {size / n / 1024:.0f} KiB per message")
            config = platform(broker.port, influx.url, "lingtan", args.gateways, per, tmp)
            bodies = list(line_bodies(plain_rows(batch), None, config.ingest.sink.batch_lines))
            best = {k: float("inf") for k in ("ceiling", "lingtan", "bound", "naive")}
            for _run in range(args.repeat):  # the ceiling and Lingtan back to back: the same machine load
                prequeue(broker.port, "bench-lingtan", batch)
                best["ceiling"] = min(best["ceiling"], drain_ceiling(influx.url, "ceiling", bodies))
                best["lingtan"] = min(best["lingtan"], drain_lingtan(config, total, args.timeout))
                prequeue(broker.port, "bench-bound", batch)
                best["bound"] = min(best["bound"], drain_bound(broker.port, "bench-bound", n, args.timeout))
                prequeue(broker.port, "bench-naive", batch)
                best["naive"] = min(best["naive"], drain_naive(broker.port, "bench-naive", n, influx.url, args.timeout))
            if red is not None:
                influx.query('CREATE DATABASE "nodered"')  # node-influx writes, it does not create
                settings = node_red_files(tmp / "node-red", broker.port, influx, "nodered", total)
                prequeue(broker.port, "bench-nodered", batch)
                best["node-red"], note = drain_node_red(red, settings, args.timeout)
                red_note = note or red_note
            stored = {k: count(influx.url, db) for k, db in
                      (("ceiling", "ceiling"), ("naive", "naive"), ("lingtan", "lingtan"), ("node-red", "nodered"))
                      if best.get(k, float("inf")) < float("inf")}
            cpu = cpu_stages(config, batch[:400], tmp)
        finally:
            influx.kill9()
            broker.kill9()
    rate = {k: total / v if v else 0.0 for k, v in best.items()}
    for k in best:
        extra = f"  stored {stored[k]:,}" if k in stored else ""
        print(f"{k:8s} {best[k]:8.2f} s  {rate[k]:12,.0f} readings/s{extra}")
    print(f"lingtan / ceiling = {rate['lingtan'] / rate['ceiling']:.2f}   "
          f"lingtan / bound = {rate['lingtan'] / rate['bound']:.2f}   "
          f"lingtan / naive = {rate['lingtan'] / rate['naive']:.2f}")
    if "node-red" in best and rate["node-red"] > 0:
        print(f"lingtan / node-red = {rate['lingtan'] / rate['node-red']:.2f}   "
              f"(node-red {NODE_RED_PACKAGES[0]}, {NODE_RED_PACKAGES[1]}: {red_note})")
    else:
        print(f"node-red comparison skipped: {red_note}")
    print("CPU per reading (µs, this process): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f", sum {sum(cpu.values()):.2f}")
    ok = True
    for k, got in stored.items():
        if got != total:
            ok = False
            print(f"{k}: STORED {got:,} != SENT {total:,}")
    if ok:
        print(f"stored == sent ({', '.join(stored)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
