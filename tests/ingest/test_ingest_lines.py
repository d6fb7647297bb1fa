"""Line protocol built while validating is byte for byte the line protocol the stores always got.

Ingest's fast path builds each reading's line in its one pass over the values and parses each
distinct time of a message once; `store.timeseries.base.lines` builds lines from rows. Both are
held here to the implementation the stores were written against (kept verbatim below), on a few
thousand generated readings: floats of every magnitude, ints, -0.0, every field order, times
with and without fractions, repeated and distinct within a message.
"""

import calendar
import json
import random

import pytest

from lingtan.ingest.validation import Validator
from lingtan.kernel.config import parse_config
from lingtan.kernel.quantities import QUANTITIES
from lingtan.store.timeseries.base import line_bodies, line_protocol, lines
from tests.support.ingest import PARK, make_config

GATEWAYS, METERS = 3, 20


def reference_line_protocol(rows) -> bytes:
    """store.timeseries.base.line_protocol as it was before lines were built during validation."""
    prefixes: dict[tuple[str, str], str] = {}
    out: list[str] = []
    append = out.append
    for park, meter, ts_ms, _gateway, seq, values in rows:
        prefix = prefixes.get((park, meter))
        if prefix is None:
            prefix = prefixes[(park, meter)] = f"reading,park={park},meter={meter} "
        append(f"{prefix}{','.join([f'{k}={v!r}' for k, v in values.items()])},seq={seq}i {ts_ms}\n")
    return "".join(out).encode()


def expected_ms(text: str) -> int:
    """Epoch ms of a contract time, worked out without datetime.fromisoformat (the code's way)."""
    date, clock = text[:-1].split("T")
    whole, _, fraction = clock.partition(".")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, s = (int(x) for x in whole.split(":"))
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000 + int((fraction + "000")[:3])


def value(rng: random.Random, name: str):
    q = QUANTITIES[name]
    lo = -1e300 if q.minimum is None else q.minimum
    hi = 1.7976931348623157e308 if q.maximum is None else q.maximum
    pick = rng.random()
    if pick < 0.15:
        return rng.choice([int(max(lo, 0)), int(min(hi, 2**62)), int(min(hi, 12345))])  # ints stay ints
    if pick < 0.2:
        return rng.choice([x for x in (0.0, -0.0, float(lo), float(hi), 5e-324, 1e-5, 1e16) if lo <= x <= hi])
    if pick < 0.5:
        return round(rng.uniform(max(lo, 0), min(hi, 1e6)), rng.randint(0, 6))  # what meters send
    # any magnitude the bounds allow, as repr() writes it (exponents, 17 digits)
    x = rng.uniform(0.5, 1) * 10 ** rng.randint(-12, 20)
    x = -x if lo < 0 and rng.random() < 0.5 else x
    return x if lo <= x <= hi else float(lo)


def message(rng: random.Random, g: int) -> dict:
    times = []
    for _ in range(rng.randint(1, 4)):  # a few distinct times per message, each used many times
        fraction = rng.choice(["", ".5", ".057", ".999999", ".1234", ".000"])
        times.append(f"{rng.randint(2000, 2199)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                     f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}{fraction}Z")
    readings = []
    for _ in range(rng.randint(1, 150)):
        names = rng.sample(sorted(QUANTITIES), rng.randint(1, 6))  # any subset, in any order
        readings.append({"meter": f"m{g}-{rng.randrange(METERS)}", "ts": rng.choice(times),
                         "seq": rng.choice([0, rng.randrange(10**6), 2**63 - 1]),
                         "values": {n: value(rng, n) for n in names}})
    return {"v": 1, "park": PARK, "gateway": f"gw-{g}", "sent_at": times[0], "readings": readings}


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lines")
    return Validator(parse_config(make_config(tmp, 1883, {"kind": "sqlite", "path": str(tmp / "ts.db")},
                                              gateways=GATEWAYS, meters=METERS), "lines"))


def test_lines_built_while_validating_equal_the_reference(validator):
    rng = random.Random(20261201)
    total = 0
    for k in range(60):
        msg = message(rng, k % GATEWAYS)
        topic = f"lingtan/v1/{PARK}/{msg['gateway']}/readings"
        assert validator._fast(topic, msg) is not None, "generated messages take the fast path"
        rows, built = validator.parse_lines(topic, json.dumps(msg).encode())
        assert len(built) == len(rows) == len(msg["readings"])
        assert "".join(built).encode() == reference_line_protocol(rows)
        assert lines(rows) == built and line_protocol(rows) == reference_line_protocol(rows)
        assert [r.ts_ms for r in rows] == [expected_ms(r["ts"]) for r in msg["readings"]]
        assert [r.values for r in rows] == [r["values"] for r in msg["readings"]]
        # the schema path (which turns ints into floats) agrees on rows, and on lines for its rows
        slow = validator._checked(topic, msg)
        assert slow == rows and line_protocol(slow) == reference_line_protocol(slow)
        total += len(rows)
    assert total > 3000


def test_request_bodies_split_prebuilt_lines_at_batch_lines(validator):
    rng = random.Random(7)
    msg = message(rng, 0)
    msg["readings"] = msg["readings"] * (1 + 40 // len(msg["readings"]))
    rows, built = validator.parse_lines(f"lingtan/v1/{PARK}/gw-0/readings", json.dumps(msg).encode())
    for prebuilt in (built, None):
        bodies = list(line_bodies(rows, prebuilt, 7))
        assert b"".join(bodies) == reference_line_protocol(rows)
        assert all(b.count(b"\n") == 7 for b in bodies[:-1]) and 1 <= bodies[-1].count(b"\n") <= 7


def test_golden_line(validator):
    """The documented example line (docs/ingest.md), from a message."""
    msg = {"v": 1, "park": PARK, "gateway": "gw-0", "readings": [
        {"meter": "m0-1", "ts": "2026-06-15T02:00:00.000Z", "seq": 1041,
         "values": {"energy_import_kwh": 930315.66, "energy_export_kwh": 9500.77, "power_kw": 114.2}}]}
    _rows, built = validator.parse_lines(f"lingtan/v1/{PARK}/gw-0/readings", json.dumps(msg).encode())
    assert built == [f"reading,park={PARK},meter=m0-1 energy_import_kwh=930315.66,energy_export_kwh=9500.77,"
                     "power_kw=114.2,seq=1041i 1781488800000\n"]
