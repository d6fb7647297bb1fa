"""deploy/local/demo.sh decides whether .venv needs an install before it starts the demo: a copy of
the script runs in a scratch tree whose .venv holds stand-ins for python and lingtan that record
what they were asked to do (no pip, no demo is really run)."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "deploy" / "local").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "local" / "demo.sh", root / "deploy" / "local" / "demo.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_ = root / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name, says in (("python", "Successfully installed lingtan-0.1.0"), ("lingtan", "")):
        stub = bin_ / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "$(dirname "$0")/../calls"\necho "{says}"\n')
        stub.chmod(0o755)
    return root


def run(root: Path) -> list[str]:
    subprocess.run(["bash", str(root / "deploy" / "local" / "demo.sh"), "--port", "8123"], check=True,
                   capture_output=True, timeout=30, env={**os.environ})
    return (root / ".venv" / "calls").read_text().splitlines()


def test_an_install_by_test_sh_of_this_pyproject_is_enough_for_the_demo(tmp_path):
    root = tree(tmp_path)
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    (root / ".venv" / ".lingtan-test-install").write_text(digest + "\n")
    assert run(root) == ["lingtan demo --port 8123"]


def test_a_venv_without_a_stamp_or_with_a_stale_one_is_installed_first(tmp_path):
    root = tree(tmp_path)
    (root / ".venv" / ".lingtan-test-install").write_text("0" * 64 + "\n")  # of another pyproject.toml
    calls = run(root)
    assert calls[0] == "python -m pip install -e .[demo]" and calls[-1] == "lingtan demo --port 8123"
    assert (root / ".venv" / ".lingtan-demo-install").read_text() == "demo\n"
    (root / ".venv" / "calls").unlink()
    assert run(root) == ["lingtan demo --port 8123"]  # the demo's own stamp now
