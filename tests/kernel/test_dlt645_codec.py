"""The DL/T 645 codec against golden frames from the standard's reprints and meter manuals
(tests/cases/dlt645/frames.yaml), and its refusals of damaged frames."""

from datetime import datetime
from importlib import resources
from pathlib import Path

import pytest
import yaml

from lingtan.kernel import dlt645 as codec
from lingtan.kernel import profile as profiles

CASES = yaml.safe_load((Path(__file__).parents[1] / "cases" / "dlt645" / "frames.yaml").read_text(encoding="utf-8"))


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize("case", CASES["frames"], ids=lambda c: c["name"])
def test_golden_frame(case):
    request = codec.read_request(case["address"], case["di"], case.get("preamble", 0))
    assert request == hexbytes(case["request"])
    if "answer" not in case:
        return
    sent = codec.decode(request)
    answer = codec.decode(hexbytes(case["answer"]))
    assert answer.address == case["address"] and answer.from_meter and not answer.abnormal
    payload, follows = codec.answer_payload(sent, answer)
    assert not follows
    fmt = codec.parse_format(case["format"], case.get("signed", False))
    assert codec.decode_value(payload, fmt) == pytest.approx(case["value"])
    assert codec.encode_value(case["value"], fmt) == payload  # and back


def test_abnormal_answer_names_the_error_word():
    case = CASES["abnormal"][0]
    sent = codec.decode(codec.read_request(case["address"], case["di"]))
    answer = codec.decode(hexbytes(case["answer"]))
    assert answer.abnormal and answer.control == 0xD1
    with pytest.raises(codec.MeterError, match=case["message"]) as err:
        codec.answer_payload(sent, answer)
    assert err.value.word == case["error_word"]
    assert "password" in codec.error_text(0x04) and "other error" in codec.error_text(0x01)


def test_long_reply_in_follow_up_frames():
    case = CASES["long_reply"]
    request = codec.read_request(case["address"], case["di"], 0)
    assert request == hexbytes(case["request"])
    first = codec.decode(hexbytes(case["first"]))
    part1, follows = codec.answer_payload(codec.decode(request), first)
    assert follows and first.control == 0xB1
    follow_request = codec.followup_request(case["address"], case["di"], 1, 0)
    assert follow_request == hexbytes(case["followup_request"])
    part2, follows = codec.answer_payload(codec.decode(follow_request), codec.decode(hexbytes(case["followup"])))
    assert not follows
    data = part1 + part2
    fmt = codec.parse_format("XXXXXX.XX")
    values = [codec.decode_value(data[i:i + 4], fmt) for i in range(0, len(data), 4)]
    assert values == pytest.approx(case["values"])


def test_read_address_and_time_sync_frames():
    assert codec.read_address_request(0) == hexbytes(CASES["read_address"]["request"])
    answer = codec.decode(hexbytes(CASES["read_address"]["answer"]))
    assert answer.function == codec.READ_ADDRESS and answer.address == CASES["read_address"]["address"]
    t = datetime.fromisoformat(str(CASES["time_sync"]["time"]))
    assert codec.time_sync_request(t, 0) == hexbytes(CASES["time_sync"]["request"])


def test_checksum_error_is_refused_with_the_sums():
    raw = bytearray(hexbytes(CASES["frames"][0]["answer"]))
    raw[14] ^= 0x01  # one bit of the value flipped on the line: 59H → 58H
    with pytest.raises(codec.FrameError, match=r"checksum 0x8A: the bytes sum to 0x89"):
        codec.decode(bytes(raw))


def test_missing_offset_is_refused():
    """A device that forgets the +33H: the identifier then reads CD CD CE CD, not the one asked."""
    plain = bytes([0x68, 0x61, 0x01, 0, 0, 0, 0, 0x68, 0x91, 0x08, 0x00, 0x00, 0x01, 0x00, 0x26, 0, 0, 0])
    raw = plain + bytes([sum(plain) & 0xFF, 0x16])
    sent = codec.decode(codec.read_request("000000000161", "00010000"))
    with pytest.raises(codec.FrameError, match=r"answer for identifier CDCECDCD, the request was 00010000"):
        codec.answer_payload(sent, codec.decode(raw))
    with pytest.raises(codec.FrameError, match="not BCD"):
        codec.decode_value(bytes([0xF3, 0x00, 0x00, 0x00]), codec.parse_format("XXXXXX.XX"))


@pytest.mark.parametrize(("raw", "message"), [
    ("68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 15", "end byte 0x15: must be 16H"),
    ("68 61 01 00 00 00 00 68 91 09 33 33 34 33 59 33 33 33 8A 16", "length field L = 9"),
    ("68 61 01 00 00 00 00 67 91 08 33 33 34 33 59 33 33 33 8A 16", "start bytes 0x68, 0x67"),
    ("68 61 01", "shortest frame has 12"),
])
def test_damaged_frames_are_refused(raw, message):
    with pytest.raises(codec.FrameError, match=message):
        codec.decode(hexbytes(raw))


def test_addresses_and_identifiers():
    assert codec.address_bytes("161") == bytes([0x61, 0x01, 0, 0, 0, 0])  # short: leading zeros
    with pytest.raises(codec.FrameError, match=r"meter address '12345678901X'"):
        codec.address_bytes("12345678901X")
    with pytest.raises(codec.FrameError, match="data identifier '0001000'"):
        codec.di_bytes("0001000")


def test_signed_values_and_counter_wrap():
    fmt = codec.parse_format("XX.XXXX", signed=True)
    assert codec.decode_value(bytes([0x56, 0x34, 0x92]), fmt) == pytest.approx(-12.3456)  # top bit: sign
    assert codec.encode_value(-12.3456, fmt) == bytes([0x56, 0x34, 0x92])
    energy = codec.parse_format("XXXXXX.XX")
    assert codec.decode_value(codec.encode_value(1_000_000.25, energy), energy) == pytest.approx(0.25)


def test_profiles_load_and_refuse_bad_items():
    generic = profiles.load("generic_dlt645")
    assert generic.protocol == "dlt645" and profiles.counter_modulus(generic, "energy_import_kwh") == 1e6
    holley = profiles.load("holley_dtz545")
    raw = profiles.encode_dlt645(holley, {"energy_import_kwh": 4000.0, "voltage_a_v": 10000.0}, ct=40, vt=100)
    assert raw["00010000"] == codec.encode_value(1.0, codec.parse_format("XXXXXX.XX"))  # 4000 / 40 / 100
    assert profiles.decode_dlt645(holley, raw, ct=40, vt=100) == pytest.approx(
        {"energy_import_kwh": 4000.0, "voltage_a_v": 10000.0})
    bad = {"protocol": "dlt645", "name": "x", "title": "x", "source": "a manual, page 3",
           "identifiers": [{"quantity": "power_kw", "di": "0203000", "format": "XX.XXXX", "unit": "kW"}]}
    with pytest.raises(profiles.ProfileError, match=r"identifiers\[0\]\.di = '0203000'"):
        profiles.parse_profile(bad, "test.yaml")
    bad["identifiers"][0].update(di="02030000", format="XX,XXXX")
    with pytest.raises(profiles.ProfileError, match="format 'XX,XXXX'"):
        profiles.parse_profile(bad, "test.yaml")
    bad["identifiers"][0].update(format="XX.XXXX", secondary="ct_vt")
    with pytest.raises(profiles.ProfileError, match="needs the profile's `ratios`"):
        profiles.parse_profile(bad, "test.yaml")


_NAMES = [p.name.removesuffix(".yaml") for p in resources.files("lingtan.kernel.profiles").iterdir()
          if p.name.endswith(".yaml")]
DLT645_PROFILES = sorted(n for n in _NAMES if profiles.load(n).protocol == "dlt645")


def test_published_answers_decode_through_the_profiles():
    """The golden answers' value bytes through the shipped profiles give the sources' values."""
    by_di = {(c["address"], c["di"]): c for c in CASES["frames"] if "answer" in c}
    for name, address, di, quantity in [("generic_dlt645", "000000000161", "00010000", "energy_import_kwh"),
                                        ("generic_dlt645", "000000000161", "00020000", "energy_export_kwh"),
                                        ("generic_dlt645_1997", "138000130754", "9010", "energy_import_kwh"),
                                        ("generic_dlt645_1997", "000000000003", "B611", "voltage_a_v")]:
        case = by_di[(address, di)]
        sent = codec.decode(codec.read_request(address, di))
        payload, _ = codec.answer_payload(sent, codec.decode(hexbytes(case["answer"])))
        got = profiles.decode_dlt645(profiles.load(name), {di: payload})
        assert got == {quantity: pytest.approx(case["value"])}, (name, di)


@pytest.mark.parametrize("name", DLT645_PROFILES)
def test_shipped_dlt645_profile_invariants(name):
    profile = profiles.load(name)
    assert profile.name == name and len(profile.source) >= 8
    assert len({i.di.upper() for i in profile.identifiers}) == len(profile.identifiers)
    values = {i.quantity: (-7.0 if i.signed else 7.0) for i in profile.identifiers}  # fits every format
    ct, vt = (40.0, 1.0) if profile.ratios else (1.0, 1.0)
    got = profiles.decode_dlt645(profile, profiles.encode_dlt645(profile, values, ct, vt), ct, vt)
    assert got == pytest.approx(values, abs=0.01 * ct)
