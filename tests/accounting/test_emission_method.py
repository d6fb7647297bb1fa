"""Annex 4 emission terms one at a time, with figures small enough to check by eye."""

import pytest

from lingtan.accounting.account import account
from lingtan.accounting.activity import Electricity, parse_activity
from lingtan.accounting.balance import BalanceFlag, split_electricity


def acct(**data):
    return account(parse_activity({"park": "p", "year": 2025, **data}))


def test_grid_power_at_the_national_fossil_factor():
    a = acct(electricity={"grid_import_kwh": 1000})
    assert a.emissions.electricity_co2_t == pytest.approx(0.8325)
    assert a.energy.total_tce == pytest.approx(0.300)  # 等价值
    assert a.energy.total_calorific_tce == pytest.approx(0.1229)  # 当量值


def test_green_direct_onsite_and_certificates_count_zero():
    a = acct(electricity={"grid_import_kwh": 1000, "green_direct_kwh": 500, "onsite_generation_kwh": 300,
                          "certificates_mwh": 0.4})
    assert a.emissions.electricity_co2_t == pytest.approx(600 * 0.8325 / 1000)
    assert a.energy.electricity.consumption_kwh == 1800


def test_certificates_never_cover_more_than_grid_power_consumed():
    s = split_electricity(Electricity(grid_import_kwh=1000, green_direct_kwh=5000, certificates_mwh=9))
    assert s.certificate_kwh == 1000 and BalanceFlag.CERTIFICATES_CAPPED in s.flags
    assert s.certificate_kwh <= s.consumption_kwh


def test_exports_get_the_factor_of_their_origin_and_the_literal_rule_stays_selectable():
    flows = {"grid_import_kwh": 1000, "grid_export_kwh": 400, "onsite_generation_kwh": 400}
    plain = acct(electricity=flows)  # exported PV entered at 0 and leaves at 0: no credit
    assert plain.emissions.electricity_co2_t == pytest.approx(1000 * 0.8325 / 1000)
    assert plain.emissions.export_rule.rule == "by_origin"
    assert plain.emissions.export_rule.other_rule_electricity_co2_t == pytest.approx(600 * 0.8325 / 1000)
    literal = acct(electricity={**flows, "export_rule": "literal"})
    assert literal.emissions.electricity_co2_t == pytest.approx(600 * 0.8325 / 1000)
    assert literal.emissions.export_rule.other_rule_electricity_co2_t == pytest.approx(0.8325)
    sold = acct(electricity={**flows, "export_rule": "literal", "certificates_sold_mwh": 0.1})
    assert sold.emissions.electricity_co2_t == pytest.approx(700 * 0.8325 / 1000)
    old_fossil = acct(electricity={**flows, "export_factor": "fossil"})  # the older spelling still works
    assert old_fossil.emissions.electricity_co2_t == pytest.approx(600 * 0.8325 / 1000)
    green = acct(electricity={**flows, "export_factor": "green"})
    assert green.emissions.electricity_co2_t == pytest.approx(0.8325)


def test_conflicting_export_rule_and_export_factor_are_refused():
    with pytest.raises(ValueError, match="export_factor = 'fossil' means export_rule 'literal'"):
        acct(electricity={"grid_export_kwh": 1, "export_factor": "fossil", "export_rule": "by_origin"})


def test_export_beyond_generation_is_flagged():
    s = split_electricity(Electricity(grid_import_kwh=100, grid_export_kwh=150, onsite_generation_kwh=100))
    assert BalanceFlag.EXPORT_EXCEEDS_GENERATION in s.flags
    assert s.grid_kwh == 50 and s.onsite_renewable_kwh == 0 and s.consumption_kwh == 50


def test_heat_fossil_default_measured_and_non_fossil():
    a = acct(heat={"imports": [{"gj": 100}, {"gj": 100, "factor_tco2_per_gj": 0.05}, {"gj": 100, "non_fossil": True}],
                   "exports": [{"gj": 10}]})
    assert a.emissions.heat_co2_t == pytest.approx(11 + 5 + 0 - 1.1)
    assert a.energy.total_tce == pytest.approx(290 * 0.03412)


def test_fuels_bunker_and_feedstock():
    a = acct(fuels={"diesel_t": 10, "natural_gas_m3": 1000}, bunker={"fuel_oil_t": 2},
             feedstock={"natural_gas_m3": 500})
    m = a.emissions
    assert m.bunker_co2_t == pytest.approx(2 * 3.1705)
    assert m.fuel_co2_t == pytest.approx(10 * 3.0959 + 1000 * 2.1622 / 1000 + 2 * 3.1705)  # bunker included
    assert a.energy.feedstock_tce == pytest.approx(500 * 1.33 / 1000)
    assert a.energy.total_tce == pytest.approx(10 * 1.4571 + 1500 * 1.33 / 1000 + 2 * 1.4286)


def test_transformation_uses_full_oxidation_carbon_balance():
    a = acct(transformation={"inputs": {"raw_coal_t": 100}, "outputs": {"coke_t": 60}})
    want = 100 * 1.9003 / 0.94 - 60 * 2.8604 / 0.93
    assert a.emissions.transformation_co2_t == pytest.approx(want)
    assert a.energy.transformation_tce == pytest.approx(100 * 0.7143 - 60 * 0.9714)


def test_process_emissions_from_production_data():
    a = acct(process=[{"product": "水泥熟料", "output_t": 1000, "factor_tco2_per_t": 0.538, "factor_source": "test"}])
    assert a.emissions.process_co2_t == pytest.approx(538)
    assert a.emissions.total_co2_t == pytest.approx(538)


def test_offsets_are_carried_but_never_deducted():
    a = acct(electricity={"grid_import_kwh": 1_000_000}, offsets={"ccer_tco2": 100})
    assert a.emissions.total_co2_t == pytest.approx(832.5)
    assert a.emissions.offsets_tco2 == 100


def test_every_line_names_its_factor_source():
    a = acct(electricity={"grid_import_kwh": 10}, fuels={"lpg_t": 1}, heat={"imports": [{"gj": 1}]})
    assert all(line.factor_source for line in a.emissions.lines)
    assert {line.factor_key for line in a.energy.lines} == {"tce.electricity.equivalent", "tce.lpg", "tce.heat"}
