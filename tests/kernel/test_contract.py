"""The wire contract: examples pass, bad payloads are rejected naming field and value."""

import json
from pathlib import Path

import pytest

from lingtan.kernel import contract

ROOT = Path(__file__).resolve().parents[2]


def message(**reading_overrides) -> dict:
    reading = {"meter": "grid-main", "ts": "2026-06-15T02:00:00.000Z", "seq": 7,
               "values": {"energy_import_kwh": 1234.5, "power_kw": -12.25}}
    reading.update(reading_overrides)
    return {"v": 1, "park": "demo-park", "gateway": "gw-demo", "sent_at": "2026-06-15T02:00:01Z",
            "readings": [reading]}


def test_documented_examples_validate():
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    assert len(blocks) >= 3
    kinds = {"readings": contract.validate_readings, "status": contract.validate_status,
             "health": contract.validate_health}
    seen = set()
    for block in blocks:
        payload = json.loads(block)
        kind = "readings" if "readings" in payload else "health" if "meters" in payload else "status"
        kinds[kind](payload)
        seen.add(kind)
    assert seen == set(kinds)


def test_schema_file_matches_code():
    on_disk = json.loads((ROOT / "docs" / "contract.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(contract.SCHEMAS)), \
        "run: lingtan contract-schema --out docs/contract.schema.json"


@pytest.mark.parametrize("overrides, needle", [
    ({"values": {"energy_import_kwh": -5.0}}, "readings[0].values.energy_import_kwh = -5.0"),
    ({"values": {"energy_kwh": 5.0}}, "energy_kwh"),
    ({"values": {"power_kw": "12"}}, "readings[0].values.power_kw = '12'"),
    ({"values": {}}, "readings[0].values"),
    ({"ts": "2026-06-15 10:00:00+08:00"}, "readings[0].ts = '2026-06-15 10:00:00+08:00'"),
    ({"seq": -1}, "readings[0].seq = -1"),
    ({"meter": "Grid Main"}, "readings[0].meter = 'Grid Main'"),
    ({"values": {"power_factor": 1.5}}, "readings[0].values.power_factor = 1.5"),
])
def test_bad_reading_names_field_and_value(overrides, needle):
    with pytest.raises(contract.ContractError) as err:
        contract.validate_readings(message(**overrides))
    assert needle in str(err.value)


def test_message_level_errors():
    bad = message()
    bad["v"] = 2
    with pytest.raises(contract.ContractError, match="v = 2"):
        contract.validate_readings(bad)
    bad = message()
    bad["readings"] = []
    with pytest.raises(contract.ContractError, match="readings"):
        contract.validate_readings(bad)


def test_time_text_round_trip():
    from datetime import UTC, datetime, timedelta, timezone
    t = datetime(2026, 6, 15, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    text = contract.utc_text(t)
    assert text == "2026-06-15T02:00:00.123Z"
    assert contract.parse_utc(text) == datetime(2026, 6, 15, 2, 0, 0, 123000, tzinfo=UTC)
