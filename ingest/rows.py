"""A validated reading, flattened for the sinks."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    park: str
    meter: str
    ts_ms: int  # measurement time, UTC epoch milliseconds
    gateway: str
    seq: int
    values: dict[str, float]


class SinkUnavailable(Exception):
    """The time-series store cannot take writes right now; nothing was acknowledged."""


def line_protocol(rows: list[Row]) -> bytes:
    """InfluxDB line protocol, millisecond precision.

    Measurement `reading`, tags park and meter (ids are restricted to [a-z0-9_-], so no escaping
    is needed), one float field per quantity plus the gateway's `seq` as an integer. The same
    meter and timestamp overwrite: that makes replayed duplicates idempotent.
    """
    parts = []
    for r in rows:
        fields = ",".join(f"{k}={v!r}" for k, v in r.values.items())
        parts.append(f"reading,park={r.park},meter={r.meter} {fields},seq={r.seq}i {r.ts_ms}")
    return ("\n".join(parts) + "\n").encode()
