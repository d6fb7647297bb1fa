"""`lingtan dlt645 scan|read` as real processes against the simulator's DL/T 645 meters."""

import re
import subprocess
import sys

from lingtan.kernel import dlt645 as codec
from tests.support import free_port
from tests.support.configs import config_of, meter, platform, write_config
from tests.support.gateway import REPO, SimThread

# eight meters; 000000000101 and 000000000201 share their lowest byte (01), so the search must
# go down to the second byte to tell them apart
ADDRESSES = ["000000000101", "000000000201", "000000000003", "210512345678", "000000000042",
             "123456789012", "000000000099", "999999999998"]


def dlt(mid: str, bus: str, address: str, **extra) -> dict:
    m = meter(mid, bus, 0, profile="generic_dlt645", **extra)
    m["modbus"] = {"bus": bus, "address": address}
    return m


def lingtan(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lingtan", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_scan_finds_every_address_on_a_bus_of_eight(tmp_path):
    buses = [{"id": "bus-tcp", "protocol": "dlt645", "transport": "rtu_over_tcp", "port": free_port()}]
    meters = [dlt(f"m{i}", "bus-tcp", a) for i, a in enumerate(ADDRESSES)]
    data = platform(meters, buses, free_port())
    path = write_config(data, tmp_path / "lingtan.yaml")
    with SimThread(config_of(data)):
        out = lingtan("dlt645", "scan", "--config", str(path), "--gateway", "gw-1", "--bus", "bus-tcp",
                      "--timeout", "0.1")
    assert out.returncode == 0, out.stderr
    found = re.findall(r"^address (\d{12}): ANSWERS", out.stdout, re.M)
    assert sorted(found) == sorted(ADDRESSES), out.stdout
    assert "8 meter(s) answer after" in out.stdout
    assert "configured but silent" not in out.stdout


def test_scan_names_a_configured_meter_that_is_silent(tmp_path):
    buses = [{"id": "bus-tcp", "protocol": "dlt645", "port": free_port()}]
    meters = [dlt("here", "bus-tcp", "000000000161"), dlt("gone", "bus-tcp", "000000000162")]
    data = platform(meters, buses, free_port())
    path = write_config(data, tmp_path / "lingtan.yaml")
    sim = SimThread(config_of(data))
    sim.server.faults.modes["gone"] = "offline"
    with sim:
        out = lingtan("dlt645", "scan", "--config", str(path), "--gateway", "gw-1", "--bus", "bus-tcp",
                      "--timeout", "0.1")
    assert out.returncode == 0, out.stderr
    assert "address 000000000161: ANSWERS  [meter here, profile generic_dlt645]" in out.stdout
    assert "configured but silent: address 000000000162 (meter gone)" in out.stdout


def test_read_prints_raw_frames_and_the_value_over_a_serial_line(tmp_path, pty_pair):
    buses = [{"id": "bus-485", "protocol": "dlt645", "transport": "rtu", "serial_port": pty_pair.a,
              "baudrate": 9600, "parity": "N"}]
    data = platform([dlt("grid", "bus-485", "000000000161", role="grid")], buses, free_port())
    data["simulator"] = {"serial_ports": {"gw-1/bus-485": pty_pair.b}}
    path = write_config(data, tmp_path / "lingtan.yaml")
    with SimThread(config_of(data), speed=1.0) as sim:
        before = sim.call(sim.server.values, "grid")["energy_import_kwh"]
        out = lingtan("dlt645", "read", "--config", str(path), "--gateway", "gw-1", "--bus", "bus-485",
                      "--address", "000000000161", "--di", "00010000")
        after = sim.call(sim.server.values, "grid")["energy_import_kwh"]
    assert out.returncode == 0, out.stderr
    request = re.search(r"^request: ([0-9A-F ]+)$", out.stdout, re.M).group(1)
    answer = re.search(r"^answer:  ([0-9A-F ]+)$", out.stdout, re.M).group(1)
    assert request == "FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16"  # the golden frame
    frame = codec.decode(bytes.fromhex(answer))
    assert frame.control == 0x91 and frame.address == "000000000161"
    value = float(re.search(r"^energy_import_kwh = ([0-9.]+) kWh", out.stdout, re.M).group(1))
    assert before - 0.005 <= value <= after + 0.005  # the counter as the meter showed it then


def test_read_refuses_a_bad_address_and_a_modbus_bus(tmp_path):
    buses = [{"id": "bus-dlt", "protocol": "dlt645", "port": free_port()}, {"id": "bus-mb", "port": free_port()}]
    data = platform([dlt("m", "bus-dlt", "1")], buses, free_port())
    path = write_config(data, tmp_path / "lingtan.yaml")
    out = lingtan("dlt645", "read", "--config", str(path), "--gateway", "gw-1", "--bus", "bus-dlt",
                  "--address", "12345X", "--di", "00010000")
    assert out.returncode != 0 and "meter address '12345X': must be up to 12 decimal digits" in out.stderr
    out = lingtan("dlt645", "read", "--config", str(path), "--gateway", "gw-1", "--bus", "bus-mb",
                  "--address", "1", "--di", "00010000")
    assert out.returncode != 0 and "--bus 'bus-mb': protocol modbus, not dlt645" in out.stderr
