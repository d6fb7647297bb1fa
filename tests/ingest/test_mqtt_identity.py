"""Broker identities that cannot be borrowed (issue 14, finding 2), on a real Mosquitto running the
shipped deploy/mosquitto/mosquitto.conf with the files `lingtan mqtt-auth` generated.

Before, the ACL bound topics but not client ids: a client with gateway gw-a1's credentials and the
client id `lingtan-ingest` kicked ingest off, took over its persistent session, and the readings
queued for it were dropped by the ACL on delivery (acknowledged to the gateway, never stored).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from lingtan.gateway.acl import acl_text, broker_conf_problems, ingest_users, users, write_auth
from lingtan.kernel import contract
from lingtan.kernel.config import ConfigError, parse_config
from lingtan.store.timeseries import open_sink
from tests.support.configs import meter, sqlite_url
from tests.support.mosquitto import Mosquitto, deploy_conf, make_certs
from tests.support.process import free_port, wait_for

DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
PASSWORD_ENV = "LINGTAN_TEST_INGEST_MQTT_PASSWORD"


def park_config(tmp_path: Path, port: int, workers: int) -> dict:
    """Two parks, gateways gw-a1 and gw-b1 with a meter each; ingest logs in with `workers` users."""
    def park(pid: str, gw: str) -> dict:
        return {"id": pid, "name": pid, "meters": [meter(f"{gw}-m", "b", 1, interval=None, gateway=gw)]}
    return {"parks": [park("park-a", "gw-a1"), park("park-b", "gw-b1")],
            "gateways": [{"id": gw, "park": p, "buses": [{"id": "b"}]} for p, gw in (("park-a", "gw-a1"),
                                                                                   ("park-b", "gw-b1"))],
            "mqtt": {"host": "127.0.0.1", "port": port},
            "ingest": {"workers": workers, "shared_group": None, "mqtt": {"password_env": PASSWORD_ENV},
                       "sink": {"kind": "sqlite", "path": str(tmp_path / "ts.db")}},
            "store": {"url": sqlite_url(tmp_path)}}


class Broker:
    """The shipped broker config with mqtt-auth's files, on a plain and a TLS loopback listener."""

    def __init__(self, tmp_path: Path, config) -> None:
        self.auth = tmp_path / "auth"
        write_auth(config, self.auth)
        self.ca, *_ = make_certs(tmp_path / "tls")
        self.tls_port = free_port()
        workdir = tmp_path / "mosquitto"
        workdir.mkdir()
        self.port = config.mqtt.port
        text = deploy_conf(DEPLOY_CONF.read_text(), auth_dir=self.auth, data_dir=workdir / "data",
                           tls_dir=tmp_path / "tls", plain_port=self.port, tls_port=self.tls_port)
        self.server = Mosquitto(workdir, port=self.port, conf_text=text)

    def secret(self, user: str) -> str:
        return (self.auth / "secrets" / user).read_text().strip()


def connect(broker: Broker, user: str | None, client_id: str, *, tls: bool = False, subscribe: str | None = None,
            received: list | None = None, password: str | None = None,
            v5: bool = False) -> tuple[mqtt.Client, mqtt.ReasonCode]:
    """A client as a copied credential would use it: MQTT 3.1.1, persistent session (like
    `mosquitto_sub -c -i ID`), or v5 with a clean start. Returns the client and its CONNACK."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else False)
    if user is not None:
        c.username_pw_set(user, password or broker.secret(user))
    if tls:
        c.tls_set(ca_certs=broker.ca)
    connacks: list = []

    def on_connect(client, _u, _f, reason, _p):
        connacks.append(reason)
        if subscribe and not reason.is_failure:
            client.subscribe(subscribe, qos=1)
    c.on_connect = on_connect
    if received is not None:
        c.on_message = lambda _c, _u, msg: received.append(msg.topic)
    c.connect("127.0.0.1", broker.tls_port if tls else broker.port)
    c.loop_start()
    wait_for(lambda: connacks, 10, message=f"CONNACK for {user} as {client_id}")
    return c, connacks[0]


def close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()


def readings(gateway: str, park: str, seq: int) -> bytes:
    ts = T0 + timedelta(seconds=seq)
    return json.dumps({"v": 1, "park": park, "gateway": gateway, "readings": [
        {"meter": f"{gateway}-m", "ts": contract.utc_text(ts), "seq": seq,
         "values": {"energy_import_kwh": 1000 + seq, "power_kw": 5.0}}]}).encode()


def start_ingest(config, monkeypatch, broker: Broker) -> list:
    """`lingtan ingest`'s workers, each logged in as its own user (passwords from the environment)."""
    from lingtan.cli.main import _ingest_threads
    names = ingest_users(config)
    if len(names) == 1:
        monkeypatch.setenv(PASSWORD_ENV, broker.secret(names[0]))
    for i, name in enumerate(names if len(names) > 1 else []):
        monkeypatch.setenv(f"{PASSWORD_ENV}_{i}", broker.secret(name))
    threads = _ingest_threads(config, config.ingest.workers)
    for thread, _stop in threads:
        thread.start()
    workers = [t._target.__self__ for t, _ in threads]
    for w in workers:
        wait_for(w.connected.is_set, 15, message=f"{w.client_id} connected")
    return threads


@pytest.mark.parametrize("workers", [1, 2])
def test_gateway_credentials_cannot_take_over_ingest(tmp_path, monkeypatch, workers):
    config = parse_config(park_config(tmp_path, free_port(), workers))
    broker = Broker(tmp_path, config)
    broker.server.start()
    threads = start_ingest(config, monkeypatch, broker)
    ingest = [t._target.__self__ for t, _ in threads]
    assert [w.client_id for w in ingest] == (["lingtan-ingest"] if workers == 1
                                             else ["lingtan-ingest-0", "lingtan-ingest-1"])
    gw_b, connack = connect(broker, "gw-b1", "gw-b1")
    assert not connack.is_failure
    stolen: list = []
    attackers = []
    try:
        # gw-a1's credentials, ingest's client ids, persistent sessions, on both listeners, again
        # and again (the two "kept kicking each other"), while gw-b1 publishes seq 1..12.
        targets = ["lingtan-ingest", "lingtan-ingest-0", "lingtan-ingest-1"]
        for seq in range(1, 13):
            target = targets[seq % len(targets)]
            c, reason = connect(broker, "gw-a1", target, tls=seq % 2 == 0,
                                subscribe=contract.readings_subscription("lingtan"), received=stolen)
            attackers.append(c)
            gw_b.publish(contract.readings_topic("lingtan", "park-b", "gw-b1"), readings("gw-b1", "park-b", seq),
                         qos=1).wait_for_publish(10)
            time.sleep(0.2)  # the attacker holds the session while the reading is routed
            close(c)
        # ingest's own user with a wrong password, no user at all, gw-a1 over MQTT v5: refused, or gw-a1
        for seq, user, password, v5 in ((13, ingest[0].client_id, "wrong", False), (14, None, None, False),
                                        (15, "gw-a1", None, True)):
            c, reason = connect(broker, user, ingest[0].client_id, password=password, v5=v5,
                                subscribe=contract.readings_subscription("lingtan"), received=stolen)
            assert reason.is_failure == (user != "gw-a1"), (user, reason)
            attackers.append(c)
            gw_b.publish(contract.readings_topic("lingtan", "park-b", "gw-b1"),
                         readings("gw-b1", "park-b", seq), qos=1).wait_for_publish(10)
            close(c)
        sink = open_sink(config.ingest.sink)
        t0_ms = int(T0.timestamp() * 1000)

        def stored():
            return sink.series("park-b", "gw-b1-m", "energy_import_kwh", t0_ms, t0_ms + 60_000)
        try:
            try:
                wait_for(lambda: len(stored()) >= 15, 20, message="all 15 readings of gw-b1 stored")
            except TimeoutError:
                pass  # the assertion below says which were lost
            seqs = [round(v) - 1000 for _, v in stored()]
        finally:
            sink.close()
        assert seqs == list(range(1, 16)), (f"gw-b1 seqs stored: {seqs}; ingest connects: "
                                            f"{[w.stats['connects'] for w in ingest]}")  # each once, none lost
        assert all(w.connected.is_set() for w in ingest)
        assert [w.stats["connects"] for w in ingest] == [1] * workers, "an ingest worker was kicked off"
        assert stolen == [], "gw-a1's credentials received readings"
    finally:
        for c in attackers:
            c.loop_stop()
        close(gw_b)
        for _thread, stop in threads:
            stop.set()
        for thread, _stop in threads:
            thread.join(15)
        broker.server.stop()  # a clean stop flushes the broker's log
    # the broker named every one of those sessions after the user, never after ingest
    log = broker.server.log_path.read_text()
    assert set(re.findall(r" as (\S+) \([^)]*u'gw-a1'\)", log)) == {"gw-a1"}, log[-3000:]


def test_gateway_cannot_read_or_write_another_gateways_topics(tmp_path):
    config = parse_config(park_config(tmp_path, free_port(), 1))
    broker = Broker(tmp_path, config)
    broker.server.start()
    seen_by_a: list = []
    seen_by_ingest: list = []
    prefix = "lingtan/v1"
    try:
        ingest, _ = connect(broker, "lingtan-ingest", "lingtan-ingest", subscribe=f"{prefix}/+/+/readings",
                            received=seen_by_ingest)
        gw_a, _ = connect(broker, "gw-a1", "gw-a1", received=seen_by_a)
        gw_b, _ = connect(broker, "gw-b1", "gw-b1")
        granted = []
        gw_a.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.extend(codes)
        for topic in (f"{prefix}/park-b/gw-b1/readings", f"{prefix}/#", "#", f"{prefix}/park-a/gw-a1/readings"):
            gw_a.subscribe(topic, qos=1)
        wait_for(lambda: len(granted) == 4, 10, message="SUBACKs for gw-a1")
        gw_a.publish(f"{prefix}/park-b/gw-b1/readings", b"forged", qos=1).wait_for_publish(10)
        gw_a.publish(f"{prefix}/park-b/gw-b1/status", b"forged", qos=1).wait_for_publish(10)
        gw_b.publish(f"{prefix}/park-b/gw-b1/readings", b"b-own", qos=1).wait_for_publish(10)
        gw_a.publish(f"{prefix}/park-a/gw-a1/readings", b"a-own", qos=1).wait_for_publish(10)
        wait_for(lambda: len(seen_by_ingest) == 2, 10, message="both own readings reach ingest")
        time.sleep(0.5)  # anything routed to gw-a1 would have been routed with the messages above
        # the forged readings went nowhere; gw-a1 reads nothing, not gw-b1's topics, not even its own
        assert seen_by_ingest == [f"{prefix}/park-b/gw-b1/readings", f"{prefix}/park-a/gw-a1/readings"]
        assert seen_by_a == []
        for c in (ingest, gw_a, gw_b):
            close(c)
    finally:
        broker.server.kill9()


def test_each_ingest_worker_is_its_own_user_with_its_own_secret(tmp_path):
    config = parse_config(park_config(tmp_path, 1883, 3))
    assert users(config) == ["lingtan-ingest-0", "lingtan-ingest-1", "lingtan-ingest-2", "lingtan-alarms", "gw-a1",
                             "gw-b1"]
    created = write_auth(config, tmp_path / "auth")
    secrets = {u: (tmp_path / "auth" / "secrets" / u).read_text() for u in created}
    assert len(set(secrets.values())) == 6
    acl = acl_text(config)
    for i in range(3):
        block = acl.split(f"user lingtan-ingest-{i}\n")[1].split("\n\n")[0]
        assert block.splitlines() == ["topic read lingtan/v1/+/+/readings", "topic read lingtan/v1/+/+/status",
                                      "topic read lingtan/v1/+/+/health"]
    named = park_config(tmp_path, 1883, 1)
    named["ingest"]["mqtt"]["username"] = "ingest"
    assert parse_config(named).ingest.worker_user(0) == "ingest"


@pytest.mark.parametrize(("where", "value", "expect"), [
    ("gateway", "gw-x\ntopic readwrite #", "gateway 'gw-a1': mqtt.username"),
    ("gateway", "gw x", "gateway 'gw-a1': mqtt.username"),
    ("gateway", "gw:x", "gateway 'gw-a1': mqtt.username"),
    ("gateway", "gw/+", "gateway 'gw-a1': mqtt.username"),
    ("gateway", "lingtan-ingest", "named twice"),
    ("ingest", "#", "ingest.mqtt.username = '#'"),
    ("ingest", "gw-b1", "named twice"),
])
def test_hostile_user_names_are_refused(tmp_path, where, value, expect):
    data = park_config(tmp_path, 1883, 1)
    if where == "gateway":
        data["gateways"][0]["mqtt"] = {"username": value, "password_env": "X"}
    else:
        data["ingest"]["mqtt"]["username"] = value
    config = parse_config(data)
    with pytest.raises(ConfigError, match=expect):
        write_auth(config, tmp_path / "auth")
    assert not (tmp_path / "auth" / "acl").exists(), "nothing is written for a refused name"


def test_ingest_worker_settings_are_checked(tmp_path, monkeypatch):
    data = park_config(tmp_path, 1883, 2)
    for bad in (0, 65, "two"):
        with pytest.raises(ConfigError, match="ingest.workers"):
            parse_config({**data, "ingest": {**data["ingest"], "workers": bad}})
    config = parse_config(data)
    monkeypatch.delenv(f"{PASSWORD_ENV}_1", raising=False)
    with pytest.raises(ConfigError, match=f"{PASSWORD_ENV}_1 .*worker 1 of ingest.workers = 2"):
        config.ingest.worker_password(1)
    with pytest.raises(ConfigError, match="ingest worker 2: ingest.workers = 2"):
        config.ingest.worker_user(2)
    # --workers / --partition N other than ingest.workers: no broker user for the extra workers
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(data))
    monkeypatch.delenv(f"{PASSWORD_ENV}_0", raising=False)
    for flags, expect in ((["--workers", "3"], "--workers 3: "), (["--partition", "0/3"], "--partition 0/3: "),
                          ([], f"environment variable {PASSWORD_ENV}_0 ")):  # checked before any worker starts
        run = subprocess.run([sys.executable, "-m", "lingtan", "ingest", "--config", str(cfg), *flags],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        assert expect in run.stderr and "ingest.workers = 2" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_metrics_port_taken_is_one_clear_line(tmp_path):
    """A metrics port another process holds stops ingest with one line naming the setting and port."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    data = park_config(tmp_path, free_port(), 1)
    data["ingest"]["metrics_port"] = port
    del data["ingest"]["mqtt"]
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(data))
    try:
        run = subprocess.run([sys.executable, "-m", "lingtan", "ingest", "--config", str(cfg)],
                             capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert len(lines) == 1, run.stderr
    assert f"ingest.metrics_port = {port}" in lines[0] and f"127.0.0.1:{port}" in lines[0]
    assert "Address already in use" in lines[0]



def test_compose_broker_health_check_logs_in_as_nobody(tmp_path):
    """The compose health check of the broker, run against the shipped config: healthy while the
    broker answers and refuses anonymous clients, unhealthy when it is down. It holds no password:
    logging in as a user would close that user's session every 15 s."""
    compose = yaml.safe_load((DEPLOY_CONF.parents[1] / "compose.yaml").read_text())
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and " -u " not in command and " -P " not in command
    config = parse_config(park_config(tmp_path, free_port(), 1))
    broker = Broker(tmp_path, config)
    here = command.replace("-p 1883", f"-p {broker.port}")
    assert here != command
    broker.server.start()
    try:
        assert subprocess.run(["sh", "-c", here], capture_output=True, timeout=30).returncode == 0
    finally:
        broker.server.stop()
    assert subprocess.run(["sh", "-c", here], capture_output=True, timeout=30).returncode != 0


def taken_over(port: int, secret) -> bool:
    """Does gw-a1's login with ingest's client id close ingest's connection on this listener?"""
    events: list[str] = []
    victim = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lingtan-ingest", protocol=mqtt.MQTTv311,
                         clean_session=False)
    victim.username_pw_set("lingtan-ingest", secret("lingtan-ingest"))
    victim.on_connect = lambda *_a: events.append("connected")
    victim.on_disconnect = lambda *_a: events.append("kicked")
    victim.on_publish = lambda *_a: events.append("acked")
    victim.connect("127.0.0.1", port)
    victim.loop_start()
    try:
        wait_for(lambda: "connected" in events, 10, message="victim connected")
        intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lingtan-ingest",
                               protocol=mqtt.MQTTv311, clean_session=False)
        intruder.username_pw_set("gw-a1", secret("gw-a1"))
        connacks: list = []
        intruder.on_connect = lambda _c, _u, _f, reason, _p: connacks.append(reason)
        intruder.connect("127.0.0.1", port)
        intruder.loop_start()
        wait_for(lambda: connacks, 10, message="intruder's CONNACK")
        assert not connacks[0].is_failure
        # the broker closes the old connection before it answers the new one: a round trip now
        # either comes back or finds the connection gone
        victim.publish("lingtan/v1/park-a/gw-a1/readings", b"x", qos=1)
        wait_for(lambda: {"kicked", "acked"} & set(events), 10, message="PUBACK or disconnect")
        intruder.loop_stop()
        intruder.disconnect()
        return "kicked" in events
    finally:
        victim.loop_stop()
        victim.disconnect()


@pytest.mark.parametrize("layout", ["after each listener", "before the listeners", "in an include_dir file",
                                    "with its listener in an include_dir file", "after the first listener only"])
def test_broker_conf_check_agrees_with_mosquitto(tmp_path, layout):
    """`mqtt-auth --broker-conf` calls a config safe exactly when the real broker binds users to
    client ids on every listener."""
    config = parse_config(park_config(tmp_path, 1883, 1))
    auth = tmp_path / "auth"
    write_auth(config, auth)
    ports = [free_port(), free_port()]
    bind = "use_username_as_clientid true"
    inc = tmp_path / "conf.d"
    inc.mkdir()
    head = ["per_listener_settings false", "allow_anonymous false", f"password_file {auth}/passwd",
            f"acl_file {auth}/acl", "log_dest stdout"]
    l0, l1 = f"listener {ports[0]} 127.0.0.1", f"listener {ports[1]} 127.0.0.1"
    body = {"after each listener": [l0, bind, l1, bind],
            "before the listeners": [bind, l0, l1],
            "in an include_dir file": [l0, f"include_dir {inc}", l1, f"include_dir {inc}"],
            "with its listener in an include_dir file": [f"include_dir {inc}"],
            "after the first listener only": [l0, bind, l1]}[layout]
    if layout == "in an include_dir file":
        (inc / "bind.conf").write_text(bind + "\n")
    if layout == "with its listener in an include_dir file":
        (inc / "a.conf").write_text(f"{l0}\n{bind}\n{l1}\n{bind}\n")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join([*head, *body]) + "\n")
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    server = Mosquitto(workdir, port=ports[1],
                       conf_text=conf.read_text() + f"user {pwd.getpwuid(os.geteuid()).pw_name}\n")
    server.start()
    try:
        def secret(user: str) -> str:
            return (auth / "secrets" / user).read_text().strip()
        broker_safe = not any(taken_over(port, secret) for port in ports)
    finally:
        server.kill9()
    problems = broker_conf_problems(conf)
    assert broker_safe == (problems == []), (layout, broker_safe, problems)
    assert broker_safe == (layout in ("after each listener", "with its listener in an include_dir file"))


def test_mqtt_auth_refuses_an_unsafe_broker_conf(tmp_path):
    cfg = tmp_path / "platform.yaml"
    cfg.write_text(yaml.safe_dump(park_config(tmp_path, 1883, 1)))
    old = tmp_path / "old.conf"
    old.write_text(DEPLOY_CONF.read_text().replace("use_username_as_clientid true\n", ""))
    for conf, code in ((old, 2), (DEPLOY_CONF, 0)):
        run = subprocess.run([sys.executable, "-m", "lingtan", "mqtt-auth", "--config", str(cfg), "--out",
                              str(tmp_path / "auth"), "--broker-conf", str(conf)], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == code, run.stderr
        if code:
            assert "listener 8883" in run.stderr and "listener 1883 127.0.0.1" in run.stderr
            assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "auth").exists()
    assert (tmp_path / "auth" / "acl").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    run = subprocess.run([sys.executable, "-m", "lingtan", "mqtt-auth", "--config", str(cfg), "--out",
                          str(blocked / "auth")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
