"""Activity data parsing and the offline evaluation: complete output, clear errors."""

import json
from pathlib import Path

import pytest
import yaml

from lingtan.accounting.activity import ActivityError, parse_activity
from lingtan.accounting.offline import evaluate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "activity-example.yaml"
MINIMAL = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1_000_000_000}}


def test_example_file_evaluates_to_json():
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    result = evaluate(data, str(EXAMPLE))
    text = json.dumps(result, ensure_ascii=False)
    assert json.loads(text)["park"] == "example-park"
    assert result["core_outlook"]["projected"]["period"] == "2025"
    assert result["period"] == {"start": "2025-01-01", "through": "2025-09-30", "days": 273, "full_year": False,
                                "year_to_date": True, "completeness": 0.99, "timezone": "Asia/Shanghai"}
    keys = {f["key"] for f in result["factors"]}
    assert {"co2.electricity.fossil", "tce.electricity.equivalent", "co2.heat.fossil", "tce.diesel"} <= keys
    assert all(f["source_title"] for f in result["factors"])
    assert {r["status"] for r in result["indicators"]} <= {"met", "not_met", "insufficient_data", "not_applicable"}


@pytest.mark.parametrize("framework", ["national", "jiangxi", "wuxi", "jiangsu_guide", "hunan", "yangzhou"])
def test_every_framework_evaluates_the_example(framework):
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["framework"] = framework
    json.dumps(evaluate(data, "example"))


def test_seasonal_projection_uses_last_year():
    data = {**MINIMAL, "period": {"through": "2025-03-31",
                                  "previous_year": {"energy_tce_same_period": 100, "energy_tce_full_year": 500}}}
    out = evaluate(data, "x")["core_outlook"]
    assert out["scale"] == 5 and out["method"].startswith("seasonal")
    assert out["projected_energy_tce"] == pytest.approx(300_000 * 5)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"fuels": {"coal_t": 5}}, "x.yaml: 1 error(s)\n  fuels.coal_t = 5: unknown fuel (give the kind: raw_coal_t"),
        ({"fuels": {"diesel_kg": 5}}, "fuels.diesel_kg = 5: diesel is accounted in t; write diesel_t"),
        ({"electricity": {"grid_import_kwh": -1}},
         "electricity.grid_import_kwh = -1: Input should be greater than or equal to 0"),
        ({"electricity": {"grid_import_kwh": "lots"}}, "electricity.grid_import_kwh = 'lots'"),
        ({"electricity": {"grid_imports_kwh": 1}},
         "electricity.grid_imports_kwh = 1: unknown key (did you mean 'grid_import_kwh'?); accepted keys here: "),
        ({"year": 1850}, "year = 1850"),
        ({"park_type": "steel"}, "park_type = 'steel'"),
        ({"period": {"through": "2024-12-31"}}, "period.through = 2024-12-31: must be a day of year 2025"),
        ({"framework": "mars"}, "framework = 'mars': framework 'mars': unknown"),
        ({"horizon": "far"}, "horizon = 'far': framework 'national' has horizons []"),
        ({"timezone": "Mars/Olympus"}, "timezone = 'Mars/Olympus': unknown time zone"),
        ({"factors": {"tce.electricity.equivalent": {"value": 0.3, "unit": "kgce/bushel", "source": "s"}}},
         "factors.tce.electricity.equivalent.unit = 'kgce/bushel': not a known unit; accepted: "),
        ({"factors": {"tce.nothing": {"value": 0.3, "source": "s"}}},
         "factors.tce.nothing: unknown factor"),
    ],
)
def test_bad_input_names_field_and_value(patch, message):
    with pytest.raises(ActivityError) as err:
        evaluate({**MINIMAL, **patch}, "x.yaml")
    assert isinstance(err.value, ValueError)
    assert message in str(err.value), str(err.value)


def test_top_level_must_be_a_mapping():
    with pytest.raises(ActivityError, match="x.yaml: the top level must be a mapping, got list"):
        parse_activity([1, 2], "x.yaml")


def test_factor_override_applies_to_its_year_only():
    out = evaluate({**MINIMAL, "factors": {"tce.electricity.equivalent": {"value": 0.2, "source": "test"}}}, "x")
    assert out["energy"]["total_tce"] == pytest.approx(200_000)
    used = {f["key"]: f for f in out["factors"]}["tce.electricity.equivalent"]
    assert used["value"] == 0.2 and used["source_title"] == "test" and used["version"] == 2
