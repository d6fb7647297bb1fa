"""Issue 15: the annex-4 fuel list, certificate provenance, and the switches shown in every result."""

import math
import re

import pytest

from lingtan.accounting.account import account
from lingtan.accounting.activity import ActivityError, fuel_key, parse_activity
from lingtan.accounting.factors import Status, default_factors
from lingtan.accounting.offline import evaluate

ANNEX4 = {"anthracite": "无烟煤", "coking_coal": "炼焦烟煤", "bituminous_coal": "一般烟煤", "lignite": "褐煤",
          "washed_coal": "洗精煤", "coal_gangue": "煤矸石", "coke_oven_gas": "焦炉煤气",
          "blast_furnace_gas": "高炉煤气", "converter_gas": "转炉煤气", "naphtha": "石脑油",
          "petroleum_coke": "石油焦", "lng": "液化天然气", "lpg": "液化石油气", "biomass": "生物质燃料",
          "hydrogen": "氢气"}


def acct(**data):
    return account(parse_activity({"park": "p", "year": 2025, **data}))


@pytest.mark.parametrize("name", sorted(ANNEX4))
def test_every_annex4_fuel_has_sourced_tce_and_co2_factors(name):
    f = default_factors()
    assert f.fuels[name].name == ANNEX4[name]
    for kind in ("tce", "co2"):
        factor = f.at(f"{kind}.{name}", f.factors[0].valid_from)
        assert factor.source in f.sources and f.sources[factor.source].title
        assert factor.status in set(Status)
        if factor.status is Status.UNCONFIRMED:  # a configurable default: the note says how it was derived
            assert factor.note, f"{kind}.{name}: status U without a note"
        if factor.source == "unconfirmed_default":
            assert factor.status is Status.UNCONFIRMED, f"{kind}.{name}: no source found, so status U"


def test_fossil_emission_factors_agree_with_the_stated_lhv_carbon_and_oxidation():
    f = default_factors()
    checked = 0
    for name, fuel in f.fuels.items():
        factor = f.entries(f"co2.{name}")[-1]
        m = re.search(r"LHV ([\d.]+) (GJ/t|GJ/1e4Nm3)(?: \([^)]*\))?, ([\d.]+) tC/TJ, oxidation (\d+) %", factor.note)
        if not fuel.fossil or m is None:
            continue
        lhv = float(m[1]) / (1e4 if m[2] == "GJ/1e4Nm3" else 1.0)  # GJ per activity unit
        ef = lhv * float(m[3]) / 1000 * int(m[4]) / 100 * 44 / 12  # t CO2 per activity unit
        assert math.isclose(factor.per_unit, ef, rel_tol=2e-4), (name, factor.per_unit, ef)
        assert factor.oxidation == pytest.approx(int(m[4]) / 100)
        checked += 1
    assert checked >= 10


def test_biomass_and_hydrogen_emit_nothing_and_count_as_clean_energy():
    a = acct(fuels={"biomass_t": 1000, "hydrogen_t": 10, "diesel_t": 1})
    assert a.emissions.fuel_co2_t == pytest.approx(3.0959)
    assert a.energy.non_fossil_tce == pytest.approx(1000 * 0.5 + 10 * 4.09)
    jiangxi = evaluate({"park": "p", "year": 2025, "framework": "jiangxi", "fuels": {"biomass_t": 1000}}, "t")
    share = next(r for r in jiangxi["indicators"] if r["id"] == "clean_energy_share")
    assert share["value"] == pytest.approx(100)


def test_lng_is_natural_gas_for_the_nbs_clean_energy_convention():
    a = acct(fuels={"lng_t": 100})
    assert a.energy.natural_gas_tce == pytest.approx(175.72)


def test_a_misspelt_unit_names_the_fuel_with_the_longest_matching_name():
    with pytest.raises(ActivityError, match="coke_oven_gas is accounted in m3; write coke_oven_gas_m3"):
        fuel_key("coke_oven_gas_t")


def test_own_plant_certificates_up_to_the_exported_generation_are_accepted():
    flows = {"grid_import_kwh": 1000, "onsite_generation_kwh": 500, "grid_export_kwh": 200}
    a = acct(electricity={**flows, "certificates": [{"source": "own_plant", "vintage": 2025, "mwh": 0.2}]})
    assert a.energy.electricity.certificate_kwh == 200
    assert a.emissions.electricity_co2_t == pytest.approx(800 * 0.8325 / 1000)


def test_own_plant_certificates_of_self_consumed_power_are_refused():
    flows = {"grid_import_kwh": 1000, "onsite_generation_kwh": 500, "grid_export_kwh": 200}
    with pytest.raises(ActivityError, match=r"certificates\[0\] \(source own_plant\).*cannot be claimed again"):
        acct(electricity={**flows, "certificates": [{"source": "own_plant", "vintage": 2025, "mwh": 0.3}]})
    with pytest.raises(ActivityError, match="certificates_sold_mwh"):  # sold ones cannot be retired as well
        acct(electricity={**flows, "certificates_sold_mwh": 0.1,
                          "certificates": [{"source": "own_plant", "vintage": 2025, "mwh": 0.2}]})


def test_certificates_of_a_later_vintage_are_refused_and_the_source_is_required():
    with pytest.raises(ActivityError, match=r"electricity.certificates\[0\].vintage = 2026"):
        acct(electricity={"certificates": [{"source": "purchased", "vintage": 2026, "mwh": 1}]})
    with pytest.raises(ActivityError, match="source"):
        acct(electricity={"certificates": [{"vintage": 2025, "mwh": 1}]})
    with pytest.raises(ActivityError, match="own_plant"):
        acct(electricity={"certificates": [{"source": "ours", "vintage": 2025, "mwh": 1}]})


def test_feedstock_switch_moves_feedstock_out_of_the_energy_total_only():
    data = {"electricity": {"grid_import_kwh": 1000}, "feedstock": {"naphtha_t": 1}}
    inside = acct(**data)
    outside = acct(**data, switches={"feedstock_in_energy": False})
    assert inside.energy.total_tce - outside.energy.total_tce == pytest.approx(1.4)
    assert outside.energy.feedstock_tce == pytest.approx(1.4)
    assert inside.energy.terminal_calorific_tce == pytest.approx(outside.energy.terminal_calorific_tce)
    assert inside.emissions.total_co2_t == outside.emissions.total_co2_t


def test_every_result_states_its_interpretations():
    result = evaluate({"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1}}, "t")
    i = result["interpretations"]
    assert i["export_rule"]["used"] == "by_origin" and i["export_rule"]["switch"].startswith("electricity.export_rule")
    assert i["feedstock_in_energy"]["used"] is True
    assert i["electricity_equivalent_value"]["status"] == "A"
    assert i["clean_energy_natural_gas"]["used"] is True  # the national framework's NBS convention
    assert any(u["key"] == "tce.electricity.equivalent" for u in i["unconfirmed_factors"])


def test_a_verdict_that_hangs_on_the_equivalent_value_is_warned_about():
    # all power certificate-covered (E电 = 0), biomass (0 tCO2) and gas
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1e9, "certificates_mwh": 1_000_000},
            "fuels": {"biomass_t": 200_000, "natural_gas_m3": 30_000_000}}
    result = evaluate(data, "t")
    core = next(r for r in result["indicators"] if r["id"] == "carbon_per_energy")
    # E = 30,000,000 x 2.1622/1000 = 64,866 t; energy 300,000 + 100,000 + 39,900 = 439,900 tce
    assert core["status"] == "met" and core["value"] == pytest.approx(64_866 / 439_900)
    # at 当量值 0.1229: 122,900 + 139,900 = 262,800 tce (same 20-100万 tier) -> 0.2468 > 0.2
    [alt] = core["verdict_alternatives"]
    assert alt["alternative"].startswith("tce.electricity.equivalent = 0.1229 kgce/kWh")
    assert alt["alternative_status"] == "not_met" and alt["alternative_value"] == pytest.approx(64_866 / 262_800)
    assert result["warnings"] == [
        f"carbon_per_energy: met ({64_866 / 439_900:.6g}) as accounted, not_met ({64_866 / 262_800:.6g}) with "
        + alt["alternative"]]


def test_no_warning_when_the_equivalent_value_is_set_with_a_stated_status():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1e9, "certificates_mwh": 1_000_000},
            "fuels": {"biomass_t": 200_000, "natural_gas_m3": 30_000_000},
            "factors": {"tce.electricity.equivalent": {"value": 0.300, "source": "a published figure", "status": "P"}}}
    assert evaluate(data, "t")["warnings"] == []


def test_a_guidance_indicator_can_be_excluded_with_its_reason():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1},
            "indicators": {"waste_heat_cold_pressure": {"excluded": "no waste-heat sources in the park"}}}
    row = next(r for r in evaluate(data, "t")["indicators"] if r["id"] == "waste_heat_cold_pressure")
    assert row["status"] == "excluded" and row["excluded"] == "no waste-heat sources in the park"
    assert row["value"] is None and "excluded by the park: no waste-heat sources" in row["note"]


def test_the_core_indicator_cannot_be_excluded():
    data = {"park": "p", "year": 2025, "indicators": {"carbon_per_energy": {"excluded": "too hard"}}}
    with pytest.raises(ActivityError, match="carbon_per_energy is a core indicator of framework 'national'"):
        evaluate(data, "t")
    with pytest.raises(ActivityError, match="indicators.carbon_per_energy.excluded"):
        evaluate({**data, "indicators": {"carbon_per_energy": {"excluded": ""}}}, "t")


def test_indicators_say_where_their_data_come_from():
    rows = {r["id"]: r for r in evaluate({"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1},
                                          "indicators": {"product_unit_energy": True}}, "t")["indicators"]}
    core = rows["carbon_per_energy"]
    assert core["source"] == "entered" and core["metered_completeness"] is None
    assert rows["product_unit_energy"]["source"] == "entered"
