"""`lingtan demo` as a user runs it: a subprocess, the two endpoints within 60 s, clean Ctrl-C."""

import signal
import subprocess
import sys
import time

import httpx

from tests.support import free_port, wait_for


def test_demo_serves_parks_and_realtime_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lingtan", "demo", "--port", str(port), "--data-dir", str(tmp_path),
         "--mqtt-port", str(free_port()), "--modbus-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        def parks():
            try:
                return httpx.get(f"{base}/parks", timeout=2).json()
            except httpx.HTTPError:
                return None
        listed = wait_for(parks, 60, 0.5, "demo API up")
        assert [p["id"] for p in listed] == ["demo-park"]

        def realtime_with_energy():
            rt = httpx.get(f"{base}/parks/demo-park/carbon/realtime", timeout=5).json()
            return rt if rt["today"]["energy_by_carrier"].get("electricity", 0) > 0 else None
        started = time.monotonic()
        rt = wait_for(realtime_with_energy, 60, 0.5, "energy flowing through the pipeline")
        assert time.monotonic() - started < 60
        assert rt["power"]["load_kw"] > 0
        assert rt["today"]["energy_tce"] > 0 and rt["today"]["co2_t"] > 0
        assert rt["today"]["intensity_t_per_tce"] == rt["today"]["co2_t"] / rt["today"]["energy_tce"]
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "零碳园区能碳监测" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
