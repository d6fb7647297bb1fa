"""A backlog drains in batches of `flush_bytes`, the next validated while one is written; a store
outage in the middle of it puts both back in order, and every reading lands once."""

import os
import signal
import threading
from datetime import timedelta

import pytest

from lingtan.ingest.service import make_ingest
from lingtan.kernel.config import parse_config
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import Latest
from tests.support import wait_for
from tests.support.ingest import PARK, T0, Gateway, count_points, influx_points, make_config

FLUSH_BYTES = 3000  # about four of these messages: a backlog of 300 is ~75 batches


def start(config):
    ingest = make_ingest(config)
    thread = threading.Thread(target=ingest.run, kwargs={"flush_bytes": FLUSH_BYTES}, daemon=True)
    thread.start()
    wait_for(ingest.connected.is_set, 10, message="connected")
    return ingest, thread


def stop(ingest, thread) -> None:
    ingest.stop.set()
    thread.join(10)


def outage(influx, kind: str, down: bool) -> None:
    """`stopped`: refused at once. `frozen` (SIGSTOP): the store takes the request and never
    answers, so a write times out while the next batch waits validated."""
    if kind == "stopped":
        influx.stop() if down else influx.start()
    else:
        os.kill(influx._server._proc.pid, signal.SIGSTOP if down else signal.SIGCONT)


@pytest.mark.parametrize("kind", ["stopped", "frozen"])
def test_backlog_through_a_store_outage_in_small_batches(tmp_path, mosquitto, influxdb_v1, kind):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "backlog", "timeout_s": 2}), "backlog")
    stop(*start(config))  # the persistent session now queues for the worker
    gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
    ingest = thread = None
    try:
        for step in range(150):
            for gw in gateways:
                gw.publish(gw.message(step))
        outage(influxdb_v1, kind, down=True)
        try:
            ingest, thread = start(config)
            wait_for(lambda: ingest.stats["sink_errors"] >= 2, 20, message="failed flushes")
            held = wait_for(lambda: ingest.held if ingest.held == 300 else 0, 10, message="the whole backlog held")
            assert held == 300 and ingest.stats["written"] == 0
        finally:
            outage(influxdb_v1, kind, down=False)
        wait_for(lambda: ingest.stats["written"] >= 1500 and ingest.held == 0, 30, message="backlog drained")
        for step in range(150, 175):  # and live messages after it
            for gw in gateways:
                gw.publish(gw.message(step))
        wait_for(lambda: ingest.stats["written"] >= 1750 and ingest.held == 0, 30, message="live messages written")
    finally:
        if ingest is not None:
            stop(ingest, thread)
        for gw in gateways:
            gw.close()
    sent = {k: v for gw in gateways for k, v in gw.sent.items()}
    assert influx_points(influxdb_v1, "backlog") == sent
    assert count_points(influxdb_v1, "backlog") == len(sent) == 1750
    assert ingest.stats["received"] == ingest.stats["acked"] == 350  # each message acknowledged once
    assert ingest.stats["written"] == 1750
    assert ingest.stats["flushes"] >= 300 * 700 // FLUSH_BYTES // 2  # small batches, not one big one
    last = int((T0 + timedelta(seconds=174)).timestamp() * 1000)
    with sessions(make_engine(config.store.url))() as s:
        for g in range(2):
            assert s.get(Latest, (PARK, f"m{g}-3")).values == sent[(f"m{g}-3", last)]


def test_platform_database_down_mid_backlog_puts_written_batches_back(tmp_path, mosquitto, influxdb_v1, postgres):
    """The ledger commit of a batch fails while the next batch is being written: both go back
    unacknowledged, in order; their readings are written again (idempotent) once PostgreSQL is up."""
    data = make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                  "database": "ledger", "timeout_s": 2})
    data["store"]["url"] = postgres.url
    config = parse_config(data, "ledger-down")
    ingest, thread = start(config)
    gateways = [Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")]
    try:
        postgres.stop()
        try:
            for step in range(150):
                for gw in gateways:
                    gw.publish(gw.message(step))
            wait_for(lambda: ingest.stats["sink_errors"] >= 2, 30, message="failed ledger commits")
            held = wait_for(lambda: ingest.held if ingest.held == 300 else 0, 10, message="everything held")
            assert held == 300 and ingest.stats["written"] == ingest.stats["acked"] == 0
        finally:
            postgres.start()
        wait_for(lambda: ingest.stats["written"] >= 1500 and ingest.held == 0, 60, message="drained")
    finally:
        stop(ingest, thread)
        for gw in gateways:
            gw.close()
    sent = {k: v for gw in gateways for k, v in gw.sent.items()}
    assert influx_points(influxdb_v1, "ledger") == sent
    assert count_points(influxdb_v1, "ledger") == len(sent) == 1500
    assert ingest.stats["received"] == ingest.stats["acked"] == 300
    last = int((T0 + timedelta(seconds=149)).timestamp() * 1000)
    with sessions(make_engine(config.store.url))() as s:
        for g in range(2):
            assert s.get(Latest, (PARK, f"m{g}-0")).values == sent[(f"m{g}-0", last)]
