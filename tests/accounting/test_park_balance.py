"""The park balance: meter totals by role into boundary flows, and bad totals refused."""

import pytest

from lingtan.accounting.activity import Activity, Electricity
from lingtan.accounting.balance import BalanceError, BalanceFlag, park_balance, split_electricity
from tests.support.parks import demo_park
from tests.support.parks import park_meter as meter

PARK = demo_park([
    meter("grid", "electricity", "grid", True),
    meter("green", "electricity", "green_direct", True),
    meter("pv1", "electricity", "pv", False),
    meter("wind1", "electricity", "wind", False),
    meter("bess", "electricity", "storage", False),
    meter("gas", "natural_gas", "supply", True),
    meter("steam", "heat", "supply", True),
    meter("bio-heat", "heat", "supply", True, non_fossil=True),
    meter("water", "water", "supply", True),
    meter("acme-el", "electricity", "enterprise", False, enterprise="acme"),
    meter("acme-line", "electricity", "enterprise", False, enterprise="acme", parent="acme-el"),
    meter("beta-el", "electricity", "enterprise", False, enterprise="beta"),
    meter("beta-diesel", "diesel", "enterprise", False, enterprise="beta"),
])

TOTALS = {
    "grid": {"energy_import_kwh": 1000.0, "energy_export_kwh": 100.0},
    "green": {"energy_import_kwh": 300.0},
    "pv1": {"energy_export_kwh": 200.0, "energy_import_kwh": 2.0},
    "wind1": {"energy_export_kwh": 50.0},
    "bess": {"energy_import_kwh": 80.0, "energy_export_kwh": 70.0},
    "gas": {"gas_m3": 500.0},
    "steam": {"heat_gj": 40.0, "heat_export_gj": 5.0},
    "bio-heat": {"heat_gj": 10.0},
    "water": {"water_m3": 77.0},
    "acme-el": {"energy_import_kwh": 700.0},
    "acme-line": {"energy_import_kwh": 300.0},
    "beta-el": {"energy_import_kwh": 600.0},
    "beta-diesel": {"fuel_kg": 2500.0},
}


def test_flows_by_role():
    b = park_balance(PARK, TOTALS)
    e = b.electricity
    assert (e.grid_import_kwh, e.grid_export_kwh, e.green_direct_kwh) == (1000, 100, 300)
    assert e.onsite_generation_kwh == 250 and b.generation_aux_kwh == 2
    assert (e.storage_charge_kwh, e.storage_discharge_kwh) == (80, 70)
    assert b.fuels == {"natural_gas_m3": 500, "diesel_t": 2.5}  # no diesel boundary meter: from sub-meters
    assert BalanceFlag.FROM_SUBMETERS in b.flags
    assert [(h.gj, h.non_fossil) for h in b.heat.imports] == [(40, False), (10, True)]
    assert [h.gj for h in b.heat.exports] == [5]
    assert b.water_m3 == 77
    assert b.submetered_kwh == 1300  # acme-line is below acme-el
    assert b.by_enterprise["acme"]["energy_import_kwh"] == 700  # acme-line is below acme-el, counted there


def test_consumption_and_split():
    s = split_electricity(park_balance(PARK, TOTALS).electricity)
    assert s.consumption_kwh == 1000 - 100 + 300 + 250
    assert s.storage_losses_kwh == 10
    assert (s.export_of_generation_kwh, s.onsite_renewable_kwh, s.grid_kwh) == (100, 150, 1000)
    assert s.grid_kwh + s.green_direct_kwh + s.onsite_renewable_kwh == s.consumption_kwh
    assert park_balance(PARK, TOTALS).unmetered_kwh == 1450 - 1300


def test_to_activity_keeps_certificates_and_sets_completeness():
    b = park_balance(PARK, {"grid": {"energy_import_kwh": 900.0}, "gas": {"gas_m3": 100.0}},
                     completeness={"grid": 0.5, "gas": 1.0})
    base = Activity(park="demo", year=2025, electricity=Electricity(grid_import_kwh=1, certificates_mwh=0.3))
    a = b.to_activity(base)
    assert a.electricity.grid_import_kwh == 900 and a.electricity.certificates_mwh == 0.3
    assert a.fuels == {"natural_gas_m3": 100}
    assert a.period.completeness == pytest.approx((900 * 0.5 + 100) / 1000)


@pytest.mark.parametrize(
    "totals, message",
    [
        ({"ghost": {"energy_import_kwh": 1.0}}, "totals['ghost']: meter is not declared in park 'demo'"),
        ({"grid": {"power_kw": 1.0}}, "totals['grid']['power_kw']: not a counter quantity"),
        ({"grid": {"energy_import_kwh": -5.0}},
         "totals['grid']['energy_import_kwh'] = -5.0: must be a finite number >= 0"),
        ({"grid": {"energy_import_kwh": float("nan")}}, "= nan: must be a finite number"),
    ],
)
def test_bad_totals_name_meter_quantity_and_value(totals, message):
    with pytest.raises(BalanceError) as err:
        park_balance(PARK, totals)
    assert message in str(err.value)


def test_bad_completeness_is_refused():
    with pytest.raises(BalanceError, match=r"completeness\['grid'\] = 1.5"):
        park_balance(PARK, {}, completeness={"grid": 1.5})


def test_storage_gain_is_flagged():
    b = park_balance(PARK, {"bess": {"energy_import_kwh": 10.0, "energy_export_kwh": 12.0}})
    assert BalanceFlag.STORAGE_GAIN in b.flags


def test_by_enterprise_counts_a_sub_meter_naming_its_enterprise_once():
    # acme-line names acme and hangs below acme-el, which names acme too: acme-el already measures
    # it, so acme used 700 kWh, not 700 + 300 (the enterprise account counts it the same way)
    b = park_balance(PARK, TOTALS)
    assert b.by_enterprise["acme"] == {"energy_import_kwh": 700}
    assert b.by_enterprise["beta"] == {"energy_import_kwh": 600, "fuel_kg": 2500}
