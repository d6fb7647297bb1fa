"""Generated broker ACLs, enforced by a real Mosquitto: a gateway cannot write another park's topics."""

import subprocess
import sys
import threading

import paho.mqtt.client as mqtt

from lingtan.gateway.acl import acl_text, write_auth
from lingtan.kernel.config import parse_config
from tests.support import wait_for


def two_parks() -> dict:
    def park(pid, gw):
        return {"id": pid, "name": pid, "meters": [
            {"id": f"{pid}-grid", "carrier": "electricity", "role": "grid", "boundary": True, "gateway": gw,
             "modbus": {"bus": "b", "unit": 1}, "profile": "generic_float32"}]}
    return {"parks": [park("park-a", "gw-a"), park("park-b", "gw-b")],
            "gateways": [{"id": "gw-a", "park": "park-a", "buses": [{"id": "b"}]},
                         {"id": "gw-b", "park": "park-b", "buses": [{"id": "b"}],
                          "mqtt": {"username": "gw-b-user", "password_env": "X"}}],
            "ingest": {"mqtt": {"username": "ingest"}}}


def client(port: int, user: str, password: str, received: list | None = None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    ready = threading.Event()
    c.on_connect = lambda *_a: ready.set()
    if received is not None:
        c.on_message = lambda _c, _u, msg: received.append((msg.topic, msg.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(10)
    return c


def test_generated_files(tmp_path):
    config = parse_config(two_parks())
    created = write_auth(config, tmp_path)
    assert created == ["ingest", "lingtan-alarms", "gw-a", "gw-b-user"]
    assert write_auth(config, tmp_path) == []  # secrets are kept on a second run
    lines = (tmp_path / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["ingest", "lingtan-alarms", "gw-a", "gw-b-user"]
    assert all(line.split(":", 1)[1].startswith("$7$") for line in lines)  # mosquitto 2 PBKDF2-SHA512
    assert oct((tmp_path / "secrets" / "gw-a").stat().st_mode & 0o777) == "0o600"
    acl = (tmp_path / "acl").read_text()
    assert "user gw-a\ntopic write lingtan/v1/park-a/gw-a/readings" in acl
    gw_a_block = acl.split("user gw-a\n")[1].split("\n\n")[0]
    assert gw_a_block.count("topic write") == 3 and "park-b" not in gw_a_block
    alarms_block = acl.split("user lingtan-alarms\n")[1].split("\n\n")[0]
    assert alarms_block == "topic read lingtan/v1/+/+/status"  # the gateways' status and last wills only


def test_cli_writes_the_files(tmp_path):
    import yaml
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(two_parks()))
    run = subprocess.run([sys.executable, "-m", "lingtan", "mqtt-auth", "--config", str(cfg), "--out",
                          str(tmp_path / "auth")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    secret = (tmp_path / "auth" / "secrets" / "gw-a").read_text()
    assert secret not in run.stdout + run.stderr


def test_broker_enforces_acl(tmp_path, mosquitto_factory):
    config = parse_config(two_parks())
    write_auth(config, tmp_path / "auth")
    secret = {u: (tmp_path / "auth" / "secrets" / u).read_text()
              for u in ("ingest", "lingtan-alarms", "gw-a", "gw-b-user")}
    broker = mosquitto_factory(users=secret, acl_text=acl_text(config))

    received: list = []
    ingest = client(broker.port, "ingest", secret["ingest"], received)
    ingest.subscribe("$share/ingest/lingtan/v1/+/+/readings", qos=1)
    ingest.subscribe("lingtan/v1/+/+/status", qos=1)
    gw_a = client(broker.port, "gw-a", secret["gw-a"])
    seen_by_alarms: list = []
    alarms = client(broker.port, "lingtan-alarms", secret["lingtan-alarms"], seen_by_alarms)
    alarms.subscribe("lingtan/v1/#", qos=1)
    try:
        wait_for(lambda: ingest.is_connected(), 5)
        import time
        time.sleep(0.3)  # let the subscriptions settle before publishing
        gw_a.publish("lingtan/v1/park-b/gw-b/readings", b"forged", qos=1).wait_for_publish(5)
        gw_a.publish("lingtan/v1/park-a/gw-b/readings", b"forged-2", qos=1).wait_for_publish(5)
        gw_a.publish("lingtan/v1/park-b/gw-b/status", b"forged-3", qos=1).wait_for_publish(5)
        gw_a.publish("lingtan/v1/park-a/gw-a/readings", b"own", qos=1).wait_for_publish(5)
        wait_for(lambda: any(p == b"own" for _, p in received), 10, message="own message delivered")
        time.sleep(0.5)  # a forged message would have been routed before the later own one anyway
        assert [p for _, p in received] == [b"own"]
        gw_a.publish("lingtan/v1/park-a/gw-a/status", b"own-status", qos=1).wait_for_publish(5)
        wait_for(lambda: seen_by_alarms, 10, message="the gateway's status reaching the alarm service")
        time.sleep(0.5)
        assert seen_by_alarms == [("lingtan/v1/park-a/gw-a/status", b"own-status")]  # never a reading
    finally:
        for c in (ingest, gw_a, alarms):
            c.loop_stop()
            c.disconnect()

    # wrong password and anonymous clients are refused outright
    bad = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    bad.username_pw_set("gw-a", "wrong")
    codes = []
    bad.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason)
    bad.connect("127.0.0.1", broker.port)
    bad.loop_start()
    try:
        wait_for(lambda: codes, 5)
    finally:
        bad.loop_stop()
    assert codes[0].is_failure
