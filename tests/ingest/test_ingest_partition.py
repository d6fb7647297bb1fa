"""Static partitioning of gateways between ingest workers (no shared subscription group).

Mosquitto 2.0 restores plain subscriptions of persistent sessions after a restart (it does not
restore shared ones), so readings published right after a broker restart, before the workers
are back, are queued for them and nothing is lost.
"""

import threading

from lingtan.ingest.service import make_ingest
from lingtan.kernel.config import parse_config
from tests.support import wait_for
from tests.support.ingest import Gateway, count_points, influx_points, make_config


def test_topics_split_the_gateways(tmp_path):
    config = parse_config(make_config(tmp_path, 1883, {"kind": "sqlite", "path": str(tmp_path / "ts.db")},
                                      gateways=5, shared_group=None))
    topics = [make_ingest(config, partition=(i, 2)).topics() for i in range(2)]
    assert topics[0] == [f"lingtan/v1/ing-park/gw-{g}/readings" for g in (0, 2, 4)]
    assert topics[1] == ["lingtan/v1/ing-park/gw-1/readings", "lingtan/v1/ing-park/gw-3/readings",
                         "lingtan/v1/other-park/gw-x/readings"]
    assert make_ingest(config).topics() == ["lingtan/v1/+/+/readings"]
    shared = parse_config(make_config(tmp_path, 1883, {"kind": "sqlite", "path": str(tmp_path / "ts.db")},
                                      shared_group="ingest"))
    assert make_ingest(shared, partition=(0, 2)).topics() == ["$share/ingest/lingtan/v1/+/+/readings"]


def test_partitioned_workers_survive_a_broker_restart(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "part"}, gateways=2, shared_group=None))
    workers = [make_ingest(config, client_id=f"ingest-{i}", partition=(i, 2)) for i in range(2)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in threads:
        t.start()
    for w in workers:
        wait_for(w.connected.is_set, 10, message="worker connected")
    gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
    try:
        for step in range(40):
            for gw in gateways:
                gw.publish(gw.message(step))
        wait_for(lambda: sum(w.stats["written"] for w in workers) >= 400, 20, message="first part")
        for gw in gateways:
            gw.close()
        mosquitto.stop()
        mosquitto.start()
        # publish at once, before the workers have reconnected: the restored plain
        # subscriptions queue these messages for them
        gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
        for gw in gateways:
            gw.seq = 10_000
        for step in range(40, 80):
            for gw in gateways:
                gw.publish(gw.message(step))
        wait_for(lambda: sum(w.stats["written"] for w in workers) >= 800, 30, message="after broker restart")
    finally:
        for w in workers:
            w.stop.set()
        for t in threads:
            t.join(10)
        for gw in gateways:
            gw.close()
    assert workers[0].stats["written"] == workers[1].stats["written"] == 400  # each its own gateway, once
    assert count_points(influxdb_v1, "part") == 800
    assert len(influx_points(influxdb_v1, "part")) == 800


def test_cli_partition_runs_worker_i_of_n(tmp_path):
    """`lingtan ingest --partition I/N` on several hosts: each process takes its share of the gateways."""
    import argparse

    import pytest

    from lingtan.cli.main import _ingest_threads, partition_arg

    config = parse_config(make_config(tmp_path, 1883, {"kind": "sqlite", "path": str(tmp_path / "ts.db")},
                                      gateways=4, shared_group=None))
    assert partition_arg("1/3") == (1, 3)
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(argparse.ArgumentTypeError, match="--partition"):
            partition_arg(bad)
    [(thread, _stop)] = _ingest_threads(config, 1, (1, 2))
    worker = thread._target.__self__
    assert worker.client_id == "lingtan-ingest-1"
    assert worker.topics() == ["lingtan/v1/ing-park/gw-1/readings", "lingtan/v1/ing-park/gw-3/readings"]
