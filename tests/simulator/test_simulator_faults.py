"""Simulator faults over real Modbus TCP: what a gateway would see, and a ground truth that
keeps counting through resets, rollovers, spikes and garbage."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymodbus import ModbusException
from pymodbus.client import AsyncModbusTcpClient

from lingtan.kernel import profile as profiles
from lingtan.kernel.config import ConfigError
from lingtan.simulator import ManualClock, ParkServer, load_scenario
from lingtan.simulator.scenario import parse_scenario
from tests.simulator.test_simulator_modbus import NOON, jiangsu_on_free_ports

ADL400_WRAP_KWH = 2 ** 32 * 0.01  # uint32 of 0.01 kWh (Acrel ADL400 000AH)


class Reader:
    """Reads whole meters through their profiles, as the gateway does."""

    def __init__(self, config, timeout: float = 1.0) -> None:
        self.config = config
        self.timeout = timeout
        self.clients: dict[int, AsyncModbusTcpClient] = {}

    async def read(self, meter_id: str) -> dict[str, float]:
        park = self.config.parks[0]
        m = park.meter(meter_id)
        bus = next(b for b in self.config.gateway(m.gateway).buses if b.id == m.modbus.bus)
        client = self.clients.get(bus.port)
        if client is None:
            client = self.clients[bus.port] = AsyncModbusTcpClient(bus.host, port=bus.port, timeout=self.timeout,
                                                                   retries=0)
            assert await client.connect()
        profile = profiles.load(m.profile)
        registers = {}
        for block in profiles.plan(profile):
            read = client.read_holding_registers if block.function == 3 else client.read_input_registers
            rr = await read(block.start, count=block.count, device_id=m.modbus.unit)
            if rr.isError():
                raise RuntimeError(f"exception {rr.exception_code}")
            registers.update({(block.function, block.start + i): w for i, w in enumerate(rr.registers)})
        return profiles.decode(profile, registers)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def run(config, body, scenario=None, start=NOON):
    async def main():
        clock = ManualClock(start)
        server = ParkServer(config, clock, scenario=scenario)
        await server.start()
        reader = Reader(config)
        try:
            return await body(server, clock, reader)
        finally:
            reader.close()
            await server.stop()
    return asyncio.run(main())


def test_offline_exception_and_slow_meters():
    config = jiangsu_on_free_ports()

    async def body(server, clock, reader):
        server.faults.offline("gas-food")
        with pytest.raises(ModbusException):
            await reader.read("gas-food")  # no answer: the client times out
        assert (await reader.read("gas-auto"))["gas_m3"] > 0  # the rest of the bus still answers
        server.faults.exception("gas-auto", code=6)
        with pytest.raises(RuntimeError, match="exception 6"):
            await reader.read("gas-auto")
        server.faults.modes["gas-canteen"] = "exception"  # the plain-dict form used by test_e2e
        with pytest.raises(RuntimeError, match="exception 4"):
            await reader.read("gas-canteen")
        server.faults.clear()
        server.faults.slow("water-bio", 0.3)
        slow = Reader(config, timeout=3.0)
        try:
            assert (await slow.read("water-bio"))["water_m3"] > 0  # late, but an answer
        finally:
            slow.close()
        server.faults.clear("water-bio")
        assert (await reader.read("gas-food"))["gas_m3"] > 0

    run(config, body)


def test_counter_reset_keeps_the_truth():
    config = jiangsu_on_free_ports()

    async def body(server, clock, reader):
        t0 = clock.now()
        before = (await reader.read("ent-logi-main"))["energy_import_kwh"]
        clock.advance(3600)
        replaced_at = (await reader.read("ent-logi-main"))["energy_import_kwh"]
        server.faults.reset("ent-logi-main")
        assert (await reader.read("ent-logi-main"))["energy_import_kwh"] == 0.0
        clock.advance(3600)
        after = (await reader.read("ent-logi-main"))["energy_import_kwh"]
        truth = server.truth(t0, clock.now())
        c = truth.meters["ent-logi-main"].counters["energy_import_kwh"]
        assert 0 < after < replaced_at
        assert c.delta == pytest.approx((replaced_at - before) + after, rel=1e-12)
        assert (c.shown_start, c.shown_end) == (pytest.approx(before), pytest.approx(after))
        assert truth.meters["ent-logi-main"].resets == 1
        assert truth.totals.balance_residual_kwh == pytest.approx(0.0, abs=1e-6)

    run(config, body)


def test_register_rollover_wraps_and_truth_continues():
    config = jiangsu_on_free_ports()

    async def body(server, clock, reader):
        t0 = clock.now()
        server.faults.rollover("ent-auto-main", "energy_import_kwh", before=5.0)
        near = (await reader.read("ent-auto-main"))["energy_import_kwh"]
        assert near == pytest.approx(ADL400_WRAP_KWH - 5.0, abs=0.01)
        clock.advance(600)  # ~10 min of a ~1 MW machining shop: far more than 5 kWh
        wrapped = (await reader.read("ent-auto-main"))["energy_import_kwh"]
        truth = server.truth(t0, clock.now()).meters["ent-auto-main"].counters["energy_import_kwh"]
        assert wrapped < 1000
        assert truth.delta == pytest.approx(wrapped + ADL400_WRAP_KWH - near, abs=0.02)
        with pytest.raises(ValueError, match="no integer register"):
            server.faults.rollover("ent-logi-main")  # generic map: float64 counters do not wrap

    run(config, body)


def test_spike_and_garbage_last_one_poll():
    config = jiangsu_on_free_ports()

    async def body(server, clock, reader):
        t0 = clock.now()
        normal = await reader.read("ent-semi-fab")
        server.faults.spike("ent-semi-fab", "energy_import_kwh", factor=1000)
        spiked = await reader.read("ent-semi-fab")
        assert spiked["energy_import_kwh"] == pytest.approx(normal["energy_import_kwh"] * 1000, rel=1e-6)
        assert (await reader.read("ent-semi-fab")) == normal
        server.faults.garbage("ent-logi-main")
        clean = server.values("ent-logi-main")
        try:
            garbled = await reader.read("ent-logi-main")
        except ValueError:
            garbled = None  # random words may decode to NaN, which the gateway rejects
        assert garbled is None or garbled["energy_import_kwh"] != pytest.approx(clean["energy_import_kwh"])
        assert (await reader.read("ent-logi-main"))["energy_import_kwh"] == pytest.approx(clean["energy_import_kwh"])
        truth = server.truth(t0, clock.now()).meters["ent-semi-fab"].counters["energy_import_kwh"]
        assert truth.shown_end == pytest.approx(normal["energy_import_kwh"], rel=1e-6)

    run(config, body)


def test_scheduled_faults_and_clock_skew():
    config = jiangsu_on_free_ports()
    data = load_scenario("jiangsu").model_dump(mode="json")
    at = NOON + timedelta(minutes=30)
    data["faults"] = [
        {"kind": "reset", "meter": "ent-food-main", "at": at.isoformat()},
        {"kind": "offline", "meter": "water-food", "at": NOON.isoformat(), "until": at.isoformat()},
        {"kind": "spike", "meter": "gas-auto", "quantity": "gas_m3", "factor": 10, "at": at.isoformat()},
        {"kind": "clock_skew", "gateway": "gw-util", "seconds": 95},
    ]
    scenario = parse_scenario(data, "scheduled")

    async def body(server, clock, reader):
        with pytest.raises(ModbusException):
            await reader.read("water-food")
        food_before = (await reader.read("ent-food-main"))["energy_import_kwh"]
        gas_before = (await reader.read("gas-auto"))["gas_m3"]
        assert server.gateway_clock("gw-util")() - clock.now() == timedelta(seconds=95)
        assert server.gateway_clock("gw-ent")() == clock.now()
        clock.set(at + timedelta(minutes=1))
        assert (await reader.read("water-food"))["water_m3"] > 0
        food_after = (await reader.read("ent-food-main"))["energy_import_kwh"]
        assert 0 < food_after < 100  # restarted at the scheduled instant
        spiked = (await reader.read("gas-auto"))["gas_m3"]
        assert spiked > 9 * gas_before
        assert (await reader.read("gas-auto"))["gas_m3"] < 1.01 * gas_before
        truth = server.truth(NOON, clock.now()).meters["ent-food-main"].counters["energy_import_kwh"]
        at_reset = server.models["js-park"].energy_at(at)[server.models["js-park"].index["ent-food-main"], 0]
        assert truth.delta == pytest.approx(at_reset - truth.start + food_after, rel=1e-9)
        assert truth.start == pytest.approx(food_before)

    run(config, body, scenario=scenario)


def test_bad_scheduled_fault_is_named():
    config = jiangsu_on_free_ports()
    data = {"faults": [{"kind": "rollover", "meter": "gas-auto", "quantity": "gas_m3",
                        "at": datetime(2026, 6, 15, tzinfo=UTC).isoformat()}]}
    with pytest.raises(ConfigError, match=r"faults\[0\].*no integer register"):
        ParkServer(config, ManualClock(NOON), scenario=parse_scenario(data, "s"))
    with pytest.raises(ConfigError, match="needs a time zone"):
        parse_scenario({"faults": [{"kind": "reset", "meter": "x", "at": "2026-06-15T00:00:00"}]}, "s")
