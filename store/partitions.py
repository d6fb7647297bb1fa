"""Monthly partitions of the interval table on PostgreSQL: which exist, and making the missing ones.

On PostgreSQL `interval_energy` is partitioned by range of `start` in UTC months (migration
0004): one partition a month, `partitions.interval_energy_2026_06` for June 2026 UTC, and a
DEFAULT partition, `partitions.interval_energy_default`, that takes the rows of any month
without one, so a write never fails for want of a partition. The partitions live in their own
schema so that the application schema holds exactly the tables of `lingtan.store.models`.

`ensure_partitions` creates the months asked for and gives every month that has rows in DEFAULT
its own partition, moving those rows out of DEFAULT first (PostgreSQL refuses a partition whose
range DEFAULT already holds rows of). It runs at every service start (`lingtan.store.db.upgrade`:
this UTC month and the next `MONTHS_AHEAD`), and may run at any time, from a timer for
processes that run for months (`python -m lingtan.store.partitions URL`). On SQLite, and on a
PostgreSQL database not yet migrated to 0004, it does nothing.
"""

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, create_engine, text

from lingtan.kernel.localtime import PeriodKind, first_day, next_first_day

SCHEMA = "partitions"
TABLE = "interval_energy"
MONTHS_AHEAD = 2  # at start-up: this month and the next two
LOCK_TIMEOUT = "10s"  # give up (and leave new rows in DEFAULT) rather than queue every query behind us
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partition:
    name: str  # schema-qualified: partitions.interval_energy_2026_06
    month: date | None  # first day of the UTC month its range starts with; None for DEFAULT
    rows: int | None = None  # when counted


def partition_name(month: date) -> str:
    return f"{TABLE}_{month.year:04d}_{month.month:02d}"


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """A UTC month as the half-open range of `start` its partition holds."""
    following = next_first_day(month, PeriodKind.MONTH)
    return (datetime(month.year, month.month, 1, tzinfo=UTC),
            datetime(following.year, following.month, 1, tzinfo=UTC))


def months(first: date, last: date) -> list[date]:
    """First days of the months from the one holding `first` through the one holding `last`."""
    out, m = [], first_day(first, PeriodKind.MONTH)
    while m <= last:
        out.append(m)
        m = next_first_day(m, PeriodKind.MONTH)
    return out


def add_months(d: date, n: int) -> date:
    """First day of the month `n` months after the one holding `d`."""
    m = first_day(d, PeriodKind.MONTH)
    for _ in range(n):
        m = next_first_day(m, PeriodKind.MONTH)
    return m


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t))"),
        {"t": TABLE}).scalar())


def partitions(conn: Connection, *, count_rows: bool = False) -> list[Partition]:
    """The interval table's partitions, by month, DEFAULT last; [] when it is not partitioned.

    Months are read from the partitions' bounds, not their names, so a partition attached by
    hand (from an archive, say) counts for its month whatever it is called.
    """
    if not is_partitioned(conn):
        return []
    found = conn.execute(text(
        "SELECT i.inhrelid::regclass::text, CAST((regexp_match(pg_get_expr(c.relpartbound, c.oid),"
        "   $$FROM \\('([^']+)'\\)$$))[1]::timestamptz AT TIME ZONE 'UTC' AS DATE)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"),
        {"t": TABLE}).all()
    out = [Partition(name, month, conn.execute(text(f"SELECT count(*) FROM {name}")).scalar() if count_rows else None)
           for name, month in found]
    return sorted(out, key=lambda p: (p.month is None, p.month or date.min))


def _months_in(conn: Connection, default: str) -> list[date]:
    return list(conn.execute(text(
        f"SELECT DISTINCT CAST(date_trunc('month', start AT TIME ZONE 'UTC') AS DATE) FROM {default} ORDER BY 1"
    )).scalars())


def _create(conn: Connection, month: date, default: str | None) -> int:
    """Make the month's partition; rows of it that DEFAULT holds move into it. Returns how many."""
    name, (lo, hi) = f"{SCHEMA}.{partition_name(month)}", month_bounds(month)
    # A plain table first, filled, then attached: CREATE TABLE ... PARTITION OF would fail on
    # DEFAULT's rows of the month, and ATTACH takes a lighter lock on the parent (SHARE UPDATE
    # EXCLUSIVE: reads and writes go on). It builds the parent's indexes on the new partition.
    conn.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    moved = 0
    if default is not None:
        moved = conn.execute(text(
            f"WITH moved AS (DELETE FROM {default} WHERE start >= :lo AND start < :hi RETURNING *)"
            f" INSERT INTO {name} SELECT * FROM moved"), {"lo": lo, "hi": hi}).rowcount
    conn.execute(text(f"ALTER TABLE {TABLE} ATTACH PARTITION {name}"
                      f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"))
    return moved


def ensure_partitions(bind: Engine | Connection, through: date, *, since: date | None = None) -> list[str]:
    """Give every UTC month from `since` (default: `through`) through `through`, and every month
    with rows in DEFAULT, a partition of its own. Returns the names of those it created.

    With a Connection it runs in the caller's transaction; with an Engine in one of its own.
    """
    if isinstance(bind, Engine):
        if bind.dialect.name != "postgresql":
            return []
        with bind.begin() as conn:
            return ensure_partitions(conn, through, since=since)
    parts = partitions(bind)
    if not parts:
        return []
    default = next((p.name for p in parts if p.month is None), None)
    wanted = set(months(since or through, through)) | set(_months_in(bind, default) if default else [])
    missing = sorted(wanted - {p.month for p in parts})
    if not missing:
        return []
    timeout = bind.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    bind.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": LOCK_TIMEOUT})
    if default is not None:
        # ATTACH needs DEFAULT exclusively (it checks DEFAULT holds none of the new range); taking
        # that lock first also keeps rows of the month from landing in DEFAULT while we move them.
        bind.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
    created = []
    for month in missing:
        moved = _create(bind, month, default)
        created.append(f"{SCHEMA}.{partition_name(month)}")
        if moved:
            log.info("created partition %s, moving %d rows of its month into it from DEFAULT", created[-1], moved)
        else:
            log.info("created partition %s", created[-1])
    bind.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": timeout})
    return created


def ensure_ahead(conn: Connection, today: date) -> list[str]:
    """At start-up: this UTC month and the next MONTHS_AHEAD, and DEFAULT emptied into months.

    In a savepoint of the caller's transaction: if it cannot get its locks within LOCK_TIMEOUT
    it logs a warning and the service starts all the same (new rows wait in DEFAULT).
    """
    if not is_partitioned(conn):
        return []
    try:
        with conn.begin_nested():
            return ensure_partitions(conn, add_months(today, MONTHS_AHEAD), since=today)
    except Exception as exc:  # a failed maintenance must not stop the service
        log.warning("interval partitions not created (rows of new months go to DEFAULT until the next try): %s",
                    exc)
        return []


def _main(argv: list[str]) -> int:
    """`python -m lingtan.store.partitions URL [MONTHS_AHEAD]`: for a daily timer or cron job."""
    if len(argv) not in (1, 2):
        print("usage: python -m lingtan.store.partitions DATABASE_URL [MONTHS_AHEAD]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    today = datetime.now(UTC).date()
    engine = create_engine(argv[0])
    try:
        created = ensure_partitions(engine, add_months(today, int(argv[1]) if len(argv) == 2 else MONTHS_AHEAD),
                                    since=today)
    finally:
        engine.dispose()
    print(f"{len(created)} partitions created" + (f": {', '.join(created)}" if created else ""))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
