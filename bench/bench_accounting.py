"""Benchmark: one year of 15-minute counter data for 1,000 meters through the interval engine
and the indicator evaluation, against a plain numpy np.diff sum of the same counters.

    .venv/bin/python bench/bench_accounting.py [--meters 1000] [--dirty 0.02]

A share of the meters (--dirty) gets a meter replacement, a rollover and spikes so the slow
(per-sample) cleaning path is measured too. Data are generated per meter in memory; nothing is
read or written.
"""

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from lingtan.accounting.account import account
from lingtan.accounting.activity import Activity
from lingtan.accounting.balance import park_balance
from lingtan.accounting.indicators import evaluate_framework, load_framework
from lingtan.accounting.intervals import SampleArrays, interval_series, to_us
from lingtan.accounting.periods import PeriodKind, rollup
from lingtan.kernel.park import Park

ZONE_START = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 2025-01-01 00:00 Asia/Shanghai
YEAR = timedelta(days=365)
STEP_US = 15 * 60 * 1_000_000
MAX_GAP = timedelta(minutes=20)  # readings are 15 min apart with a few seconds of jitter


def park(n: int) -> Park:
    def m(i, carrier, role, boundary, **kw):
        return {"id": f"m{i}", "carrier": carrier, "role": role, "boundary": boundary, "gateway": "gw",
                "modbus": {"bus": "b", "unit": 1}, "profile": "p", **kw}

    meters = [m(0, "electricity", "grid", True), m(1, "electricity", "green_direct", True),
              m(2, "natural_gas", "supply", True), m(3, "heat", "supply", True)]
    meters += [m(i, "electricity", "pv", False) for i in range(4, 24)]
    meters += [m(i, "electricity", "storage", False) for i in range(24, 26)]
    meters += [m(i, "electricity", "load", False) for i in range(26, n)]
    return Park.model_validate({"id": "bench", "name": "bench", "meters": meters})


def counter(rng: np.random.Generator, n: int, dirty: bool) -> tuple[np.ndarray, np.ndarray]:
    ts = to_us(ZONE_START) + STEP_US * np.arange(n, dtype=np.int64) + rng.integers(0, 5_000_000, n)
    values = 1e5 + np.cumsum(rng.uniform(0, 50, n))
    if dirty:
        k = n // 2
        values[k:] -= values[k] - 3.0  # meter replaced: new counter starts near zero
        values[n // 3] = 1e12  # spike up
        values[2 * n // 3] = 0.0  # spike down
    return ts, values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--dirty", type=float, default=0.02, help="share of meters with resets and spikes")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    p = park(args.meters)
    n_samples = YEAR // timedelta(minutes=15) + 1
    start, end = ZONE_START, ZONE_START + YEAR

    engine_s = numpy_s = rollup_s = 0.0
    intervals = 0
    totals: dict[str, dict[str, float]] = {}
    completeness: dict[str, float] = {}
    worst = 0.0
    for i, meter in enumerate(p.meters):
        ts, values = counter(rng, n_samples, dirty=i % max(1, round(1 / args.dirty)) == 0 if args.dirty else False)
        t = time.perf_counter()
        baseline = float(np.diff(values).sum())
        numpy_s += time.perf_counter() - t

        t = time.perf_counter()
        ser = interval_series(SampleArrays(ts, values), start, end, max_rate_per_h=1000.0, max_gap=MAX_GAP)
        engine_s += time.perf_counter() - t
        t = time.perf_counter()
        (year,) = rollup(ser, PeriodKind.YEAR, p.zone)
        rollup_s += time.perf_counter() - t
        intervals += len(ser)
        if i % max(1, round(1 / args.dirty)) != 0 if args.dirty else True:
            worst = max(worst, abs(year.energy - baseline) / baseline)
        quantity = {"natural_gas": "gas_m3", "heat": "heat_gj"}.get(str(meter.carrier), "energy_import_kwh")
        totals[meter.id] = {quantity: year.energy}
        if meter.role in ("pv",):
            totals[meter.id] = {"energy_export_kwh": year.energy}
        completeness[meter.id] = year.completeness

    t = time.perf_counter()
    balance = park_balance(p, totals, completeness)
    activity = balance.to_activity(Activity(park="bench", year=2025))
    acct = account(activity)
    results = evaluate_framework(load_framework("national"), acct, min_completeness=0.0)
    evaluate_s = time.perf_counter() - t

    print(f"meters: {args.meters}, samples per meter: {n_samples}, intervals: {intervals:,}")
    print(f"interval engine: {engine_s:.2f} s  -> {intervals / engine_s:,.0f} intervals/s")
    print(f"year roll-up:    {rollup_s:.2f} s")
    print(f"numpy np.diff:   {numpy_s:.3f} s  -> engine / numpy time ratio {engine_s / numpy_s:.1f}x")
    print(f"indicator evaluation (balance + account + national framework): {evaluate_s * 1000:.1f} ms, "
          f"{len(results)} indicators, core = {results[0].value:.4f} {results[0].unit}")
    print(f"clean meters: largest relative difference engine vs np.diff = {worst:.2e}")


if __name__ == "__main__":
    main()
