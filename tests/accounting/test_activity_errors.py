"""`lingtan account` on broken activity files: every error in one pass, never a traceback.

Each file in tests/cases/activity-errors/ is run through the real command line in its own
process; expected.yaml lists the fragments its stderr must hold.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CASES = Path(__file__).resolve().parents[1] / "cases" / "activity-errors"
EXPECTED = yaml.safe_load((CASES / "expected.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    """All files at once, one `python -m lingtan account FILE` process each."""
    procs = {name: subprocess.Popen([sys.executable, "-m", "lingtan", "account", str(CASES / name)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in sorted(EXPECTED)}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        out[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return out


def test_there_are_twenty_broken_files_each_with_expectations():
    files = sorted(p.name for p in CASES.glob("*.yaml") if p.name != "expected.yaml")
    assert files == sorted(EXPECTED) and len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_error_is_named_in_one_pass_without_a_traceback(runs, name):
    run = runs[name]
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr and 'File "' not in run.stderr
    missing = [part for part in EXPECTED[name] if part not in run.stderr]
    assert not missing, f"{name}: {missing} not in:\n{run.stderr}"
