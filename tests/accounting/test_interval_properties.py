"""Property tests of the interval engine: whatever the counter does, energy is conserved.

Random counter series with meter replacements (resets), register rollovers, single-sample
garbage (spikes up and down), long gaps, exact duplicates and shuffled order: the interval
energies must add up to the true consumption the series was generated from.
"""

import math
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lingtan.accounting.counter import Flag
from lingtan.accounting.intervals import compute_intervals, consumption, interval_series

MODULUS = 10_000.0  # small register so rollovers happen
MAX_RATE = 100.0  # counter units per hour
T0 = datetime(2025, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


@st.composite
def counter_series(draw):
    """(samples, true consumption, kinds of events generated)."""
    n = draw(st.integers(2, 120))
    t = draw(st.integers(0, 3600))  # seconds after T0 of the first reading
    v = draw(st.one_of(st.floats(0, MODULUS * 0.99), st.floats(MODULUS * 0.8, MODULUS * 0.999)))
    samples = [(t, v)]
    true = 0.0
    kinds = []
    previous_kind = "normal"
    for _ in range(n):
        kind = draw(st.sampled_from(["normal"] * 6 + ["gap", "reset", "spike_up", "spike_down"]))
        if previous_kind != "normal" and kind != "normal":
            kind = "normal"  # events never touch each other: keep each one unambiguous
        gap = kind == "gap"
        dt = draw(st.integers(3 * 3600, 48 * 3600)) if gap else draw(st.integers(30, 3600))
        limit = MAX_RATE * dt / 3600 * 0.999
        if kind == "reset" and not (1000 <= v < MODULUS - MAX_RATE * dt / 3600 - 1):
            kind = "normal"
        if kind == "reset":
            new = draw(st.floats(0, min(0.1 * v, limit)))
            true += new
            v = new
        else:
            inc = draw(st.floats(0, limit))
            true += inc
            wrapped = v + inc >= MODULUS
            v = v + inc - MODULUS if wrapped else v + inc
            if wrapped:
                kind = "rollover"
            if kind in ("spike_up", "spike_down"):
                mid = t + dt // 2
                prev_v = samples[-1][1]
                bad = prev_v + 1e6 if kind == "spike_up" else 0.0
                if kind == "spike_down" and prev_v == 0.0:
                    kind = "normal"
                else:
                    samples.append((mid, bad))
        t += dt
        samples.append((t, v))
        kinds.append(kind)
        previous_kind = kind
    return samples, true, kinds


def _as_datetimes(samples):
    return [(T0 + timedelta(seconds=s), val) for s, val in samples]


def _window(samples):
    first = min(s for s, _ in samples)
    last = max(s for s, _ in samples)
    start = T0 + timedelta(seconds=first - first % 900)
    end = T0 + timedelta(seconds=last - last % 900 + 900)
    return start, end


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counter_series(), st.randoms(use_true_random=False), st.integers(0, 5))
def test_interval_energy_sums_to_true_consumption(series, rnd, duplicates):
    samples, true, kinds = series
    raw = _as_datetimes(samples)
    raw += [raw[rnd.randrange(len(raw))] for _ in range(duplicates)]  # exact resends
    rnd.shuffle(raw)
    start, end = _window(samples)
    ivs = compute_intervals(raw, start, end, rollover=MODULUS, max_rate_per_h=MAX_RATE)
    total = sum(i.energy for i in ivs)
    assert math.isclose(total, true, rel_tol=1e-9, abs_tol=1e-6), (total, true, kinds)
    assert all(i.energy >= -1e-9 for i in ivs)
    assert all(0.0 <= i.completeness <= 1.0 for i in ivs)
    c = consumption(raw, start, end, rollover=MODULUS, max_rate_per_h=MAX_RATE)
    assert math.isclose(c.energy, true, rel_tol=1e-9, abs_tol=1e-6)
    flags = set().union(*(i.flags for i in ivs))
    if "reset" in kinds:
        assert Flag.RESET in flags
    if "rollover" in kinds:
        assert Flag.ROLLOVER in flags
    if "spike_up" in kinds or "spike_down" in kinds:
        assert Flag.SPIKE in flags
    if "gap" in kinds:
        assert Flag.GAP in flags and any(i.estimated for i in ivs)
    assert not flags & {Flag.RATE, Flag.NEGATIVE, Flag.DUPLICATE, Flag.INVALID}


@settings(max_examples=150, deadline=None)
@given(counter_series(), st.integers(0, 400), st.integers(1, 400))
def test_any_window_matches_the_sum_of_its_intervals(series, skip, width):
    """Consumption between two interval bounds equals the sum of the intervals between them."""
    samples, _, _ = series
    raw = _as_datetimes(samples)
    start, end = _window(samples)
    start -= STEP * 4  # include intervals before the first and after the last reading
    end += STEP * 4
    ser = interval_series(raw, start, end, rollover=MODULUS, max_rate_per_h=MAX_RATE)
    n = len(ser)
    a = min(skip, n - 1)
    b = min(n, a + width)
    part = float(ser.energy[a:b].sum())
    c = consumption(raw, start + STEP * a, start + STEP * b, rollover=MODULUS, max_rate_per_h=MAX_RATE)
    assert math.isclose(part, c.energy, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 50), min_size=1, max_size=200), st.integers(1, 1000))
def test_clean_series_energy_is_the_counter_difference(increments, seed):
    """Without events the result is simply last − first, however the readings are spaced."""
    rng = random.Random(seed)
    t, v = 0, 1000.0
    raw = [(T0, v)]
    for inc in increments:
        t += rng.randint(1, 900)
        v += inc
        raw.append((T0 + timedelta(seconds=t), v))
    end = T0 + timedelta(seconds=t - t % 900 + 900)
    ivs = compute_intervals(raw, T0, end)
    assert math.isclose(sum(i.energy for i in ivs), v - 1000.0, rel_tol=1e-9, abs_tol=1e-9)
    assert all(not i.estimated for i in ivs)
