"""Alarm rules and channels are validated at start with errors naming the key and the value."""

import pytest

from lingtan.kernel.config import ConfigError
from tests.support.configs import config_of, meter, platform


def config(alarms: dict):
    return config_of(platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], alarms=alarms))


def test_defaults_work_out_of_the_box_and_an_override_keeps_its_kinds_other_defaults():
    rules = {r.rule: r for r in config({}).alarms.rules_of("gw-park")}
    assert rules["completeness_month"].threshold == 0.9 and rules["meter_no_data"].threshold == 3
    assert rules["gateway_offline"].severity == "critical" and not rules["power"].enabled
    c = config({"rules": [{"rule": "gateway_offline", "clear_s": 5}],
                "parks": {"gw-park": [{"rule": "completeness_month", "threshold": 0.95}]}})
    rules = {r.rule: r for r in c.alarms.rules_of("gw-park")}
    assert (rules["gateway_offline"].severity, rules["gateway_offline"].clear_s) == ("critical", 5)
    assert rules["completeness_month"].threshold == 0.95 and rules["completeness_month"].severity == "warning"


@pytest.mark.parametrize(("alarms", "expected"), [
    ({"rules": [{"rule": "meter_nodata"}]}, "alarms.rules[0].rule = 'meter_nodata'"),
    ({"rules": [{"rule": "power", "severity": "fatal"}]}, "alarms.rules[0].severity = 'fatal'"),
    ({"rules": [{"rule": "power", "for_s": -1}]}, "alarms.rules[0].for_s = -1"),
    ({"parks": {"nowhere": []}}, "alarms.parks.nowhere = 'nowhere': park not declared"),
    ({"channels": [{"id": "c1", "kind": "wecom"}]}, "alarm channel 'c1': kind wecom needs exactly one of url"),
    ({"channels": [{"id": "c1", "kind": "email", "to": ["a@b"]}]}, "alarm channel 'c1': kind email needs sender"),
    ({"channels": [{"id": "c1", "kind": "webhook", "url": "http://x", "quiet_hours": "22-7"}]},
     "alarms.channels[c1].quiet_hours = '22-7'"),
])
def test_bad_alarm_config_is_refused_naming_key_and_value(alarms, expected):
    with pytest.raises(ConfigError) as err:
        config(alarms)
    assert expected in str(err.value)
