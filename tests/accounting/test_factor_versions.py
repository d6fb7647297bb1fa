"""Factors: values and sources as in reference.yaml, effective dating and versioned changes."""

from datetime import UTC, date, datetime

import pytest

from lingtan.accounting.factors import FactorError, Status, change_factor, default_factors, parse_factors

WHEN = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)


def test_shipped_values_sources_and_status():
    f = default_factors()
    d = date(2025, 6, 1)
    assert f.at("tce.electricity.calorific", d).value == 0.1229
    eq = f.at("tce.electricity.equivalent", d)
    assert (eq.value, eq.status) == (0.300, Status.ASSUMPTION)
    fossil = f.at("co2.electricity.fossil", d)
    assert (fossil.value, fossil.status, fossil.source) == (0.8325, Status.PRIMARY, "ndrc_910_annex4_accounting")
    assert f.at("tce.heat", d).per_unit == pytest.approx(0.03412)  # tce/GJ from 0.03412 kgce/MJ
    assert f.at("co2.heat.fossil", d).per_unit == 0.11
    assert f.at("tce.natural_gas", d).per_unit == pytest.approx(0.00133)  # tce/m3
    assert f.at("co2.diesel", d).per_unit == pytest.approx(3.0959)
    assert f.at("tce.diesel", d).activity_unit == "t"
    assert all(x.source in f.sources for x in f.factors)


def test_change_adds_a_version_and_names_the_affected_years():
    f = default_factors()
    new, record = change_factor(
        f, "tce.electricity.equivalent", 0.2955, valid_from=date(2025, 1, 1), valid_to=date(2026, 1, 1),
        status="S", source="nimonik_faq", changed_at=WHEN, changed_by="alice", reason="2025 value published",
    )
    assert new.at("tce.electricity.equivalent", date(2025, 7, 1)).value == 0.2955
    assert new.at("tce.electricity.equivalent", date(2024, 7, 1)).value == 0.300
    assert new.at("tce.electricity.equivalent", date(2026, 1, 1)).value == 0.300
    assert record.new.version == 2 and record.previous[0].version == 1
    assert (record.changed_at, record.changed_by, record.reason) == (WHEN, "alice", "2025 value published")
    assert record.affected == ((date(2025, 1, 1), date(2026, 1, 1)),)
    assert record.affected_years(until=2030) == [2025]
    assert f.at("tce.electricity.equivalent", date(2025, 7, 1)).value == 0.300  # the old set is unchanged


def test_open_ended_change_over_an_earlier_one_reports_only_spans_that_change():
    f, _ = change_factor(default_factors(), "tce.electricity.equivalent", 0.2955, valid_from=date(2025, 1, 1),
                         valid_to=date(2026, 1, 1), status="S", source="nimonik_faq", changed_at=WHEN, changed_by="a")
    f, record = change_factor(f, "tce.electricity.equivalent", 0.2955, valid_from=date(2024, 1, 1), status="S",
                              source="nimonik_faq", changed_at=WHEN, changed_by="b")
    assert record.affected == ((date(2024, 1, 1), date(2025, 1, 1)), (date(2026, 1, 1), None))
    assert record.affected_years(until=2027) == [2024, 2026, 2027]


def test_same_value_affects_nothing():
    _, record = change_factor(default_factors(), "co2.heat.fossil", 0.11, valid_from=date(2025, 1, 1), status="P",
                              source="ndrc_910_annex4_accounting", changed_at=WHEN, changed_by="c")
    assert record.affected == ()


def test_a_period_the_factor_changes_in_is_refused():
    f, _ = change_factor(default_factors(), "co2.electricity.fossil", 0.8273, valid_from=date(2025, 7, 1), status="S",
                         source="nimonik_faq", changed_at=WHEN, changed_by="d")
    with pytest.raises(FactorError, match="changes on 2025-07-01 within 2025-01-01..2026-01-01"):
        f.for_period("co2.electricity.fossil", date(2025, 1, 1), date(2026, 1, 1))
    assert f.for_period("co2.electricity.fossil", date(2025, 7, 1), date(2026, 1, 1)).value == 0.8273


def test_new_source_can_be_registered_with_the_change():
    f, record = change_factor(default_factors(), "tce.natural_gas", 1.2143, valid_from=date(2025, 1, 1), status="S",
                              source="park_gas_lab", new_source={"title": "supplier LHV certificate"},
                              changed_at=WHEN, changed_by="e")
    assert f.sources["park_gas_lab"].title == "supplier LHV certificate"
    assert record.new.unit == "kgce/m3"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"key": "tce.unobtainium"}, "factor 'tce.unobtainium': unknown"),
        ({"source": "nowhere"}, "source 'nowhere' is not in the sources table"),
        ({"unit": "kgce/bushel"}, "unit 'kgce/bushel' is not one of"),
        ({"unit": "kgCO2/kWh"}, "yields tCO2, not what the key names"),
        ({"value": -1}, "= -1"),
        ({"valid_to": date(2024, 1, 1)}, "valid_to 2024-01-01 must be after valid_from 2025-01-01"),
        ({"changed_at": datetime(2026, 1, 1)}, "changed_at = 2026-01-01T00:00:00: naive"),
    ],
)
def test_bad_changes_are_refused_with_what_was_wrong(kwargs, message):
    args = {"key": "tce.electricity.equivalent", "value": 0.29, "valid_from": date(2025, 1, 1), "status": "A",
            "source": "nimonik_faq", "changed_at": WHEN, "changed_by": "f", **kwargs}
    key, value = args.pop("key"), args.pop("value")
    with pytest.raises(FactorError) as err:
        change_factor(default_factors(), key, value, **args)
    assert message in str(err.value)


def test_a_bad_factor_file_names_the_key():
    data = default_factors().model_dump(mode="json")
    data["factors"][0]["value"] = "lots"
    with pytest.raises(FactorError, match=r"factors\[0\].value = 'lots'"):
        parse_factors(data, "factors.yaml")
