"""Ingest validation without a broker: every rejection names what is wrong; good data pass."""

import json

import pytest
import yaml

from lingtan.cli.configfile import demo_config_text
from lingtan.ingest.consumer import Ingest, Rejected
from lingtan.kernel.config import parse_config

TOPIC = "lingtan/v1/demo-park/gw-demo/readings"


class NoSink:
    def write(self, rows):  # never reached by parse()
        raise AssertionError


@pytest.fixture
def ingest(tmp_path):
    data = yaml.safe_load(demo_config_text())
    data["store"]["url"] = f"sqlite:///{tmp_path / 'p.db'}"
    from lingtan.store.db import make_engine
    config = parse_config(data)
    return Ingest(config, NoSink(), make_engine(config.store.url))


def payload(**over) -> bytes:
    msg = {"v": 1, "park": "demo-park", "gateway": "gw-demo",
           "readings": [{"meter": "grid-main", "ts": "2026-06-15T02:00:00.000Z", "seq": 3,
                         "values": {"energy_import_kwh": 10.5}}]}
    msg.update(over)
    return json.dumps(msg).encode()


def test_good_message_becomes_rows(ingest):
    rows = ingest.parse(TOPIC, payload())
    assert len(rows) == 1
    r = rows[0]
    assert (r.park, r.meter, r.gateway, r.seq, r.values) == ("demo-park", "grid-main", "gw-demo", 3,
                                                              {"energy_import_kwh": 10.5})
    assert r.ts_ms == 1781488800000


@pytest.mark.parametrize("topic, body, needle", [
    (TOPIC, b"\xff\xfe", "payload is not JSON"),
    (TOPIC, b"[1, 2]", "contract v1"),
    (TOPIC, payload(v=2), "v = 2"),
    ("lingtan/v1/demo-park/gw-other/readings", payload(), "does not match park 'demo-park' / gateway 'gw-demo'"),
    ("lingtan/v1/x/gw-demo/readings", payload(park="x"), "gateway 'gw-demo' is not configured for park 'x'"),
    (TOPIC, payload(readings=[{"meter": "nope", "ts": "2026-06-15T02:00:00Z", "seq": 1,
                               "values": {"power_kw": 1}}]),
     "readings[0].meter = 'nope': not a meter of gateway 'gw-demo'"),
    (TOPIC, payload(readings=[{"meter": "grid-main", "ts": "2026-06-15T02:00:00Z", "seq": 1,
                               "values": {"power_kw": 1e9}}]), "readings[0].values.power_kw = 1000000000.0"),
])
def test_rejections_name_the_problem(ingest, topic, body, needle):
    with pytest.raises(Rejected) as err:
        ingest.parse(topic, body)
    assert needle in str(err.value)


def test_oversized_payload(ingest):
    big = payload(readings=[{"meter": "grid-main", "ts": "2026-06-15T02:00:00Z", "seq": i,
                             "values": {"power_kw": 1.0}} for i in range(20000)])
    with pytest.raises(Rejected, match=r"exceeds ingest.max_payload_bytes \(1048576\)"):
        ingest.parse(TOPIC, big)


@pytest.mark.parametrize("mutate, needle", [
    (lambda m: m["readings"][0].update(ts="2026-02-30T00:00:00Z"),
     "readings[0].ts = '2026-02-30T00:00:00Z': not a valid UTC time"),
    (lambda m: m["readings"][0].update(ts="1999-12-31T23:59:59Z"), "it must lie between 2000-01-01 and 2199-12-31"),
    (lambda m: m["readings"][0].update(seq=2**63), "readings[0].seq = 9223372036854775808: it must be at most"),
    (lambda m: m["readings"][0]["values"].update(energy_import_kwh=True), "readings[0].values.energy_import_kwh"),
])
def test_values_the_stores_cannot_hold_are_rejected(ingest, mutate, needle):
    msg = json.loads(payload())
    mutate(msg)
    with pytest.raises(Rejected) as err:
        ingest.parse(TOPIC, json.dumps(msg).encode())
    assert needle in str(err.value)


def test_nan_and_infinity_are_not_json(ingest):
    for text in (b"NaN", b"Infinity", b"-Infinity"):
        body = payload().replace(b"10.5", text)
        with pytest.raises(Rejected, match="not JSON"):
            ingest.parse(TOPIC, body)


def test_milliseconds_are_exact(ingest):
    """2026-06-15T02:00:00.001Z is 1781488800001 ms, not a float rounded down to ...000."""
    for frac, ms in ((".001", 1), (".057", 57), (".999999", 999), ("", 0), (".5", 500)):
        body = payload(readings=[{"meter": "grid-main", "ts": f"2026-06-15T02:00:00{frac}Z", "seq": 1,
                                  "values": {"energy_import_kwh": 1}}])
        assert ingest.parse(TOPIC, body)[0].ts_ms == 1781488800000 + ms


MUTATIONS = [
    lambda m: m.update(v=1.0), lambda m: m.update(v=True), lambda m: m.update(sent_at="2026-06-15T02:00:00Z"),
    lambda m: m.update(sent_at="2026-06-15T02:00:00Z\n"), lambda m: m.update(sent_at=5), lambda m: m.update(extra=1),
    lambda m: m.update(readings=[]), lambda m: m.update(readings={}), lambda m: m.update(park=["x"]),
    lambda m: m["readings"][0].update(ts="2026-06-15T02:00:00Z\n"),
    lambda m: m["readings"][0].update(ts="２０２６-06-15T02:00:00Z"),
    lambda m: m["readings"][0].update(ts="2026-06-15 02:00:00Z"), lambda m: m["readings"][0].update(seq=-1),
    lambda m: m["readings"][0].update(seq=1.0), lambda m: m["readings"][0].update(seq=True),
    lambda m: m["readings"][0].update(meter=["grid-main"]), lambda m: m["readings"][0].update(extra=1),
    lambda m: m["readings"][0].pop("seq"), lambda m: m["readings"][0].update(values={}),
    lambda m: m["readings"][0].update(values={"power_kw": 1e6}),
    lambda m: m["readings"][0].update(values={"power_kw": 1e6 + 1}),
    lambda m: m["readings"][0].update(values={"power_factor": -1}),
    lambda m: m["readings"][0].update(values={"watts": 1}),
    lambda m: m["readings"][0].update(values={"power_kw": "1"}),
    lambda m: m["readings"][0].update(values={"power_kw": None}),
    lambda m: m["readings"][0].update(values={"energy_import_kwh": 0}), lambda m: m["readings"][0].update(values=[1]),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_fast_path_never_accepts_what_the_schema_rejects(ingest, mutate):
    """The fast path is an optimisation: what it accepts, the full check (schema + identities) accepts
    with the same rows; what it declines, the full check decides."""
    from lingtan.kernel import contract
    msg = json.loads(payload())
    mutate(msg)
    fast = ingest.validator._fast(TOPIC, msg)
    try:
        slow = ingest.validator._checked(TOPIC, msg)
    except Rejected:
        slow = None
    if fast is not None:
        contract.validate_readings(msg)
        assert slow == fast
