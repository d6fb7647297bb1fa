"""Commissioning commands as an installer runs them, against the simulator over Modbus TCP:
`lingtan modbus scan` (which unit ids answer) and `lingtan modbus read` (one register, decoded)."""

import re
import subprocess
import sys

import pytest

from lingtan.gateway.commission import parse_units
from lingtan.kernel.registers import decode_all
from tests.support import free_port
from tests.support.configs import config_of, meter, platform, write_config
from tests.support.gateway import REPO, SimThread


def lingtan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lingtan", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def park(tmp_path):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1, "retries": 2}]
    meters = [meter("grid", "bus-a", 1, role="grid"), meter("sdm", "bus-a", 5, profile="eastron_sdm630"),
              meter("gone", "bus-a", 9)]
    data = platform(meters, buses, free_port(), tmp_path / "spool.db")
    config = config_of(data)
    path = write_config(data, tmp_path / "park.yaml")
    with SimThread(config, speed=1.0) as sim:
        sim.server.faults.modes["gone"] = "offline"  # configured, but never answers
        yield str(path), sim


def test_scan_lists_the_units_that_answer_and_the_configured_ones_that_do_not(park):
    path, _ = park
    # Units 1, 5, 9 only: the simulator (pymodbus SimDevice) answers an unknown unit id with
    # exception 4 instead of staying silent as an RS-485 bus would (reported to its owner).
    out = lingtan("modbus", "scan", "--config", path, "--gateway", "gw-1", "--bus", "bus-a",
                  "--units", "1,5,9", "--timeout", "0.2", "--all")
    assert out.returncode == 0, out.stderr
    answering = re.findall(r"unit +(\d+): ANSWERS", out.stdout)
    assert answering == ["1", "5"], out.stdout
    assert "meter grid, profile generic_float32" in out.stdout
    # the SDM630 has no holding register 0 but is there: it answers ILLEGAL DATA ADDRESS
    assert re.search(r"unit +5: ANSWERS +answers with Modbus exception 2", out.stdout), out.stdout
    assert "2 unit(s) answer: [1, 5]" in out.stdout
    assert re.search(r"unit +9: absent +no answer", out.stdout), out.stdout
    assert "configured but silent: unit 9 (meter gone)" in out.stdout


def test_read_prints_raw_words_and_the_decoded_value(park):
    path, sim = park
    out = lingtan("modbus", "read", "--config", path, "--gateway", "gw-1", "--bus", "bus-a", "--unit", "5",
                  "--register", "0x0048", "--function", "4", "--type", "float32")
    assert out.returncode == 0, out.stderr
    assert re.search(r"72 \(0x0048\): +\d+ +0x[0-9A-F]{4}", out.stdout), out.stdout
    value = float(re.search(r"float32 \(big-endian words, big-endian bytes\): (\S+)", out.stdout).group(1))
    truth = sim.server.values("sdm")["energy_import_kwh"]  # total import kWh, register 30073
    assert value == pytest.approx(truth, rel=1e-4)

    out = lingtan("modbus", "read", "--config", path, "--gateway", "gw-1", "--bus", "bus-a", "--unit", "1",
                  "--profile", "generic_float32")
    assert out.returncode == 0, out.stderr
    got = float(re.search(r"energy_import_kwh = (\S+)", out.stdout).group(1))
    assert got == pytest.approx(sim.server.values("grid")["energy_import_kwh"], rel=1e-4)


def test_read_of_a_silent_unit_says_so_and_fails(park):
    path, _ = park
    out = lingtan("modbus", "read", "--config", path, "--gateway", "gw-1", "--bus", "bus-a", "--unit", "9",
                  "--register", "0", "--timeout", "0.2")
    assert out.returncode == 1
    assert "unit 9: no answer within 0.2 s (1 attempt(s))" in out.stderr
    out = lingtan("modbus", "read", "--config", path, "--gateway", "gw-1", "--bus", "bus-x", "--unit", "9",
                  "--register", "0")
    assert out.returncode == 2 and "gateway 'gw-1' has no bus 'bus-x'" in out.stderr


def test_units_and_word_decoding():
    assert parse_units("1-3,7, 5") == [1, 2, 3, 5, 7]
    with pytest.raises(ValueError, match="outside 0-247"):
        parse_units("240-250")
    # SDM630 manual: float32, high word first; 0x4348 0x0000 is 200.0
    assert decode_all([0x4348, 0x0000], "float32") == [200.0]
    assert decode_all([0x0000, 0x4348], "float32", word_order="little") == [200.0]
    assert decode_all([0xFFFF, 0x0001], "int16") == [-1, 1]
