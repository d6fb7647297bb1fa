"""Enterprises inside the park: energy, tce, CO2 and intensity per enterprise, reconciled with the park.

Each enterprise is booked from its own sub-meters (activity `enterprises:`, entered or filled from
meters by `metered_enterprises`) with the park's factors and the same annex-4 method as the park:

- energy: its electricity at 等价值 and 当量值, its fuels and heat through `energy_use`;
- CO2: its fuels and heat through `emissions`; its electricity from the park's E电 under the
  allocation rule below;
- per 10,000 yuan of value added and per unit of product where the activity data give them.

Allocation of the park's electricity (pro rata, docs/accounting.md, 9): an enterprise's own direct
green contract and its own certificates are attributed to it first (capped at its consumption);
the rest of the park's green electricity (green direct supply, on-site renewable power consumed,
certificates) and the rest of E电 are shared pro rata by the kWh not yet attributed, public use
and losses included. The sum over enterprises plus the unallocated remainder (public use,
losses, boundary fuels no enterprise meters, process emissions) equals the park figure exactly;
the remainder is reported, never dropped.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from lingtan.accounting.account import Account
from lingtan.accounting.activity import Activity, ActivityError, EnterpriseActivity, Heat, HeatFlow
from lingtan.accounting.balance import _FUEL_CARRIERS, counted_meters
from lingtan.accounting.emissions import emissions
from lingtan.accounting.energy import energy_use, period_factor
from lingtan.kernel.park import Carrier, Park

# 《重点用能单位节能管理办法》(国家发展改革委等7部门令 2018年第15号) 第二条: units using 10,000 tce or more a
# year, and units of 5,000 to 10,000 tce a year designated by the State Council departments or the
# provincial energy-saving authority, are key energy users. The lower bound is the default threshold.
KEY_USER_THRESHOLD_TCE = 5000.0
KEY_USER_SOURCE = "《重点用能单位节能管理办法》(国家发展改革委等7部门令2018年第15号) 第二条"
ALLOCATION_RULE = "pro_rata"


@dataclass(frozen=True, slots=True)
class GreenElectricity:
    """An enterprise's electricity by how it is counted in E电, kWh."""

    own_direct_kwh: float  # its own direct green contract, attributed to it
    own_certificate_kwh: float  # covered by its own certificates
    pooled_green_kwh: float  # its pro-rata share of the park's other green electricity
    other_kwh: float  # the rest: grid power and on-site fossil power

    @property
    def green_kwh(self) -> float:
        return self.own_direct_kwh + self.own_certificate_kwh + self.pooled_green_kwh


@dataclass(frozen=True, slots=True)
class OutputIntensity:
    product: str
    quantity: float
    unit: str
    energy_tce_per_unit: float  # 等价值
    energy_calorific_tce_per_unit: float  # 当量值
    co2_t_per_unit: float


@dataclass(frozen=True, slots=True)
class KeyUser:
    """重点用能单位 status: declared, or at or above the threshold on annualised energy use."""

    key_energy_user: bool
    declared: bool
    annual_tce: float  # on key_energy_user_basis, scaled to a year when the period is shorter
    threshold_tce: float
    basis: str  # calorific (当量值) or equivalent (等价值)
    source: str = KEY_USER_SOURCE


@dataclass(frozen=True)
class EnterpriseFigures:
    id: str
    name: str
    electricity_kwh: float
    fuels: dict[str, float]
    heat_gj: float
    electricity: GreenElectricity
    energy_tce: float  # 等价值
    energy_calorific_tce: float  # 当量值
    electricity_tce: float
    electricity_calorific_tce: float
    electricity_co2_t: float
    fuel_co2_t: float
    heat_co2_t: float
    value_added_wan_yuan: float | None
    energy_tce_per_wan_yuan: float | None
    energy_calorific_tce_per_wan_yuan: float | None
    co2_t_per_wan_yuan: float | None
    per_output: tuple[OutputIntensity, ...]
    completeness: float
    key_user: KeyUser

    @property
    def total_co2_t(self) -> float:
        return self.electricity_co2_t + self.fuel_co2_t + self.heat_co2_t


@dataclass(frozen=True)
class Unallocated:
    """Park figure minus the sum over enterprises: public use, losses and what no enterprise meters."""

    electricity_kwh: float
    green_kwh: float
    fuels: dict[str, float]
    heat_gj: float
    energy_tce: float
    energy_calorific_tce: float
    electricity_co2_t: float
    other_co2_t: float  # fuels and heat not sub-metered, transformation, process
    total_co2_t: float


@dataclass(frozen=True)
class EnterpriseAccount:
    rule: str
    enterprises: tuple[EnterpriseFigures, ...]
    unallocated: Unallocated
    park_energy_tce: float
    park_energy_calorific_tce: float
    park_co2_t: float
    park_electricity_kwh: float
    pooled_green_share: float  # green share of the kWh shared pro rata, 0..1
    pooled_co2_t_per_kwh: float  # E电 not attributed, per kWh shared pro rata
    flags: frozenset[str]


def enterprise_account(acct: Account) -> EnterpriseAccount:
    """Per-enterprise figures of one park-period, reconciled with the park's account."""
    a = acct.activity
    split = acct.energy.electricity
    consumption = split.consumption_kwh
    flags: set[str] = set()
    _check_enterprise_fuels(acct)

    own_direct, own_cert = {}, {}
    for eid, ent in a.enterprises.items():
        own_direct[eid] = min(ent.green_direct_kwh, ent.electricity_kwh)
        own_cert[eid] = min(ent.certificates_mwh * 1000, ent.electricity_kwh - own_direct[eid])
        if own_direct[eid] + own_cert[eid] < ent.green_direct_kwh + ent.certificates_mwh * 1000:
            flags.add("own_green_capped")  # more own green power than consumption; the excess goes to the pool
    _check_attributed(a, own_direct, split.green_direct_kwh, "green_direct_kwh", "electricity.green_direct_kwh "
                      "consumed in the park")
    _check_attributed(a, {k: v / 1000 for k, v in own_cert.items()}, split.certificate_kwh / 1000, "certificates_mwh",
                      "park certificates covering grid power (MWh)")
    attributed = sum(own_direct.values()) + sum(own_cert.values())
    pooled_kwh = consumption - attributed
    pooled_green = split.green_kwh - attributed
    green_share = pooled_green / pooled_kwh if pooled_kwh > 0 else 0.0
    pool_co2 = acct.emissions.electricity_co2_t
    co2_per_kwh = pool_co2 / pooled_kwh if pooled_kwh > 0 else 0.0

    equivalent = period_factor(acct.factors, a, "tce.electricity.equivalent").per_unit
    calorific = period_factor(acct.factors, a, "tce.electricity.calorific").per_unit
    days = (a.period_end - a.period_start).days
    year_days = (date(a.year + 1, 1, 1) - date(a.year, 1, 1)).days
    figures = []
    for eid, ent in a.enterprises.items():
        rest = ent.electricity_kwh - own_direct[eid] - own_cert[eid]
        sub = Activity(park=a.park, year=a.year, timezone=a.timezone, period=a.period, fuels=ent.fuels,
                       heat=Heat(imports=ent.heat))
        energy = energy_use(sub, acct.factors)
        co2 = emissions(sub, acct.factors)
        elec_tce, elec_cal = ent.electricity_kwh * equivalent, ent.electricity_kwh * calorific
        total_tce, total_cal = elec_tce + energy.total_tce, elec_cal + energy.total_calorific_tce
        elec_co2 = rest * co2_per_kwh
        total_co2 = elec_co2 + co2.total_co2_t
        va = ent.value_added_wan_yuan
        annual = (total_cal if a.key_energy_user_basis == "calorific" else total_tce) * year_days / days
        threshold = a.key_energy_user_threshold_tce
        figures.append(EnterpriseFigures(
            id=eid, name=ent.name, electricity_kwh=ent.electricity_kwh, fuels=dict(ent.fuels),
            heat_gj=sum(h.gj for h in ent.heat),
            electricity=GreenElectricity(own_direct[eid], own_cert[eid], rest * green_share, rest * (1 - green_share)),
            energy_tce=total_tce, energy_calorific_tce=total_cal, electricity_tce=elec_tce,
            electricity_calorific_tce=elec_cal, electricity_co2_t=elec_co2, fuel_co2_t=co2.fuel_co2_t,
            heat_co2_t=co2.heat_co2_t, value_added_wan_yuan=va,
            energy_tce_per_wan_yuan=total_tce / va if va else None,
            energy_calorific_tce_per_wan_yuan=total_cal / va if va else None,
            co2_t_per_wan_yuan=total_co2 / va if va else None,
            per_output=tuple(OutputIntensity(o.product, o.quantity, o.unit, total_tce / o.quantity,
                                             total_cal / o.quantity, total_co2 / o.quantity) for o in ent.output),
            completeness=ent.completeness,
            key_user=KeyUser(ent.key_energy_user or annual >= threshold, ent.key_energy_user, annual, threshold,
                             a.key_energy_user_basis),
        ))

    park_co2 = acct.emissions.total_co2_t
    sum_kwh = sum(f.electricity_kwh for f in figures)
    if sum_kwh > consumption * (1 + 1e-9):
        flags.add("enterprises_exceed_park")  # sub-meters read more than the boundary: shown as negative remainder
    fuels = {k: v - sum(f.fuels.get(k, 0.0) for f in figures) for k, v in a.fuels.items()}
    if any(v < -1e-9 * a.fuels[k] - 1e-9 for k, v in fuels.items()):
        flags.add("enterprises_exceed_park")
    elec_rest = pool_co2 - sum(f.electricity_co2_t for f in figures)
    other_rest = park_co2 - pool_co2 - sum(f.fuel_co2_t + f.heat_co2_t for f in figures)
    unallocated = Unallocated(
        electricity_kwh=consumption - sum_kwh,
        green_kwh=split.green_kwh - sum(f.electricity.green_kwh for f in figures),
        fuels=fuels,
        heat_gj=sum(h.gj for h in a.heat.imports) - sum(h.gj for h in a.heat.exports) - sum(f.heat_gj for f in figures),
        energy_tce=acct.energy.total_tce - sum(f.energy_tce for f in figures),
        energy_calorific_tce=acct.energy.total_calorific_tce - sum(f.energy_calorific_tce for f in figures),
        electricity_co2_t=elec_rest,
        other_co2_t=other_rest,
        total_co2_t=elec_rest + other_rest,
    )
    return EnterpriseAccount(
        rule=ALLOCATION_RULE, enterprises=tuple(figures), unallocated=unallocated,
        park_energy_tce=acct.energy.total_tce, park_energy_calorific_tce=acct.energy.total_calorific_tce,
        park_co2_t=park_co2, park_electricity_kwh=consumption, pooled_green_share=green_share,
        pooled_co2_t_per_kwh=co2_per_kwh, flags=frozenset(flags),
    )


def _check_attributed(a: Activity, values: Mapping[str, float], available: float, field: str, what: str) -> None:
    total = sum(values.values())
    if total > available * (1 + 1e-9) + 1e-9:
        shown = ", ".join(f"enterprises.{k}.{field} = {v:,.3f}" for k, v in values.items() if v)
        raise ActivityError(f"{shown}: the enterprises' own {field} sum to {total:,.3f}, more than the "
                            f"{available:,.3f} of {what}; an enterprise's own green power is part of the park's")


def _check_enterprise_fuels(acct: Account) -> None:
    a = acct.activity
    for eid, ent in a.enterprises.items():
        for key, qty in ent.fuels.items():
            if qty and key not in a.fuels:
                raise ActivityError(f"enterprises.{eid}.fuels.{key} = {qty!r}: the park books no fuels.{key}; an "
                                    "enterprise's fuel is part of the park's (give the park total under fuels)")


def metered_enterprises(
    park: Park,
    totals: Mapping[str, Mapping[str, float]],
    completeness: Mapping[str, float] | None = None,
    base: Mapping[str, EnterpriseActivity] | None = None,
) -> dict[str, EnterpriseActivity]:
    """Enterprise energy flows from per-meter counter deltas of one period (meters: `counted_meters`).

    `base` supplies the entered data (value added, output, own green power), kept; metered flows
    replace entered ones, and an enterprise without meters keeps its entered flows.
    """
    meters = {m.id: m for m in park.meters}
    base = dict(base or {})
    flows: dict[str, dict] = {}
    counted = counted_meters(park)
    weights: dict[str, list[float]] = {}
    for mid, q in totals.items():
        if mid not in meters:
            raise ActivityError(f"totals[{mid!r}]: meter is not declared in park {park.id!r}")
        eid = counted.get(mid)
        m = meters[mid]
        if eid is None:
            continue
        f = flows.setdefault(eid, {"electricity_kwh": 0.0, "fuels": {}, "heat": []})
        size = 0.0
        if m.carrier is Carrier.ELECTRICITY:
            f["electricity_kwh"] += q.get("energy_import_kwh", 0.0)
            size = q.get("energy_import_kwh", 0.0)
        elif m.carrier in _FUEL_CARRIERS:
            quantity, key, scale = _FUEL_CARRIERS[m.carrier]
            f["fuels"][key] = f["fuels"].get(key, 0.0) + q.get(quantity, 0.0) * scale
            size = q.get(quantity, 0.0)
        elif m.carrier is Carrier.HEAT and q.get("heat_gj", 0.0):
            f["heat"].append(HeatFlow(gj=q["heat_gj"], non_fossil=m.non_fossil, note=f"meter {m.id}"))
            size = q["heat_gj"]
        w = weights.setdefault(eid, [0.0, 0.0])
        w[0] += size
        w[1] += size * (completeness or {}).get(mid, 1.0)
    names = {e.id: e.name for e in park.enterprises}
    # an enterprise without meters keeps what was entered for it; entered data naming no
    # enterprise (value added, a 重点用能单位 declaration) keep the park's name for it
    out = {eid: e if e.name or eid not in names else e.model_copy(update={"name": names[eid]})
           for eid, e in base.items()}
    for eid, f in flows.items():
        entered = out.get(eid) or EnterpriseActivity(name=names.get(eid, ""))
        w = weights[eid]
        out[eid] = entered.model_copy(update={**f, "completeness": 1.0 if w[0] == 0 else w[1] / w[0]})
    return dict(sorted(out.items()))
