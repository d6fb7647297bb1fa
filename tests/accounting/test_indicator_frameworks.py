"""Frameworks load and validate; the evaluator picks tiers, horizons and variants correctly."""

import copy

import pytest

from lingtan.accounting.account import account
from lingtan.accounting.activity import parse_activity
from lingtan.accounting.framework import FrameworkError, framework_data, parse_framework
from lingtan.accounting.indicators import Status, evaluate_framework, load_framework
from lingtan.accounting.metrics import METRICS
from lingtan.accounting.resources import framework_names


def acct(**data):
    return account(parse_activity({"park": "p", "year": 2025, **data}))


def by_id(results):
    return {r.id: r for r in results}


def grid_only(kwh, **extra):
    return acct(electricity={"grid_import_kwh": kwh}, **extra)


def test_all_frameworks_load_and_name_their_source():
    names = framework_names()
    assert {"national", "jiangxi", "wuxi", "jiangsu_guide", "hunan", "yangzhou"} <= set(names)
    for n in names:
        fw = load_framework(n)
        assert fw.source.document and fw.source.status


def test_wuxi_has_all_31_indicators_with_near_and_far_targets():
    fw = load_framework("wuxi")
    assert [i.number for i in fw.indicators] == list(range(1, 32))
    for ind in fw.indicators:
        if 2 <= ind.number <= 28:
            assert {t.horizon for t in ind.targets} == {"near", "far"}, ind.id
    cpe = fw.indicator("carbon_per_energy")
    assert sorted((t.horizon, t.value) for t in cpe.targets) == [("far", 0.2), ("far", 0.3), ("near", 1.0)]


@pytest.mark.parametrize(
    "kwh, target, status",
    [
        (500_000_000, None, Status.NOT_APPLICABLE),  # 15万 tce: below the national tiers
        (1_000_000_000, 0.2, Status.NOT_MET),  # 30万 tce
        (4_000_000_000, 0.3, Status.NOT_MET),  # 120万 tce
    ],
)
def test_national_core_tier_by_annual_energy(kwh, target, status):
    r = by_id(evaluate_framework(load_framework("national"), grid_only(kwh)))["carbon_per_energy"]
    assert r.target == target and r.status is status
    assert r.value == pytest.approx(0.8325 / 0.300)


def test_core_met_with_enough_green_power():
    a = acct(electricity={"grid_import_kwh": 50_000_000, "green_direct_kwh": 950_000_000})
    r = by_id(evaluate_framework(load_framework("national"), a))["carbon_per_energy"]
    assert r.value == pytest.approx(50_000_000 * 0.8325e-3 / 300_000) and r.status is Status.MET


def test_jiangxi_target_depends_on_park_type_and_deducts_ccer():
    chem = acct(park_type="chemical", electricity={"grid_import_kwh": 1_000_000_000}, offsets={"ccer_tco2": 8325})
    non = acct(park_type="non_chemical", electricity={"grid_import_kwh": 1_000_000_000}, offsets={"ccer_tco2": 8325})
    rc = by_id(evaluate_framework(load_framework("jiangxi"), chem))
    rn = by_id(evaluate_framework(load_framework("jiangxi"), non))
    assert rc["carbon_per_energy"].target == 0.6 and rn["carbon_per_energy"].target == 0.4
    assert rc["carbon_per_energy"].value == pytest.approx((832_500 - 8325) / 300_000)
    assert rc["offset_ratio"].value == pytest.approx(1.0) and rc["offset_ratio"].status is Status.MET
    national = by_id(evaluate_framework(load_framework("national"), chem))["carbon_per_energy"]
    assert national.value == pytest.approx(832_500 / 300_000)  # never deducted nationally


def test_horizons_and_metric_override_per_target():
    a = grid_only(365_000, capacity={"demand_response_kw": 10, "max_load_kw": 50})
    fw = load_framework("wuxi")
    near = by_id(evaluate_framework(fw, a))["demand_response_capacity"]
    far = by_id(evaluate_framework(fw, a, horizon="far"))["demand_response_capacity"]
    assert near.value == pytest.approx(100 * 10 / (1000 / 24)) and near.target == 8
    assert far.value == pytest.approx(20) and far.target == 10 and far.status is Status.MET


def test_yangzhou_targets_by_park_variant():
    a = grid_only(1_000_000, economy={"industrial_value_added_wan_yuan": 1000})
    fw = load_framework("yangzhou")
    r = by_id(evaluate_framework(fw, a, variant="gaoxin", horizon="2030"))
    assert r["energy_per_value_added"].target == 0.058
    assert r["energy_per_value_added"].value == pytest.approx(1_000_000 * 0.1229e-3 / 1000)  # 当量值
    assert r["renewable_share"].status is Status.NOT_APPLICABLE  # only 经开区 has it
    none = by_id(evaluate_framework(fw, a))
    assert none["co2_per_value_added"].status is Status.NOT_APPLICABLE
    with pytest.raises(FrameworkError, match="variant = 'nowhere'"):
        evaluate_framework(fw, a, variant="nowhere")


def test_missing_and_incomplete_data():
    fw = load_framework("national")
    r = by_id(evaluate_framework(fw, grid_only(1_000_000_000)))
    assert r["solid_waste_utilisation"].status is Status.INSUFFICIENT_DATA
    assert ("waste.solid_utilised_t" in r["solid_waste_utilisation"].note
            or "waste.solid_generated_t" in r["solid_waste_utilisation"].note)
    low = acct(electricity={"grid_import_kwh": 1_000_000_000}, period={"completeness": 0.8})
    core = by_id(evaluate_framework(fw, low))["carbon_per_energy"]
    assert core.status is Status.INSUFFICIENT_DATA and core.completeness == 0.8 and core.value is not None


def test_qualitative_needs_true_or_false():
    fw = load_framework("national")
    r = by_id(evaluate_framework(fw, grid_only(1000, indicators={"product_unit_energy": 1.0})))
    assert r["product_unit_energy"].status is Status.INSUFFICIENT_DATA
    r = by_id(evaluate_framework(fw, grid_only(1000, indicators={"product_unit_energy": False})))
    assert r["product_unit_energy"].status is Status.NOT_MET


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["indicators"][0].update(metric="magic"), "metric 'magic' unknown"),
        (lambda d: d["indicators"].append(copy.deepcopy(d["indicators"][0])), "indicator ids declared twice"),
        (lambda d: d["indicators"][0]["targets"][0].update(horizon="2099"), "horizon '2099' not in []"),
        (lambda d: d["indicators"][0]["targets"][0].pop("value"), "needs a value for comparator <="),
        (lambda d: d.pop("source"), "source = <dict>: Field required"),
        (lambda d: d["indicators"][0].update(comparator="<<"), "comparator = '<<'"),
    ],
)
def test_bad_framework_files_are_refused(mutate, message):
    data = copy.deepcopy(framework_data("national"))
    mutate(data)
    with pytest.raises(FrameworkError) as err:
        parse_framework(data, "national.yaml", frozenset(METRICS))
    assert message in str(err.value) and "national.yaml" in str(err.value)


def test_unknown_framework():
    with pytest.raises(FrameworkError, match="framework 'mars': unknown"):
        load_framework("mars")
