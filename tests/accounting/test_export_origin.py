"""Exports by origin (issue 15): each exported kWh gets the factor of its kind of power.

Annex 4 二(二)3① multiplies 受入 and 送出 by the factor of their kind. Surplus on-site renewable
power and green direct supply entered at 0 and leave at 0; on-site fossil power and grid
pass-through leave at 0.8325. Green power therefore never makes E电 negative.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lingtan.accounting.account import account
from lingtan.accounting.activity import Electricity, parse_activity
from lingtan.accounting.balance import BalanceFlag, park_balance, split_electricity
from lingtan.kernel.park import Park, Role

EF = 0.8325 / 1000  # tCO2/kWh


def acct(**data):
    return account(parse_activity({"park": "p", "year": 2025, **data}))


def test_green_direct_exports_beyond_grid_import_do_not_make_electricity_negative():
    # the example: 10 GWh grid, 100 GWh green direct, 50 GWh exported
    a = acct(electricity={"grid_import_kwh": 10e6, "green_direct_kwh": 100e6, "grid_export_kwh": 50e6})
    assert a.emissions.electricity_co2_t == pytest.approx(10e6 * EF)  # 8,325 t, was -33,300 t
    s = a.energy.electricity
    assert s.export_of_green_direct_kwh == 50e6 and s.export_of_grid_kwh == 0
    assert s.grid_kwh == 10e6 and s.green_direct_kwh == 50e6 and s.consumption_kwh == 60e6
    assert a.emissions.export_rule.other_rule_electricity_co2_t == pytest.approx(-33_300)


def test_no_grid_import_at_all():
    a = acct(electricity={"green_direct_kwh": 100e6, "grid_export_kwh": 50e6})
    assert a.emissions.electricity_co2_t == 0  # was -41,625 t
    assert a.emissions.export_rule.other_rule_electricity_co2_t == pytest.approx(-41_625)


def test_grid_pass_through_is_never_more_than_the_import():
    s = split_electricity(Electricity(grid_import_kwh=100, grid_export_kwh=500, onsite_generation_kwh=50,
                                      storage_charge_kwh=0, storage_discharge_kwh=400))
    assert s.export_of_generation_kwh == 50 and s.export_of_grid_kwh == 100
    assert s.export_unattributed_kwh == 350 and BalanceFlag.EXPORT_EXCEEDS_SUPPLY in s.flags
    a = acct(electricity={"grid_import_kwh": 100, "grid_export_kwh": 500, "onsite_generation_kwh": 50,
                          "storage_discharge_kwh": 400})
    assert a.emissions.electricity_co2_t == pytest.approx(0)  # 100 in at 0.8325, the same 100 out


def test_onsite_fossil_generation_is_consumption_not_renewable_and_its_export_is_credited():
    a = acct(electricity={"grid_import_kwh": 1000, "onsite_fossil_generation_kwh": 600, "grid_export_kwh": 200},
             fuels={"natural_gas_m3": 100})
    s = a.energy.electricity
    assert s.consumption_kwh == 1400 and s.onsite_fossil_kwh == 400 and s.export_of_fossil_generation_kwh == 200
    assert s.onsite_renewable_kwh == 0 and s.green_kwh == 0
    # the gas is in E燃料; the exported 200 kWh leave at 0.8325 so the grid's count is not doubled
    assert a.emissions.electricity_co2_t == pytest.approx((1000 - 200) * EF)
    assert a.emissions.fuel_co2_t == pytest.approx(100 * 2.1622 / 1000)
    # energy: the gas counts; the generated power is secondary energy, not counted again
    assert a.energy.electricity_tce == pytest.approx((1400 - 600) * 0.300 / 1000)
    assert a.energy.total_tce == pytest.approx(800 * 0.300 / 1000 + 100 * 1.33 / 1000)


def test_renewable_surplus_leaves_before_fossil_generation():
    s = split_electricity(Electricity(onsite_generation_kwh=100, onsite_fossil_generation_kwh=100,
                                      green_direct_kwh=100, grid_export_kwh=250))
    assert (s.export_of_generation_kwh, s.export_of_green_direct_kwh, s.export_of_fossil_generation_kwh) == (
        100, 100, 50)


def _meter(mid, role, boundary):
    return {"id": mid, "carrier": "electricity", "role": role, "boundary": boundary, "gateway": "gw",
            "modbus": {"bus": "b", "unit": 1}, "profile": "generic_float32"}


def test_fossil_generation_meter_role_books_its_export_as_fossil_generation():
    park = Park.model_validate({"id": "p", "name": "P", "meters": [
        _meter("grid", "grid", True), _meter("chp", "fossil_generation", False), _meter("pv", "pv", False)]})
    assert park.meter("chp").role is Role.FOSSIL_GENERATION and park.meter("chp").in_balance
    bal = park_balance(park, {"grid": {"energy_import_kwh": 100.0}, "chp": {"energy_export_kwh": 50.0,
                                                                            "energy_import_kwh": 2.0},
                              "pv": {"energy_export_kwh": 30.0}})
    assert bal.electricity.onsite_fossil_generation_kwh == 50 and bal.electricity.onsite_generation_kwh == 30
    assert bal.generation_aux_kwh == 2


kwh = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(grid=kwh, export=kwh, green=kwh, gen=kwh, fossil=kwh, charge=kwh, discharge=kwh,
       certs=st.floats(min_value=0, max_value=1e6), sold=st.floats(min_value=0, max_value=1e6))
def test_electricity_is_never_below_the_fossil_share_of_net_grid_receipts(grid, export, green, gen, fossil, charge,
                                                                          discharge, certs, sold):
    a = acct(electricity={"grid_import_kwh": grid, "grid_export_kwh": export, "green_direct_kwh": green,
                          "onsite_generation_kwh": gen, "onsite_fossil_generation_kwh": fossil,
                          "storage_charge_kwh": charge, "storage_discharge_kwh": discharge,
                          "certificates_mwh": certs, "certificates_sold_mwh": sold})
    s = a.energy.electricity
    e = a.emissions.electricity_co2_t
    slack = 1e-9 * max(1.0, grid, export) * EF
    # net grid receipts: import less pass-through, less the certificate-covered part (factor 0)
    fossil_net_grid = max(0.0, grid - s.export_of_grid_kwh - s.certificate_kwh) * EF
    fossil_exports = s.export_of_fossil_generation_kwh * EF
    assert e >= fossil_net_grid - fossil_exports - slack
    if s.export_of_fossil_generation_kwh == 0:
        assert e >= fossil_net_grid - slack
        assert e >= -slack


def test_metered_flows_are_marked_metered_and_entered_fuels_make_them_mixed():
    from lingtan.accounting.activity import Activity
    park = Park.model_validate({"id": "p", "name": "P", "meters": [_meter("grid", "grid", True)]})
    bal = park_balance(park, {"grid": {"energy_import_kwh": 100.0}}, {"grid": 0.5})
    assert bal.to_activity(Activity(park="p", year=2025)).provenance == "metered"
    mixed = bal.to_activity(Activity(park="p", year=2025, fuels={"diesel_t": 1}))
    assert mixed.provenance == "mixed" and mixed.period.completeness == 0.5
