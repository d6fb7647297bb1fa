"""Ingest throughput: readings per second from a real Mosquitto into a real InfluxDB 1.x.

    .venv/bin/python bench/bench_ingest.py [--messages 800] [--readings 250] [--repeat 1]

Starts its own Mosquitto and influxd on free loopback ports (tests/support), queues the same
backlog of readings messages (QoS 1, `--readings` readings per message, as gateways batch them)
in a persistent session for each consumer, then times how long each consumer takes to drain it:

  bound   a bare paho subscriber that only receives and acknowledges (the upper bound)
  naive   one message at a time: json + full schema + one InfluxDB write + ack per message
  lingtan the ingest worker (ingest.consumer.Ingest) with its influx_v1 sink

Figures are sustained readings per second while catching up a backlog, which is what a worker
does after an outage and the most it can do live. Bounded: --messages per consumer, and every
drain gives up after --timeout seconds.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lingtan.accounting import contract  # noqa: E402
from lingtan.kernel.config import parse_config  # noqa: E402
from lingtan.ingest.consumer import RECEIVE_MAXIMUM  # noqa: E402
from lingtan.store.timeseries.base import Row, line_protocol  # noqa: E402
from lingtan.ingest.service import make_ingest  # noqa: E402
from tests.support import InfluxDBv1, Mosquitto  # noqa: E402

PARK = "bench-park"
TOPIC = contract.readings_subscription("lingtan")


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


def count(influx_url: str, db: str) -> int:
    r = httpx.post(f"{influx_url}/query", params={"db": db, "q": "SELECT count(seq) FROM reading"},
                   timeout=60, trust_env=False).json()["results"][0]
    return r["series"][0]["values"][0][1] if "series" in r else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=800, help="messages per consumer (default 800)")
    ap.add_argument("--readings", type=int, default=250, help="readings per message (default 250)")
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=120, help="give up a drain after this many seconds")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each consumer; the best is reported")
    args = ap.parse_args()
    n, per = args.messages, args.readings
    total = n * per
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
            best = {"bound": float("inf"), "naive": float("inf"), "lingtan": float("inf")}
            for run in range(args.repeat):
                prequeue(broker.port, "bench-bound", batch)
                best["bound"] = min(best["bound"], drain_bound(broker.port, "bench-bound", n, args.timeout))
                prequeue(broker.port, "bench-naive", batch)
                best["naive"] = min(best["naive"], drain_naive(broker.port, "bench-naive", n, influx.url, args.timeout))
                prequeue(broker.port, "bench-lingtan", batch)
                best["lingtan"] = min(best["lingtan"], drain_lingtan(config, total, args.timeout))
            stored = {"naive": count(influx.url, "naive"), "lingtan": count(influx.url, "lingtan")}
        finally:
            influx.kill9()
            broker.kill9()
    rate = {k: total / v if v else 0.0 for k, v in best.items()}
    for k in ("bound", "naive", "lingtan"):
        extra = f"  stored {stored[k]:,}" if k in stored else ""
        print(f"{k:8s} {best[k]:8.2f} s  {rate[k]:12,.0f} readings/s{extra}")
    print(f"lingtan / bound = {rate['lingtan'] / rate['bound']:.2f}   "
          f"lingtan / naive = {rate['lingtan'] / rate['naive']:.2f}")
    ok = stored["lingtan"] == total
    print("stored == sent" if ok else f"STORED {stored['lingtan']:,} != SENT {total:,}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
