"""The seam of the time-series stores: the row they take, the protocol every store implements,
the two errors they raise, and the line protocol every Influx-type store speaks.

Each store module translates its library's exceptions into `SinkUnavailable` / `SinkRejected`
at its boundary; nothing above the store sees an httpx, influxdb-client or sqlite3 error.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol


class Row(NamedTuple):
    """One meter's reading at one time. A tuple: made ~10⁵ times a second on the hot path."""

    park: str
    meter: str
    ts_ms: int  # measurement time, UTC epoch milliseconds
    gateway: str
    seq: int
    values: dict[str, float]  # quantity name (unit in the name) -> value


Sample = tuple[int, float]
"""One stored value: (UTC epoch milliseconds, value)."""


class WindowRead(NamedTuple):
    """A batch read's request for one meter: its `quantities` with start_ms <= time < end_ms."""

    meter: str
    quantities: tuple[str, ...]
    start_ms: int
    end_ms: int


class WindowSamples(NamedTuple):
    """What a batch read returns for one (meter, quantity) of a WindowRead."""

    before: Sample | None  # the last sample before start_ms, if within the look-back; else None
    samples: list[Sample]  # start_ms <= time < end_ms, oldest first
    after: Sample | None  # the first sample at or after end_ms (None: there is none at all)


def windows_one_by_one(store: "TimeSeriesStore", park: str, reads: list[WindowRead],
                       look_back_ms: int) -> list[dict[str, WindowSamples]]:
    """`TimeSeriesStore.read_windows` from the per-counter reads: what every batch read must equal
    (the tests hold them equal on each real store)."""
    out = []
    for r in reads:
        got = {}
        for q in r.quantities:
            before, _ = store.neighbours(park, r.meter, q, r.start_ms)
            _, after = store.neighbours(park, r.meter, q, r.end_ms)
            if before is not None and before[0] < r.start_ms - look_back_ms:
                before = None
            got[q] = WindowSamples(before, store.series(park, r.meter, q, r.start_ms, r.end_ms), after)
        out.append(got)
    return out


_METERS_PER_REQUEST = 250  # meters per request for a window of up to an hour or two


def meters_per_request(window_ms: int) -> int:
    """Meters per request of a batch read: 250 for a live pass's hour, fewer for a catch-up over
    many hours, so an answer stays a few MB (a meter polled every second makes 3,600 rows an hour)."""
    return max(1, min(_METERS_PER_REQUEST, int(_METERS_PER_REQUEST * 7_200_000 / max(window_ms, 1))))


GroupRead = Callable[[list[str], tuple[str, ...], int, int], dict[tuple[str, str], WindowSamples]]
"""A store's read of meters sharing one window: (meters, quantities, start_ms, end_ms) to the
WindowSamples of each (meter, quantity) it found anything of."""


def windows_by_group(reads: list[WindowRead], look_back_ms: int,
                     read_group: GroupRead) -> list[dict[str, WindowSamples]]:
    """`TimeSeriesStore.read_windows` for a store that reads the meters of one window together:
    the reads grouped by window (start, end, quantities), each group in requests of at most
    `meters_per_request` meters, answered by `read_group`; in the order of `reads`."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(reads):
        groups[(r.start_ms, r.end_ms, r.quantities)].append(i)
    out: list[dict[str, WindowSamples]] = [{} for _ in reads]
    for (start_ms, end_ms, quantities), idx in groups.items():
        if not quantities:
            continue
        per_request = meters_per_request(end_ms - start_ms + look_back_ms)
        for k in range(0, len(idx), per_request):
            chunk = idx[k:k + per_request]
            found = read_group(sorted({reads[i].meter for i in chunk}), quantities, start_ms, end_ms)
            for i in chunk:
                out[i] = {q: found.get((reads[i].meter, q)) or WindowSamples(None, [], None) for q in quantities}
    return out


class TimeSeriesStore(Protocol):
    """What ingest writes to and the accounting service reads from (SQLite, InfluxDB 1.x, the
    v2 write API with InfluxQL or VictoriaMetrics read-back)."""

    def write(self, rows: list[Row], lines: list[str] | None = None) -> None:
        """Store rows durably before returning; the same (park, meter, time) overwrites, so a
        replay is idempotent. Raises SinkUnavailable (retry later) or SinkRejected.

        `lines`, when given, are the rows' line protocol, one text per row in the same order,
        exactly as `lines(rows)` builds them (ingest builds them while it validates); stores that
        speak line protocol send these instead of building their own, the others ignore them."""

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[Sample]:
        """A quantity's samples with start_ms <= time < end_ms, oldest first."""

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[Sample | None, Sample | None]:
        """The last sample before ts_ms and the first at or after it (None where there is none)."""

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """For each read, per quantity: the last sample in [start_ms - look_back_ms, start_ms), the
        samples in [start_ms, end_ms) and the first at or after end_ms, in as few round trips as
        the store allows (the accounting service reads a park's pass with one call). The result
        is in the order of `reads`; it equals `windows_one_by_one` on the same data."""

    def close(self) -> None: ...


class SinkUnavailable(Exception):
    """The time-series store cannot take writes right now; nothing was acknowledged, retry later."""


class SinkRejected(SinkUnavailable):
    """The store is up but refused the data itself (HTTP 400, 413, ...): retrying the same batch
    cannot help, so the consumer writes message by message and dead-letters the refused ones."""


def tag_prefix(park: str, meter: str) -> str:
    """The start of every line of one meter: measurement and tags, up to the fields."""
    return f"reading,park={park},meter={meter} "


def lines(rows: list[Row]) -> list[str]:
    """InfluxDB line protocol, millisecond precision, one text per row (newline included).

    Measurement `reading`, tags park and meter (ids are restricted to [a-z0-9_-], so no escaping
    is needed), one float field per quantity in the order sent plus the gateway's `seq` as an
    integer. The same meter and timestamp overwrite: that makes replayed duplicates idempotent.

    Values go through repr() (the shortest text that round-trips), the dominant cost. Ingest's
    validation (lingtan.ingest.validation) builds the same text while it checks each reading, so
    the hot path never reaches this; tests/ingest/test_ingest_lines.py holds the two equal.
    """
    prefixes: dict[tuple[str, str], str] = {}
    out: list[str] = []
    append = out.append
    for park, meter, ts_ms, _gateway, seq, values in rows:
        prefix = prefixes.get((park, meter))
        if prefix is None:
            prefix = prefixes[(park, meter)] = tag_prefix(park, meter)
        append(f"{prefix}{','.join([f'{k}={v!r}' for k, v in values.items()])},seq={seq}i {ts_ms}\n")
    return out


def line_protocol(rows: list[Row]) -> bytes:
    """The rows as one line-protocol body (see `lines`)."""
    return "".join(lines(rows)).encode()


def line_bodies(rows: list[Row], prebuilt: list[str] | None, batch_lines: int) -> Iterator[bytes]:
    """Request bodies of at most `batch_lines` lines each: the caller's prebuilt lines if it has
    them (see TimeSeriesStore.write), else built here."""
    for i in range(0, len(rows), batch_lines):
        if prebuilt is None:
            yield line_protocol(rows[i:i + batch_lines])
        else:
            yield "".join(prebuilt[i:i + batch_lines]).encode()
