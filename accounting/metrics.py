"""How each indicator value is obtained from an account: the metrics frameworks may name.

A metric reads the account (energy, emissions, activity data) and returns a number, or a bool
for qualitative indicators. It raises `Missing` naming the activity field it needs when the
data is not there. `ENERGY_METRICS` are derived from energy data (meters or energy statistics),
so they inherit the account's data completeness; the others come from reported activity data.
"""

from collections.abc import Callable
from typing import Any

from lingtan.accounting.account import Account


class Missing(Exception):
    """The data a metric needs is absent; args[0] names the field."""


Metric = Callable[[Account, dict[str, Any]], float | bool]


def _energy(a: Account, basis: str = "equivalent") -> float:
    tce = a.energy.total_tce if basis == "equivalent" else a.energy.total_calorific_tce
    if tce <= 0:
        raise Missing("energy (综合能源消费量 is zero)")
    return tce


def _field(a: Account, path: str) -> float:
    node: Any = a.activity
    for part in path.split("."):
        node = getattr(node, part, None)
    if node is None:
        raise Missing(path)
    return float(node)


def carbon_per_energy(a: Account, p: dict[str, Any]) -> float:
    """单位能耗碳排放, tCO2/tce (electricity at 等价值); `deduct_ccer` for Jiangxi's own rule."""
    co2 = a.emissions.total_co2_t - (a.emissions.offsets_tco2 if p.get("deduct_ccer") else 0.0)
    return co2 / _energy(a)


def clean_energy_share(a: Account, p: dict[str, Any]) -> float:
    """Clean (or non-fossil) energy / total energy, %, electricity at 等价值."""
    clean = a.energy.non_fossil_tce + (a.energy.natural_gas_tce if p.get("include_natural_gas") else 0.0)
    return 100 * clean / _energy(a)


def renewable_electricity_share(a: Account, p: dict[str, Any]) -> float:
    """(green direct + on-site renewable + certificate-covered) / electricity consumption, %."""
    e = a.energy.electricity
    if e.consumption_kwh <= 0:
        raise Missing("electricity (consumption is zero)")
    return 100 * e.green_kwh / e.consumption_kwh


def green_direct_supply_share(a: Account, p: dict[str, Any]) -> float:
    """(green direct supply + on-site self-consumption) / electricity consumption, %."""
    e = a.energy.electricity
    if e.consumption_kwh <= 0:
        raise Missing("electricity (consumption is zero)")
    return 100 * e.direct_green_kwh / e.consumption_kwh


def offset_ratio(a: Account, p: dict[str, Any]) -> float:
    """CCER offsets / total emissions, %."""
    total = a.emissions.total_co2_t
    if total <= 0:
        raise Missing("emissions (total is not positive)")
    return 100 * a.emissions.offsets_tco2 / total


def energy_per_value_added(a: Account, p: dict[str, Any]) -> float:
    """tce per 万元 industrial value added; basis calorific (当量值) unless told otherwise."""
    return _energy(a, p.get("basis", "calorific")) / _value_added(a)


def co2_per_value_added(a: Account, p: dict[str, Any]) -> float:
    return a.emissions.total_co2_t / _value_added(a)


def _value_added(a: Account) -> float:
    va = _field(a, "economy.industrial_value_added_wan_yuan")
    if va <= 0:
        raise Missing("economy.industrial_value_added_wan_yuan (must be > 0)")
    return va


def terminal_electrification(a: Account, p: dict[str, Any]) -> float:
    """Electricity / terminal energy use, %, both at 当量值."""
    terminal = a.energy.terminal_calorific_tce
    if terminal <= 0:
        raise Missing("energy (terminal energy use is zero)")
    return 100 * a.energy.electricity_calorific_tce / terminal


def _daily_kwh(a: Account) -> float:
    days = (a.activity.period_end - a.activity.period_start).days
    kwh = a.energy.electricity.consumption_kwh
    if kwh <= 0:
        raise Missing("electricity (consumption is zero)")
    return kwh / days


def storage_share_of_daily(a: Account, p: dict[str, Any]) -> float:
    """Storage capacity kWh / average daily consumption kWh, %."""
    return 100 * _field(a, "capacity.storage_kwh") / _daily_kwh(a)


def demand_response_share_of_daily(a: Account, p: dict[str, Any]) -> float:
    """Demand-response capacity kW / average load (daily kWh / 24 h), %."""
    return 100 * _field(a, "capacity.demand_response_kw") / (_daily_kwh(a) / 24)


def demand_response_share_of_max_load(a: Account, p: dict[str, Any]) -> float:
    max_load = _field(a, "capacity.max_load_kw")
    if max_load <= 0:
        raise Missing("capacity.max_load_kw (must be > 0)")
    return 100 * _field(a, "capacity.demand_response_kw") / max_load


def ratio(a: Account, p: dict[str, Any]) -> float:
    """100 × numerator / sum(denominator) over activity fields (e.g. waste, water)."""
    den = sum(_field(a, d) for d in p["denominator"])
    if den <= 0:
        raise Missing(" + ".join(p["denominator"]) + " (must be > 0)")
    return 100 * _field(a, p["numerator"]) / den


def reported(a: Account, p: dict[str, Any]) -> float | bool:
    """A value the park reports directly: activity `indicators[key]`."""
    key = p["key"]
    if key not in a.activity.indicators:
        raise Missing(f"indicators.{key}")
    return a.activity.indicators[key]


def platform_coverage(a: Account, p: dict[str, Any]) -> float:
    total = _field(a, "enterprises_total")
    if total <= 0:
        raise Missing("enterprises_total (must be > 0)")
    return 100 * _field(a, "enterprises_on_platform") / total


METRICS: dict[str, Metric] = {
    f.__name__: f
    for f in (
        carbon_per_energy, clean_energy_share, renewable_electricity_share, green_direct_supply_share, offset_ratio,
        energy_per_value_added, co2_per_value_added, terminal_electrification, storage_share_of_daily,
        demand_response_share_of_daily, demand_response_share_of_max_load, ratio, reported, platform_coverage,
    )
}
ENERGY_METRICS = frozenset(METRICS) - {"ratio", "reported", "platform_coverage"}
