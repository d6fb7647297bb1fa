"""The batch read (`read_windows`) on each real store equals the per-counter reads on the same
data: gaps, counters without samples, meters without data, look-back misses, no sample after."""

from lingtan.kernel.config import Sink
from lingtan.store.timeseries.base import Row, WindowRead, WindowSamples, windows_one_by_one
from lingtan.store.timeseries.influx_v1 import InfluxV1Sink
from lingtan.store.timeseries.influx_v2 import InfluxV2Sink
from lingtan.store.timeseries.sqlite import SqliteSink

P = "wpark"
T = 1781488800000  # 2026-06-15T02:00:00Z
MIN = 60_000
LOOK_MS = 30 * MIN
QS = ("energy_import_kwh", "energy_export_kwh")


def data() -> list[Row]:
    """m1: import every minute for 2 h except a 50-minute hole (0:40-1:30); export only in the
    first 20 minutes. m2: import every 5 minutes in the second hour. m3: nothing."""
    out = []
    for k in range(120):
        if 40 <= k < 90:
            continue
        values = {"energy_import_kwh": 100.0 + k}
        if k < 20:
            values["energy_export_kwh"] = 5.0 + k / 10
        out.append(Row(P, "m1", T + k * MIN, "gw", k, values))
    out += [Row(P, "m2", T + k * MIN, "gw", k, {"energy_import_kwh": 7.0 + k}) for k in range(60, 120, 5)]
    out.append(Row("other-park", "m1", T + 100 * MIN, "gw", 1, {"energy_import_kwh": 1.0}))
    return out


def reads() -> list[WindowRead]:
    return [
        WindowRead("m1", QS, T + 10 * MIN, T + 25 * MIN),  # samples, export stops inside
        WindowRead("m1", QS, T + 45 * MIN, T + 60 * MIN),  # inside the hole: nothing, neighbours on both sides
        WindowRead("m1", QS, T + 85 * MIN, T + 95 * MIN),  # look-back reaches into the hole: a miss (the
        WindowRead("m2", QS, T + 85 * MIN, T + 95 * MIN),  # last sample at 0:39 is 46 min back)
        WindowRead("m1", QS, T + 110 * MIN, T + 200 * MIN),  # the end: no sample after
        WindowRead("m1", QS, T - 30 * MIN, T + 3 * MIN),  # the start: no sample before
        WindowRead("m3", QS, T, T + 200 * MIN),  # a meter without data
        WindowRead("m2", ("energy_import_kwh",), T, T + 62 * MIN),
    ]


def check(sink) -> None:
    sink.write(data())
    got = sink.read_windows(P, reads(), LOOK_MS)
    assert got == windows_one_by_one(sink, P, reads(), LOOK_MS)
    # and by hand, so the equality is not of two empty answers
    imp, exp = got[0]["energy_import_kwh"], got[0]["energy_export_kwh"]
    assert imp == WindowSamples((T + 9 * MIN, 109.0), [(T + k * MIN, 100.0 + k) for k in range(10, 25)],
                                (T + 25 * MIN, 125.0))
    assert exp.samples[-1] == (T + 19 * MIN, 6.9) and exp.after is None and exp.before == (T + 9 * MIN, 5.9)
    assert got[1]["energy_import_kwh"] == WindowSamples((T + 39 * MIN, 139.0), [], (T + 90 * MIN, 190.0))
    assert got[2]["energy_import_kwh"].before is None and got[2]["energy_import_kwh"].samples[0] == (T + 90 * MIN,
                                                                                                    190.0)
    assert got[3]["energy_import_kwh"] == WindowSamples((T + 80 * MIN, 87.0), [(T + 85 * MIN, 92.0),
                                                                                (T + 90 * MIN, 97.0)],
                                                        (T + 95 * MIN, 102.0))
    assert got[4]["energy_import_kwh"].after is None and len(got[4]["energy_import_kwh"].samples) == 10
    assert got[5]["energy_import_kwh"].before is None and got[5]["energy_export_kwh"].samples[0] == (T, 5.0)
    assert got[6] == {q: WindowSamples(None, [], None) for q in QS}
    assert set(got[7]) == {"energy_import_kwh"} and got[7]["energy_import_kwh"].after == (T + 65 * MIN, 72.0)


def test_sqlite_batch_read_equals_per_counter_reads(tmp_path):
    check(SqliteSink(str(tmp_path / "ts.db")))


def test_influx_v1_batch_read_equals_per_counter_reads(influxdb_v1):
    sink = InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, database="win"))
    try:
        check(sink)
    finally:
        sink.close()


def test_influx_v2_influxql_batch_read_equals_per_counter_reads(influxdb_v1):
    """The v2 sink's InfluxQL reader on InfluxDB 1.6.7 (see test_timeseries_stores for why 1.6)."""
    InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, database="bucket-w")).write(data())
    sink = InfluxV2Sink(Sink(kind="influx_v2", url=influxdb_v1.url, bucket="bucket-w"))
    try:
        sink.write = lambda rows, lines=None: None  # written above with the v1 API (1.6 has no v2 write)
        check(sink)
    finally:
        sink.close()


def test_victoria_metrics_batch_read_equals_per_counter_reads(victoria_metrics):
    sink = InfluxV2Sink(Sink(kind="influx_v2", url=victoria_metrics.url, timeout_s=5, reader="victoria_metrics"))
    try:
        sink.write(data())
        victoria_metrics.flush()
        check(_Flushed(sink))
    finally:
        sink.close()


class _Flushed:
    """The sink with writes already done (VictoriaMetrics needs a flush between write and read)."""

    def __init__(self, sink) -> None:
        self.inner = sink

    def write(self, rows, lines=None) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_influx_v1_batch_read_splits_a_large_park(influxdb_v1):
    """More meters than one request holds (250): every meter's samples still come back."""
    meters = 600
    sink = InfluxV1Sink(Sink(kind="influx_v1", url=influxdb_v1.url, database="big"))
    try:
        sink.write([Row(P, f"m{j}", T + k * MIN, "gw", k, {"energy_import_kwh": j + k / 10})
                    for j in range(meters) for k in range(3)])
        rs = [WindowRead(f"m{j}", ("energy_import_kwh",), T + MIN, T + 2 * MIN) for j in range(meters)]
        got = sink.read_windows(P, rs, LOOK_MS)
        assert [g["energy_import_kwh"] for g in got] == [
            WindowSamples((T, j + 0.0), [(T + MIN, j + 0.1)], (T + 2 * MIN, j + 0.2)) for j in range(meters)]
    finally:
        sink.close()


def test_victoria_metrics_looks_for_the_next_sample_only_where_it_is_missing(victoria_metrics):
    """A meter publishing import but never export, read for a window ten days back: the search
    for the first sample after the window widens (a day, 35 days, 400 days, 40 years) until each
    counter has one. It exported every quantity of the meter at each step, so the import samples
    from the window's end up to now came again and again for the export that never comes: one
    widening step's worth instead of four here, a year's worth per step for an old dirty day."""
    sink = InfluxV2Sink(Sink(kind="influx_v2", url=victoria_metrics.url, timeout_s=5, reader="victoria_metrics"))
    try:
        day = 24 * 60 * MIN
        rows = [Row(P, "solo", T + k * 10 * MIN, "gw", k, {"energy_import_kwh": float(k)})
                for k in range(0, 10 * day // (10 * MIN))]  # every 10 minutes for ten days
        sink.write(rows)
        victoria_metrics.flush()
        reader = sink.reader
        before = reader.exported
        got = sink.read_windows(P, [WindowRead("solo", QS, T + MIN, T + 2 * 60 * MIN)], LOOK_MS)
        assert got[0]["energy_import_kwh"].after == (T + 2 * 60 * MIN, 12.0)
        assert got[0]["energy_export_kwh"] == WindowSamples(None, [], None)
        # inside + look-back + the first day after: under 160 samples; before, each of the four steps
        # brought up to the whole ten days (1,440 samples) again
        assert reader.exported - before < 200, reader.exported - before
    finally:
        sink.close()
