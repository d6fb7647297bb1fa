"""The seam of the time-series stores: the row they take, the protocol every store implements,
the two errors they raise, and the line protocol every Influx-type store speaks.

Each store module translates its library's exceptions into `SinkUnavailable` / `SinkRejected`
at its boundary; nothing above the store sees an httpx, influxdb-client or sqlite3 error.
"""

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


class TimeSeriesStore(Protocol):
    """What ingest writes to and the accounting service reads from (SQLite, InfluxDB 1.x, the
    v2 write API with InfluxQL or VictoriaMetrics read-back)."""

    def write(self, rows: list[Row]) -> None:
        """Store rows durably before returning; the same (park, meter, time) overwrites, so a
        replay is idempotent. Raises SinkUnavailable (retry later) or SinkRejected."""

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[Sample]:
        """A quantity's samples with start_ms <= time < end_ms, oldest first."""

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[Sample | None, Sample | None]:
        """The last sample before ts_ms and the first at or after it (None where there is none)."""

    def close(self) -> None: ...


class SinkUnavailable(Exception):
    """The time-series store cannot take writes right now; nothing was acknowledged, retry later."""


class SinkRejected(SinkUnavailable):
    """The store is up but refused the data itself (HTTP 400, 413, ...): retrying the same batch
    cannot help, so the consumer writes message by message and dead-letters the refused ones."""


def line_protocol(rows: list[Row]) -> bytes:
    """InfluxDB line protocol, millisecond precision.

    Measurement `reading`, tags park and meter (ids are restricted to [a-z0-9_-], so no escaping
    is needed), one float field per quantity plus the gateway's `seq` as an integer. The same
    meter and timestamp overwrite: that makes replayed duplicates idempotent.

    The hot path of ingest: the tag prefix is built once per meter and floats go through
    repr() (the shortest text that round-trips), which is most of the remaining cost.
    """
    prefixes: dict[tuple[str, str], str] = {}
    out: list[str] = []
    append = out.append
    for park, meter, ts_ms, _gateway, seq, values in rows:
        prefix = prefixes.get((park, meter))
        if prefix is None:
            prefix = prefixes[(park, meter)] = f"reading,park={park},meter={meter} "
        append(f"{prefix}{','.join([f'{k}={v!r}' for k, v in values.items()])},seq={seq}i {ts_ms}\n")
    return "".join(out).encode()
