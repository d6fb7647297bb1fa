"""`lingtan account FILE`: offline accounting as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "lingtan", "account", *map(str, args)], capture_output=True, text=True)


def test_example_file_prints_the_full_result_as_json():
    out = run(ROOT / "examples" / "activity-example.yaml")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    energy, co2 = result["energy"]["total_tce"], result["emissions"]["total_co2_t"]
    core = next(i for i in result["indicators"] if i["id"] == "carbon_per_energy")
    assert core["value"] == round(co2 / energy, 6) or abs(core["value"] - co2 / energy) < 1e-6


def test_bad_activity_file_names_field_and_value(tmp_path):
    data = yaml.safe_load((ROOT / "examples" / "activity-example.yaml").read_text(encoding="utf-8"))
    data["electricity"]["grid_import_kwh"] = -5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = run(bad)
    assert out.returncode == 2
    assert "electricity.grid_import_kwh = -5" in out.stderr and "Traceback" not in out.stderr
