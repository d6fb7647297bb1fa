"""The park simulator's physics and ground truth, without the network.

A manual clock moves simulated time; every expectation is a conservation law (integrals,
balance, sub-meter sums), a datasheet-like bound or a comparison between two ways of reading
the same run — never a number produced by running the simulator once.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from lingtan.cli.configfile import load_config
from lingtan.kernel.config import ConfigError, parse_config
from lingtan.simulator import ManualClock, ParkModel, ParkServer, load_scenario
from lingtan.simulator.fleet import fleet_config
from lingtan.simulator.scenario import parse_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform-jiangsu-sim.yaml"
START = datetime(2026, 6, 14, 16, 0, tzinfo=UTC)  # Monday 00:00 in Suzhou
CARRIER_COUNTERS = {"natural_gas": "gas_m3", "heat": "heat_gj", "water": "water_m3"}


@pytest.fixture(scope="module")
def config():
    return load_config(EXAMPLE)


def served_counters(server: ParkServer, park) -> dict[str, dict[str, float]]:
    out = {}
    for m in park.meters:
        values = server.values(m.id)
        out[m.id] = {q: v for q, v in values.items() if q.endswith(("_kwh", "_m3", "_gj"))}
    return out


def test_scenario_errors_name_file_key_and_value(config):
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "simulator/scenarios/jiangsu.yaml").read_text())
    data["meters"]["pv-roof-semi"]["pv"]["kwp"] = -3
    with pytest.raises(ConfigError) as err:
        parse_scenario(data, "my-scenario.yaml")
    assert "my-scenario.yaml" in str(err.value) and "meters.pv-roof-semi.pv.kwp = -3" in str(err.value)

    data = {"meters": {"no-such-meter": {"load": {"nameplate": 5}}, "grid-10kv": {"pv": {"kwp": 5}}}}
    with pytest.raises(ConfigError) as err:
        ParkServer(config, ManualClock(START), scenario=parse_scenario(data, "s.yaml"))
    text = str(err.value)
    assert "meters.no-such-meter" in text and "meters.grid-10kv.pv" in text and "role grid" in text

    with pytest.raises(ConfigError, match="known: jiangsu"):
        load_scenario("atlantis")
    with pytest.raises(ConfigError, match="times? '25:00'|25:00"):
        parse_scenario({"meters": {"x": {"load": {"nameplate": 1, "shifts": [{"start": "25:00", "end": 3,
                                                                           "level": 1}]}}}}, "s.yaml")


def test_config_names_the_scenario(config):
    assert config.simulator.scenario == "jiangsu"
    server = ParkServer(config, ManualClock(START))
    assert server.scenario.name == "jiangsu"
    bare = parse_config({**config.model_dump(mode="json"), "simulator": {"seed": 1}}, "inline")
    assert bare.simulator.scenario is None
    assert ParkServer(bare, ManualClock(START)).scenario is None


def test_day_counters_are_integrals_and_balance(config):
    """Step one day in whole cells: each counter grows by power × time, the park balances,
    sub-meters add up to their parents, and the ground truth equals the counter differences."""
    park = config.park("js-park")
    clock = ManualClock(START)
    server = ParkServer(config, clock)
    first = served_counters(server, park)
    integral = {m.id: 0.0 for m in park.meters}
    for _ in range(24 * 60):
        for m in park.meters:
            values = server.values(m.id)  # power held for the cell that starts now
            rate = values.get("power_kw", values.get("gas_flow_m3h", values.get("water_flow_m3h")))
            if rate is None:
                rate = values["heat_power_kw"] * 3600 / 1e6  # kW -> GJ/h
            integral[m.id] += abs(rate) / 60
        clock.advance(60)
    last = served_counters(server, park)
    truth = server.truth(START, clock.now())

    for m in park.meters:
        moved = sum(last[m.id][q] - first[m.id][q] for q in last[m.id])
        assert moved == pytest.approx(integral[m.id], rel=1e-9, abs=1e-9), m.id
        for q, c in truth.meters[m.id].counters.items():
            assert c.delta == pytest.approx(last[m.id][q] - first[m.id][q], rel=1e-12, abs=1e-9), (m.id, q)
            assert (c.shown_start, c.shown_end) == (pytest.approx(first[m.id][q]), pytest.approx(last[m.id][q]))

    t = truth.totals
    assert t.balance_residual_kwh == pytest.approx(0.0, abs=1e-6)
    assert t.pv_kwh > 0 and t.wind_kwh >= 0 and t.load_kwh > t.pv_kwh
    assert t.storage_charge_kwh > 0 and t.storage_discharge_kwh > 0
    assert t.gas_m3 == pytest.approx(sum(truth.delta(m, "gas_m3") for m in ("gas-auto", "gas-food", "gas-canteen")))
    assert t.heat_gj == pytest.approx(
        sum(truth.delta(m, "heat_gj") for m in ("steam-food", "steam-textile", "steam-bio")))
    assert t.water_m3 == pytest.approx(truth.delta("water-main", "water_m3"))
    assert truth.delta("ent-semi-main", "energy_import_kwh") == pytest.approx(
        truth.delta("ent-semi-fab", "energy_import_kwh") + truth.delta("ent-semi-hvac", "energy_import_kwh"))
    loads = [m.id for m in park.meters if m.role in ("enterprise", "load") and m.carrier == "electricity"
             and m.id not in ("ent-semi-main", "ent-auto-main")]
    assert t.load_kwh == pytest.approx(sum(truth.delta(m, "energy_import_kwh") for m in loads))


def test_irregular_polling_matches_batch_and_history(config):
    """Advancing in odd steps (as polls do) and in one batch give the same counters; the ground
    truth of any past instant equals what the meters showed then."""
    park = config.park("js-park")
    clock = ManualClock(START)
    live = ParkServer(config, clock)
    seen = []
    step = 7.3
    while clock.now() < START + timedelta(hours=30):
        clock.advance(step)
        step = step * 1.7 % 900 + 1
        if len(seen) % 5 == 0:
            seen.append((clock.now(), served_counters(live, park)))
        else:
            seen.append((clock.now(), None))
            live.values("grid-10kv")
    batch = ParkModel(park, 1, START, load_scenario("jiangsu"))
    batch.advance(clock.now())
    live_model = live.models["js-park"]
    assert batch.energy == pytest.approx(live_model.energy, rel=1e-12)
    checked = 0
    for t, counters in seen:
        if counters is None:
            continue
        e = live_model.energy_at(t)
        for i, m in enumerate(park.meters):
            first = next(iter(counters[m.id].values()))
            assert e[i, 0] == pytest.approx(first, rel=1e-12), (t, m.id)
        checked += 1
    assert checked > 10


def test_deterministic_for_a_seed(config):
    t = START + timedelta(days=2, seconds=123)
    a, b, c = (ParkServer(config, ManualClock(START), seed=s) for s in (7, 7, 8))
    for s in (a, b, c):
        s.clock.set(t)
    park = config.park("js-park")
    assert served_counters(a, park) == served_counters(b, park)
    assert served_counters(a, park) != served_counters(c, park)


def test_start_date_is_settable_and_seasons_show(config):
    park = config.park("js-park")
    june = ParkModel(park, 1, datetime(2026, 6, 21, 16, tzinfo=UTC), load_scenario("jiangsu"))
    dec = ParkModel(park, 1, datetime(2026, 12, 21, 16, tzinfo=UTC), load_scenario("jiangsu"))
    for m in (june, dec):
        m.advance(m.now + timedelta(days=7))
    j = june.truth(datetime(2026, 6, 21, 16, tzinfo=UTC), june.now)
    d = dec.truth(datetime(2026, 12, 21, 16, tzinfo=UTC), dec.now)
    assert j.t0.month == 6 and d.t0.month == 12
    assert j.delta("pv-roof-auto", "energy_export_kwh") > 0 and d.delta("pv-roof-auto", "energy_export_kwh") > 0
    assert j.delta("ent-semi-hvac", "energy_import_kwh") > d.delta("ent-semi-hvac", "energy_import_kwh")  # cooling
    assert d.delta("steam-bio", "heat_gj") > j.delta("steam-bio", "heat_gj")  # heating


def test_battery_limits_and_losses(config):
    park = config.park("js-park")
    model = ParkModel(park, 3, START, load_scenario("jiangsu"))
    spec = load_scenario("jiangsu").meters["bess-1"].battery
    socs = []
    for _ in range(3 * 24 * 4):
        model.advance(model.now + timedelta(minutes=15))
        socs.append(model.values("bess-1")["soc_pct"])
        assert model.values("bess-1")["power_kw"] <= spec.max_charge_kw + 1e-9
        assert -model.values("bess-1")["power_kw"] <= spec.max_discharge_kw + 1e-9
    assert spec.soc_min_pct - 1e-6 <= min(socs) and max(socs) <= spec.soc_max_pct + 1e-6
    assert max(socs) - min(socs) > 50  # it cycles
    truth = model.truth(START, model.now)
    charged = truth.delta("bess-1", "energy_import_kwh")
    discharged = truth.delta("bess-1", "energy_export_kwh")
    eta = spec.round_trip_efficiency ** 0.5
    stored = (socs[-1] - spec.soc_initial_pct) / 100 * spec.capacity_kwh
    assert charged * eta - discharged / eta == pytest.approx(stored, rel=1e-9, abs=1e-6)
    assert charged > discharged


def test_pv_follows_the_sun(config):
    park = config.park("js-park")
    model = ParkModel(park, 1, START, load_scenario("jiangsu"))
    spec = load_scenario("jiangsu").meters["pv-roof-semi"].pv
    model.advance(START + timedelta(hours=4))  # 04:00 local
    assert model.values("pv-roof-semi")["power_kw"] == 0.0
    peak = 0.0
    for _ in range(8 * 12):  # 04:00 … 12:00 local
        model.advance(model.now + timedelta(minutes=5))
        peak = max(peak, -model.values("pv-roof-semi")["power_kw"])
    assert 0.15 * spec.kwp < peak <= spec.kwp / 1.1 + 1e-9


def test_year_in_batch_mode(config):
    """A whole year for the Jiangsu park in one call: balance and plausible specific yield."""
    park = config.park("js-park")
    start = datetime(2025, 12, 31, 16, tzinfo=UTC)
    model = ParkModel(park, 1, start, load_scenario("jiangsu"))
    model.advance(start + timedelta(days=365))
    t = model.truth(start, model.now).totals
    assert t.balance_residual_kwh == pytest.approx(0.0, abs=1e-3)
    yield_kwh_per_kwp = t.pv_kwh / 5500
    assert 800 < yield_kwh_per_kwp < 1500  # Suzhou: ~1,000–1,200 kWh/kWp a year
    assert t.storage_charge_kwh > t.storage_discharge_kwh
    # a past quarter-hour boundary and an arbitrary instant are both answerable
    mid = model.truth(start + timedelta(days=100), start + timedelta(days=200, seconds=77.5)).totals
    assert mid.balance_residual_kwh == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="outside the simulated span"):
        model.truth(start, start + timedelta(days=366))


def test_thousand_meter_park_batch(config):
    cfg = parse_config(fleet_config(1000), "fleet")
    park = cfg.parks[0]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    model = ParkModel(park, 1, start)
    model.advance(start + timedelta(days=3))
    truth = model.truth(start, model.now)
    assert len(truth.meters) == 1000
    assert truth.totals.balance_residual_kwh == pytest.approx(0.0, abs=1e-4)
    for carrier, q in CARRIER_COUNTERS.items():
        subs = [m.id for m in park.meters if m.carrier == carrier and m.parent]
        assert truth.totals.by_carrier[carrier] == pytest.approx(sum(truth.delta(m, q) for m in subs))
