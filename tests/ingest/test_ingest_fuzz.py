"""Fuzzing the payload parser and validator with hypothesis: 100,000 generated payloads, valid
ones and mutations of them (structure and bytes), under a fixed seed and a bounded run.

Hypothesis draws, per example, a valid message, odd values and the seed of a random.Random;
from them a plain mutator makes a flush of PER_FLUSH payloads (hypothesis itself takes ~15 ms
per drawn message here, too slow for 100,000 in the suite). The flush is taken by a real Ingest
worker (`Ingest._take`, the code path a live flush runs). For every payload: no exception but Rejected escapes, what is
accepted is within the contract, the config and the stores' limits, a valid payload is accepted
with exactly its readings, every rejection gives a dead-letter row the databases can hold; and
for the flush: the good readings around the bad ones are all there, in order, and every bad
payload is exactly one dead letter. tests/ingest/test_ingest_poison.py has the end-to-end part.
"""

import copy
import json
import math
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lingtan.ingest.consumer import Ingest
from lingtan.ingest.validation import MAX_SEQ, MIN_TS_MS, Rejected
from lingtan.kernel import contract
from lingtan.kernel.config import parse_config
from lingtan.store.timeseries.base import lines as reference_lines
from tests.support.ingest import PARK, make_config

EXAMPLES = int(os.environ.get("LINGTAN_FUZZ_EXAMPLES", "500"))
PER_FLUSH = 200  # payloads per example: EXAMPLES * PER_FLUSH = 100,000
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
EPOCH, MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)
NOW_MS = int(NOW.timestamp() * 1000)
GATEWAYS = {"gw-0": [f"m0-{i}" for i in range(5)], "gw-1": [f"m1-{i}" for i in range(5)]}
KINDS = {"size", "json", "contract", "identity", "value", "store", "clock"}
QUANTITIES = ["energy_import_kwh", "power_kw", "energy_export_kwh", "reactive_power_kvar"]  # 0..1000 valid


class NoSink:
    """Never written: the fuzz stops at the taken batch (validation and dead letters)."""

    def write(self, rows, lines):
        raise AssertionError("not written")


@pytest.fixture(scope="module")
def worker(tmp_path_factory) -> Ingest:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = parse_config(make_config(tmp, 1883, {"kind": "sqlite", "path": str(tmp / "ts.db")}), "fuzz")
    return Ingest(config, NoSink(), engine=None, clock=lambda: NOW)


times = st.one_of(  # valid: from 2000 to the allowed skew (300 s) ahead of the receive time
    st.integers(MIN_TS_MS, NOW_MS + 300_000),
    st.integers(NOW_MS - 86_400_000, NOW_MS + 300_000),
    st.sampled_from([MIN_TS_MS, NOW_MS, NOW_MS + 300_000]),
).map(lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))
values = st.dictionaries(st.sampled_from(QUANTITIES), st.one_of(
    st.floats(0, 1000, allow_nan=False), st.integers(0, 1000)), min_size=1, max_size=3)


@st.composite
def valid_message(draw) -> tuple[str, dict]:
    gateway = draw(st.sampled_from(sorted(GATEWAYS)))
    meters = GATEWAYS[gateway]
    readings = [{"meter": draw(st.sampled_from(meters)), "ts": contract.utc_text(draw(times)),
                 "seq": draw(st.integers(0, MAX_SEQ)), "values": draw(values)}
                for _ in range(draw(st.integers(1, 4)))]
    message = {"v": 1, "park": PARK, "gateway": gateway, "readings": readings}
    if draw(st.booleans()):
        message["sent_at"] = contract.utc_text(draw(times))
    return gateway, message


# What a hostile or broken gateway puts where a value belongs.
odd = st.one_of(
    st.sampled_from([None, True, False, 1.0, -1, 2**63, 2**64, 1e308, -0.0, "", [], {}, "\x00", "\ud800",
                     "gw-0\n", "m0-0\x00", "2026-02-30T00:00:00Z", "2026-06-15T02:00:00+08:00", "x" * 70,
                     "2200-01-01T00:00:00Z", "1999-12-31T23:59:59Z", float("inf"), float("nan"),
                     "2099-06-15T00:00:00.000Z", contract.utc_text(NOW + timedelta(seconds=300.001))]),
    st.text(max_size=12), st.integers(), st.floats())


ODD = [None, True, False, 1.0, -1, 2**63, 2**64, 1e308, -0.0, "", [], {}, "\x00", "\ud800", "gw-0\n",
       "m0-0\x00", "2026-02-30T00:00:00Z", "2026-06-15T02:00:00+08:00", "x" * 70, "2200-01-01T00:00:00Z",
       "1999-12-31T23:59:59Z", float("inf"), float("nan"), "2099-06-15T00:00:00.000Z",
       contract.utc_text(NOW + timedelta(seconds=300.001)), 1e6 + 1, -1e-9, "ing-park", "other-park", "gw-1"]
SPLICE = [0, 0x22, 0x5C, 0x7B, 0x7D, 0x80, 0xC3, 0xED, 0xFF, ord("1"), ord(",")]


def random_valid(rnd) -> tuple[str, dict]:
    """A valid message from `rnd` (hypothesis seeds it): as valid_message(), a hundred times faster."""
    gateway = rnd.choice(sorted(GATEWAYS))
    ms = [rnd.randint(MIN_TS_MS, NOW_MS + 300_000), rnd.randint(NOW_MS - 86_400_000, NOW_MS + 300_000)]
    readings = [{"meter": rnd.choice(GATEWAYS[gateway]),
                 "ts": contract.utc_text(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rnd.choice(ms))),
                 "seq": rnd.choice([0, rnd.randint(0, 2**31), MAX_SEQ]),
                 "values": {q: rnd.choice([rnd.uniform(0, 1000), rnd.randint(0, 1000)])
                            for q in rnd.sample(QUANTITIES, rnd.randint(1, 3))}}
                for _ in range(rnd.randint(1, 4))]
    message = {"v": 1, "park": PARK, "gateway": gateway, "readings": readings}
    if rnd.random() < 0.5:
        message["sent_at"] = readings[0]["ts"]
    return gateway, message


def mutated(rnd, message: dict, odd: list) -> bytes:
    """The message with one to three things changed: a field's value, a key dropped or added."""
    message = json.loads(json.dumps(message))
    readings = message["readings"]
    for _ in range(rnd.randint(1, 3)):
        reading = rnd.choice(readings) if type(readings) is list and readings else message
        inner = reading.get("values") if type(reading) is dict else None
        target = rnd.choice([t for t in (message, reading, inner) if type(t) is dict])
        action = rnd.choice(["set", "drop", "add"])
        if action == "set" and target:
            target[rnd.choice(sorted(target))] = copy.deepcopy(rnd.choice(odd))  # ODD holds [] and {}: never shared
        elif action == "drop" and target:
            del target[rnd.choice(sorted(target))]
        else:
            target[rnd.choice(["extra", "seq", "power_kw", "sent_at", "\x00"])] = copy.deepcopy(rnd.choice(odd))
    text = json.dumps(message, allow_nan=True, ensure_ascii=rnd.random() < 0.5, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def mangled(rnd, message: dict) -> bytes:
    """The message's bytes cut, or with bytes replaced or inserted."""
    data = bytearray(json.dumps(message).encode())
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randint(0, len(data))
        action = rnd.choice(["cut", "put", "insert"])
        if action == "cut":
            del data[i:]
        elif action == "put" and i < len(data):
            data[i] = rnd.choice(SPLICE)
        else:
            data.insert(i, rnd.choice(SPLICE))
    return bytes(data)


def targeted(rnd, gateway: str, message: dict) -> tuple[str, bytes]:
    """A valid message with one thing the contract allows but the config or the stores do not:
    (the topic's gateway, payload)."""
    message = json.loads(json.dumps(message))
    other = "gw-1" if gateway == "gw-0" else "gw-0"
    reading = rnd.choice(message["readings"])
    kind = rnd.randrange(7)
    if kind == 0:
        gateway = other  # published on another gateway's topic
    elif kind == 1:
        reading["meter"] = rnd.choice(GATEWAYS[other])  # another gateway's meter
    elif kind == 2:
        message["park"] = "other-park"
    elif kind == 3:
        reading["ts"] = rnd.choice(["2026-02-30T00:00:00.000Z", "2199-12-31T23:59:60Z", "1999-12-31T23:59:59Z"])
    elif kind == 4:
        reading["seq"] = rnd.choice([MAX_SEQ + 1, 2**64])
    else:  # more than the allowed skew (300 s) ahead of the receive time
        ahead = rnd.choice([300_001, 3_600_000, 2_000_000_000_000])
        reading["ts"] = contract.utc_text(EPOCH + MS * min(NOW_MS + ahead, 7_258_118_399_999))
    return gateway, json.dumps(message).encode()


def flush_of(rnd, base: tuple[str, dict], odd: list) -> list[tuple[str, bytes, dict | None]]:
    """PER_FLUSH payloads: the drawn message and its mutations first, then random valid ones,
    mutations, mangled bytes and noise; (gateway, payload, the message if valid else None)."""
    pool = ODD + odd
    gateway, message = base
    out = [(gateway, json.dumps(message).encode(), message), (gateway, mutated(rnd, message, pool), None),
           (gateway, mangled(rnd, message), None)]
    while len(out) < PER_FLUSH:
        gateway, message = random_valid(rnd)
        kind = rnd.random()
        if kind < 0.4:
            out.append((gateway, json.dumps(message).encode(), message))
        elif kind < 0.6:
            out.append((gateway, mutated(rnd, message, pool), None))
        elif kind < 0.75:
            out.append((*targeted(rnd, gateway, message), None))
        elif kind < 0.95:
            out.append((gateway, mangled(rnd, message), None))
        else:
            out.append((gateway, rnd.randbytes(rnd.randint(0, 64)), None))
    return out


def as_valid(drawn: tuple[str, dict]) -> tuple[str, bytes, dict]:
    gateway, message = drawn
    return gateway, json.dumps(message).encode(), message


def message_of(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(0, topic.encode())
    msg.payload, msg.qos, msg.dup, msg.retain = payload, 1, False, False
    return msg


def check_accepted(worker: Ingest, gateway: str, rows, lines) -> None:
    assert rows and len(lines) == len(rows) and lines == reference_lines(rows)
    limit = NOW_MS + 300_000
    for r in rows:
        assert r.park == PARK and r.gateway == gateway and r.meter in GATEWAYS[gateway]
        assert type(r.seq) is int and 0 <= r.seq <= MAX_SEQ
        assert type(r.ts_ms) is int and MIN_TS_MS <= r.ts_ms <= limit
        for v in r.values.values():
            assert type(v) in (int, float) and math.isfinite(v)


def test_fuzzed_flushes_lose_no_good_reading_and_dead_letter_every_bad_payload(worker):
    tally: Counter[str] = Counter()  # what the run covered: checked at the end

    @seed(20261202)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(rnd_seed=st.integers(0, 2**64), base=valid_message(), odd=st.lists(odd, min_size=2, max_size=2))
    def fuzz(rnd_seed, base, odd):
        flush = flush_of(random.Random(rnd_seed), base, odd)  # a plain Random: hypothesis' own logs every call
        tally["payloads"] += len(flush)
        validator = worker.validator
        expected_rows, bad = [], 0
        for gateway, payload, valid in flush:
            topic = contract.readings_topic("lingtan", PARK, gateway)
            try:
                rows, lines, _sent = validator.parse_message(topic, payload, NOW_MS)
            except Rejected as exc:
                assert valid is None, f"a valid payload was refused: {exc}"
                assert str(exc).strip() and exc.kind in KINDS
                tally[exc.kind] += 1
                bad += 1
                continue
            check_accepted(worker, gateway, rows, lines)
            tally["accepted"] += 1
            if valid is not None:
                assert [(r.meter, r.ts_ms, r.seq, r.values) for r in rows] == [
                    (x["meter"], (contract.parse_utc(x["ts"]) - EPOCH) // MS, x["seq"], x["values"])
                    for x in valid["readings"]]
            expected_rows.extend(rows)
        worker.pending = [(worker.generation, message_of(contract.readings_topic("lingtan", PARK, g), p))
                          for g, p, _ in flush]
        worker.pending_bytes = sum(len(p) for _, p, _ in flush)
        batch = worker._take()
        assert batch.rows == expected_rows  # every good reading, in order, whatever came between
        assert len(batch.dead) == bad
        sent = {p[:65536] for _, p, _ in flush}
        for letter, _ in batch.dead:
            for field in ("topic", "reason", "park", "gateway", "payload"):
                assert "\x00" not in letter[field]
                letter[field].encode("utf-8")  # no lone surrogate: encodable for every database
            assert (letter["payload"].encode() if letter["payload_raw"] is None else letter["payload_raw"]) \
                in sent

    fuzz()
    assert tally["payloads"] >= EXAMPLES * PER_FLUSH, tally
    # the mix is worth the time: good and bad payloads, and every kind of rejection validation gives
    assert tally["accepted"] > tally["payloads"] // 5, tally
    assert all(tally[k] > 100 for k in ("json", "contract", "identity", "value", "clock")), tally


def test_valid_messages_of_the_generator_are_accepted(worker):
    """The generator's valid messages are valid (else the fuzz above would prove little)."""
    @settings(max_examples=200, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(drawn=valid_message())
    def check(drawn):
        gateway, payload, message = as_valid(drawn)
        rows, _lines, _sent = worker.validator.parse_message(contract.readings_topic("lingtan", PARK, gateway),
                                                             payload, NOW_MS)
        assert len(rows) == len(message["readings"])

    check()


def test_fuzzed_payloads_through_mosquitto_ingest_and_sqlite(tmp_path, mosquitto):
    """The end-to-end part: fuzzed flushes published over real Mosquitto to a real ingest worker
    with a real SQLite store and platform database. Every good reading is stored exactly once,
    every bad payload is exactly one dead letter (its bytes kept), nothing is left unacknowledged."""
    from lingtan.ingest.validation import Validator
    from lingtan.store.db import make_engine, sessions
    from lingtan.store.models import DeadLetter
    from lingtan.store.timeseries.sqlite import SqliteSink
    from tests.support import wait_for
    from tests.support.ingest import Gateway, Worker, subscribed

    path = tmp_path / "ts.db"
    config = parse_config(make_config(tmp_path, mosquitto.port, {"kind": "sqlite", "path": str(path)}), "e2e-fuzz")
    oracle = Validator(config)
    rnd = random.Random(20261202)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    plan, good, bad = [], {}, []
    for _ in range(3):
        for gateway, payload, _valid in flush_of(rnd, random_valid(rnd), []):
            topic = contract.readings_topic("lingtan", PARK, gateway)
            verdicts = []
            for at in (now_ms, now_ms + 120_000):  # a payload near the skew limit could flip: left out
                try:
                    verdicts.append(oracle.parse_message(topic, payload, at)[0])
                except Rejected:
                    verdicts.append(None)
            if (verdicts[0] is None) != (verdicts[1] is None):
                continue
            plan.append((topic, payload))
            if verdicts[0] is None:
                bad.append(payload[:65536])
            else:
                for r in verdicts[0]:
                    good.setdefault((r.meter, r.ts_ms), []).append(r)
    assert len(plan) > 550 and len(bad) > 150 and len(good) > 300
    worker = Worker(config)
    gw = Gateway(mosquitto.port, "gw-0")
    try:
        base = subscribed(worker, gw)  # its probe: readings of gw-0's meters at T0 - 1 s
        for r in oracle.parse(contract.readings_topic("lingtan", PARK, "gw-0"), gw.message(-1)):
            good.setdefault((r.meter, r.ts_ms), []).insert(0, r)  # the probe came first
        written = worker.ingest.stats["written"]
        for topic, payload in plan:
            gw.publish(payload, topic)
        wait_for(lambda: worker.ingest.stats["received"] >= base + len(plan) and worker.ingest.held == 0, 60,
                 message="every message settled and acknowledged")
    finally:
        worker.stop()
        gw.close()
    assert worker.ingest.stats["acked"] == base + len(plan)
    assert worker.ingest.stats["written"] - written == sum(len(rs) for rs in good.values()) - 5
    sink = SqliteSink(str(path))
    stored = {}
    for meter in {m for m, _ in good}:
        for q in QUANTITIES:
            for ts, value in sink.series(PARK, meter, q, 0, 2**62):
                stored.setdefault((meter, ts), {})[q] = value
    # one value per (meter, quantity, time): the last one sent (stores overwrite, never add)
    want: dict = {}
    for key, rs in good.items():
        for r in rs:
            want.setdefault(key, {}).update({q: float(v) for q, v in r.values.items()})
    assert stored == want
    with sessions(make_engine(config.store.url))() as s:
        letters = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    assert sorted(d.payload.encode() if d.payload_raw is None else d.payload_raw for d in letters) == sorted(bad)
