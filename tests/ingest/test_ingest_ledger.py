"""The ledger folds a flush's rows per meter: the same newest readings and dirty-day spans as
looking at every row's local day, on rows around local midnight in two time zones."""

import random
from datetime import UTC, date, datetime, timedelta

from lingtan.ingest.ledger import Ledger
from lingtan.kernel.config import parse_config
from lingtan.store.timeseries.base import Row
from tests.support.ingest import PARK, make_config


def reference(ledger: Ledger, rows: list[Row]):
    """Row by row: the newest row of each meter (the first of equal times) and each
    (park, meter, local day)'s (first_ms, last_ms)."""
    latest: dict[tuple[str, str], Row] = {}
    days: dict[tuple[str, str, date], tuple[int, int]] = {}
    for r in rows:
        newest = latest.get((r.park, r.meter))
        if newest is None or r.ts_ms > newest.ts_ms:
            latest[(r.park, r.meter)] = r
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=r.ts_ms)
        day = when.astimezone(ledger.zones[r.park]).date()
        key = (r.park, r.meter, day)
        first, last = days.get(key, (r.ts_ms, r.ts_ms))
        days[key] = (min(first, r.ts_ms), max(last, r.ts_ms))
    return latest, days


def test_fold_equals_the_row_by_row_reference(tmp_path):
    data = make_config(tmp_path, 1883, {"kind": "sqlite", "path": str(tmp_path / "ts.db")}, gateways=2, meters=6)
    data["parks"][1]["timezone"] = "Asia/Kathmandu"  # UTC+5:45: a quarter-hour offset
    ledger = Ledger(parse_config(data, "ledger"), engine=None)
    meters = [(PARK, f"m{g}-{i}") for g in range(2) for i in range(6)] + [("other-park", "x-1")]
    # Shanghai's midnight is 16:00 UTC, Kathmandu's 18:15 UTC: times within an hour of both
    base = int(datetime(2026, 6, 15, 15, 0, tzinfo=UTC).timestamp() * 1000)
    rng = random.Random(5)
    for _flush in range(200):
        rows = []
        for _ in range(rng.randint(1, 300)):
            park, meter = rng.choice(meters)
            ts = base + rng.choice([0, 1, 3_600_000 - 1, 3_600_000, 4 * 3_600_000 + 15 * 60_000]) \
                + rng.randrange(-3, 4) * 900_000 + rng.randrange(3) * 86_400_000
            rows.append(Row(park, meter, ts, "gw", rng.randrange(100), {"power_kw": rng.random()}))
        latest, days = ledger._fold(rows)
        want_latest, want_days = reference(ledger, rows)
        assert latest.keys() == want_latest.keys()
        assert all(latest[k] is want_latest[k] for k in latest)  # the very row: first of equal times
        assert {k: tuple(v) for k, v in days.items()} == want_days
