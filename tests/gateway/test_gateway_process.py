"""The gateway as installers run it: `lingtan gateway --config FILE --id GW`, a real process.

- kill -9 with a full spool while the broker is down: a new process on the same spool sends
  everything, the sequence continues, no number is used twice;
- publishing over TLS with a username and password (real Mosquitto with a throwaway CA and an
  ACL): retained `online` status, the last will `offline` when the process is killed, per-meter
  health once per state change, one log line per change, and never the password in the log.
"""

import json
import signal
import subprocess

from tests.support import Mosquitto, free_port, wait_for
from tests.support.configs import config_of, meter, platform, write_config
from tests.support.gateway import (
    SimThread,
    Subscriber,
    assert_in_order,
    gateway_process,
    spool_rows,
    unique_by_seq,
    wait_spool,
)
from tests.support.mosquitto import make_certs

TOPIC = "lingtan/v1/gw-park/gw-1"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_kill9_with_full_spool_loses_nothing_and_seq_continues(tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}]
    meters = [meter(f"m{i}", "bus-a", i, interval=0.1) for i in (1, 2, 3)]
    spool = tmp_path / "spool.db"
    data = platform(meters, buses, mosquitto.port, spool)
    config = config_of(data)
    path = write_config(data, tmp_path / "gateway.yaml")
    mosquitto.stop()  # the broker is down: everything goes to the spool

    with SimThread(config):
        first = gateway_process(path, tmp_path / "gw-first.log")
        try:
            wait_spool(spool, 60)
        finally:
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait(10)
        before = spool_rows(spool)
        assert [seq for seq, _ in before] == list(range(1, len(before) + 1))

        mosquitto.start()
        sub = Subscriber(mosquitto.port, f"{TOPIC}/readings")
        second = gateway_process(path, tmp_path / "gw-second.log")
        try:
            last_old = before[-1][0]
            wait_for(lambda: sum(1 for r in sub.readings() if r["seq"] > last_old) >= 30, 60, 0.1,
                     "readings of the second process")
        finally:
            stop(second)
            sub_readings = sub.readings()
            sub.close()

    assert second.returncode == 0, (tmp_path / "gw-second.log").read_text()
    by_seq = unique_by_seq(sub_readings)  # a seq arriving twice must be the same reading
    assert_in_order(sub_readings)
    for seq, r in before:  # every reading spooled by the killed process arrived, unchanged
        assert {k: v for k, v in by_seq[seq].items() if k != "seq"} == r, seq
    new = [s for s in by_seq if s > last_old]
    assert len(new) >= 30 and min(new) == last_old + 1  # the sequence continues where it stopped
    assert sorted(by_seq) == list(range(1, max(by_seq) + 1))  # no gap, no number reused
    first_log = (tmp_path / "gw-first.log").read_text()
    assert "broker unreachable" in first_log and first_log.count("broker unreachable") == 1


def test_tls_password_retained_status_last_will_health_and_no_secret_in_logs(tmp_path):
    password = "s3cret-Gw-pässword-7781"
    ca, cert, key = make_certs(tmp_path / "certs")
    acl = (f"user gw-1\ntopic write {TOPIC}/#\n\n"
           "user watcher\ntopic read lingtan/#\n")
    broker = Mosquitto(tmp_path / "mosquitto", users={"gw-1": password, "watcher": "watch-pw"}, acl_text=acl,
                       tls=(ca, cert, key))
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}]
    meters = [meter(f"m{i}", "bus-a", i, interval=0.2) for i in (1, 2, 3)]
    data = platform(meters, buses, broker.port, tmp_path / "spool.db",
                    gateway_extra={"mqtt": {"username": "gw-1", "password_env": "LINGTAN_TEST_GW_PASSWORD"}})
    data["mqtt"]["tls"] = {"ca_file": ca}
    config = config_of(data)
    path = write_config(data, tmp_path / "gateway.yaml")
    log_path = tmp_path / "gateway.log"

    def watcher(**kw) -> Subscriber:
        return Subscriber(broker.port, "lingtan/#", username="watcher", password="watch-pw", ca_file=ca, **kw)

    def health_states(sub: Subscriber) -> list[dict[str, str]]:
        return [{m["meter"]: m["state"] for m in p["meters"]} for p, _ in sub.on("health")]

    broker.start()
    try:
        with SimThread(config) as sim:
            sub = watcher(client_id="watcher")
            proc = gateway_process(path, log_path, env={"LINGTAN_TEST_GW_PASSWORD": password}, verbose=True)
            try:
                wait_for(lambda: any(p["state"] == "online" for p, _ in sub.on("status")), 30, 0.1, "online")
                wait_for(lambda: health_states(sub) and health_states(sub)[-1] == {f"m{i}": "ok" for i in (1, 2, 3)},
                         30, 0.1, "all meters ok")
                wait_for(lambda: len(sub.readings()) >= 15, 30, 0.1, "readings")

                sim.server.faults.modes["m2"] = "exception"
                wait_for(lambda: health_states(sub)[-1].get("m2") == "failing", 30, 0.1, "m2 failing")
                # let m2 fail several polls in a row while the others keep going
                n = len(sim.served("m1"))
                wait_for(lambda: len(sim.served("m1")) >= n + 5, 30, 0.1, "m2 failing for a while")
                del sim.server.faults.modes["m2"]
                wait_for(lambda: health_states(sub)[-1].get("m2") == "ok", 60, 0.1, "m2 recovered")

                late = watcher(client_id="late-watcher", clean=True)  # sees only what is retained
                wait_for(lambda: late.on("status") and late.on("health"), 10, 0.1, "retained messages")
                status, retained = late.on("status")[-1]
                assert retained and status["state"] == "online" and status["gateway"] == "gw-1"
                assert late.on("health")[-1][1] and (
                    {m["meter"]: m["state"] for m in late.on("health")[-1][0]["meters"]}
                    == {"m1": "ok", "m2": "ok", "m3": "ok"})
                late.close()
            finally:
                proc.kill()  # a crash: the broker publishes the last will
                proc.wait(10)
            wait_for(lambda: sub.on("status")[-1][0]["state"] == "offline", 30, 0.1, "last will")
            late = watcher(client_id="late-watcher-2", clean=True)
            wait_for(lambda: late.on("status"), 10, 0.1, "retained status")
            assert late.on("status")[-1][0]["state"] == "offline" and late.on("status")[-1][1]
            late.close()
            states = health_states(sub)
            sub.close()
    finally:
        broker.kill9()

    # health is published once per state change: every message differs from the one before,
    # and m2's failure is in exactly one message however many polls failed
    assert all(a != b for a, b in zip(states, states[1:], strict=False)), states
    assert sum(1 for s in states if s.get("m2") == "failing") == 1, states
    text = log_path.read_text(encoding="utf-8")
    assert password not in text and json.dumps(password)[1:-1] not in text
    assert "DEBUG" in text  # the log was captured at its most verbose
    assert text.count("meter m2 (bus bus-a, unit 2) failing") == 1
    assert text.count("meter m2 recovered") == 1
    assert "connected to broker 127.0.0.1" in text and "(TLS) as gw-1" in text


def test_missing_password_variable_stops_the_start_with_a_clear_message(tmp_path):
    buses = [{"id": "bus-a", "port": free_port()}]
    data = platform([meter("m1", "bus-a", 1)], buses, free_port(), tmp_path / "spool.db",
                    gateway_extra={"mqtt": {"username": "gw-1", "password_env": "LINGTAN_TEST_UNSET_VARIABLE"}})
    path = write_config(data, tmp_path / "gateway.yaml")
    proc = gateway_process(path, tmp_path / "gateway.log")
    assert proc.wait(60) == 2
    text = (tmp_path / "gateway.log").read_text()
    assert "environment variable LINGTAN_TEST_UNSET_VARIABLE (mqtt.password_env) is not set" in text
    assert "Traceback" not in text
