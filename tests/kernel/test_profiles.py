"""Device profiles: golden decode cases from datasheets, and invariants of every shipped profile.

The golden cases live in tests/cases/profiles/<profile>/*.yaml (see the README there); their
expected values were worked out by hand from the datasheets, never produced by `encode`.
"""

import math
from importlib import resources
from pathlib import Path

import pytest
import yaml

from lingtan.kernel.profile import (
    MAX_REGISTERS_PER_REQUEST,
    Profile,
    ProfileError,
    decode,
    encode,
    load,
    parse_profile,
    plan,
)
from lingtan.kernel.quantities import COUNTERS, QUANTITIES

CASES = Path(__file__).resolve().parents[1] / "cases" / "profiles"
SHIPPED = sorted(  # the Modbus profiles; DL/T 645 profiles: tests/kernel/test_dlt645_codec.py
    p.name.removesuffix(".yaml")
    for p in resources.files("lingtan.kernel.profiles").iterdir()
    if p.name.endswith(".yaml") and load(p.name.removesuffix(".yaml")).protocol == "modbus"
)
# The generic map has no datasheet; its only "source" is the contract, checked by the round trip.
WITHOUT_DATASHEET = {"generic_float32"}
CASE_FILES = sorted(CASES.glob("*/*.yaml"))

# One plausible value per contract quantity, small enough for every shipped register type
# (SunSpec int16 at SF -1 holds at most 3276.7 W-units) and not a multiple of every resolution.
SAMPLE = {
    "energy_import_kwh": 12345.67,
    "energy_export_kwh": 2345.6,
    "gas_m3": 4321.5,
    "heat_gj": 87.25,
    "heat_export_gj": 3.5,
    "water_m3": 765.25,
    "fuel_kg": 1500.0,
    "power_kw": -3.2,
    "reactive_power_kvar": 1.5,
    "voltage_v": 230.4,
    "current_a": 12.3,
    "frequency_hz": 49.98,
    "power_factor": 0.95,
    "gas_flow_m3h": 12.5,
    "heat_power_kw": 250.0,
    "water_flow_m3h": 3.75,
    "soc_pct": 81.5,
}


def _wire(case: dict) -> dict[tuple[int, int], int]:
    regs: dict[tuple[int, int], int] = {}
    for block in case["registers"]:
        for i, word in enumerate(block["words"]):
            assert 0 <= word <= 0xFFFF, f"{block}: word {word:#x} is not 16 bits"
            regs[(block["function"], block["start"] + i)] = word
    return regs


def _resolution(profile: Profile, quantity: str, sf: int) -> float:
    """Half of one step of the register, in contract units (0 for floating-point registers)."""
    reg = next(r for r in profile.registers if r.quantity == quantity)
    if reg.type.startswith("float"):
        return 0.0
    return abs(reg.scale) * 10.0 ** (sf if reg.sf_address is not None else 0) / 2


# --- golden cases ---------------------------------------------------------------------------------


def test_case_folders_match_shipped_profiles():
    folders = {p.name for p in CASES.iterdir() if p.is_dir()}
    assert folders <= set(SHIPPED), f"case folders without a profile: {folders - set(SHIPPED)}"
    missing = set(SHIPPED) - WITHOUT_DATASHEET - folders
    assert not missing, f"profiles without golden cases: {sorted(missing)}"


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_case(path: Path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile = load(path.parent.name)
    got = decode(profile, _wire(case))
    expected = case["expected"]
    assert set(got) == set(expected), f"decoded {sorted(got)}, expected {sorted(expected)}"
    for quantity, value in expected.items():
        assert got[quantity] == pytest.approx(value, rel=1e-6, abs=1e-9), quantity
    for quantity in case.get("absent", []):
        assert quantity not in got


def test_one_based_addressing():
    """Register 40001 of a 1-based datasheet is PDU address 0 on the wire."""
    profile = parse_profile(
        {
            "name": "one_based", "title": "t", "source": "hand-made 1-based map", "addressing": 1,
            "registers": [{"quantity": "voltage_v", "address": 1, "type": "float32", "unit": "V"}],
        },
        "one_based.yaml",
    )
    assert plan(profile)[0].start == 0
    assert decode(profile, {(3, 0): 0x4366, (3, 1): 0x0000}) == {"voltage_v": 230.0}


@pytest.mark.parametrize(
    ("word_order", "byte_order", "words"),
    [
        ("big", "big", [0x4366, 0x0000]),      # ABCD, most devices
        ("little", "big", [0x0000, 0x4366]),   # CDAB, "word swap"
        ("big", "little", [0x6643, 0x0000]),   # BADC, "byte swap"
        ("little", "little", [0x0000, 0x6643]),  # DCBA
    ],
)
def test_word_and_byte_order(word_order, byte_order, words):
    """230.0 V = 0x43 0x66 0x00 0x00 (bytes A B C D) in the four orders Modbus devices use."""
    profile = parse_profile(
        {
            "name": "orders", "title": "t", "source": "IEEE-754 binary32 of 230.0", "addressing": 0,
            "registers": [{"quantity": "voltage_v", "address": 0, "type": "float32", "unit": "V",
                           "word_order": word_order, "byte_order": byte_order}],
        },
        "orders.yaml",
    )
    assert decode(profile, {(3, 0): words[0], (3, 1): words[1]}) == {"voltage_v": 230.0}


@pytest.mark.parametrize(("type_", "word_order", "words", "scale", "value"), [
    ("int16", "big", [0xFF38], 0.1, -20.0),  # -200 × 0.1: two's complement
    ("uint16", "big", [0xFF38], 0.1, 6533.6),  # the same word unsigned: 65,336 × 0.1
    ("int32", "little", [0xFF38, 0xFFFF], 1.0, -200.0),  # low word first
    # 12,345,678,901,234 Wh = 0x0000_0B3A_73CE_2FF2, Wh -> kWh
    ("uint64", "big", [0x0000, 0x0B3A, 0x73CE, 0x2FF2], 0.001, 12_345_678_901.234),
    ("uint64", "little", [0x2FF2, 0x73CE, 0x0B3A, 0x0000], 0.001, 12_345_678_901.234),
    ("int64", "big", [0xFFFF, 0xFFFF, 0xFFFF, 0xFC18], 0.001, -1.0),  # -1000 Wh
    ("float64", "big", [0x4059, 0x0000, 0x0000, 0x0000], 1.0, 100.0),  # IEEE-754 binary64 of 100
])
def test_integer_and_64_bit_types(type_, word_order, words, scale, value):
    """Raw registers in, engineering value out, for the types and orders no shipped golden case uses;
    and the encoder (the simulator's side) gives back the same words."""
    profile = parse_profile(
        {
            "name": "types", "title": "t", "source": "worked by hand (two's complement, IEEE-754)",
            "addressing": 0,
            "registers": [{"quantity": "energy_import_kwh", "address": 10, "type": type_, "scale": scale,
                           "unit": "kWh", "word_order": word_order}],
        },
        "types.yaml",
    )
    registers = {(3, 10 + i): w for i, w in enumerate(words)}
    assert decode(profile, registers)["energy_import_kwh"] == pytest.approx(value, rel=1e-12)
    assert encode(profile, {"energy_import_kwh": value}) == registers


# --- invariants of every shipped profile ----------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_names_its_source_and_contract_units(name):
    profile = load(name)
    assert profile.name == name
    assert profile.source.strip()
    for reg in profile.registers:
        assert reg.unit == QUANTITIES[reg.quantity].unit, reg.quantity


@pytest.mark.parametrize("name", SHIPPED)
def test_plan_covers_every_register_exactly_once(name):
    profile = load(name)
    blocks = plan(profile)
    assert all(1 <= b.count <= MAX_REGISTERS_PER_REQUEST for b in blocks)
    cover: dict[tuple[int, int], int] = {}
    for b in blocks:
        for a in range(b.start, b.start + b.count):
            cover[(b.function, a)] = cover.get((b.function, a), 0) + 1
    assert max(cover.values()) == 1, "blocks overlap"
    for reg in profile.registers:
        base = profile.pdu_address(reg.address)
        for a in range(base, base + reg.words):
            assert cover.get((reg.function, a)) == 1, f"{reg.quantity}: word {a} not read"
        if reg.sf_address is not None:
            assert cover.get((reg.function, profile.pdu_address(reg.sf_address))) == 1, f"{reg.quantity}: SF"


@pytest.mark.parametrize("sf", [0, -1])
@pytest.mark.parametrize("name", SHIPPED)
def test_encode_decode_round_trip(name, sf):
    profile = load(name)
    values = {r.quantity: SAMPLE[r.quantity] for r in profile.registers}
    got = decode(profile, encode(profile, values, sf=sf))
    assert set(got) == set(values)
    for quantity, value in values.items():
        step = _resolution(profile, quantity, sf)
        # float32 keeps 24 significant bits; integers are exact up to half a step
        assert math.isclose(got[quantity], value, rel_tol=1e-6, abs_tol=step * (1 + 1e-9) + 1e-12), (
            quantity, got[quantity], value)


INTEGER_COUNTERS = [
    (name, reg.quantity)
    for name in SHIPPED
    for reg in load(name).registers
    if reg.quantity in COUNTERS and not reg.type.startswith("float")
]


def test_some_profiles_have_integer_counters():
    assert INTEGER_COUNTERS


@pytest.mark.parametrize(("name", "quantity"), INTEGER_COUNTERS, ids=lambda v: str(v))
def test_integer_counter_rolls_over(name, quantity):
    """A counter beyond the register's range wraps like the device register does."""
    profile = load(name)
    reg = next(r for r in profile.registers if r.quantity == quantity)
    step = abs(reg.scale)  # sf = 0
    wrapped = 7  # raw value after the wrap; not 0, which SunSpec acc32 marks as "not accumulated"
    beyond = (2 ** (16 * reg.words) + wrapped) * step
    others = {r.quantity: SAMPLE[r.quantity] for r in profile.registers if r.quantity != quantity}
    regs = encode(profile, others, sf=0) | encode(profile, {quantity: beyond}, sf=0)
    assert decode(profile, regs)[quantity] == pytest.approx(wrapped * step)


# --- malformed profile files ---------------------------------------------------------------------

VALID = """
name: bad
title: test profile
source: hand-made for a test
addressing: 0
registers:
  - {quantity: power_kw, address: 0x34, function: 4, type: float32, scale: 0.001, unit: kW}
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "value"),
    [
        ("quantity: power_kw", "quantity: power_w", "registers[0]", "'power_w'"),
        ("unit: kW", "unit: W", "registers[0]", "'W'"),
        ("type: float32", "type: float24", "registers[0].type", "'float24'"),
        ("function: 4", "function: 6", "registers[0].function", "6"),
        ("addressing: 0", "addressing: 2", "addressing", "2"),
        ("address: 0x34", "address: 70000", "registers[0].address", "70000"),
    ],
    ids=["unknown quantity", "W for power_kw", "bad type", "bad function", "bad addressing", "address"],
)
def test_malformed_profile_is_rejected_naming_key_and_value(tmp_path, old, new, key, value):
    path = tmp_path / "bad.yaml"
    assert old in VALID
    path.write_text(VALID.replace(old, new), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        parse_profile(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    message = str(err.value)
    assert str(path) in message
    assert key in message
    assert value in message


def test_valid_base_profile_loads():
    assert parse_profile(yaml.safe_load(VALID), "bad.yaml").registers[0].quantity == "power_kw"


def test_wrong_unit_message_names_the_contract_unit():
    with pytest.raises(ProfileError, match=r"unit 'W' after scaling, contract unit is 'kW'"):
        parse_profile(yaml.safe_load(VALID.replace("unit: kW", "unit: W")), "bad.yaml")


def test_quantity_mapped_twice_is_rejected():
    data = yaml.safe_load(VALID)
    data["registers"].append(dict(data["registers"][0], address=0x36))
    with pytest.raises(ProfileError, match="power_kw"):
        parse_profile(data, "bad.yaml")


def test_address_zero_in_a_one_based_map_is_rejected():
    data = yaml.safe_load(VALID.replace("addressing: 0", "addressing: 1").replace("0x34", "0"))
    with pytest.raises(ProfileError, match="address 0 is below 1"):
        parse_profile(data, "bad.yaml")


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match="eastron_sdm630"):
        load("no_such_meter")
