"""The soak, short form: 200 meters for a simulated day through the whole platform under faults
(tests/support/soak.py, docs/soak.md). The full form runs from bench/bench_soak.py."""

import time

import pytest

from tests.support import InfluxDBv1, Mosquitto
from tests.support.reports import check_soak_reports
from tests.support.soak import MOSQUITTO_DURABLE, Plan, Soak, close, report


@pytest.mark.timeout(600)
def test_soak_short_form_equals_ground_truth(tmp_path):
    mosquitto = Mosquitto(tmp_path / "mosquitto", extra=MOSQUITTO_DURABLE)
    influx = InfluxDBv1(tmp_path / "influxdb")
    mosquitto.start()
    influx.start()
    try:
        soak = Soak(Plan(), tmp_path, mosquitto, influx, log=print)
        result = soak.run()
        api = soak.api_check(result)
    finally:
        mosquitto.kill9()
        influx.kill9()
    text = report(soak, result, api)
    (tmp_path / "soak-report.md").write_text(text)
    print(text)

    kinds = [f.kind for f in soak.faults]
    assert len(kinds) == 10, kinds  # every scheduled fault was injected
    assert all(r["ok"] for r in result["meters"]), [r for r in result["meters"] if not r["ok"]][:5]
    assert len(result["meters"]) >= 200
    for name, (got, want) in api["pairs"].items():
        assert close(got, want), (name, got, want)
    assert api["pairs"]["co2_t"][1] > 0 and api["pairs"]["energy_tce"][1] > 0
    crash = next(f for f in soak.faults if f.kind == "gateway kill -9 while the broker is down")
    assert crash.effect["spool_at_kill"] > 0  # the crash hit a gateway holding unsent readings
    flags = result["flags"]
    assert "rollover" in flags[soak.rollover_meter]
    assert all("reset" in flags[m] for m in soak.reset_meters)
    assert "spike" in flags[soak.spike_meter]
    # each malformed message once; the unknown gateway's topic has no subscriber
    assert sum(w.stats["rejected"] for w in soak.workers) == 6
    assert all(g["missing"] == 0 for g in result["sequence"].values()), result["sequence"]
    # each report from the soak's data: XLSX totals equal the API's, the PDFs have their tables (issue 16)
    started = time.monotonic()
    reports = check_soak_reports(soak, tmp_path / "reports")
    print(f"reports from the soak's data, XLSX and PDF of each kind: {time.monotonic() - started:.1f} s")
    assert close(reports["co2_t"], api["pairs"]["indicator co2_t"][0])
