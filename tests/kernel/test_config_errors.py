"""`lingtan check-config` on broken configs: every error of every file in one run, each naming the
file, the key path (list entries by id), the value, the accepted values and the closest one; never a
traceback, and the same message from every command that loads a config.

Each file in tests/cases/config-errors/ is run through the real command line in its own process, in
that folder; expected.yaml holds the exact lines its stderr must be."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CASES = Path(__file__).resolve().parents[1] / "cases" / "config-errors"
EXPECTED = yaml.safe_load((CASES / "expected.yaml").read_text(encoding="utf-8"))


def lingtan(*args: str, cwd: Path = CASES) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lingtan", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(p: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    """The process's result; one still running after `timeout` (a service that started on a config it
    should have refused) is stopped and reported as such."""
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
        stderr = f"still running after {timeout} s (killed)\n{stderr}"
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    """All files at once, one `python -m lingtan check-config FILE` process each."""
    procs = {name: lingtan("check-config", name) for name in sorted(EXPECTED)}
    return {name: finished(p) for name, p in procs.items()}


def test_there_are_twenty_broken_files_each_with_expectations():
    files = sorted(p.name for p in CASES.glob("*.yaml") if p.name != "expected.yaml")
    assert files == sorted(EXPECTED) and len(files) >= 20


def test_the_config_they_break_is_valid():
    run = finished(lingtan("check-config", "valid/base.yaml"))
    assert run.returncode == 0, run.stderr
    assert run.stdout == "valid/base.yaml: ok — 1 park(s), 3 meter(s), 1 gateway(s)\n"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_gets_its_exact_message_without_a_traceback(runs, name):
    run = runs[name]
    assert "Traceback" not in run.stderr and 'File "' not in run.stderr, run.stderr
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == EXPECTED[name]


def test_one_file_with_several_errors_reports_all_of_them_in_one_run(runs):
    lines = runs["19-many-errors-at-once.yaml"].stderr.splitlines()
    assert lines[0] == "lingtan: configuration error: 19-many-errors-at-once.yaml: 6 error(s)"
    keys = [line.split(" = ")[0].strip() for line in lines[1:]]
    assert keys == ["parks[park-a].framework", "parks[park-a].meters[grid-main].profile", "mqtt.hots",
                    "ingest.sink.kind", "alarm", "parks[park-a].meters[ent-1-main].modbus.unit"]


def test_errors_of_a_platform_file_and_its_park_file_come_in_one_run(runs):
    stderr = runs["20-errors-in-two-files.yaml"].stderr
    assert "20-errors-in-two-files.yaml: 1 error(s)\n  gateways[gw-1].buses[lan].transport = 'serial'" in stderr
    assert "\nparks/20-park-a.yaml: 2 error(s)\n  meters[pv-roof].carrier = 'electrcity'" in stderr


@pytest.mark.parametrize("name", ["01-unknown-profile.yaml", "02-duplicate-unit-id.yaml", "04-framework-typo.yaml",
                                  "20-errors-in-two-files.yaml"])
def test_every_command_that_loads_a_config_says_the_same_before_starting(name, tmp_path):
    """In a copy of the folder, so that a service that does start leaves its files there."""
    shutil.copy(CASES / name, tmp_path / name)
    shutil.copytree(CASES / "parks", tmp_path / "parks")
    commands = [("gateway", "--config", name, "--id", "gw-1"), ("simulate", "--config", name),
                ("ingest", "--config", name), ("accounting", "--config", name), ("api", "--config", name),
                ("alarms", "--config", name), ("mqtt-auth", "--config", name, "--out", "/nonexistent/x"),
                ("modbus", "read", "--config", name, "--gateway", "gw-1", "--bus", "lan", "--unit", "1",
                 "--register", "0"),
                ("dlt645", "scan", "--config", name, "--gateway", "gw-1", "--bus", "lan")]
    procs = [lingtan(*c, cwd=tmp_path) for c in commands]
    for command, p in zip(commands, procs, strict=True):
        run = finished(p, timeout=60)
        assert run.returncode == 2, (command, run.stderr)
        assert run.stderr.splitlines() == EXPECTED[name], (command, run.stderr)
