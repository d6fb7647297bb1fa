"""Config: shipped examples are valid; bad files stop with file, key and value named."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lingtan.cli.configfile import demo_config_text, load_config
from lingtan.kernel.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]


def demo() -> dict:
    return yaml.safe_load(demo_config_text())


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*platform*.yaml")))
def test_examples_are_valid(path):
    config = load_config(path)
    assert config.parks and config.gateways


def test_demo_config_is_valid():
    config = parse_config(demo(), "demo.yaml")
    assert config.park("demo-park").meter("grid-main").boundary


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "park.yaml")
    return str(err.value)


def test_bad_carrier_names_key_and_value():
    data = demo()
    data["parks"][0]["meters"][0]["carrier"] = "electrcity"
    msg = _error(data)
    assert "park.yaml" in msg and "parks[demo-park].meters[grid-main].carrier = 'electrcity'" in msg
    assert msg.endswith("; did you mean 'electricity'?")


def test_unknown_key_is_rejected():
    data = demo()
    data["parks"][0]["meters"][1]["pol_interval_s"] = 5
    meter = data["parks"][0]["meters"][1]["id"]
    assert (f"parks[demo-park].meters[{meter}].pol_interval_s = 5: unknown key; accepted keys: id, name, "
            "carrier,") in _error(data)
    assert _error(data).endswith("did you mean 'poll_interval_s'?")


def test_reference_errors_name_the_id():
    data = demo()
    data["parks"][0]["meters"][3]["enterprise"] = "ent-z"
    assert ("parks[demo-park].meters[ent-a-main].enterprise = 'ent-z': enterprise not declared in this park; "
            "declared: ") in _error(data)
    data = demo()
    data["parks"][0]["meters"][0]["gateway"] = "gw-x"
    assert ("parks[demo-park].meters[grid-main].gateway = 'gw-x': gateway not declared; declared: gw-demo"
            in _error(data))
    data = demo()
    data["parks"][0]["meters"][0]["modbus"]["bus"] = "nope"
    assert "parks[demo-park].meters[grid-main].modbus.bus = 'nope': gateway 'gw-demo' has no bus" in _error(data)


def test_impossible_values():
    data = demo()
    data["parks"][0]["meters"][0]["modbus"]["unit"] = 300
    assert "parks[demo-park].meters[grid-main].modbus.unit = 300" in _error(data)
    data = demo()
    data["parks"][0]["timezone"] = "Asia/Beijing"
    assert "parks[demo-park].timezone = 'Asia/Beijing': unknown time zone" in _error(data)
    data = demo()
    data["parks"][0]["meters"][1]["role"] = "grid"
    data["parks"][0]["meters"][1]["boundary"] = False
    assert "role grid sits on the boundary" in _error(data)


def test_cli_stops_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    data = demo()
    data["gateways"][0]["buses"][0]["port"] = 70000
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "lingtan", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert f"{bad}" in run.stderr and "gateways[gw-demo].buses[rs485-1].port = 70000" in run.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("parks: [\n  - id: x\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "lingtan", "check-config", str(broken)], capture_output=True, text=True)
    assert run.returncode == 2 and "not valid YAML" in run.stderr and "line" in run.stderr

    good = tmp_path / "good.yaml"
    good.write_text(demo_config_text(), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "lingtan", "check-config", str(good)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "1 park(s), 10 meter(s)" in run.stdout


def test_park_file_reference_errors_name_the_park_file(tmp_path):
    data = demo()
    park = data["parks"][0]
    park["meters"][0]["role"] = "gridd"
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park, allow_unicode=True), encoding="utf-8")
    data["parks"] = ["park.yaml"]
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "platform.yaml")
    assert f"{tmp_path / 'park.yaml'}" in str(err.value) and "meters[grid-main].role = 'gridd'" in str(err.value)


def test_every_command_and_option_is_documented_in_help():
    """`lingtan COMMAND --help` explains every option of every command (nested ones too)."""
    import argparse

    from lingtan.cli.main import parser

    def walk(p: argparse.ArgumentParser, path: str):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                for name, sub in action.choices.items():
                    assert helps.get(name), f"{path} {name}: no summary in --help"
                    yield from walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action

    seen = 0
    for path, action in walk(parser(), "lingtan"):
        assert action.help and action.help.strip(), f"{path} {'/'.join(action.option_strings) or action.dest}"
        seen += 1
    assert seen > 30
