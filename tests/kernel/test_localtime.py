"""The park-local calendar's month splitting (kernel.localtime.month_spans), worked by hand: a
range of local days becomes the whole months in it and the day ranges left at either end."""

from datetime import date

import pytest

from lingtan.kernel.localtime import month_spans

CASES = [  # (first, last) -> (whole months, leftover day ranges)
    ((date(2026, 1, 1), date(2026, 6, 15)),  # year to date: Jan-May whole, June's first half by day
     ([date(2026, m, 1) for m in range(1, 6)], [(date(2026, 6, 1), date(2026, 6, 15))])),
    ((date(2026, 6, 15), date(2026, 6, 15)), ([], [(date(2026, 6, 15), date(2026, 6, 15))])),  # one day
    ((date(2026, 2, 1), date(2026, 2, 28)), ([date(2026, 2, 1)], [])),  # February 2026: 28 days, whole
    ((date(2024, 2, 1), date(2024, 2, 28)), ([], [(date(2024, 2, 1), date(2024, 2, 28))])),  # leap: 29th missing
    ((date(2025, 12, 20), date(2026, 2, 3)),  # across the new year: two partial ends, January whole
     ([date(2026, 1, 1)], [(date(2025, 12, 20), date(2025, 12, 31)), (date(2026, 2, 1), date(2026, 2, 3))])),
    ((date(2026, 3, 2), date(2026, 3, 1)), ([], [])),  # empty range
]


@pytest.mark.parametrize(("span", "expected"), CASES)
def test_month_spans(span, expected):
    assert month_spans(*span) == expected
