"""Poison messages on real Mosquitto, real ingest and real stores: one bad message costs one dead
letter and stalls nothing; future-dated readings never reach `latest`; a retained bad message is
dead-lettered once; a float seq is refused by validation, not by InfluxDB; the ledger writes its
rows in key order."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from lingtan.ingest.ledger import Ledger
from lingtan.kernel import contract
from lingtan.kernel.config import parse_config
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DeadLetter, Dirty, GatewayClock, Latest
from lingtan.store.timeseries.base import Row
from tests.support import wait_for
from tests.support.ingest import PARK, T0, Gateway, Worker, count_points, influx_points, make_config, subscribed

TOPIC = contract.readings_topic("lingtan", PARK, "gw-0")


def envelope(gateway: str = "gw-0", **over) -> dict:
    return {"v": 1, "park": PARK, "gateway": gateway, **over}


def reading(meter: str, ts: datetime, seq: int = 1, **values) -> dict:
    return {"meter": meter, "ts": contract.utc_text(ts), "seq": seq, "values": values or {"power_kw": 1.0}}


# Payloads PostgreSQL text cannot hold, or whose strings are not encodable UTF-8 once parsed.
POISON = [
    b'{"v":1,"park":"ing-park","gateway":"gw-0\x00","readings":[]}',  # a raw NUL: not JSON, not PG text
    b'{"v":1,"park":"ing-park","gateway":"gw-0\\u0000","readings":[]}',  # an escaped NUL: JSON, a NUL str
    b'\xff\xfe{"v":1,"park":"ing-park"}',  # not UTF-8
    b'{"v":1,"park":"ing-park","gateway":"\\ud800","readings":[]}',  # a lone surrogate
    b'{"v":1,"park":"ing-park","gateway":"gw-0","readings":[{"meter":"m0-0\\u0000\\udfff","ts":1}]}',
    b"\x00" * 64,
    "\u00e9\u0000".encode() + b"\xc3",  # valid UTF-8, a NUL, then a cut sequence
]


def settled(worker, n: int):
    return lambda: worker.ingest.stats["received"] >= n and worker.ingest.held == 0


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_nul_bytes_and_bad_utf8_cost_one_dead_letter_each_and_stall_nothing(tmp_path, mosquitto, request, db):
    data = make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")})
    if db == "postgres":
        data["store"]["url"] = request.getfixturevalue("postgres").url
    config = parse_config(data, db)
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        base, written = subscribed(worker, gw), worker.ingest.stats["written"]
        for step in range(10):
            gw.publish(gw.message(step))
            if step == 3:
                for p in POISON:
                    gw.publish(p)
        wait_for(settled(worker, base + 10 + len(POISON)), 30, message="every message settled and acknowledged")
    finally:
        worker.stop()
        gw.close()
    assert worker.ingest.stats["written"] - written == 50
    assert worker.ingest.stats["acked"] == worker.ingest.stats["received"] == base + 10 + len(POISON)
    with sessions(make_engine(config.store.url))() as s:
        letters = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))
        newest = s.get(Latest, (PARK, "m0-0"))
    assert len(letters) == len(POISON)
    for letter, sent in zip(letters, POISON, strict=True):
        assert "\x00" not in letter.payload and "\x00" not in letter.reason
        # the exact bytes: the text when it decodes to them, else payload_raw
        assert (letter.payload.encode() if letter.payload_raw is None else letter.payload_raw) == sent
        assert letter.reason.strip() and letter.topic == TOPIC
    assert letters[0].payload == '{"v":1,"park":"ing-park","gateway":"gw-0\\x00","readings":[]}'
    assert letters[2].payload.startswith("\\xff\\xfe{")
    assert newest.ts.replace(tzinfo=UTC) == T0 + timedelta(seconds=9)  # latest kept moving after the poison


def test_a_dead_letter_the_database_refuses_is_counted_and_blocks_nothing(tmp_path, mosquitto, postgres, caplog):
    """A dead letter PostgreSQL still refuses (a trigger here) is logged and counted; the good
    readings around it are written, committed to `latest` and acknowledged."""
    data = make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")})
    data["store"]["url"] = postgres.url
    config = parse_config(data, "refused")
    engine = make_engine(config.store.url)  # migrates
    with engine.begin() as c:
        c.execute(text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                       "RAISE EXCEPTION 'refused by the test trigger'; END $$ LANGUAGE plpgsql"))
        c.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON dead_letter FOR EACH ROW "
                       "WHEN (NEW.gateway = 'gw-1') EXECUTE FUNCTION refuse()"))
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        base, written = subscribed(worker, gw), worker.ingest.stats["written"]
        with caplog.at_level(logging.ERROR, logger="lingtan.ingest"):
            for step in range(6):
                gw.publish(gw.message(step))
                if step == 2:
                    gw.publish(b"refused", contract.readings_topic("lingtan", PARK, "gw-1"))
                    gw.publish(b"kept")
            wait_for(settled(worker, base + 8), 30, message="every message settled and acknowledged")
    finally:
        worker.stop()
        gw.close()
    assert worker.ingest.stats["written"] - written == 30 and worker.ingest.stats["acked"] == base + 8
    assert worker.ingest.stats["dead_letters_lost"] == 1
    assert any("dead letter" in r.getMessage() and "gw-1" in r.getMessage() for r in caplog.records)
    with sessions(engine)() as s:
        assert [d.payload for d in s.scalars(select(DeadLetter))] == ["kept"]
        assert s.get(Latest, (PARK, "m0-4")).ts.replace(tzinfo=UTC) == T0 + timedelta(seconds=5)


def test_future_readings_are_dead_lettered_and_latest_keeps_moving(tmp_path, mosquitto):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")}),
                          "future")
    assert config.ingest.max_clock_ahead_s == 300
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    now = datetime.now(UTC).replace(microsecond=0)
    future = datetime(2099, 6, 15, tzinfo=UTC)
    try:
        base = subscribed(worker, gw)
        gw.publish(gw.message(0))  # June: old readings are backfill
        gw.publish(json.dumps(envelope(readings=[reading("m0-0", future, 2, power_kw=999.0)])).encode())
        gw.publish(json.dumps(envelope(readings=[reading("m0-1", now, 3),
                                                 reading("m0-0", now + timedelta(hours=1), 4)])).encode())
        gw.publish(json.dumps(envelope(readings=[reading("m0-0", now + timedelta(seconds=60), 5,
                                                         power_kw=42.0)])).encode())  # within the skew
        wait_for(settled(worker, base + 4), 30, message="settled")
    finally:
        worker.stop()
        gw.close()
    with sessions(make_engine(config.store.url))() as s:
        letters = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))
        newest = s.get(Latest, (PARK, "m0-0"))
        other = s.get(Latest, (PARK, "m0-1"))
    assert newest.ts.replace(tzinfo=UTC) == now + timedelta(seconds=60) and newest.values == {"power_kw": 42.0}
    assert other.ts.replace(tzinfo=UTC) == T0  # the message with a reading an hour ahead is refused whole
    assert len(letters) == 2
    assert "readings[0].ts = '2099-06-15T00:00:00.000Z'" in letters[0].reason
    assert "ahead of" in letters[0].reason and "ingest.max_clock_ahead_s (300" in letters[0].reason
    assert "readings[1].ts" in letters[1].reason
    assert worker.ingest.rejected_by_kind["clock"] == 2


def test_gateway_clock_offset_is_measured_from_sent_at(tmp_path, mosquitto):
    """A gateway an hour ahead: its readings are refused, its offset is stored; a right one ~0."""
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")}),
                          "offset")
    worker = Worker(config)
    ahead, right = Gateway(mosquitto.port, "gw-0"), Gateway(mosquitto.port, "gw-1")
    try:
        base = subscribed(worker, right)
        t = datetime.now(UTC) + timedelta(hours=1)
        ahead.publish(json.dumps(envelope(sent_at=contract.utc_text(t), readings=[reading("m0-0", t)])).encode())
        t = datetime.now(UTC)
        right.publish(json.dumps(envelope("gw-1", sent_at=contract.utc_text(t),
                                          readings=[reading("m1-0", t)])).encode())
        wait_for(settled(worker, base + 2), 30, message="settled")
    finally:
        worker.stop()
        ahead.close()
        right.close()
    with sessions(make_engine(config.store.url))() as s:
        clocks = {c.gateway: c.offset_s for c in s.scalars(select(GatewayClock))}
    assert clocks.keys() == {"gw-0", "gw-1"}
    assert 3600 - 30 < clocks["gw-0"] <= 3600.5
    assert -30 < clocks["gw-1"] <= 0.5
    assert worker.ingest.rejected_by_kind["clock"] == 1


def test_a_retained_bad_message_is_dead_lettered_once_across_restarts(tmp_path, mosquitto):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(tmp_path / "ts.db")},
                                      shared_group=None), "retained")  # shared subscriptions get no retained
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        worker = Worker(config, "ingest-a")
        base = subscribed(worker, gw)
        gw.client.publish(TOPIC, b"retained and bad", qos=1, retain=True).wait_for_publish(10)
        wait_for(settled(worker, base + 1), 30, message="settled")
        worker.stop()
        for client_id in ("ingest-a", "ingest-b"):  # the same session resumed, then a new one
            worker = Worker(config, client_id)
            wait_for(settled(worker, 1), 30, message=f"{client_id} got the retained message")
            worker.stop()
    finally:
        gw.close()
    with sessions(make_engine(config.store.url))() as s:
        letters = list(s.scalars(select(DeadLetter)))
    assert [d.payload for d in letters] == ["retained and bad"]
    assert worker.ingest.stats["retained_rejected"] == 1


def test_float_seq_is_refused_by_validation_not_by_influxdb(tmp_path, mosquitto, influxdb_v1):
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "influx_v1", "url": influxdb_v1.url,
                                                                  "database": "seq"}), "seq")
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    bad = {"seq": 1.0, "v": 1.0, "values": True}
    try:
        base = subscribed(worker, gw)
        gw.publish(gw.message(0))
        for field, value in bad.items():
            message = envelope(readings=[reading("m0-0", T0 + timedelta(seconds=30))])
            if field == "v":
                message["v"] = value
            elif field == "values":
                message["readings"][0]["values"]["power_kw"] = value
            else:
                message["readings"][0][field] = value
            gw.publish(json.dumps(message).encode())
        gw.publish(gw.message(1))
        wait_for(settled(worker, base + 5), 30, message="settled")
    finally:
        worker.stop()
        gw.close()
    assert influx_points(influxdb_v1, "seq") == gw.sent and count_points(influxdb_v1, "seq") == 15  # with the probe
    with sessions(make_engine(config.store.url))() as s:
        reasons = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert len(reasons) == 3, reasons
    assert "readings[0].seq = 1.0: it must be an integer" in reasons[0]
    assert "v = 1.0: it must be an integer" in reasons[1]
    assert "readings[0].values.power_kw = True" in reasons[2]
    assert not any("store" in r for r in reasons)


def test_ledger_writes_rows_in_key_order_on_postgresql(tmp_path, postgres):
    """Two workers whose flushes touch the same meters lock their rows in one order (no deadlock)."""
    data = make_config(tmp_path, 1883, {"kind": "sqlite", "path": str(tmp_path / "ts.db")})
    data["store"]["url"] = postgres.url
    config = parse_config(data, "order")
    engine = make_engine(config.store.url)
    ledger = Ledger(config, engine)
    seen: list[list] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn, _cursor, statement, params, _context, _executemany):
        if "latest" in statement or "dirty" in statement:
            seen.append(params)

    base = int(T0.timestamp() * 1000)
    meters = [f"m{g}-{i}" for g in (1, 0) for i in (4, 2, 0, 3, 1)]
    rows = [Row(PARK, m, base + k * 86_400_000, "gw-0", 1, {"power_kw": 1.0}) for k in (2, 0, 1) for m in meters]
    ledger.commit(rows, [], "t" * 32)
    assert len(seen) == 2  # one statement each for dirty and latest
    for params in seen:
        keys = [tuple(p.get(k) for k in ("park", "meter", "day")) for p in _flat(params)]
        assert len(keys) in (10, 30) and keys == sorted(keys), keys
    with sessions(engine)() as s:
        assert len(list(s.scalars(select(Dirty)))) == 30 and len(list(s.scalars(select(Latest)))) == 10


def _flat(params) -> list[dict]:
    """The parameter rows of an executemany, or of one INSERT of many VALUES (SQLAlchemy's
    insertmanyvalues numbers the keys: park__0, meter__0, park__1, ...)."""
    if isinstance(params, (list, tuple)):
        return [dict(p) for p in params]
    rows: dict[int, dict] = {}
    for key, value in params.items():
        name, _, n = key.rpartition("__")
        if name and n.isdigit():
            rows.setdefault(int(n), {})[name] = value
    return [rows[n] for n in sorted(rows)] or [dict(params)]
