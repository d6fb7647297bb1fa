"""The simulated meters on real Modbus: Debian's mbpoll over TCP, pymodbus over a socat pty
(RTU), and a 1,000-meter park on ten TCP servers.

The clock is frozen (ManualClock), so the values cannot move between a read and the
comparison with ParkServer.values. Expected register contents follow the datasheets' layouts
as the profiles cite them (SDM630 input register 30053 = total system power in W, float32
ABCD; ADL400 000AH = forward active energy, uint32 in 0.01 kWh), not our encoder.
"""

import asyncio
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from lingtan.cli.configfile import load_config
from lingtan.kernel import profile as profiles
from lingtan.kernel.config import parse_config
from lingtan.simulator import ManualClock, ParkServer
from lingtan.simulator.fleet import fleet_config
from tests.support import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform-jiangsu-sim.yaml"
NOON = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # 12:00 in Suzhou, a Monday


def jiangsu_on_free_ports():
    data = load_config(EXAMPLE).model_dump(mode="json")
    for g in data["gateways"]:
        for b in g["buses"]:
            b["port"] = free_port()
    return parse_config(data, "jiangsu (free ports)")


async def mbpoll(port: int, unit: int, ref: int, count: int, kind: str) -> dict[int, float]:
    """mbpoll's reading of `count` values from 1-based reference `ref`: {reference: value}."""
    exe = shutil.which("mbpoll")
    assert exe, "mbpoll is not installed: apt-get install mbpoll"
    proc = await asyncio.create_subprocess_exec(
        exe, "-m", "tcp", "-a", str(unit), "-r", str(ref), "-c", str(count), "-t", kind, "-B",
        "-o", "2", "-p", str(port), "127.0.0.1", "-1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    text = out.decode()
    assert proc.returncode == 0, text
    return {int(r): int(v, 16) if v.startswith("0x") else float(v)
            for r, v in re.findall(r"^\[(\d+)\]:\s+(\S+)$", text, re.M)}


def test_mbpoll_reads_datasheet_layouts():
    config = jiangsu_on_free_ports()
    port = config.gateway("gw-ent").buses[0].port

    async def scenario():
        server = ParkServer(config, ManualClock(NOON))
        await server.start()
        try:
            # Eastron SDM630 (unit 12): input registers 30043 … 30076, float32 big-endian
            sdm = await mbpoll(port, 12, 43, 17, "3:float")
            # Acrel ADL400 (unit 21): 000AH forward energy uint32 × 0.01 kWh, 016AH power int32 W
            adl_energy = await mbpoll(port, 21, 0x000A + 1, 1, "4:int")
            adl_power = await mbpoll(port, 21, 0x016A + 1, 1, "4:int")
            # Lingtan generic map (unit 61): holding register 28 = power_kw, float32
            generic = await mbpoll(port, 61, 28 + 1, 1, "4:float")
            return server.values("ent-semi-fab"), server.values("ent-auto-main"), server.values("ent-logi-main"), \
                sdm, adl_energy, adl_power, generic
        finally:
            await server.stop()

    fab, auto, logi, sdm, adl_energy, adl_power, generic = asyncio.run(scenario())
    close = lambda v: pytest.approx(v, rel=2e-5)  # noqa: E731  mbpoll prints 6 significant digits
    assert sdm[43] == close(fab["voltage_v"])
    assert sdm[47] == close(fab["current_a"])
    assert sdm[53] == close(fab["power_kw"] * 1000)  # W
    assert sdm[61] == close(fab["reactive_power_kvar"] * 1000)  # var
    assert sdm[63] == close(fab["power_factor"])
    assert sdm[71] == close(fab["frequency_hz"])
    assert sdm[73] == close(fab["energy_import_kwh"])
    assert sdm[75] == close(fab["energy_export_kwh"])
    assert fab["power_kw"] > 100  # a working fab at noon
    assert adl_energy[11] * 0.01 == pytest.approx(auto["energy_import_kwh"], abs=0.006)
    assert adl_power[363] == pytest.approx(auto["power_kw"] * 1000, abs=0.6)
    assert generic[29] == close(logi["power_kw"])


def test_mbpoll_reads_dtsu666_and_sunspec_layouts():
    """Chint DTSU666 (float32 in 0.1 W / 0.01 Hz units at 2012H/2044H, kWh at 401EH) and a SunSpec
    inverter (int16 W with its own W_SF, uint16 Hz with Hz_SF, read as raw words) through mbpoll."""
    config = jiangsu_on_free_ports()
    ent = config.gateway("gw-ent").buses[0].port
    hv = config.gateway("gw-hv").buses[0].port

    async def scenario():
        server = ParkServer(config, ManualClock(NOON))
        await server.start()
        try:
            pt = await mbpoll(ent, 11, 0x2012 + 1, 1, "4:float")
            freq = await mbpoll(ent, 11, 0x2044 + 1, 1, "4:float")
            energy = await mbpoll(ent, 11, 0x401E + 1, 1, "4:float")
            sunspec = await mbpoll(hv, 2, 40084 + 1, 4, "4:hex")  # W, W_SF, Hz, Hz_SF
            return server.values("ent-semi-main"), server.values("pv-roof-semi"), pt, freq, energy, sunspec
        finally:
            await server.stop()

    semi, pv, pt, freq, energy, sunspec = asyncio.run(scenario())
    close = lambda v: pytest.approx(v, rel=2e-5)  # noqa: E731  mbpoll prints 6 significant digits
    assert pt[0x2013] == close(semi["power_kw"] * 1e4)  # 0.1 W
    assert freq[0x2045] == close(semi["frequency_hz"] * 100)  # 0.01 Hz
    assert energy[0x401F] == close(semi["energy_import_kwh"])
    signed = lambda w: w - 0x10000 if w & 0x8000 else w  # noqa: E731
    w, w_sf, hz, hz_sf = (sunspec[40085 + i] for i in range(4))
    assert pv["power_kw"] < -10  # generating at noon: export, negative in the contract
    assert signed(w) * 10.0 ** signed(w_sf) == pytest.approx(-pv["power_kw"] * 1000, abs=10.0 ** signed(w_sf))
    assert signed(hz_sf) == -2 and hz * 0.01 == pytest.approx(pv["frequency_hz"], abs=0.006)


def test_rtu_over_a_pty_pair(pty_pair):
    meter = {"carrier": "electricity", "role": "enterprise", "boundary": False, "enterprise": "e",
             "gateway": "gw-rtu", "profile": "eastron_sdm630"}
    config = parse_config({
        "parks": [{"id": "rtu-park", "name": "RTU", "enterprises": [{"id": "e", "name": "E"}], "meters": [
            {"id": "grid", "carrier": "electricity", "role": "grid", "boundary": True, "gateway": "gw-rtu",
             "modbus": {"bus": "rs485", "unit": 1}, "profile": "generic_float32"},
            {**meter, "id": "m-5", "modbus": {"bus": "rs485", "unit": 5}},
            {**meter, "id": "m-9", "modbus": {"bus": "rs485", "unit": 9}}]}],
        "gateways": [{"id": "gw-rtu", "park": "rtu-park", "buses": [
            {"id": "rs485", "transport": "rtu", "serial_port": pty_pair.b, "baudrate": 19200, "parity": "N"}]}],
        "simulator": {"serial_ports": {"gw-rtu/rs485": pty_pair.a}},
    }, "rtu")
    profile = profiles.load("eastron_sdm630")

    async def scenario():
        server = ParkServer(config, ManualClock(NOON))
        await server.start()
        client = AsyncModbusSerialClient(pty_pair.b, framer=FramerType.RTU, baudrate=19200, parity="N",
                                         timeout=2, retries=1)
        try:
            assert await client.connect()
            out = {}
            for unit in (5, 9):
                registers = {}
                for block in profiles.plan(profile):
                    rr = await client.read_input_registers(block.start, count=block.count, device_id=unit)
                    assert not rr.isError(), rr
                    registers.update({(4, block.start + i): w for i, w in enumerate(rr.registers)})
                out[unit] = profiles.decode(profile, registers)
            return out, server.values("m-5"), server.values("m-9")
        finally:
            client.close()
            await server.stop()

    read, m5, m9 = asyncio.run(scenario())
    for got, want in ((read[5], m5), (read[9], m9)):
        for q, v in got.items():
            assert v == pytest.approx(want[q], rel=1e-6), q  # float32 on the wire
    assert read[5]["energy_import_kwh"] != read[9]["energy_import_kwh"]


def test_thousand_meters_on_ten_servers_answer():
    config = parse_config(fleet_config(1000, per_bus=100, ports=[free_port() for _ in range(10)]), "fleet")
    park = config.parks[0]
    by_bus: dict[str, list] = {}
    for m in park.meters:
        by_bus.setdefault(m.modbus.bus, []).append(m)
    assert len(park.meters) == 1000 and len(by_bus) == 10

    async def scenario():
        server = ParkServer(config, ManualClock(NOON))
        await server.start()
        try:
            checked = 0
            for gw in config.gateways:
                for bus in gw.buses:
                    client = AsyncModbusTcpClient(bus.host, port=bus.port, timeout=3)
                    assert await client.connect(), bus.id
                    try:
                        for m in by_bus[bus.id]:  # every one of the 1,000 meters, every block of its map
                            profile = profiles.load(m.profile)
                            registers = {}
                            for block in profiles.plan(profile):
                                read = client.read_holding_registers if block.function == 3 \
                                    else client.read_input_registers
                                rr = await read(block.start, count=block.count, device_id=m.modbus.unit)
                                assert not rr.isError(), (m.id, rr)
                                registers.update({(block.function, block.start + i): w
                                                  for i, w in enumerate(rr.registers)})
                            got = profiles.decode(profile, registers)
                            want = server.values(m.id)
                            shared = got.keys() & want.keys()  # the generic map also carries other carriers' zeros
                            assert shared & {"energy_import_kwh", "energy_export_kwh", "gas_m3", "heat_gj",
                                             "water_m3"}, m.id
                            for q in shared:
                                assert got[q] == pytest.approx(want[q], rel=1e-3, abs=0.01), (m.id, q)
                            checked += 1
                    finally:
                        client.close()
            return checked
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == 1000


def test_sunspec_scale_factor_fits_a_large_inverter():
    """A 3 MWp inverter with 6.1 GWh lifetime yield: W (int16) and WH (acc32) need scale factors."""
    config = jiangsu_on_free_ports()
    bus = config.gateway("gw-hv").buses[0]
    profile = profiles.load("sunspec_inverter")

    async def scenario():
        server = ParkServer(config, ManualClock(NOON))
        await server.start()
        client = AsyncModbusTcpClient(bus.host, port=bus.port, timeout=3)
        try:
            assert await client.connect()
            registers = {}
            for block in profiles.plan(profile):
                rr = await client.read_holding_registers(block.start, count=block.count, device_id=2)
                assert not rr.isError(), rr
                registers.update({(3, block.start + i): w for i, w in enumerate(rr.registers)})
            return profiles.decode(profile, registers), server.values("pv-roof-semi")
        finally:
            client.close()
            await server.stop()

    got, want = asyncio.run(scenario())
    assert want["energy_export_kwh"] >= 6.1e6 and want["power_kw"] < -300  # generating at noon
    assert got["energy_export_kwh"] == pytest.approx(want["energy_export_kwh"], abs=0.01 * 10)
    assert got["power_kw"] == pytest.approx(want["power_kw"], abs=0.1)


def test_absent_unit_answers_gateway_target_failed(tmp_path):
    """A unit id with no meter answers exception 11, as behind an RS-485-to-TCP converter."""
    import asyncio
    from datetime import UTC, datetime

    from pymodbus.client import AsyncModbusTcpClient

    from lingtan.kernel.clock import SimClock
    from lingtan.kernel.config import parse_config
    from lingtan.simulator.server import ParkServer
    from tests.support import free_port

    port = free_port()
    config = parse_config({"parks": [{"id": "p", "name": "P", "meters": [
        {"id": "grid", "carrier": "electricity", "role": "grid", "boundary": True, "gateway": "g",
         "modbus": {"bus": "b", "unit": 1}, "profile": "generic_float32"}]}],
        "gateways": [{"id": "g", "park": "p", "buses": [{"id": "b", "port": port}]}]})

    async def probe():
        server = ParkServer(config, SimClock(datetime.now(UTC), speed=1))
        await server.start()
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        await client.connect()
        try:
            present = await client.read_holding_registers(0, count=2, device_id=1)
            absent = await client.read_holding_registers(0, count=2, device_id=99)
        finally:
            client.close()
            await server.stop()
        return present, absent

    present, absent = asyncio.run(probe())
    assert not present.isError()
    assert absent.isError() and absent.exception_code == 11
