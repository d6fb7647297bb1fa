"""The time-series sinks on real stores: idempotent writes, reading back, outages, refused data."""

import json

import pytest

from lingtan.ingest.consumer import Ingest
from lingtan.kernel.config import Sink, parse_config
from lingtan.store.db import make_engine
from lingtan.store.timeseries.base import Row, SinkRejected, SinkUnavailable, line_protocol
from lingtan.store.timeseries.influx_v1 import InfluxV1Sink
from lingtan.store.timeseries.influx_v2 import InfluxV2Sink
from lingtan.store.timeseries.sqlite import SqliteSink
from tests.support import wait_for
from tests.support.ingest import PARK, Gateway, Worker, make_config

T = 1781488800000  # 2026-06-15T02:00:00Z


def rows(n: int, seq0: int = 0, bump: float = 0.0) -> list[Row]:
    return [Row(PARK, "m0-0", T + i * 1000, "gw-0", seq0 + i, {"energy_import_kwh": 100.0 + i + bump,
                                                                 "power_kw": -1.5}) for i in range(n)]


def test_line_protocol_golden():
    assert line_protocol([Row("p", "grid-main", 1781488800123, "gw", 7, {"energy_import_kwh": 930315.66,
                                                                           "power_kw": -114})]) == (
        b"reading,park=p,meter=grid-main energy_import_kwh=930315.66,power_kw=-114,seq=7i 1781488800123\n")


def check_idempotent(sink) -> None:
    """Writing the same meter and timestamps again (a redelivery) leaves one sample per timestamp,
    with the newest value; the counter series read back equals what was written."""
    sink.write(rows(10))
    sink.write(rows(10))  # exact redelivery
    sink.write(rows(5, seq0=100, bump=0.5))  # same meter and times, new values: they win
    got = sink.series(PARK, "m0-0", "energy_import_kwh", T, T + 10_000)
    assert got == [(T + i * 1000, 100.0 + i + (0.5 if i < 5 else 0)) for i in range(10)]
    assert sink.series(PARK, "m0-0", "energy_import_kwh", T + 2000, T + 4000) == [(T + 2000, 102.5), (T + 3000, 103.5)]
    assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T + 2500) == ((T + 2000, 102.5), (T + 3000, 103.5))
    assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T) == (None, (T, 100.5))
    assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T + 60_000) == ((T + 9000, 109.0), None)


def test_sqlite_sink_is_idempotent(tmp_path):
    check_idempotent(SqliteSink(str(tmp_path / "ts.db")))


def test_influx_v1_sink_is_idempotent(influxdb_v1):
    sink = InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, database="idem"))
    check_idempotent(sink)
    counted = influxdb_v1.query("SELECT count(seq) FROM reading", db="idem")
    assert counted["results"][0]["series"][0]["values"][0][1] == 10


def test_influx_v2_sink_reads_back_with_influxql(influxdb_v1, monkeypatch):
    """The v2 sink's default reader: InfluxQL on /query with the bucket as database and the token,
    as InfluxDB 2.7+ serves it through its 1.x compatibility API. Debian has no InfluxDB 2.x, so
    the query side runs against InfluxDB 1.6.7 (which ignores the token with auth off); the data
    were written with the v1 API, since 1.6 has no v2 write endpoint."""
    InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, database="bucket-a")).write(rows(10))
    monkeypatch.setenv("LINGTAN_TEST_TOKEN", "t0ken")
    sink = InfluxV2Sink(Sink(kind="influx_v2", url=influxdb_v1.url, bucket="bucket-a", token_env="LINGTAN_TEST_TOKEN"))
    try:
        assert sink.http.headers["Authorization"] == "Token t0ken"
        assert sink.series(PARK, "m0-0", "energy_import_kwh", T, T + 10_000) == [(T + i * 1000, 100.0 + i)
                                                                               for i in range(10)]
        assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T + 2500) == ((T + 2000, 102.0), (T + 3000, 103.0))
        assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T) == (None, (T, 100.0))
    finally:
        sink.close()


def test_influx_v2_sink_on_victoria_metrics_writes_and_reads_back(victoria_metrics):
    sink = InfluxV2Sink(Sink(kind="influx_v2", url=victoria_metrics.url, timeout_s=5, reader="victoria_metrics"))
    sink.write(rows(10))
    sink.write(rows(10))
    sink.write(rows(5, seq0=100, bump=0.5))
    victoria_metrics.flush()
    # VictoriaMetrics keeps same-timestamp duplicates (no -dedup flag); the reader returns one per time
    exported = victoria_metrics.export('reading_energy_import_kwh{meter="m0-0"}')
    assert exported and exported[0]["metric"]["park"] == PARK
    assert sorted(set(exported[0]["timestamps"])) == [T + i * 1000 for i in range(10)]
    got = sink.series(PARK, "m0-0", "energy_import_kwh", T, T + 10_000)
    assert [t for t, _ in got] == [T + i * 1000 for i in range(10)]
    assert [v for _, v in got][5:] == [105.0, 106.0, 107.0, 108.0, 109.0]
    assert sink.series(PARK, "m0-0", "power_kw", T, T + 3000) == [(T, -1.5), (T + 1000, -1.5), (T + 2000, -1.5)]
    before, after = sink.neighbours(PARK, "m0-0", "energy_import_kwh", T + 7500)
    assert before == (T + 7000, 107.0) and after == (T + 8000, 108.0)
    assert sink.neighbours(PARK, "m0-0", "energy_import_kwh", T + 60_000) == ((T + 9000, 109.0), None)


def test_sinks_report_an_unreachable_store(tmp_path, influxdb_v1, victoria_metrics):
    influxdb_v1.stop()
    victoria_metrics.stop()
    for sink in (InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, timeout_s=2)),
                 InfluxV2Sink(Sink(kind="influx_v2", url=victoria_metrics.url, timeout_s=2,
                                   reader="victoria_metrics"))):
        with pytest.raises(SinkUnavailable) as err:
            sink.write(rows(1))
        assert not isinstance(err.value, SinkRejected)


def test_a_message_the_store_refuses_is_dead_lettered_not_retried_forever(tmp_path, influxdb_v1):
    """InfluxDB refuses a field whose type conflicts with the stored one (HTTP 400: field types are
    per measurement and shard, so here voltage_v, which only the bad message carries): that message
    goes to the dead letters, the good messages of the same flush are written."""
    config = parse_config(make_config(tmp_path, 1883, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                       "database": "refuse"}))
    influxdb_v1.query('CREATE DATABASE "refuse"')
    influxdb_v1.write('reading,park=ing-park,meter=m0-1 voltage_v="text" 1781488700000', db="refuse", precision="ms")
    ingest = Ingest(config, InfluxV1Sink(config.ingest.sink), make_engine(config.store.url))

    class Msg:
        def __init__(self, payload):
            self.topic, self.payload = "lingtan/v1/ing-park/gw-0/readings", payload
            self.mid, self.qos, self.dup = 1, 1, False

    gw = Gateway.__new__(Gateway)
    gw.gateway, gw.park, gw.meters, gw.seq, gw.sent = "gw-0", PARK, 1, 0, {}
    good = [gw.message(s) for s in range(3)]
    bad = json.dumps({"v": 1, "park": PARK, "gateway": "gw-0", "readings": [  # a string voltage_v is stored
        {"meter": "m0-1", "ts": "2026-06-15T02:00:00Z", "seq": 99, "values": {"voltage_v": 230.0}}]}).encode()
    ingest.pending = [(0, Msg(p)) for p in (good[0], bad, good[1], good[2])]
    assert ingest.flush() is True
    assert ingest.stats["written"] == 3 and ingest.stats["rejected"] == 1
    assert ingest.rejected_by_kind["store"] == 1
    stored = influxdb_v1.query("SELECT count(seq) FROM reading WHERE meter='m0-0'", db="refuse")
    assert stored["results"][0]["series"][0]["values"][0][1] == 3


def test_victoria_metrics_outage_mid_stream(tmp_path, mosquitto, victoria_metrics):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v2", "url": victoria_metrics.url,
                                                                  "reader": "victoria_metrics", "timeout_s": 2}),
                          "vm-outage")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        for step in range(60):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.stats["written"] >= 300, 20, message="first part")
        victoria_metrics.stop()
        for step in range(60, 200):
            gw.publish(gw.message(step))
        wait_for(lambda: worker.ingest.store_down_since is not None, 20, message="outage noticed")
        victoria_metrics.start()
        wait_for(lambda: worker.ingest.stats["written"] >= 1000 and not worker.ingest.pending, 30,
                 message="caught up")
    finally:
        worker.stop()
        gw.close()
    sink = InfluxV2Sink(config.ingest.sink)
    victoria_metrics.flush()
    stored = {}
    for i in range(5):
        for q in ("energy_import_kwh", "power_kw"):
            for t, v in sink.series(PARK, f"m0-{i}", q, T - 1, T + 10**7):
                stored.setdefault((f"m0-{i}", t), {})[q] = v
    assert stored == gw.sent


def test_stop_flushes_and_acknowledges_what_is_pending(tmp_path, mosquitto):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "t.db")}))
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    gw.publish(gw.message(0))
    wait_for(lambda: worker.ingest.pending or worker.ingest.stats["received"], 10, message="delivered")
    worker.stop()  # may stop before the periodic flush: the final flush writes and acknowledges
    assert worker.ingest.stats["received"] == 1 and worker.ingest.stats["acked"] == 1
    again = Worker(config)  # the same session: the first message is not redelivered, the next arrives
    gw.publish(gw.message(1))
    wait_for(lambda: again.ingest.stats["received"], 10, message="second message")
    again.stop()
    gw.close()
    assert again.ingest.stats["received"] == 1 and again.ingest.stats["redelivered"] == 0
    assert len(SqliteSink(str(tmp_path / "t.db")).series(PARK, "m0-0", "power_kw", 0, 2**62)) == 2
