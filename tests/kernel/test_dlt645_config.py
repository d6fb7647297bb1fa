"""DL/T 645 bus and meter settings in the config, and the tariff quantities' place in the vocabulary."""

import re

import pytest

from lingtan.kernel.config import ConfigError
from lingtan.kernel.quantities import BREAKDOWNS, CARRIER_QUANTITIES, COUNTERS, QUANTITIES
from tests.support.configs import config_of, meter, platform


def dlt(mid: str, bus: str, address: str | None, profile: str = "generic_dlt645") -> dict:
    m = meter(mid, bus, 0, profile=profile)
    m["modbus"] = {"bus": bus, **({"address": address} if address else {"unit": 5})}
    return m


def test_dlt645_bus_defaults_to_the_standards_serial_settings():
    buses = [{"id": "b", "protocol": "dlt645", "transport": "rtu", "serial_port": "/dev/ttyUSB0"},
             {"id": "fast", "protocol": "dlt645", "transport": "rtu", "serial_port": "/dev/ttyUSB1", "baudrate": 9600},
             {"id": "mb", "transport": "rtu", "serial_port": "/dev/ttyUSB2"}]
    config = config_of(platform([dlt("m", "b", "000000000161")], buses))
    b, fast, mb = config.gateway("gw-1").buses
    assert (b.baudrate, b.parity, b.stopbits, b.preamble, b.time_sync) == (2400, "E", 1, 4, False)
    assert (fast.baudrate, fast.parity) == (9600, "E")
    assert (mb.protocol, mb.baudrate, mb.parity) == ("modbus", 9600, "N")  # Modbus defaults unchanged


@pytest.mark.parametrize(("meters", "message"), [
    ([dlt("m", "b", None)], "meters[m].modbus = {'bus': 'b', 'unit': 5}: on DL/T 645 bus 'b' it needs modbus.address"),
    ([dlt("m", "b", "000000000161", profile="generic_float32")],
     "meters[m].profile = 'generic_float32': a modbus profile, but bus 'b' speaks dlt645"),
    ([dlt("m", "b", "0000000001A1")], "modbus.address = '0000000001A1'"),
])
def test_refused_meter_settings_name_the_meter(meters, message):
    buses = [{"id": "b", "protocol": "dlt645", "port": 4001}]
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_of(platform(meters, buses))


def test_an_address_alone_is_no_modbus_unit():
    m = meter("m", "b", 1)
    m["modbus"] = {"bus": "b", "address": "000000000161"}
    with pytest.raises(ConfigError, match=r"meters\[m\].modbus = .*: on Modbus bus 'b' it needs modbus.unit \(1-247\)"):
        config_of(platform([m], [{"id": "b", "port": 502}]))


def test_a_modbus_meter_needs_a_unit_or_an_address():
    m = meter("m", "b", 1)
    m["modbus"] = {"bus": "b"}
    with pytest.raises(ConfigError, match=r"give the Modbus unit \(unit: 1-247\) or the DL/T 645 meter address"):
        config_of(platform([m], [{"id": "b", "port": 502}]))


def test_tariffs_are_kept_but_never_integrated():
    tariffs = {f"energy_{d}_{t}_kwh" for d in ("import", "export") for t in ("sharp", "peak", "flat", "valley")}
    assert tariffs <= BREAKDOWNS and tariffs <= CARRIER_QUANTITIES["electricity"]  # published and stored
    assert not BREAKDOWNS & COUNTERS  # the accounting integrates COUNTERS only: the totals
    assert {"energy_import_kwh", "energy_export_kwh"} <= COUNTERS
    assert all(QUANTITIES[q].unit == "kWh" for q in tariffs)
