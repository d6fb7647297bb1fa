"""Edge cases of the counter cleaner, the interval engine and the calendar roll-ups."""

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from lingtan.accounting.counter import Flag
from lingtan.accounting.intervals import (
    IntervalError,
    Sample,
    SampleArrays,
    compute_intervals,
    consumption,
    interval_series,
    to_us,
)
from lingtan.accounting.periods import PeriodKind, elapsed_share, periods_between, rollup

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def series(values, every=5):
    return [(at(i * every), v) for i, v in enumerate(values)]


def total(samples, hours=2, **rules):
    return sum(i.energy for i in compute_intervals(samples, T0, T0 + timedelta(hours=hours), **rules))


def all_flags(ivs):
    return set().union(*(i.flags for i in ivs))


def test_linear_apportionment_across_an_interval_bound():
    ivs = compute_intervals([(at(10), 0.0), (at(20), 10.0)], T0, at(30))
    assert [i.energy for i in ivs] == pytest.approx([5.0, 5.0])
    assert [i.completeness for i in ivs] == pytest.approx([1 / 3, 1 / 3])
    assert all_flags(ivs) == set()


def test_meter_replacement_counts_energy_before_and_after():
    ivs = compute_intervals(series([1000, 1010, 1020, 3, 8]), T0, at(30))
    assert sum(i.energy for i in ivs) == pytest.approx(20 + 3 + 5)
    assert Flag.RESET in all_flags(ivs)


def test_rollover_adds_the_modulus():
    m = 2**32 * 0.01
    ivs = compute_intervals(series([m - 4, m - 1, 2, 6]), T0, at(30), rollover=m)
    assert sum(i.energy for i in ivs) == pytest.approx(3 + 3 + 4)
    assert Flag.ROLLOVER in all_flags(ivs)


def test_rollover_without_rate_limit_needs_top_to_bottom_wrap():
    # 60 -> 30 with modulus 100 starts below the top 10 %: neither a wrap nor a restart
    ivs = compute_intervals(series([50, 60, 30, 33]), T0, at(30), rollover=100)
    assert sum(i.energy for i in ivs) == pytest.approx(10 + 3)
    assert Flag.NEGATIVE in all_flags(ivs)


@pytest.mark.parametrize("garbage", [1e9, 0.0, 123456.0, 3.0])
def test_single_spike_is_dropped_not_counted(garbage):
    samples = series([100, 101, garbage, 103, 104])
    ivs = compute_intervals(samples, T0, at(30))
    assert sum(i.energy for i in ivs) == pytest.approx(4)
    assert Flag.SPIKE in all_flags(ivs)


def test_spike_up_as_last_reading_is_caught_by_the_rate_limit():
    ivs = compute_intervals(series([100, 101, 5e6]), T0, at(15), max_rate_per_h=1000)
    assert sum(i.energy for i in ivs) == pytest.approx(1)
    assert Flag.RATE in all_flags(ivs)


def test_up_and_back_reading_is_a_spike_even_when_small():
    ivs = compute_intervals(series([50, 60, 55, 58]), T0, at(15))
    assert sum(i.energy for i in ivs) == pytest.approx(8)
    assert Flag.SPIKE in all_flags(ivs)


def test_sustained_jump_above_the_rate_is_rejected_and_counting_resumes():
    ivs = compute_intervals(series([10, 20, 1e6, 1e6 + 5, 1e6 + 9]), T0, at(30), max_rate_per_h=200)
    assert sum(i.energy for i in ivs) == pytest.approx(10 + 5 + 4)
    assert Flag.RATE in all_flags(ivs)
    assert ivs[0].completeness < 1  # the rejected step is not measured time


def test_negative_step_is_rejected_and_flagged():
    ivs = compute_intervals(series([100, 110, 90, 95]), T0, at(15))
    assert sum(i.energy for i in ivs) == pytest.approx(10 + 5)
    assert Flag.NEGATIVE in all_flags(ivs)


def test_duplicates_and_reordering():
    samples = series([0, 1, 2, 3, 4, 5])
    shuffled = [samples[3], samples[0], samples[5], samples[1], samples[1], samples[4], samples[2]]
    ivs = compute_intervals(shuffled, T0, at(30))
    assert sum(i.energy for i in ivs) == pytest.approx(5)
    assert all_flags(ivs) == set()  # exact resends are not worth a flag


def test_conflicting_duplicate_keeps_the_first_and_flags():
    ivs = compute_intervals([(at(0), 0), (at(5), 5), (at(5), 7), (at(10), 10)], T0, at(15))
    assert sum(i.energy for i in ivs) == pytest.approx(10)
    assert Flag.DUPLICATE in all_flags(ivs)


def test_invalid_readings_are_dropped_without_losing_neighbours():
    ivs = compute_intervals(series([0, float("nan"), 2, -5, 4, float("inf"), 6]), T0, at(30))
    assert sum(i.energy for i in ivs) == pytest.approx(6)
    assert Flag.INVALID in all_flags(ivs)


def test_gap_energy_is_spread_and_estimated():
    ivs = compute_intervals([(at(0), 0.0), (at(120), 80.0)], T0, at(120))
    assert [i.energy for i in ivs] == pytest.approx([10.0] * 8)
    assert all(i.estimated and i.completeness == 0 and Flag.GAP in i.flags for i in ivs)
    longer = compute_intervals([(at(0), 0.0), (at(120), 80.0)], T0, at(120), max_gap=timedelta(hours=3))
    assert all(not i.estimated and i.completeness == 1 for i in longer)


def test_intervals_outside_the_readings_have_no_data():
    ivs = compute_intervals([(at(15), 0.0), (at(30), 3.0)], T0, at(45))
    assert [i.energy for i in ivs] == pytest.approx([0, 3, 0])
    assert Flag.NO_DATA in ivs[0].flags and Flag.NO_DATA in ivs[2].flags
    assert ivs[1].completeness == 1


def test_sample_objects_arrays_and_tuples_agree():
    values = [0, 2, 5, 9]
    tuples = series(values)
    objects = [Sample(t, v) for t, v in tuples]
    arrays = SampleArrays(np.array([to_us(t) for t, _ in tuples]), np.array(values, dtype=float))
    results = [interval_series(s, T0, at(15)).energy.tolist() for s in (tuples, objects, arrays)]
    assert results[0] == results[1] == results[2]


def test_interval_length_is_a_parameter():
    ivs = compute_intervals(series(range(13)), T0, at(60), interval=timedelta(hours=1))
    assert len(ivs) == 1 and ivs[0].energy == pytest.approx(12)


def test_consumption_between_arbitrary_instants():
    c = consumption(series([0, 10, 20, 30]), at(2.5), at(12.5))
    assert c.energy == pytest.approx(20) and c.completeness == pytest.approx(1)
    assert c.start == at(2.5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: compute_intervals([(datetime(2025, 1, 1), 1.0)], T0, at(15)),
         "samples[0].ts = 2025-01-01T00:00:00: naive"),
        (lambda: compute_intervals([(at(0), "x")], T0, at(15)), "samples[0].value = 'x'"),
        (lambda: compute_intervals([], T0, at(20)), "end - start = 0:20:00"),
        (lambda: compute_intervals([], at(15), T0), "end = 2025-01-01T00:00:00+00:00: must be after"),
        (lambda: compute_intervals([], T0, at(15), rollover=-1), "rollover = -1"),
        (lambda: compute_intervals([], T0, at(15), max_rate_per_h=0), "max_rate_per_h = 0"),
        (lambda: compute_intervals([], T0, at(15), interval=timedelta(0)), "interval = datetime.timedelta(0)"),
        (lambda: compute_intervals([], T0, at(15), reset_ratio=2), "reset_ratio = 2"),
    ],
)
def test_bad_input_names_argument_and_value(call, message):
    with pytest.raises(IntervalError) as err:
        call()
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_empty_and_single_sample_give_no_energy():
    assert total([]) == 0
    assert total([(at(3), 5.0)]) == 0


# --- calendar periods in park local time -------------------------------------------------

def test_shanghai_year_starts_at_1600_utc():
    periods = periods_between(datetime(2024, 12, 31, 15, tzinfo=UTC), datetime(2024, 12, 31, 17, tzinfo=UTC),
                              PeriodKind.YEAR, SHANGHAI)
    assert [p[0] for p in periods] == ["2024", "2025"]
    assert periods[1][1].astimezone(UTC) == datetime(2024, 12, 31, 16, tzinfo=UTC)


def test_rollup_by_local_day_and_month():
    start = datetime(2025, 1, 31, 16, tzinfo=UTC)  # 2025-02-01 00:00 in Shanghai
    samples = [(start + timedelta(minutes=15 * k), float(k)) for k in range(96 * 2 + 1)]  # two full days
    ser = interval_series(samples, start, start + timedelta(days=2))
    days = rollup(ser, PeriodKind.DAY, SHANGHAI)
    assert [d.label for d in days] == ["2025-02-01", "2025-02-02"]
    assert [d.energy for d in days] == pytest.approx([96, 96])
    assert [d.completeness for d in days] == pytest.approx([1, 1])
    (month,) = rollup(ser, PeriodKind.MONTH, SHANGHAI)
    assert month.label == "2025-02" and month.energy == pytest.approx(192)
    assert month.completeness == pytest.approx(2 / 28)
    assert rollup(ser.intervals(), PeriodKind.DAY, SHANGHAI) == days


def test_rollup_handles_a_23_hour_day():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 3, 30, tzinfo=berlin).astimezone(UTC)
    end = datetime(2025, 3, 31, tzinfo=berlin).astimezone(UTC)
    assert end - start == timedelta(hours=23)  # clocks go forward: a 23-hour local day
    samples = [(start + timedelta(minutes=15 * k), float(k)) for k in range(23 * 4 + 1)]
    ser = interval_series(samples, start, end.astimezone(UTC))
    (day,) = rollup(ser, PeriodKind.DAY, berlin)
    assert len(ser) == 92 and day.completeness == pytest.approx(1) and day.energy == pytest.approx(92)


def test_rollup_refuses_intervals_straddling_a_local_day():
    kathmandu = ZoneInfo("Asia/Kathmandu")  # +05:45: hourly UTC intervals straddle local midnight
    ser = interval_series([(T0, 0.0), (T0 + timedelta(days=1), 24.0)], T0, T0 + timedelta(days=1),
                          interval=timedelta(hours=1))
    with pytest.raises(IntervalError, match="straddles a day boundary in Asia/Kathmandu"):
        rollup(ser, PeriodKind.DAY, kathmandu)


def test_elapsed_share_of_the_local_year():
    assert elapsed_share(2025, date(2025, 6, 30), SHANGHAI) == pytest.approx(181 / 365)
    assert elapsed_share(2024, date(2024, 12, 31), SHANGHAI) == 1
    with pytest.raises(ValueError, match="through = 2026-01-01"):
        elapsed_share(2025, date(2026, 1, 1), SHANGHAI)


def test_series_total_matches_sum_of_objects():
    ser = interval_series(series([0, 3, 7, 8, 20, 21, 22]), T0, at(45))
    assert math.isclose(ser.total_energy, sum(i.energy for i in ser.intervals()))
    assert ser.end == at(45)
