"""A validated reading, flattened for the sinks, and the line protocol every Influx-type sink speaks."""

from typing import NamedTuple


class Row(NamedTuple):
    """One meter's reading at one time. A tuple: made ~10⁵ times a second on the hot path."""

    park: str
    meter: str
    ts_ms: int  # measurement time, UTC epoch milliseconds
    gateway: str
    seq: int
    values: dict[str, float]  # quantity name (unit in the name) -> value


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
