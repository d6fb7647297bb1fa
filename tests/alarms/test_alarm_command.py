"""`lingtan alarms --config FILE` as a real process: it migrates the platform database, serves
/metrics, raises an alarm from the data, notifies a real receiver, and stops cleanly on SIGTERM;
a bad rule stops it at start with an error naming the key and value."""

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support import free_port, wait_for
from tests.support.alarms import Receiver, only
from tests.support.configs import meter, platform, sqlite_url, write_config
from tests.support.gateway import REPO


def test_the_alarm_command_runs_raises_notifies_and_stops_on_sigterm(tmp_path, mosquitto):
    http = Receiver()
    port = free_port()
    data = platform([meter("m1", "bus-1", 1, interval=1)], [{"id": "bus-1"}], mosquitto.port,
                    store=sqlite_url(tmp_path),
                    alarms={"interval_s": 0.5, "metrics_port": port, "rules": only("meter_no_data"),
                            "channels": [{"id": "hook", "kind": "webhook", "url": http.url("/hook"),
                                          "secret_env": "LT_TEST_HOOK_SECRET"}]})
    path = write_config(data, tmp_path / "platform.yaml")
    log = tmp_path / "alarms.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lingtan", "alarms", "--config", str(path)], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "LT_TEST_HOOK_SECRET": "s3cret-value"})
    try:
        wait_for(lambda: http.on("/hook"), 30, message="the raised notice at the receiver")
        assert json.loads(http.on("/hook")[0][3])["subject"] == "m1"
        def metrics() -> str | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            return text if "lingtan_alarms_active{" in text else None
        text = wait_for(metrics, 30, message="/metrics with the alarm")
        assert 'rule="meter_no_data",severity="warning",state="raised"} 1.0' in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        http.close()
    assert "s3cret-value" not in log.read_text()


@pytest.mark.parametrize(("alarms", "expected"), [
    ({"rules": [{"rule": "completeness_month", "threshold": "ninety"}]}, "alarms.rules[0].threshold = 'ninety'"),
    ({"channels": [{"id": "ops", "kind": "wecom", "url_env": "LT_TEST_UNSET_WECOM_URL"}]},
     "environment variable LT_TEST_UNSET_WECOM_URL (alarms.channels[ops].url_env) is not set"),
])
def test_a_bad_alarm_config_stops_the_command_naming_key_and_value(tmp_path, alarms, expected):
    data = platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], store=sqlite_url(tmp_path), alarms=alarms)
    path = write_config(data, tmp_path / "platform.yaml")
    r = subprocess.run([sys.executable, "-m", "lingtan", "alarms", "--config", str(path)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert expected in r.stderr
