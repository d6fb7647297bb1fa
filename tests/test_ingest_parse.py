"""Ingest validation without a broker: every rejection names what is wrong; good data pass."""

import json

import pytest
import yaml

from accounting.config import parse_config
from api.configfile import demo_config_text
from ingest.consumer import Ingest, Rejected

TOPIC = "lingtan/v1/demo-park/gw-demo/readings"


class NoSink:
    def write(self, rows):  # never reached by parse()
        raise AssertionError


@pytest.fixture
def ingest(tmp_path):
    data = yaml.safe_load(demo_config_text())
    data["store"]["url"] = f"sqlite:///{tmp_path / 'p.db'}"
    from api.db import make_engine
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
