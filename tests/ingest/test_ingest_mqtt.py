"""Ingest on real Mosquitto with real stores: nothing lost, nothing duplicated, bad messages set aside.

Every test publishes readings with QoS 1 like a gateway, runs real ingest workers (MQTT v5
persistent sessions, shared subscription) and compares what the store holds with what was sent.
"""

import json
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from lingtan.ingest.consumer import RECEIVE_MAXIMUM
from lingtan.ingest.metrics import serve_metrics
from lingtan.kernel import contract
from lingtan.kernel.config import parse_config
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DeadLetter, Latest
from tests.support import free_port, wait_for
from tests.support.ingest import PARK, T0, Gateway, Worker, count_points, influx_points, make_config


def test_two_workers_share_the_load_and_store_every_reading_once(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "two"}), "two-workers")
    workers = [Worker(config, "ingest-0"), Worker(config, "ingest-1")]
    gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
    try:
        for step in range(150):
            for gw in gateways:
                gw.publish(gw.message(step))
        sent = {k: v for gw in gateways for k, v in gw.sent.items()}
        wait_for(lambda: sum(w.ingest.stats["written"] for w in workers) >= len(sent), 30, message="all written")
    finally:
        for w in workers:
            w.stop()
        for gw in gateways:
            gw.close()
    shares = [w.ingest.stats["received"] for w in workers]
    assert all(s > 0 for s in shares), shares  # both workers took part
    assert sum(shares) == 300  # every message went to exactly one worker
    assert sum(w.ingest.stats["written"] for w in workers) == len(sent) == 1500
    assert influx_points(influxdb_v1, "two") == sent
    assert count_points(influxdb_v1, "two") == len(sent)


def test_sqlite_store_through_mqtt_equals_what_was_sent(tmp_path, mosquitto):
    """The demo's embedded store, read back value by value after the whole MQTT path, with every
    message published twice (a gateway replaying after a lost PUBACK)."""
    from lingtan.store.timeseries.sqlite import SqliteSink

    path = tmp_path / "ts.db"
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(path)}), "sqlite")
    worker = Worker(config)
    gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
    try:
        for step in range(60):
            for gw in gateways:
                payload = gw.message(step)
                gw.publish(payload)
                gw.publish(payload)
        wait_for(lambda: worker.ingest.stats["received"] >= 240 and not worker.ingest.pending, 30,
                 message="all received")
    finally:
        worker.stop()
        for gw in gateways:
            gw.close()
    sent = {k: v for gw in gateways for k, v in gw.sent.items()}
    sink = SqliteSink(str(path))
    stored: dict[tuple[str, int], dict] = {}
    for meter in {m for m, _ in sent}:
        for quantity in ("energy_import_kwh", "power_kw"):
            for ts, value in sink.series(PARK, meter, quantity, 0, 2**62):
                stored.setdefault((meter, ts), {})[quantity] = value
    assert stored == sent and len(sent) == 600


def test_influxdb_outage_mid_stream_loses_and_duplicates_nothing(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "outage", "timeout_s": 2}), "outage")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        for step in range(100):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.stats["written"] >= 500, 20, message="first part written")
        influxdb_v1.stop()
        for step in range(100, 400):  # 300 messages while the store is down: held, not acknowledged
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.store_down_since is not None, 20, message="outage noticed")
        held = wait_for(lambda: worker.ingest.held >= 300 and worker.ingest.held, 20,
                        message="messages held")
        assert held <= RECEIVE_MAXIMUM
        assert worker.ingest.stats["written"] == 500
        influxdb_v1.start()
        for step in range(400, 450):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.stats["written"] >= 2250 and not worker.ingest.pending, 30,
                 message="caught up after the outage")
    finally:
        worker.stop()
        gw.close()
    assert worker.ingest.stats["sink_errors"] >= 1
    assert influx_points(influxdb_v1, "outage") == gw.sent
    assert count_points(influxdb_v1, "outage") == len(gw.sent) == 2250
    with sessions(make_engine(config.store.url))() as s:
        latest = s.get(Latest, (PARK, "m0-0"))
        assert latest.values == gw.sent[("m0-0", int((T0 + timedelta(seconds=449)).timestamp() * 1000))]


def test_messages_held_when_the_broker_crashes_and_forgets_them_are_still_written(tmp_path, mosquitto, influxdb_v1):
    """Mosquitto acknowledges a QoS 1 publish before it saves it: a kill -9 can lose messages it
    already handed to a worker. The worker writes what it holds (writes are idempotent) instead of
    waiting for a redelivery that will not come, and never acknowledges them on the new connection."""
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "crash", "timeout_s": 2}), "crash")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        influxdb_v1.stop()  # the worker holds everything, unacknowledged
        for step in range(50):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.held == 50, 20, message="50 messages held")
        gw.close()
        mosquitto.kill9()
        for f in mosquitto.data_dir.iterdir():  # the broker lost its state: nothing to redeliver
            f.unlink()
        mosquitto.start()
        wait_for(worker.ingest.connected.is_set, 20, message="reconnected")
        influxdb_v1.start()
        wait_for(lambda: worker.ingest.stats["written"] >= 250 and not worker.ingest.pending, 30,
                 message="held messages written")
    finally:
        worker.stop()
    assert worker.ingest.stats["redelivered"] == 0 and worker.ingest.stats["acked"] == 0
    assert influx_points(influxdb_v1, "crash") == gw.sent
    assert count_points(influxdb_v1, "crash") == 250


def test_receive_maximum_bounds_what_a_worker_holds_while_the_store_is_down(tmp_path, mosquitto, influxdb_v1):
    """Mosquitto honours the v5 client's Receive Maximum (instead of its max_inflight_messages, 20):
    a worker whose store is down holds at most RECEIVE_MAXIMUM messages; the rest wait in the broker."""
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "bound", "timeout_s": 2}), "bound")
    influxdb_v1.stop()
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0", meters=1)
    total = RECEIVE_MAXIMUM + 500  # within mosquitto's default max_queued_messages (1000) beyond that
    try:
        for step in range(total):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.held >= RECEIVE_MAXIMUM, 20, message="window full")
        wait_for(lambda: worker.ingest.stats["sink_errors"] >= 3, 20, message="a few failed flushes")
        assert worker.ingest.held == RECEIVE_MAXIMUM
        influxdb_v1.start()
        wait_for(lambda: worker.ingest.stats["written"] >= total, 30, message="drained")
    finally:
        worker.stop()
        gw.close()
    assert count_points(influxdb_v1, "bound") == total


@pytest.mark.parametrize("group", [None, "ingest"])
def test_worker_restart_resumes_its_session_and_broker_restart_is_survived(tmp_path, mosquitto, influxdb_v1, group):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "resume"}, shared_group=group), "resume")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    for step in range(50):
        gw.publish(gw.message(step))
    wait_for(lambda: worker.ingest.stats["written"] >= 250, 20, message="first part")
    worker.stop()
    for step in range(50, 120):  # queued in the worker's persistent session while it is away
        gw.publish(gw.message(step))
    worker = Worker(config)
    wait_for(lambda: worker.ingest.stats["written"] >= 350, 20, message="queued messages after restart")
    gw.close()
    mosquitto.stop()  # clean broker restart: the session and its queue are persisted
    mosquitto.start()
    if group:
        # mosquitto 2.0.11 does not restore shared subscriptions from its persistence file:
        # until the worker has subscribed again, nothing is queued for it (docs/ingest.md)
        wait_for(lambda: worker.ingest.stats["connects"] >= 2, 20, message="worker back")
    gw = Gateway(mosquitto.port, "gw-0")
    gw.seq, gw.sent = 10_000, {}
    for step in range(120, 160):
        gw.publish(gw.message(step))
    try:
        wait_for(lambda: worker.ingest.stats["written"] >= 550, 30, message="after broker restart")
    finally:
        worker.stop()
        gw.close()
    assert worker.ingest.stats["connects"] >= 2
    assert count_points(influxdb_v1, "resume") == 160 * 5
    assert worker.ingest.stats["written"] == 550  # nothing written twice by this worker


def test_flood_of_bad_messages_loses_no_good_reading(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "flood"},
                                      max_payload_bytes=8192), "flood")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    intruder = Gateway(mosquitto.port, "gw-x", park="other-park")
    good_json = json.loads(gw.message(10_000))
    gw.sent.clear()

    def variant(k: int) -> tuple[str, bytes, str]:
        topic = contract.readings_topic("lingtan", PARK, "gw-0")
        bad = json.loads(json.dumps(good_json))
        kinds = [
            (topic, b"\x00\xff not json", "not JSON"),
            (topic, b'{"v":1,"park":"ing-park"', "not JSON"),
            (topic, b'{"v":1,"park":"ing-park","gateway":"gw-0","readings":[{"meter":"m0-0","ts":'
                    b'"2026-06-15T02:00:00Z","seq":1,"values":{"power_kw":NaN}}]}', "not JSON"),
            (topic, b"x" * 9000, "exceeds ingest.max_payload_bytes (8192)"),
            (contract.readings_topic("lingtan", "other-park", "gw-x"),
             json.dumps({**bad, "park": "other-park", "gateway": "gw-x"}).encode(),
             "readings[0].meter = 'm0-0': not a meter of gateway 'gw-x' in park 'other-park'"),
            (contract.readings_topic("lingtan", "other-park", "gw-0"),
             json.dumps({**bad, "park": "other-park"}).encode(),
             "gateway 'gw-0' is not configured for park 'other-park'"),
            (contract.readings_topic("lingtan", PARK, "gw-1"), json.dumps(bad).encode(),
             "does not match park 'ing-park' / gateway 'gw-0'"),
        ]
        if k % 9 == 7:
            bad["readings"][0]["values"]["energy_import_kwh"] = -5
            return topic, json.dumps(bad).encode(), "readings[0].values.energy_import_kwh = -5"
        if k % 9 == 8:
            bad["readings"][1]["ts"] = "2026-02-30T00:00:00Z"
            return topic, json.dumps(bad).encode(), "readings[1].ts = '2026-02-30T00:00:00Z': not a valid UTC time"
        return kinds[k % 9]

    expected_reasons = []
    try:
        for step in range(90):
            gw.publish(gw.message(step))
            for j in range(3):
                topic, payload, reason = variant(step * 3 + j)
                intruder.publish(payload, topic)
                expected_reasons.append(reason)
        wait_for(lambda: worker.ingest.stats["received"] >= 90 * 4, 30, message="all settled")
    finally:
        worker.stop()
        gw.close()
        intruder.close()
    assert worker.ingest.stats["rejected"] == 270
    assert influx_points(influxdb_v1, "flood") == gw.sent
    with sessions(make_engine(config.store.url))() as s:
        letters = list(s.query(DeadLetter).order_by(DeadLetter.id))
    assert len(letters) == 270
    for letter in letters:
        assert letter.reason.strip(), letter.topic
    reasons = sorted(d.reason for d in letters)
    for needle in set(expected_reasons):
        want = expected_reasons.count(needle)
        assert sum(needle in r for r in reasons) >= want, needle


def test_metrics_endpoint_counts_what_happened(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "metrics"}), "metrics")
    worker = Worker(config, "ingest-m")
    port = free_port()
    server, _thread = serve_metrics([worker.ingest], port)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        for step in range(20):
            gw.publish(gw.message(step))
        gw.publish(b"{broken")
        wait_for(lambda: worker.ingest.stats["received"] >= 21, 20, message="settled")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    finally:
        worker.stop()
        gw.close()
        server.shutdown()
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert samples['lingtan_ingest_messages_received_total{worker="ingest-m"}'] == 21
    assert samples['lingtan_ingest_readings_written_total{worker="ingest-m"}'] == 100
    assert samples['lingtan_ingest_messages_rejected_total{kind="json",worker="ingest-m"}'] == 1
    assert samples['lingtan_ingest_messages_held{worker="ingest-m"}'] == 0
    assert samples['lingtan_ingest_connected{worker="ingest-m"}'] == 1
    assert samples['lingtan_ingest_lag_seconds{worker="ingest-m"}'] > 0  # T0 lies in the past
    assert 'lingtan_ingest_store_down_seconds{worker="ingest-m"}' in samples


def test_dead_letters_command_lists_rejections(tmp_path, mosquitto):
    data = make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")})
    config = parse_config(data, "cli")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        gw.publish(gw.message(1))
        gw.publish(b"[1, 2]")
        gw.publish(json.dumps({"v": 1}).encode(), contract.readings_topic("lingtan", "other-park", "gw-x"))
        wait_for(lambda: worker.ingest.stats["received"] >= 3, 20, message="settled")
    finally:
        worker.stop()
        gw.close()
    path = tmp_path / "platform.yaml"
    path.write_text(json.dumps(data))
    run = [sys.executable, "-m", "lingtan", "dead-letters", "--config", str(path)]
    out = subprocess.run(run + ["--park", PARK], capture_output=True, text=True, check=True).stdout
    assert "lingtan/v1/ing-park/gw-0/readings" in out and "contract v1: (message) = <list>" in out
    assert "other-park" not in out
    listed = json.loads(subprocess.run(run + ["--limit", "5", "--json"], capture_output=True, text=True,
                                       check=True).stdout)
    assert [d["park"] for d in listed] == ["other-park", PARK]
    assert "required property" in listed[0]["reason"] or "must contain" in listed[0]["reason"]
