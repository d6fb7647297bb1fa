"""The project as it installs: one top-level package, a light base install for gateways, extras
that say their name, and the import graph declared in pyproject.toml.

The wheel is built from the tracked files only (as from a clean clone) and installed into a
temporary folder; the light install runs with Python's `-S` (no site-packages) and a path that
holds only the base requirements, resolved from their metadata, so nothing of the platform can
leak in from the test virtualenv.
"""

from __future__ import annotations

import email
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PLATFORM_ONLY = {"fastapi", "uvicorn", "sqlalchemy", "alembic", "openpyxl", "argon2-cffi", "amqtt",
                 "influxdb-client", "psycopg", "pvlib"}


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """lingtan's wheel, built from the files git tracks (and new ones it does not ignore), copied
    to a fresh folder: no build/ or egg-info left over from an earlier build can creep in."""
    src = tmp_path_factory.mktemp("clone")
    files = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    run = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
               str(src))
    assert run.returncode == 0, run.stderr
    (whl,) = out.glob("lingtan-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (without dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("target")
    run = _run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel))
    assert run.returncode == 0, run.stderr
    return target


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(z.read(name))


def test_the_wheel_has_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as z:
        tops = {n.split("/")[0] for n in z.namelist() if not n.split("/")[0].endswith(".dist-info")}
        assert tops == {"lingtan"}
        names = set(z.namelist())
    # the data the packages read at run time is inside
    for data in ("lingtan/kernel/profiles/eastron_sdm630.yaml", "lingtan/accounting/factors.yaml",
                 "lingtan/store/migrations/env.py", "lingtan/api/static/index.html", "lingtan/cli/demo.yaml",
                 "lingtan/simulator/scenarios/jiangsu.yaml"):
        assert data in names


def test_the_base_install_needs_none_of_the_platform(wheel):
    requires = [Requirement(r) for r in _metadata(wheel).get_all("Requires-Dist")]
    base = {r.name.lower() for r in requires if r.marker is None}
    assert base, "no base requirements at all"
    assert not base & PLATFORM_ONLY, base & PLATFORM_ONLY
    platform = {r.name.lower() for r in requires if r.marker and r.marker.evaluate({"extra": "platform"})}
    assert {"fastapi", "sqlalchemy", "influxdb-client"} <= platform


def _base_closure(wheel: Path) -> set[str]:
    """Distributions the base requirements pull in, from their metadata in this environment."""
    todo = [Requirement(r) for r in _metadata(wheel).get_all("Requires-Dist")]
    todo = [r for r in todo if r.marker is None]
    seen: dict[str, set[str]] = {}
    while todo:
        req = todo.pop()
        name = req.name.lower()
        extras = seen.setdefault(name, set())
        if seen[name] and req.extras <= extras:
            continue
        extras |= req.extras | {""}
        for sub in md.requires(req.name) or []:
            r = Requirement(sub)
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras):
                todo.append(r)
    return set(seen)


@pytest.fixture(scope="module")
def light_env(wheel, installed, tmp_path_factory) -> dict[str, str]:
    """PYTHONPATH of a base install: lingtan plus its base requirements' files, nothing else."""
    site = tmp_path_factory.mktemp("light-site")
    for dist_name in _base_closure(wheel):
        dist = md.distribution(dist_name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    assert not (site / "sqlalchemy").exists() and not (site / "fastapi").exists()
    return {**os.environ, "PYTHONPATH": f"{installed}{os.pathsep}{site}"}


def _light(env, *args, module: str = "lingtan") -> subprocess.CompletedProcess:
    """Python without site-packages, in the install folder (so the source tree is not on the path)."""
    return _run(sys.executable, "-S", *(["-m", module] if module else []), *args, env=env,
                cwd=env["PYTHONPATH"].split(os.pathsep)[0])


def test_a_base_install_runs_the_gateway_and_commissioning_commands(light_env):
    probe = _light(light_env, "-c", "import lingtan.cli.main, fastapi", module="")
    assert "No module named 'fastapi'" in probe.stderr  # the platform really is absent
    for command in (["gateway", "--help"], ["modbus", "scan", "--help"], ["modbus", "read", "--help"],
                    ["mqtt-auth", "--help"], ["check-config", "--help"]):
        run = _light(light_env, *command)
        assert run.returncode == 0, (command, run.stderr)
        assert run.stdout.startswith("usage: lingtan " + command[0]), run.stdout
    ok = _light(light_env, "check-config", str(REPO / "examples" / "platform.yaml"))
    assert ok.returncode == 0 and ": ok" in ok.stdout, ok.stderr


@pytest.mark.parametrize(("command", "extra"), [("api", "platform"), ("ingest", "platform"),
                                                 ("accounting", "platform"), ("simulate", "simulator"),
                                                 ("demo", "demo"), ("keys", "platform")])
def test_a_platform_command_on_a_base_install_names_its_extra(light_env, command, extra):
    run = _light(light_env, command, "--help")
    assert run.returncode == 2
    assert f"pip install 'lingtan[{extra}]'" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def _lint_imports(installed: Path, config: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return _run(str(lint), "--no-cache", str(config), cwd=installed,
                env={**os.environ, "PYTHONPATH": str(installed)})


def test_the_import_contracts_hold(installed):
    run = _lint_imports(installed, REPO / "pyproject.toml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", run.stdout), run.stdout


def test_the_import_contracts_catch_a_gateway_that_imports_the_api(installed, tmp_path):
    """The check can fail: one platform import in the gateway breaks two contracts."""
    copy = tmp_path / "installed"
    shutil.copytree(installed / "lingtan", copy / "lingtan")
    poller = copy / "lingtan" / "gateway" / "poller.py"
    poller.write_text(poller.read_text() + "\nimport lingtan.api  # noqa\n")
    run = _lint_imports(copy, REPO / "pyproject.toml")
    assert run.returncode != 0
    assert "lingtan.gateway.poller -> lingtan.api" in run.stdout, run.stdout
    assert "The gateway and the kernel need none of the platform's packages or libraries BROKEN" in run.stdout


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    run = _run(str(ruff), "check", "--no-cache", ".", cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
