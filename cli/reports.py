"""`lingtan report` (one report to a file) and `lingtan reports run` (every due report into reports.folder).

`reports run` writes, for each park, the reports of every closed period since its first data
(months: park-monthly and each key energy user's keu-monthly; years: annex4-annual and
jiangxi-annex1), each atomically (a temporary file in the same folder, then a rename). A written
report is rewritten while its content digest changes (late readings, catch-up, filings), up to
the period's horizon (the key-energy-user due day plus SETTLE_DAYS); after that, with every file
written, the period is final. Digests and final periods are kept in `{folder}/{park}/.lingtan-reports.json`.
Run it again with nothing changed and it writes nothing; a systemd timer runs it daily
(deploy/systemd/lingtan-reports.timer).
"""

import os
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lingtan.cli.runner import CommandError


def add_report_parsers(sub, load_config) -> None:
    r = sub.add_parser("report", help="write one report (XLSX or PDF) of a park and period to a file",
                       description="Build a report from the platform database and write it: park-monthly and "
                       "keu-monthly take --period YYYY-MM, annex4-annual and jiangxi-annex1 --period YYYY.")
    r.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
    r.add_argument("--park", required=True, help="park id")
    r.add_argument("--kind", required=True, choices=["park-monthly", "keu-monthly", "annex4-annual",
                                                      "jiangxi-annex1"], help="which report (docs/reports.md)")
    r.add_argument("--period", required=True, help="YYYY-MM (monthly kinds) or YYYY (annual kinds)")
    r.add_argument("--enterprise", help="keu-monthly: the key energy user's id")
    r.add_argument("--format", choices=["xlsx", "pdf"], default="xlsx", help="file format (default: xlsx)")
    r.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the report (default: zh)")
    r.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    r.add_argument("--now", metavar="ISO8601", help="the time the report is made at (default: now)")
    r.set_defaults(func=lambda args: cmd_report(args, load_config))
    rs = sub.add_parser("reports", help="scheduled reports", description="Scheduled reports (docs/reports.md).")
    rsub = rs.add_subparsers(dest="reports_command", required=True, metavar="COMMAND")
    run = rsub.add_parser("run", help="write every due report of the closed periods missing from reports.folder")
    run.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
    run.add_argument("--now", metavar="ISO8601", help="the time to run as (default: now)")
    run.set_defaults(func=lambda args: cmd_reports_run(args, load_config))


def _now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--now {text!r}: not an ISO 8601 time, e.g. 2026-12-02T08:00:00+08:00") from None
    if t.tzinfo is None:
        raise CommandError(f"--now {text!r}: give the offset, e.g. 2026-12-02T08:00:00+08:00")
    return t


def _platform(config):
    from lingtan.store.db import make_engine, sessions
    engine = make_engine(config.store.url)
    return engine, sessions(engine)


def write_atomic(path: Path, body: bytes) -> None:
    """The file appears whole or not at all: written to a temporary file beside it, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_report(args, load_config) -> None:
    from lingtan.api.reports import ReportError, UnknownEnterprise, build_report, files
    config = load_config(args.config)
    park = next((p for p in config.parks if p.id == args.park), None)
    if park is None:
        raise CommandError(f"--park {args.park!r}: no such park in {args.config}; parks: "
                           f"{', '.join(p.id for p in config.parks)}")
    engine, make_session = _platform(config)
    try:
        with make_session() as session:
            report = build_report(session, park, args.kind, args.period, _now(args.now), config.reports.keu_due_day,
                                  args.enterprise)
        body = files.render(report, args.format, args.lang)
    except (ReportError, UnknownEnterprise, files.PdfUnavailable) as exc:
        raise CommandError(str(exc).replace("period = ", "--period ").replace("enterprise_id = ", "--enterprise "))\
            from None
    finally:
        engine.dispose()
    write_atomic(Path(args.out), body)
    print(f"wrote {args.out} ({len(body):,} bytes)")


SETTLE_DAYS = 5  # days past the due day (monthly) or past the December report's due day (annual)
STATE = ".lingtan-reports.json"  # per park folder: {"digests": {file name: digest}, "final": [period, ...]}


def horizon(period: str, due_day: int) -> date:
    """The last park-local day a written report of `period` is still rewritten when its content
    changes: the month's key-energy-user due day (the annual reports: December's) plus SETTLE_DAYS,
    by when late readings, the accounting catch-up (`settle_days`) and the filings have come in."""
    from lingtan.api.reports.submissions import due_date
    return due_date(period if len(period) == 7 else f"{period}-12", due_day) + timedelta(days=SETTLE_DAYS)


def closed_periods(session, park, now: datetime) -> list[str]:
    """Every closed month (YYYY-MM) and year (YYYY) from the park's first month with data, oldest first."""
    from sqlalchemy import func, select

    from lingtan.kernel.localtime import local_day
    from lingtan.store.models import DailyEnergy
    today = local_day(now, park.zone)
    first = session.scalar(select(func.min(DailyEnergy.day)).where(DailyEnergy.park == park.id))
    if first is None:
        return []
    months, m = [], date(first.year, first.month, 1)
    this_month = date(today.year, today.month, 1)
    while m < this_month:
        months.append(f"{m:%Y-%m}")
        m = date(m.year + 1, 1, 1) if m.month == 12 else date(m.year, m.month + 1, 1)
    return months + [str(y) for y in range(first.year, today.year)]


def due_reports(session, park, period: str, now: datetime) -> list[tuple[str, str, str | None]]:
    """(kind, period, enterprise) of one closed period: a month's park-monthly and the keu-monthly of
    each key energy user (accounts.key_users: declared, over the threshold on 12 months, or filed);
    a year's annex4-annual and jiangxi-annex1."""
    from lingtan.api.reports.accounts import key_users, month_span
    from lingtan.api.reports.submissions import filers
    if len(period) == 4:
        return [("annex4-annual", period, None), ("jiangxi-annex1", period, None)]
    span = month_span(period, park, now)
    return [("park-monthly", period, None)] + [
        ("keu-monthly", period, u.id) for u in key_users(session, park, span, filers(session, park, period))]


def _state(folder: Path) -> dict:
    import json
    try:
        data = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {"digests": {}, "final": []}
    return {"digests": dict(data.get("digests", {})), "final": list(data.get("final", []))}


def _save_state(folder: Path, state: dict) -> None:
    import json
    write_atomic(folder / STATE, json.dumps(state, indent=1, sort_keys=True).encode())


def cmd_reports_run(args, load_config) -> None:
    """Every closed period not final yet: build its reports, write each file that is missing or whose
    content digest changed; a period past its horizon with every file written becomes final and is
    not looked at again."""
    from lingtan.api.reports import ReportError, UnknownEnterprise, build_report, files
    from lingtan.kernel.localtime import local_day
    config = load_config(args.config)
    now = _now(args.now)
    root = Path(config.reports.folder)
    due_day = config.reports.keu_due_day
    wanted = [(fmt, lang) for fmt in config.reports.formats for lang in config.reports.languages]
    engine, make_session = _platform(config)
    written = skipped = 0
    try:
        for park in config.parks:
            folder = root / park.id
            state = _state(folder)
            today = local_day(now, park.zone)
            with make_session() as session:
                for period in closed_periods(session, park, now):
                    if period in state["final"]:
                        continue
                    settled, complete = today > horizon(period, due_day), True
                    for kind, _, enterprise in due_reports(session, park, period, now):
                        names = {k: files.filename_of(park.id, kind, period, *k, enterprise) for k in wanted}
                        if settled and all((folder / n).exists() and n in state["digests"] for n in names.values()):
                            continue
                        try:
                            report = build_report(session, park, kind, period, now, due_day, enterprise)
                        except (ReportError, UnknownEnterprise) as exc:  # e.g. a period without data
                            print(f"{park.id} {kind} {period}: skipped: {exc}", file=sys.stderr)
                            skipped += 1
                            continue
                        digest = files.digest(report)
                        for (fmt, lang), name in names.items():
                            if (folder / name).exists() and state["digests"].get(name) == digest:
                                continue
                            try:
                                body = files.render(report, fmt, lang)
                            except files.PdfUnavailable as exc:
                                print(f"{park.id} {kind} {period} {fmt}: skipped: {exc}", file=sys.stderr)
                                skipped += 1
                                complete = False
                                continue
                            write_atomic(folder / name, body)
                            state["digests"][name] = digest
                            _save_state(folder, state)
                            print(f"wrote {folder / name}")
                            written += 1
                    if settled and complete:
                        state["final"].append(period)
                        _save_state(folder, state)
    finally:
        engine.dispose()
    print(f"reports: {written} written, {skipped} skipped, into {root}")
