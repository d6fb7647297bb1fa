"""The demo's simulated history in one process, on the real components: the simulator's batch
mode with samples, the readings a gateway would publish, the live simulator continuing from the
history's model, and a data folder that already holds readings."""

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lingtan.cli.demo import (
    HISTORY_GATEWAY,
    demo_config,
    feed_history,
    history_start,
    prepare_history,
    stored_readings,
)
from lingtan.gateway.modbus import BusClient
from lingtan.gateway.poller import BusPoller
from lingtan.ingest.ledger import Ledger
from lingtan.kernel.clock import ManualClock
from lingtan.simulator.history import STEP_S, GatewayView, published
from lingtan.simulator.model import ParkModel, counter_names
from lingtan.simulator.server import ParkServer
from lingtan.store.db import make_engine
from lingtan.store.timeseries import open_sink
from tests.support import free_port

UNTIL = datetime(2026, 3, 14, 9, 26, 53, 250_000, tzinfo=UTC)  # not on a quarter hour


@pytest.fixture
def config(tmp_path):
    return demo_config(tmp_path, modbus_port=free_port())


def test_history_starts_on_1_january_by_default_local_midnight_otherwise(config):
    zone = config.parks[0].zone
    assert history_start(zone, UNTIL, None) == datetime(2025, 12, 31, 16, tzinfo=UTC)  # 1 Jan, Asia/Shanghai
    assert history_start(zone, UNTIL, 40) == datetime(2026, 2, 1, 16, tzinfo=UTC)  # 2 Feb 00:00 +08:00
    assert history_start(zone, UNTIL, 0) is None


def test_sample_is_advance_with_a_reading_on_every_quarter_hour(config):
    park = config.parks[0]
    start = history_start(park.zone, UNTIL, 10)
    sampled, advanced = ParkModel(park, 1, start), ParkModel(park, 1, start)
    chunks = list(sampled.sample(UNTIL, STEP_S))
    advanced.advance(UNTIL)
    t = np.concatenate([c.t_s for c in chunks])
    shown = np.concatenate([c.shown for c in chunks])
    assert t[0] == start.timestamp() and t[-1] == UNTIL.timestamp()
    assert (np.diff(t[:-1]) == STEP_S).all() and (t[:-1] % STEP_S == 0).all()
    assert (np.diff(shown, axis=0) >= 0).all()  # no counter ever goes down
    np.testing.assert_allclose(sampled.energy, advanced.energy, rtol=1e-12)
    np.testing.assert_allclose(sampled.soc_kwh, advanced.soc_kwh, rtol=1e-12)
    # each sample is what the meters show at that instant
    probe = ParkModel(park, 1, start)
    power = np.concatenate([c.power for c in chunks])
    for j in (0, 1, 95, 96, 500, len(t) - 2, len(t) - 1):
        probe.advance(datetime.fromtimestamp(t[j], UTC))
        for i, meter in enumerate(probe.ids):
            values = probe.values(meter)
            for c, name in enumerate(counter_names(probe.carrier[i])):
                assert values[name] == pytest.approx(shown[j, i, c], rel=1e-12)
        assert power[j] == pytest.approx(probe._cell_power(int(t[j] // 60)), rel=1e-12)


def test_history_readings_are_what_the_gateway_reads_over_modbus(config):
    """The last history reading of every meter against a real poll of the live simulator that
    continues the same model, at the same instant."""
    park = config.parks[0]
    model = ParkModel(park, config.simulator.seed, UNTIL - timedelta(days=2))
    chunks = list(model.sample(UNTIL))
    last = {meter: values for meter, ts, values in GatewayView(model).readings(chunks[-1])}
    assert {m: set(v) for m, v in last.items()} == {m.id: set(published(m)) for m in park.meters}

    async def poll() -> dict[str, dict[str, float]]:
        clock = ManualClock(UNTIL)
        sim = ParkServer(config, clock, models={park.id: model})
        assert sim.model_of("grid-main") is model
        await sim.start()
        bus = config.gateways[0].buses[0]
        client = BusClient(bus)
        got: dict[str, dict[str, float]] = {}

        async def emit(reading):
            got[reading["meter"]] = reading["values"]
        poller = BusPoller(client, list(park.meters), clock.now, emit, lambda h: None)
        try:
            await client.connect()
            for meter in park.meters:
                assert await poller.poll(meter)
        finally:
            client.close()
            await sim.stop()
        return got

    polled = asyncio.run(poll())
    assert polled == last


def test_store_ledger_and_accounting_take_the_history_like_live_readings(config, tmp_path):
    from lingtan.accounting.service import Rollup

    park = config.parks[0]
    sink, engine = open_sink(config.ingest.sink), make_engine(config.store.url)
    histories = prepare_history(config, sink, UNTIL, 3)
    h = histories[0]
    assert h.start == history_start(park.zone, UNTIL, 3)
    import threading
    written = feed_history(histories, sink, Ledger(config, engine), threading.Event())
    samples = sum(len(c) for c in h.samples)
    assert written == {park.id: samples * len(park.meters)}
    Rollup(config, sink, engine, clock=lambda: UNTIL).run_once()
    from sqlalchemy import func, select

    from lingtan.store.models import Dirty, IntervalEnergy, Latest
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Dirty)).scalar_one() == 0
        completeness = c.execute(select(IntervalEnergy.completeness).where(
            IntervalEnergy.meter == "grid-main", IntervalEnergy.quantity == "energy_import_kwh",
            IntervalEnergy.start < UNTIL - timedelta(minutes=15))).scalars().all()
        latest = {r.meter: r for r in c.execute(select(Latest))}
    assert len(completeness) == (samples - 2) and set(completeness) == {1.0}
    assert {r.gateway for r in latest.values()} == {HISTORY_GATEWAY}
    assert all(r.ts.replace(tzinfo=UTC) == UNTIL for r in latest.values())


def test_a_data_folder_with_readings_gets_no_second_history_and_its_counters_continue(config):
    park = config.parks[0]
    sink, engine = open_sink(config.ingest.sink), make_engine(config.store.url)
    import threading
    first = prepare_history(config, sink, UNTIL, 2)
    feed_history(first, sink, Ledger(config, engine), threading.Event())
    _, last = stored_readings(sink, park)
    later = UNTIL + timedelta(hours=5)
    again = prepare_history(config, sink, later, 40)  # asks for 40 days: there are readings already
    h = again[0]
    assert h.stored == (first[0].start, UNTIL) and h.start == UNTIL
    feed_history(again, sink, Ledger(config, engine), threading.Event())
    for (meter, q), (ts, value) in last.items():
        series = sink.series(park.id, meter, q, 0, int(later.timestamp() * 1000) + 1)
        assert series[0][0] == int(first[0].start.timestamp() * 1000)  # nothing before the first history
        values = [v for _, v in series]
        assert values == sorted(values), (meter, q)  # never down, across the restart too
        after = [v for t, v in series if t > ts]
        assert len(after) == 5 * 4 + 1 and after[0] >= value
