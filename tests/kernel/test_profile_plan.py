"""Request planning honours a device's own limit on registers per request (`max_registers`).

The Eastron SDM630-Modbus V2 manual limits one request to 40 parameters = 80 registers, below
the protocol's 125 (Modbus application protocol v1.1b3, 6.3/6.4).
"""

import pytest

from lingtan.kernel import profile as profiles


def float_map(n: int, **extra) -> dict:
    return {"name": "wide", "title": "t", "source": "a datasheet, table 1", "addressing": 0, "max_gap": 100,
            "registers": [{"quantity": q, "address": 2 * i * 10, "function": 4, "type": "float32", "unit": u}
                          for i, (q, u) in enumerate([("power_kw", "kW"), ("voltage_v", "V"), ("current_a", "A"),
                                                       ("frequency_hz", "Hz"), ("power_factor", "1"),
                                                       ("reactive_power_kvar", "kvar")][:n])], **extra}


def test_max_registers_splits_requests_at_the_datasheet_limit():
    wide = profiles.parse_profile(float_map(6), "wide")  # registers at 0, 20, ..., 100 (+2 each)
    assert [b.count for b in profiles.plan(wide)] == [102]
    limited = profiles.parse_profile(float_map(6, max_registers=80), "wide")
    blocks = profiles.plan(limited)
    assert all(b.count <= 80 for b in blocks) and len(blocks) == 2
    covered = {a for b in blocks for a in range(b.start, b.start + b.count)}
    assert all({r.address, r.address + 1} <= covered for r in limited.registers)


def test_max_registers_above_the_protocol_limit_is_rejected():
    with pytest.raises(profiles.ProfileError, match="max_registers"):
        profiles.parse_profile(float_map(2, max_registers=126), "wide")


def test_shipped_sdm630_plan_is_within_its_80_register_limit():
    assert all(b.count <= 80 for b in profiles.plan(profiles.load("eastron_sdm630")))
