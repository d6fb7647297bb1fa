"""Enterprise accounting: sub-meters into enterprise flows, the allocation rule, reconciliation, key users.

The golden case tests/cases/accounting/three-enterprises holds the hand-worked figures; these tests
cover the metered path, the reconciliation under other park shapes and the refusals.
"""

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from lingtan.accounting.account import account
from lingtan.accounting.activity import Activity, ActivityError, EnterpriseActivity, parse_activity
from lingtan.accounting.balance import park_balance
from lingtan.accounting.enterprises import (
    KEY_USER_THRESHOLD_TCE,
    counted_meters,
    enterprise_account,
    metered_enterprises,
)
from lingtan.accounting.intervals import compute_intervals
from lingtan.accounting.offline import evaluate
from lingtan.accounting.tou import (
    TouError,
    TouPeriod,
    park_consumption_intervals,
    parse_calendar,
    shipped_calendar,
    tou_by_enterprise,
    tou_split,
)
from tests.support.parks import demo_park
from tests.support.parks import park_meter as meter

PARK = demo_park([
    meter("grid", "electricity", "grid", True),
    meter("green", "electricity", "green_direct", True),
    meter("pv1", "electricity", "pv", False),
    meter("gas", "natural_gas", "supply", True),
    meter("acme-el", "electricity", "enterprise", False, enterprise="acme"),
    meter("acme-line", "electricity", "load", False, parent="acme-el"),  # inside acme-el: not again
    meter("acme-gas", "natural_gas", "load", False, parent="acme-el"),  # acme's by its parent
    meter("beta-el", "electricity", "enterprise", False, enterprise="beta"),
    meter("beta-el2", "electricity", "enterprise", False, enterprise="beta"),
    meter("public", "electricity", "load", False),
])

TOTALS = {
    "grid": {"energy_import_kwh": 1000.0, "energy_export_kwh": 100.0},
    "green": {"energy_import_kwh": 300.0},
    "pv1": {"energy_export_kwh": 200.0},
    "gas": {"gas_m3": 500.0},
    "acme-el": {"energy_import_kwh": 700.0},
    "acme-line": {"energy_import_kwh": 300.0},
    "acme-gas": {"gas_m3": 400.0},
    "beta-el": {"energy_import_kwh": 250.0},
    "beta-el2": {"energy_import_kwh": 150.0},
    "public": {"energy_import_kwh": 90.0},
}


def _metered_account(rule: str = "by_origin"):
    base = {"acme": EnterpriseActivity(value_added_wan_yuan=10, certificates_mwh=0.1)}
    firms = metered_enterprises(PARK, TOTALS, {"acme-el": 0.5, "acme-gas": 1.0}, base=base)
    balance = park_balance(PARK, TOTALS)
    activity = balance.to_activity(Activity(
        park="demo", year=2025, electricity={"certificates_mwh": 0.2, "export_rule": rule}, enterprises=firms))
    return firms, account(activity)


def test_sub_meters_and_their_children_make_the_enterprise():
    firms, _ = _metered_account()
    assert firms["acme"].electricity_kwh == 700  # acme-line is inside acme-el, not counted twice
    assert firms["acme"].fuels == {"natural_gas_m3": 400}  # acme-gas belongs to acme through its parent
    assert firms["beta"].electricity_kwh == 400
    assert firms["acme"].value_added_wan_yuan == 10 and firms["acme"].certificates_mwh == 0.1  # entered data kept
    assert firms["beta"].name == "Beta"
    assert firms["acme"].completeness == pytest.approx((700 * 0.5 + 400) / 1100)
    assert set(firms) == {"acme", "beta"}  # the public load belongs to no enterprise


@pytest.mark.parametrize("rule", ["by_origin", "literal", "zero"])
def test_enterprises_plus_unallocated_equal_the_park(rule):
    _, acct = _metered_account(rule)
    r = enterprise_account(acct)
    u = r.unallocated
    consumption = acct.energy.electricity.consumption_kwh  # 1000 - 100 + 300 + 200 = 1400
    assert consumption == 1400
    assert math.isclose(sum(f.electricity_kwh for f in r.enterprises) + u.electricity_kwh, consumption)
    assert u.electricity_kwh == 1400 - 700 - 400
    assert math.isclose(sum(f.energy_tce for f in r.enterprises) + u.energy_tce, acct.energy.total_tce)
    assert math.isclose(sum(f.energy_calorific_tce for f in r.enterprises) + u.energy_calorific_tce,
                        acct.energy.total_calorific_tce)
    assert math.isclose(sum(f.total_co2_t for f in r.enterprises) + u.total_co2_t, acct.emissions.total_co2_t)
    assert u.fuels == {"natural_gas_m3": 100}
    acme = next(f for f in r.enterprises if f.id == "acme")
    assert acme.electricity.own_certificate_kwh == 100  # its own 0.1 MWh attributed to it
    assert math.isclose(acme.electricity.green_kwh + acme.electricity.other_kwh, 700)


def test_own_green_power_beyond_the_park_is_refused():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000, "green_direct_kwh": 100},
            "enterprises": {"a": {"electricity_kwh": 600, "green_direct_kwh": 80},
                            "b": {"electricity_kwh": 300, "green_direct_kwh": 50}}}
    with pytest.raises(ActivityError) as caught:
        evaluate(data, "f.yaml")
    msg = str(caught.value)
    assert "enterprises.a.green_direct_kwh = 80.000" in msg and "enterprises.b.green_direct_kwh = 50.000" in msg
    assert "130.000" in msg and "100.000" in msg


def test_enterprise_certificates_beyond_the_park_are_refused():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000, "certificates_mwh": 0.1},
            "enterprises": {"a": {"electricity_kwh": 600, "certificates_mwh": 0.3}}}
    with pytest.raises(ActivityError, match=r"enterprises\.a\.certificates_mwh = 0\.300"):
        evaluate(data, "f.yaml")


def test_enterprise_fuel_the_park_does_not_book_is_refused():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000},
            "enterprises": {"a": {"electricity_kwh": 600, "fuels": {"diesel_t": 2}}}}
    with pytest.raises(ActivityError, match=r"enterprises\.a\.fuels\.diesel_t = 2"):
        evaluate(data, "f.yaml")


def test_bad_enterprise_input_names_the_field():
    data = {"park": "p", "year": 2025, "enterprises": {
        "a": {"electricity_kwh": -1, "fuels": {"gas_m3": 5}, "value_add": 3}, "Bad Id": {}}}
    with pytest.raises(ActivityError) as caught:
        parse_activity(data, "f.yaml")
    msg = str(caught.value)
    assert "enterprises.a.electricity_kwh = -1" in msg
    assert "enterprises.a.fuels.gas_m3 = 5" in msg and "natural_gas_m3" in msg
    assert "enterprises.a.value_add" in msg
    assert "enterprises.Bad Id" in msg


def test_own_green_power_beyond_consumption_goes_to_the_pool():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000, "certificates_mwh": 0.5},
            "enterprises": {"a": {"electricity_kwh": 200, "certificates_mwh": 0.5}}}
    r = evaluate(data, "f.yaml")["enterprises"]
    a = r["by_id"]["a"]["electricity"]
    assert a["own_certificate_kwh"] == 200 and "own_green_capped" in r["flags"]
    # the other 300 kWh of certificates are shared by the 800 kWh not attributed (public use here)
    assert r["pooled_green_share"] == pytest.approx(300 / 800)
    assert r["unallocated"]["green_kwh"] == pytest.approx(300)


def test_sub_meters_reading_more_than_the_park_are_shown_not_hidden():
    data = {"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000},
            "enterprises": {"a": {"electricity_kwh": 1100}}}
    r = evaluate(data, "f.yaml")["enterprises"]
    assert "enterprises_exceed_park" in r["flags"]
    assert r["unallocated"]["electricity_kwh"] == pytest.approx(-100)


def test_key_energy_user_threshold_basis_and_part_of_a_year():
    # one month (31 days) of 400,000 kWh: 当量值 49.16 tce, 等价值 120 tce; annualised x 365/31
    data = {"park": "p", "year": 2025, "period": {"start": "2025-01-01", "through": "2025-01-31"},
            "electricity": {"grid_import_kwh": 400000}, "key_energy_user_threshold_tce": 1000,
            "enterprises": {"a": {"electricity_kwh": 400000}}}
    a = evaluate(data, "f.yaml")["enterprises"]["by_id"]["a"]["key_user"]
    assert a["annual_tce"] == pytest.approx(400000 * 0.1229 / 1000 * 365 / 31)  # 578.8 < 1000
    assert a["key_energy_user"] is False and a["threshold_tce"] == 1000
    data["key_energy_user_basis"] = "equivalent"
    a = evaluate(data, "f.yaml")["enterprises"]["by_id"]["a"]["key_user"]
    assert a["annual_tce"] == pytest.approx(120 * 365 / 31)  # 1,412.9 >= 1000
    assert a["key_energy_user"] is True and a["basis"] == "equivalent"
    assert KEY_USER_THRESHOLD_TCE == 5000 and "重点用能单位节能管理办法" in a["source"]


def test_a_file_without_enterprises_is_unchanged():
    r = evaluate({"park": "p", "year": 2025, "electricity": {"grid_import_kwh": 1000}}, "f.yaml")
    assert r["enterprises"] is None


# --- time-of-use split (accounting/tou.py) -------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _day(day: date, kwh: float = 1.0) -> list[tuple[datetime, float]]:
    """96 quarter hours of a local day, with their UTC starts."""
    start = datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)
    return [(start + timedelta(minutes=15 * q), kwh) for q in range(96)]


def test_jiangsu_day_by_period():
    cal = shipped_calendar("jiangsu")
    assert cal.source.status == "U" and "江苏" in cal.source.title
    june = tou_split(cal, _day(date(2025, 6, 2)))
    # 谷 0-8 = 32 quarter hours; 峰 8-12 + 17-21 = 32; 平 12-17 + 21-24 = 32
    assert june.kwh == {TouPeriod.SHARP: 0, TouPeriod.PEAK: 32, TouPeriod.FLAT: 32, TouPeriod.VALLEY: 32}
    july = tou_split(cal, _day(date(2025, 7, 2)))
    # 尖峰 10-11 (out of 峰) and 14-15 (out of 平): 4 + 4
    assert july.kwh == {TouPeriod.SHARP: 8, TouPeriod.PEAK: 28, TouPeriod.FLAT: 28, TouPeriod.VALLEY: 32}
    assert july.outside_kwh == 0 and july.total_kwh == 96


def test_utc_starts_are_read_in_park_local_time():
    cal = shipped_calendar()
    # 2025-06-02T00:00Z is 08:00 in Shanghai: the first quarter hour of the morning peak
    assert tou_split(cal, [(datetime(2025, 6, 2, 0, 0, tzinfo=UTC), 5.0)]).kwh[TouPeriod.PEAK] == 5
    assert tou_split(cal, [(datetime(2025, 6, 1, 23, 45, tzinfo=UTC), 5.0)]).kwh[TouPeriod.VALLEY] == 5
    with pytest.raises(TouError, match=r"intervals\[0\]\.start = 2025-06-02T00:00:00: must be timezone-aware"):
        tou_split(cal, [(datetime(2025, 6, 2), 1.0)])
    with pytest.raises(TouError, match="15-minute bound"):
        tou_split(cal, [(datetime(2025, 6, 2, 0, 5, tzinfo=UTC), 1.0)])


def _calendar(**extra):
    flat_day = [{"start": "00:00", "end": "24:00", "period": "flat"}]
    split_day = [{"start": "00:00", "end": "12:00", "period": "valley"},
                 {"start": "12:00", "end": "24:00", "period": "peak"}]
    data = {"id": "t", "name": "t", "region": "test", "source": {"title": "test calendar", "status": "A"},
            "versions": [{"valid_from": "2025-01-01", "valid_to": "2025-03-01", "windows": flat_day},
                         {"valid_from": "2025-03-01", "windows": split_day}], **extra}
    return data


def test_calendar_versions_are_effective_dated():
    cal = parse_calendar(_calendar(), "t.yaml")
    split = tou_split(cal, _day(date(2025, 2, 28)) + _day(date(2025, 3, 1)) + _day(date(2024, 12, 31)))
    assert split.kwh[TouPeriod.FLAT] == 96 and split.kwh[TouPeriod.VALLEY] == 48 and split.kwh[TouPeriod.PEAK] == 48
    assert split.outside_kwh == 96  # 2024 is before every version: reported, not dropped
    assert split.total_kwh == 288


@pytest.mark.parametrize(("windows", "fragment"), [
    ([{"start": "00:00", "end": "13:00", "period": "flat"}, {"start": "12:00", "end": "24:00", "period": "peak"}],
     "window 12:00-24:00 overlaps 00:00-13:00"),
    ([{"start": "00:00", "end": "12:00", "period": "flat"}], "windows leave 12:00 uncovered"),
    ([{"start": "00:00", "end": "12:10", "period": "flat"}], "'12:10': must be a time of day"),
    ([{"start": "00:00", "end": "24:00", "period": "shoulder"}], "versions.0.windows.0.period"),
])
def test_bad_calendars_are_refused_naming_the_field(windows, fragment):
    data = _calendar()
    data["versions"] = [{"valid_from": "2025-01-01", "windows": windows}]
    with pytest.raises(TouError) as caught:
        parse_calendar(data, "t.yaml")
    assert fragment in str(caught.value) and str(caught.value).startswith("t.yaml:")


def test_overlapping_versions_are_refused():
    data = _calendar()
    data["versions"][0]["valid_to"] = None
    with pytest.raises(TouError, match="versions from 2025-01-01 and 2025-03-01 overlap"):
        parse_calendar(data, "t.yaml")
    with pytest.raises(TouError, match="'shanghai': no accounting/tou-shanghai.yaml"):
        shipped_calendar("shanghai")


def test_split_per_enterprise_and_for_the_park_from_the_interval_engine():
    cal = shipped_calendar()
    start = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)  # local midnight of 2 June
    end = start + timedelta(days=1)

    def intervals(kwh_per_hour: float) -> list[tuple[datetime, float]]:
        samples = [(start + timedelta(minutes=5 * i), kwh_per_hour * i / 12) for i in range(12 * 24 + 1)]
        return [(iv.start, iv.energy) for iv in compute_intervals(samples, start, end)]

    per_meter = {"acme-el": intervals(8), "acme-line": intervals(4), "beta-el": intervals(4), "public": intervals(1)}
    counted = {m: e for m, e in counted_meters(PARK).items() if m in ("acme-el", "acme-line", "beta-el", "beta-el2")}
    firms = tou_by_enterprise(cal, per_meter, counted)
    assert set(firms) == {"acme", "beta"}
    assert firms["acme"].kwh[TouPeriod.PEAK] == pytest.approx(8 * 8)  # acme-line is inside acme-el
    assert firms["beta"].kwh[TouPeriod.VALLEY] == pytest.approx(4 * 8)
    park = park_consumption_intervals(PARK, {
        "grid": {"energy_import_kwh": intervals(12), "energy_export_kwh": intervals(2)},
        "pv1": {"energy_export_kwh": intervals(3)},
        "acme-el": {"energy_import_kwh": intervals(8)},  # a sub-meter: not a park flow
    })
    split = tou_split(cal, park)
    assert split.total_kwh == pytest.approx(13 * 24)
    assert split.kwh[TouPeriod.FLAT] == pytest.approx(13 * 8)


def test_lingtan_account_prints_the_golden_case_reconciled(capsys):
    import json
    from pathlib import Path

    from lingtan.cli.main import main
    case = Path(__file__).resolve().parents[1] / "cases" / "accounting" / "three-enterprises" / "input.yaml"
    assert main(["account", str(case)]) == 0
    out = json.loads(capsys.readouterr().out)
    firms = out["enterprises"]
    # hand-worked in WORKING.md: 29,336.2 + 3,733.24 = 33,069.44 tce; 40,765.175 + 6,504.225 = 47,269.4 t
    assert firms["enterprises_total"]["energy_tce"] == pytest.approx(29336.2, rel=1e-12)
    assert firms["unallocated"]["energy_tce"] == pytest.approx(3733.24, rel=1e-12)
    assert out["energy"]["total_tce"] == pytest.approx(33069.44, rel=1e-12)
    assert firms["enterprises_total"]["co2_t"] + firms["unallocated"]["total_co2_t"] == pytest.approx(
        out["emissions"]["total_co2_t"], rel=1e-12)
    assert out["emissions"]["total_co2_t"] == pytest.approx(47269.4, rel=1e-12)
