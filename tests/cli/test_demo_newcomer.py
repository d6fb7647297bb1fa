"""A newcomer's first runs of `lingtan demo` and `lingtan keys` (issue 19): a taken port is one
line naming the flag, `--port` alone runs a second demo beside a first, the demo's temporary
folder goes away at exit, the read-only key it prints works, and `keys` never creates a database."""

import socket
import subprocess
import sys

import httpx
import pytest

from tests.support import free_port, wait_for
from tests.support.demo import Demo


def lingtan(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lingtan", *args], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.fixture
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("flag", ["--port", "--mqtt-port", "--modbus-port"])
def test_a_taken_port_is_one_line_naming_the_flag(tmp_path, taken_port, flag):
    ports = {"--port": str(free_port()), "--mqtt-port": str(free_port()), "--modbus-port": str(free_port())}
    ports[flag] = str(taken_port)
    done = lingtan("demo", "--data-dir", str(tmp_path / "d"), "--history-days", "0",
                   *[x for kv in ports.items() for x in kv])
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    what = {"--port": "the dashboard and API", "--mqtt-port": "the embedded MQTT broker",
            "--modbus-port": "the simulated Modbus TCP meters"}[flag]
    assert lines == [f"lingtan demo: port {taken_port} on 127.0.0.1 is already in use ({what}); "
                     f"choose another with {flag} N"], done.stderr
    assert not (tmp_path / "d").exists()  # stopped before anything was made


def _realtime_energy(demo: Demo, headers=None) -> float:
    rt = demo.get("/parks/demo-park/carbon/realtime", headers=headers)
    return rt["today"]["energy_by_carrier"].get("electricity", 0.0) if rt else 0.0


def test_port_alone_runs_a_second_demo_beside_the_first_and_each_cleans_up(tmp_path):
    env = {"TMPDIR": str(tmp_path)}
    first = Demo(None, "--history-days", "0", ports=False, env=env)
    second = None
    try:
        wait_for(lambda: _realtime_energy(first) > 0, 90, 0.5, f"energy in the first demo:\n{first.out}")
        second = Demo(None, "--history-days", "0", ports=False, env=env)
        wait_for(lambda: _realtime_energy(second) > 0, 90, 0.5, f"energy in the second demo:\n{second.out}")
        assert _realtime_energy(first) > 0
        folders = sorted(p.name for p in tmp_path.glob("lingtan-demo-*"))
        assert len(folders) == 2, folders
        said = [d.line("Lingtan demo: dashboard and API on", 5) for d in (first, second)]
        assert all("removed at exit" in s for s in said), said
        # the two demos use different broker and Modbus ports: the second chose free ones
        assert said[0].split("MQTT broker on port ")[1] != said[1].split("MQTT broker on port ")[1], said
        second.stop()
        first.stop()
    finally:
        for d in (first, second):
            if d is not None:
                d.kill()
    assert list(tmp_path.glob("lingtan-demo-*")) == []


def test_the_printed_read_only_key_works_and_keys_never_create_a_database(tmp_path):
    data = tmp_path / "demo"
    demo = Demo(data, "--history-days", "0")
    try:
        line = demo.line("curl -H 'Authorization: Bearer ", 60)
        key = line.split("Bearer ")[1].split("'")[0]
        url = line.split("' ")[1].strip()
        wait_for(lambda: demo.get("/parks"), 60, 0.5, "demo API up")
        got = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert got.status_code == 200, got.text
        assert got.json()["park"] == "demo-park" and "next_cursor" in got.json()
        wrong = httpx.get(url, headers={"Authorization": f"Bearer {key[:-2]}xx"}, timeout=10)
        assert wrong.status_code == 401
        # read-only: an activity write with the key is refused
        put = httpx.put(f"{demo.base}/parks/demo-park/activity/2026", json={}, timeout=10,
                        headers={"Authorization": f"Bearer {key}"})
        assert put.status_code == 403, put.text
        # a key made with --data-dir goes into the running demo's database and works there
        made = lingtan("keys", "create", "--data-dir", str(data), "--park", "demo-park", "--scope", "read")
        assert made.returncode == 0, made.stderr
        other = made.stdout.strip()
        assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}, timeout=10).status_code == 200
        demo.stop()
    finally:
        demo.kill()
    # keys against a config whose database does not exist: refused, nothing created
    missing = tmp_path / "nowhere.db"
    config = tmp_path / "platform.yaml"
    config.write_text(_config_with_store(missing))
    refused = lingtan("keys", "create", "--config", str(config), "--park", "demo-park", "--scope", "read")
    assert refused.returncode == 2, refused
    assert refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"lingtan keys: no platform database at sqlite:///{missing} (store.url of {config}): start the "
        "platform (lingtan api, ingest or accounting) or the demo with it once; keys and users are never "
        "written into a new database"], refused.stderr
    assert not missing.exists()
    empty = lingtan("keys", "list", "--data-dir", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "no platform database" in empty.stderr, empty
    assert not (tmp_path / "empty").exists()


def _config_with_store(db) -> str:
    """The demo's embedded config with its platform database at `db`."""
    import yaml

    from lingtan.cli.configfile import demo_config_text
    data = yaml.safe_load(demo_config_text())
    data["store"] = {"url": f"sqlite:///{db}"}
    data["ingest"]["sink"]["path"] = str(db.with_suffix(".ts.db"))
    return yaml.safe_dump(data, allow_unicode=True)


def test_keys_work_on_a_database_one_release_behind(tmp_path):
    """After a package upgrade and before the services restart, the database is a migration behind:
    `keys create` (and `revoke`: a leaked key must be revocable then) crashed with an SQL traceback on
    the new column. The commands bring an existing Lingtan database up to date, as the services do."""
    from lingtan.store.db import make_engine, upgrade
    db = tmp_path / "platform.db"
    engine = make_engine(f"sqlite:///{db}", migrate=False)
    upgrade(engine, "0007")
    engine.dispose()
    config = tmp_path / "platform.yaml"
    config.write_text(_config_with_store(db))
    made = lingtan("keys", "create", "--config", str(config), "--park", "demo-park", "--scope", "read")
    assert made.returncode == 0 and "Traceback" not in made.stderr, made.stderr
    key_id = made.stdout.strip().split("_")[1]
    revoked = lingtan("keys", "revoke", "--config", str(config), key_id)
    assert revoked.returncode == 0, revoked.stderr
