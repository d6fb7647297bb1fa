"""Helpers shared by the ingest and time-series store tests: the two-park config they use,
gateways that publish readings over MQTT like on-site ones, ingest workers on threads, and reading
back what InfluxDB stored."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from lingtan.ingest.service import make_ingest
from lingtan.kernel import contract
from tests.support.configs import meter, sqlite_url
from tests.support.process import wait_for

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
PARK = "ing-park"


def make_config(tmp_path, mqtt_port: int, sink: dict, gateways: int = 2, meters: int = 5, **ingest) -> dict:
    """A park with `gateways` gateways of `meters` electricity meters each (ids m{g}-{i}), and another
    park with one meter (x-1 on gw-x); meters at the config's default poll interval."""
    ours = [meter(f"m{g}-{i}", "bus-1", i + 1, interval=None, gateway=f"gw-{g}")
            for g in range(gateways) for i in range(meters)]
    theirs = [meter("x-1", "bus-1", 1, interval=None, gateway="gw-x")]
    return {
        "parks": [{"id": PARK, "name": "Ingest park", "meters": ours},
                  {"id": "other-park", "name": "Another park", "meters": theirs}],
        "gateways": [{"id": f"gw-{g}", "park": PARK, "buses": [{"id": "bus-1"}]} for g in range(gateways)]
        + [{"id": "gw-x", "park": "other-park", "buses": [{"id": "bus-1"}]}],
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "ingest": {"sink": sink, **ingest},
        "store": {"url": sqlite_url(tmp_path)},
    }


class Gateway:
    """Publishes readings messages like an on-site gateway: QoS 1, waits for every PUBACK."""

    def __init__(self, port: int, gateway: str, meters: int = 5, park: str = PARK) -> None:
        self.gateway, self.park, self.meters = gateway, park, meters
        self.seq = 0
        self.sent: dict[tuple[str, int], dict] = {}  # (meter, ts_ms) -> values
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{gateway}", protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def message(self, step: int) -> bytes:
        """One reading of every meter at T0 + step seconds."""
        ts = T0 + timedelta(seconds=step)
        readings = []
        for i in range(self.meters):
            meter = f"m{self.gateway[3:]}-{i}"
            values = {"energy_import_kwh": round(1000 + step * 0.25 + i, 3), "power_kw": round(50 + i + step % 7, 2)}
            self.seq += 1
            readings.append({"meter": meter, "ts": contract.utc_text(ts), "seq": self.seq, "values": values})
            self.sent[(meter, int(ts.timestamp() * 1000))] = values
        return json.dumps({"v": 1, "park": self.park, "gateway": self.gateway, "readings": readings}).encode()

    def publish(self, payload: bytes, topic: str | None = None) -> None:
        topic = topic or contract.readings_topic("lingtan", self.park, self.gateway)
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Worker:
    """An Ingest worker on its own thread, stopped at the end of the test."""

    def __init__(self, config, client_id: str | None = None) -> None:
        self.ingest = make_ingest(config, client_id=client_id)
        self.thread = threading.Thread(target=self.ingest.run, daemon=True)
        self.thread.start()
        wait_for(self.ingest.connected.is_set, 10, message=f"{self.ingest.client_id} connected")

    def stop(self) -> None:
        self.ingest.stop.set()
        self.thread.join(10)


def influx_points(influx, db: str) -> dict[tuple[str, int], dict]:
    """Every stored reading as (meter, ts_ms) -> values (fields other than seq)."""
    result = influx.query("SELECT * FROM reading", db=db)["results"][0]
    out = {}
    for series in result.get("series", []):
        cols = series["columns"]
        for row in series["values"]:
            rec = dict(zip(cols, row, strict=True))
            ts = int(datetime.fromisoformat(rec.pop("time").replace("Z", "+00:00")).timestamp() * 1000)
            values = {k: v for k, v in rec.items() if k not in ("park", "meter", "seq") and v is not None}
            out[(rec["meter"], ts)] = values
    return out


def count_points(influx, db: str) -> int:
    result = influx.query("SELECT count(seq) FROM reading", db=db)["results"][0]
    return result["series"][0]["values"][0][1] if "series" in result else 0


def subscribed(worker: Worker, gw: Gateway, timeout: float = 20.0) -> int:
    """Wait until the broker holds `worker`'s subscription (Worker returns at CONNACK; a message
    published before the broker took a new session's SUBSCRIBE reaches nobody): publish one probe
    message (readings at T0 - 1 s) until it arrives and is acknowledged. Returns the worker's
    received count then, the baseline for the counts a test then expects."""
    payload = gw.message(-1)
    deadline = time.monotonic() + timeout
    while True:
        gw.publish(payload)
        try:
            wait_for(lambda: worker.ingest.stats["received"] > 0 and worker.ingest.held == 0, 2,
                     message=f"{worker.ingest.client_id} subscribed")
            return worker.ingest.stats["received"]
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
