"""Reports at a real park's scale: the park of bench_scale.py (1,000 meters, 50 enterprises, a year
of 15-minute intervals, ~36 million rows, on PostgreSQL), each report kind built and rendered as
the API does it, against the API answers it contains, timed in the same process.

    .venv/bin/python bench/bench_reports.py            # PostgreSQL, 1,000 meters, a year
    .venv/bin/python bench/bench_reports.py --quick    # 50 meters, 35 days

The data are bench_scale.py's, from its cache under .cache/bench-scale/ (generated there when
missing: ~25 min). A cache made for an older schema is copied and migrated to the head (the
migrations since only add tables). Figures, each the median of --repeat runs:
- build: `build_report` (what GET /parks/{p}/reports/{kind} computes before rendering) for the
  monthly park report (November, the month of "now", and October, a closed month), a key energy
  user's monthly report, the annex-4 annual table and the Jiangxi annex-1 tables, each against the
  baseline the report is made of, measured in the same run: the enterprise ranking of the same
  month (GET /enterprise-ranking) for the monthly ones, the indicators of the year (GET
  /indicators/{year}) for the annual ones;
- render: the built report as XLSX (openpyxl) and as PDF (Debian's Chromium), against the build.
Only loopback: the PostgreSQL cluster is the tests' own, stopped at the end.
"""

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_scale as bs  # noqa: E402
import scale_data as sd  # noqa: E402


def say(*a) -> None:
    print(*a, flush=True)


def cluster(args):
    """A running cluster with bench_scale's data at the schema's head revision."""
    from lingtan.store.db import head_revision, make_engine, upgrade
    from tests.support import Postgres
    exact = bs.CACHE / bs.cache_key(args, "postgresql")
    if (exact / "meta.json").exists():
        return bs.postgres_database(args, None)
    size = exact.name.split("-", 3)[3]
    older = sorted(bs.CACHE.glob(f"postgresql-rev*-g{sd.GENERATOR}-{size}"))
    if not older:
        return bs.postgres_database(args, None)  # generates and caches it
    t = time.perf_counter()
    pg = Postgres(template=older[-1] / "data")
    pg.start()
    engine = make_engine(pg.url, migrate=False)
    upgrade(engine)
    engine.dispose()
    say(f"data: {older[-1].name} copied and migrated to {head_revision()} in {time.perf_counter() - t:.0f} s")
    return pg, {}


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50 meters, 35 days")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is printed)")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF renders (no Chromium)")
    args = p.parse_args()
    args.meters, args.days, args.month_days = (50, 35, 7) if args.quick else (1000, 365, 30)
    args.rebuild = args.no_cache = False

    from lingtan.api import enterprises, scorecard
    from lingtan.api.reports import build_report, files
    from lingtan.store.db import make_engine, sessions

    pg, _ = cluster(args)
    try:
        config = sd.parse(bs.config_data(args, pg.url))
        park = config.park(bs.YEAR)
        engine = make_engine(pg.url)
        now, due = sd.NOW, config.reports.keu_due_day
        year = now.year
        with sessions(engine)() as s:
            meters = len(park.meters)
            say(f"park {park.id}: {meters} meters, {len(park.enterprises)} enterprises, now {now.isoformat()}")
            # the key energy users of the year (by the threshold; this park declares none)
            acct, _ = enterprises.account_of(s, park, now.date().replace(month=1, day=1), now.date())
            keu = [f.id for f in acct.enterprises if f.key_user.key_energy_user]
            ent = keu[0] if keu else park.enterprises[0].id
            say(f"key energy users by the threshold: {len(keu)}; the keu report is of {ent}")
            rows = []

            def ranking(month: str):
                span = files_month(month, park, now)
                return lambda: enterprises.ranking(s, park, span[0], span[1], "energy")

            for kind, period, base_name, base in (
                ("park-monthly", "2026-10", "ranking 2026-10", ranking("2026-10")),
                ("park-monthly", "2026-11", "ranking 2026-11 (to date)", ranking("2026-11")),
                ("keu-monthly", "2026-10", "ranking 2026-10", ranking("2026-10")),
                ("annex4-annual", str(year), f"indicators {year}", lambda: scorecard.evaluate(s, park, year, now)),
                ("jiangxi-annex1", str(year), f"indicators {year}", lambda: scorecard.evaluate(s, park, year, now)),
            ):
                t_base, _ = timed(base, args.repeat)
                t_build, report = timed(partial(build_report, s, park, kind, period, now, due,
                                                ent if kind == "keu-monthly" else None), args.repeat)
                t_xlsx, body = timed(partial(files.render, report, "xlsx", "zh"), args.repeat)
                line = (f"{kind:15} {period:8} build {t_build:6.2f} s = {t_build / t_base:5.2f}x {base_name} "
                        f"({t_base:.2f} s); xlsx {t_xlsx:5.2f} s ({len(body):,} B)")
                if not args.no_pdf:
                    t_pdf, pdf = timed(partial(files.render, report, "pdf", "zh"), 1)
                    line += f"; pdf {t_pdf:5.2f} s ({len(pdf):,} B)"
                say(line)
                rows.append((kind, period, t_build, t_base))
        engine.dispose()
    finally:
        pg.stop()
        pg.remove()
    worst = max(rows, key=lambda r: r[2] / r[3])
    say(f"worst build/baseline: {worst[0]} {worst[1]} {worst[2] / worst[3]:.2f}x")
    return 0


def files_month(month: str, park, now):
    """The park-local days [first, last] of `month`, cut at today (as the reports take them)."""
    from lingtan.api.reports.accounts import month_span
    span = month_span(month, park, now)
    return span.first, span.through


if __name__ == "__main__":
    sys.exit(main())
