"""`lingtan modbus read|scan` and `lingtan dlt645` refuse bad command-line values with one line that
names the flag, the value and the fix, before any request goes out; never a traceback.

Run through the real command line against the simulator over Modbus TCP (tests/support/gateway.py)."""

import os
import subprocess
import sys

import pytest

from tests.support import free_port
from tests.support.configs import config_of, meter, platform, write_config
from tests.support.gateway import REPO, SimThread


def lingtan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lingtan", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def no_traceback(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stderr and 'File "' not in out.stderr, out.stderr


@pytest.fixture
def park(tmp_path):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1, "retries": 0}]
    meters = [meter("grid", "bus-a", 1, role="grid"), meter("sdm", "bus-a", 5, profile="eastron_sdm630")]
    data = platform(meters, buses, free_port(), tmp_path / "spool.db")
    path = write_config(data, tmp_path / "park.yaml")
    with SimThread(config_of(data), speed=1.0):
        yield str(path)


def read(path: str, *args: str) -> subprocess.CompletedProcess:
    return lingtan("modbus", "read", "--config", path, "--gateway", "gw-1", "--bus", "bus-a", *args)


def test_an_unknown_profile_name_is_named_with_the_closest_one(park):
    out = read(park, "--unit", "5", "--profile", "eastron_sdm631")
    no_traceback(out)
    assert out.returncode == 2
    assert out.stderr.startswith("lingtan modbus: --profile = 'eastron_sdm631': no device profile of that name; "
                                 "shipped profiles: "), out.stderr
    assert out.stderr.rstrip().endswith("did you mean 'eastron_sdm630'?"), out.stderr


@pytest.mark.parametrize("kind, count, fits", [("float64", "2", "4"), ("float32", "3", "2"), ("uint16", "126", "1")])
def test_a_count_that_does_not_fit_the_type_is_refused(park, kind, count, fits):
    out = read(park, "--unit", "1", "--register", "0", "--type", kind, "--count", count)
    no_traceback(out)
    assert out.returncode == 2 and out.stdout == ""
    assert f"--count = {count}: --type {kind} takes {fits} word(s) per value; give a multiple of {fits}" \
        in out.stderr, out.stderr


def test_a_register_number_in_4xxxx_notation_gets_the_pdu_address(park):
    out = read(park, "--unit", "5", "--register", "40001")
    no_traceback(out)
    assert out.returncode == 1
    assert "Modbus exception 2" in out.stderr
    assert "did you mean --register 0 (40001 in the 4xxxx notation is PDU address 0)?" in out.stderr, out.stderr
    out = read(park, "--unit", "5", "--register", "300073", "--type", "float32", "--function", "3")
    assert out.returncode == 2
    assert ("--register = 300073: outside 0-65535; did you mean --register 72 --function 4 (300073 in the 3xxxx "
            "notation is PDU address 72)?") in out.stderr, out.stderr


@pytest.mark.parametrize("flag, value, message", [
    ("--register", "0x4g", "--register = '0x4g': a register address, decimal or 0x hex"),
    ("--register", "70000", "--register = 70000: outside 0-65535"),
    ("--unit", "300", "--unit = 300: outside 0-247"),
])
def test_a_malformed_value_names_the_flag(park, flag, value, message):
    args = ["--unit", "1", "--register", "0"]
    args[args.index(flag) + 1] = value
    out = read(park, *args)
    no_traceback(out)
    assert out.returncode == 2 and message in out.stderr, out.stderr


@pytest.fixture
def serial_config(tmp_path):
    def write(port: str) -> str:
        buses = [{"id": "rs485", "transport": "rtu", "serial_port": port}]
        data = platform([meter("grid", "rs485", 1, role="grid")], buses, free_port(), tmp_path / "spool.db")
        return str(write_config(data, tmp_path / "serial.yaml"))
    return write


def test_a_missing_serial_device_is_named_as_missing(serial_config, tmp_path):
    path = serial_config(str(tmp_path / "ttyUSB0"))
    for command in (("modbus", "read", "--unit", "1", "--register", "0"), ("modbus", "scan", "--units", "1")):
        out = lingtan(*command[:2], "--config", path, "--gateway", "gw-1", "--bus", "rs485", *command[2:])
        no_traceback(out)
        assert out.returncode == 2
        assert (f"gateways[gw-1].buses[rs485].serial_port = '{tmp_path / 'ttyUSB0'}': no such device; is the "
                "RS-485 adapter plugged in?") in out.stderr, out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_a_serial_device_without_permission_is_named_as_such(tmp_path):
    """The check the commands run before opening the port, in a child process that has dropped to
    the user nobody (the venv's interpreter is not executable by it, so the command line cannot be)."""
    from lingtan.cli.modbus import serial_ready
    from lingtan.cli.runner import CommandError
    from lingtan.kernel.config import Bus

    device = tmp_path / "ttyUSB0"
    device.write_bytes(b"")
    device.chmod(0o600)  # owned by root: nobody may not open it
    bus = Bus(id="rs485", transport="rtu", serial_port=str(device))
    serial_ready(bus, "gateways[gw-1].buses[rs485]")  # root may
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        message = "no error"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            serial_ready(bus, "gateways[gw-1].buses[rs485]")
        except CommandError as exc:
            message = str(exc)
        except BaseException as exc:
            message = f"unexpected {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        message = f.read().decode()
    os.waitpid(child, 0)
    assert message == (f"gateways[gw-1].buses[rs485].serial_port = '{device}': permission denied for this user; "
                       "add it to the device's group (usually dialout: usermod -aG dialout USER, then log in again)")


@pytest.mark.parametrize("name, closest", [("generic_dlt64", "; did you mean 'generic_dlt645'?"),
                                           ("eastron_sdm630", "")])
def test_dlt645_read_names_an_unknown_or_modbus_profile_before_connecting(tmp_path, name, closest):
    buses = [{"id": "m645", "protocol": "dlt645", "transport": "rtu_over_tcp", "port": free_port()}]
    grid = meter("grid", "m645", 0, role="grid", profile="generic_dlt645")
    grid["modbus"] = {"bus": "m645", "address": "161"}
    path = str(write_config(platform([grid], buses, free_port(), tmp_path / "spool.db"), tmp_path / "d.yaml"))
    out = lingtan("dlt645", "read", "--config", path, "--gateway", "gw-1", "--bus", "m645", "--address", "161",
                  "--profile", name)
    no_traceback(out)
    assert out.returncode == 2
    assert out.stderr == (f"lingtan dlt645: --profile = {name!r}: no DL/T 645 device profile of that name; "
                          f"shipped: generic_dlt645, generic_dlt645_1997, holley_dtz545{closest}\n"), out.stderr
