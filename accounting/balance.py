"""The park energy balance: meter totals by role into boundary flows and the electricity split.

Two steps. `park_balance` reads per-meter counter deltas for a period and sums them by meter role
into boundary flows (grid import/export, green direct supply, on-site generation, storage, gas,
heat, fuels, water) plus sub-metered consumption. `split_electricity` then divides the park's
electricity consumption by origin:

    consumption = grid import - grid export + green direct + on-site generation (renewable + fossil)
                = grid power + green direct + on-site renewable + on-site fossil, each as consumed

Storage sits inside the boundary: its charge and discharge are internal flows, so its losses
(charge - discharge) are part of consumption and reported separately. Exports are attributed
by origin: on-site renewable generation, green direct supply, on-site fossil generation, then
grid pass-through; certificates (GEC / green-power trade) relabel grid power and are capped
at the grid power consumed. docs/accounting.md explains each choice.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lingtan.accounting.activity import Activity, Electricity, Heat, HeatFlow
from lingtan.kernel.park import GENERATION_ROLES, Carrier, Park, Role
from lingtan.kernel.quantities import COUNTERS


class BalanceError(ValueError):
    """Meter totals that cannot be balanced; the message names the meter, quantity and value."""


class BalanceFlag(StrEnum):
    CERTIFICATES_CAPPED = "certificates_capped"  # more certificates than grid power consumed
    SOLD_CAPPED = "sold_capped"  # more green attributes sold than power exported
    EXPORT_EXCEEDS_GENERATION = "export_exceeds_generation"  # some export is not on-site generation
    EXPORT_EXCEEDS_SUPPLY = "export_exceeds_supply"  # exports larger than grid import + generation
    STORAGE_GAIN = "storage_gain"  # storage discharged more than it charged in the period
    FROM_SUBMETERS = "from_submeters"  # a carrier without boundary meter, summed from sub-meters


@dataclass(frozen=True, slots=True)
class ElectricitySplit:
    """Park electricity consumption by origin, and exports by origin, kWh, for one period."""

    consumption_kwh: float
    grid_kwh: float  # grid power consumed (certificate-covered part included)
    certificate_kwh: float  # part of grid_kwh covered by GECs / green-power trade
    fossil_grid_kwh: float  # grid_kwh - certificate_kwh
    green_direct_kwh: float  # green direct supply consumed in the park
    onsite_renewable_kwh: float  # on-site renewable generation consumed in the park
    export_of_generation_kwh: float  # export attributed to on-site renewable generation
    export_other_kwh: float  # export beyond on-site renewable generation
    sold_green_export_kwh: float  # exported kWh whose green attributes were sold (or retired as own-plant GECs)
    storage_losses_kwh: float
    onsite_fossil_kwh: float = 0.0  # on-site fossil generation consumed in the park
    export_of_green_direct_kwh: float = 0.0
    export_of_fossil_generation_kwh: float = 0.0
    export_of_grid_kwh: float = 0.0  # grid pass-through, never more than the grid import
    export_unattributed_kwh: float = 0.0  # beyond all supply (storage discharged from earlier periods)
    flags: frozenset[BalanceFlag] = frozenset()

    @property
    def green_kwh(self) -> float:
        """Electricity counted at 0 kgCO2/kWh: green direct + on-site renewable + certificates."""
        return self.green_direct_kwh + self.onsite_renewable_kwh + self.certificate_kwh

    @property
    def direct_green_kwh(self) -> float:
        """绿色电力直接供应: green direct supply plus on-site self-consumption (Jiangxi def. 8)."""
        return self.green_direct_kwh + self.onsite_renewable_kwh

    @property
    def export_fossil_origin_kwh(self) -> float:
        """Exports of fossil kind: on-site fossil generation and grid pass-through."""
        return self.export_of_fossil_generation_kwh + self.export_of_grid_kwh


def split_electricity(e: Electricity) -> ElectricitySplit:
    """Divide consumption and exports by origin.

    Exports are attributed to their source in a fixed order: on-site renewable generation, then
    green direct supply, then on-site fossil generation, then grid pass-through (at most the
    grid import). What the park consumes of each source is the rest.
    """
    flags: set[BalanceFlag] = set()
    gen = e.onsite_generation_kwh
    fossil_gen = e.onsite_fossil_generation_kwh
    consumption = e.grid_import_kwh - e.grid_export_kwh + e.green_direct_kwh + gen + fossil_gen
    left = e.grid_export_kwh
    taken = []
    for available in (gen, e.green_direct_kwh, fossil_gen, e.grid_import_kwh):
        part = min(left, available)
        taken.append(part)
        left -= part
    export_gen, export_gd, export_fossil, export_grid = taken
    export_other = e.grid_export_kwh - export_gen
    if export_other > 0:
        flags.add(BalanceFlag.EXPORT_EXCEEDS_GENERATION)
    if left > 0:
        flags.add(BalanceFlag.EXPORT_EXCEEDS_SUPPLY)
    grid = e.grid_import_kwh - export_grid
    certificates = e.certificates_total_mwh * 1000
    covered = min(certificates, grid)
    if certificates > grid:
        flags.add(BalanceFlag.CERTIFICATES_CAPPED)
    # exported kWh whose green attributes went with certificates: sold, or retired by the park itself
    sold = min((e.certificates_sold_mwh + e.own_plant_certificates_mwh) * 1000, e.grid_export_kwh)
    if e.certificates_sold_mwh * 1000 > e.grid_export_kwh:
        flags.add(BalanceFlag.SOLD_CAPPED)
    losses = e.storage_charge_kwh - e.storage_discharge_kwh
    if losses < 0:
        flags.add(BalanceFlag.STORAGE_GAIN)
    return ElectricitySplit(
        consumption_kwh=max(0.0, consumption),
        grid_kwh=grid,
        certificate_kwh=covered,
        fossil_grid_kwh=grid - covered,
        green_direct_kwh=e.green_direct_kwh - export_gd,
        onsite_renewable_kwh=gen - export_gen,
        export_of_generation_kwh=export_gen,
        export_other_kwh=export_other,
        sold_green_export_kwh=sold,
        storage_losses_kwh=losses,
        onsite_fossil_kwh=fossil_gen - export_fossil,
        export_of_green_direct_kwh=export_gd,
        export_of_fossil_generation_kwh=export_fossil,
        export_of_grid_kwh=export_grid,
        export_unattributed_kwh=left,
        flags=frozenset(flags),
    )


@dataclass(frozen=True)
class ParkBalance:
    """Boundary flows of one park for one period, summed from meter totals by role."""

    electricity: Electricity  # flows only; certificates come from activity data
    fuels: dict[str, float]  # activity keys, e.g. {"natural_gas_m3": ..., "diesel_t": ...}
    heat: Heat
    water_m3: float
    generation_aux_kwh: float  # drawn by generators from the park network (already in consumption)
    submetered_kwh: float  # top-level electricity sub-meters (enterprises and loads)
    by_enterprise: dict[str, dict[str, float]]  # counter sums of each enterprise's counted meters (counted_meters)
    completeness: float  # energy-weighted over boundary meters, 0..1
    flags: frozenset[BalanceFlag] = field(default_factory=frozenset)

    @property
    def unmetered_kwh(self) -> float:
        """Consumption not seen by sub-meters (distribution losses, unmetered loads)."""
        return split_electricity(self.electricity).consumption_kwh - self.submetered_kwh

    def to_activity(self, base: Activity) -> Activity:
        """`base` with its energy flows replaced by the metered ones (certificates etc. kept)."""
        flows = {k: v for k, v in self.electricity.model_dump().items() if k.endswith("_kwh")}
        electricity = base.electricity.model_copy(update=flows)
        entered = bool(base.fuels or base.feedstock or base.bunker or base.process or base.transformation.inputs
                       or (base.heat.imports or base.heat.exports) and not (self.heat.imports or self.heat.exports))
        return base.model_copy(
            update={
                "provenance": "mixed" if entered else "metered",
                "electricity": electricity,
                "fuels": {**base.fuels, **self.fuels},
                "heat": self.heat if (self.heat.imports or self.heat.exports) else base.heat,
                "period": base.period.model_copy(update={"completeness": self.completeness}),
            }
        )


_FUEL_CARRIERS = {
    Carrier.NATURAL_GAS: ("gas_m3", "natural_gas_m3", 1.0),
    Carrier.DIESEL: ("fuel_kg", "diesel_t", 1e-3),
    Carrier.GASOLINE: ("fuel_kg", "gasoline_t", 1e-3),
    Carrier.LPG: ("fuel_kg", "lpg_t", 1e-3),
    Carrier.RAW_COAL: ("fuel_kg", "raw_coal_t", 1e-3),
}


def counted_meters(park: Park) -> dict[str, str]:
    """{meter id: enterprise id} of the meters that measure an enterprise's own use.

    A meter belongs to enterprise E when it or a meter above it (via `parent`) names E. It is
    counted unless a meter above it of the same carrier belongs to E too (that one already
    measures it). Boundary meters are the park's, never an enterprise's.
    """
    meters = {m.id: m for m in park.meters}

    def above(m):
        while m.parent:
            m = meters[m.parent]
            yield m

    owners = {m.id: next((x.enterprise for x in (m, *above(m)) if x.enterprise is not None), None)
              for m in park.meters}
    return {
        m.id: owners[m.id] for m in park.meters
        if owners[m.id] is not None and not m.boundary
        and not any(p.carrier is m.carrier and owners[p.id] == owners[m.id] and not p.boundary for p in above(m))
    }


def park_balance(
    park: Park,
    totals: Mapping[str, Mapping[str, float]],
    completeness: Mapping[str, float] | None = None,
) -> ParkBalance:
    """Sum per-meter counter deltas (contract units) for one period into boundary flows.

    totals: {meter_id: {quantity: delta}}; completeness: {meter_id: 0..1} from the interval
    engine (missing meters count as complete).
    """
    _check(park, totals, completeness or {})
    meters = {m.id: m for m in park.meters}
    flags: set[BalanceFlag] = set()
    e: dict[str, float] = dict.fromkeys(
        ["grid_import_kwh", "grid_export_kwh", "green_direct_kwh", "onsite_generation_kwh",
         "onsite_fossil_generation_kwh", "storage_charge_kwh", "storage_discharge_kwh"], 0.0)
    aux = submetered = water = 0.0
    boundary_fuels: dict[str, float] = {}
    sub_fuels: dict[str, float] = {}
    heat_in: list[HeatFlow] = []
    heat_out: list[HeatFlow] = []
    by_enterprise: dict[str, dict[str, float]] = {}
    owners = counted_meters(park)  # a sub-meter below its enterprise's own meter is counted there
    weight = weighted = 0.0

    for meter_id, q in totals.items():
        m = meters[meter_id]
        imp, exp = q.get("energy_import_kwh", 0.0), q.get("energy_export_kwh", 0.0)
        if m.in_balance:
            size = sum(q.values())
            weight += size
            weighted += size * (completeness or {}).get(meter_id, 1.0)
        if m.role is Role.GRID:
            e["grid_import_kwh"] += imp
            e["grid_export_kwh"] += exp
        elif m.role is Role.GREEN_DIRECT:
            e["green_direct_kwh"] += imp - exp
        elif m.role in GENERATION_ROLES:
            e["onsite_generation_kwh"] += exp
            aux += imp
        elif m.role is Role.FOSSIL_GENERATION:  # its fuel comes through the supply meters
            e["onsite_fossil_generation_kwh"] += exp
            aux += imp
        elif m.role is Role.STORAGE:
            e["storage_charge_kwh"] += imp
            e["storage_discharge_kwh"] += exp
        elif m.role is Role.SUPPLY:
            water += _carrier_flows(m, q, boundary_fuels, heat_in, heat_out)
        else:  # enterprise / load sub-meter
            if meter_id in owners:
                acc = by_enterprise.setdefault(owners[meter_id], {})
                for name, value in q.items():
                    acc[name] = acc.get(name, 0.0) + value
            top = m.parent is None or meters[m.parent].boundary
            if not top:
                continue
            if m.carrier is Carrier.ELECTRICITY:
                submetered += imp
            elif m.carrier in _FUEL_CARRIERS:
                _, key, scale = _FUEL_CARRIERS[m.carrier]
                sub_fuels[key] = sub_fuels.get(key, 0.0) + q.get(_FUEL_CARRIERS[m.carrier][0], 0.0) * scale

    fuels = dict(boundary_fuels)
    for key, value in sub_fuels.items():
        if key not in boundary_fuels and not _has_supply(park, key):
            fuels[key] = value
            flags.add(BalanceFlag.FROM_SUBMETERS)
    if e["storage_discharge_kwh"] > e["storage_charge_kwh"]:
        flags.add(BalanceFlag.STORAGE_GAIN)
    return ParkBalance(
        electricity=Electricity(**{k: max(0.0, v) for k, v in e.items()}),
        fuels=fuels,
        heat=Heat(imports=heat_in, exports=heat_out),
        water_m3=water,
        generation_aux_kwh=aux,
        submetered_kwh=submetered,
        by_enterprise=by_enterprise,
        completeness=1.0 if weight == 0 else weighted / weight,
        flags=frozenset(flags),
    )


def _carrier_flows(m, q, fuels: dict[str, float], heat_in: list[HeatFlow], heat_out: list[HeatFlow]) -> float:
    """Book one boundary supply meter; returns its water volume (m3)."""
    if m.carrier in _FUEL_CARRIERS:
        quantity, key, scale = _FUEL_CARRIERS[m.carrier]
        fuels[key] = fuels.get(key, 0.0) + q.get(quantity, 0.0) * scale
    elif m.carrier is Carrier.HEAT:
        if q.get("heat_gj", 0.0):
            heat_in.append(HeatFlow(gj=q["heat_gj"], non_fossil=m.non_fossil, note=f"meter {m.id}"))
        if q.get("heat_export_gj", 0.0):
            heat_out.append(HeatFlow(gj=q["heat_export_gj"], non_fossil=m.non_fossil, note=f"meter {m.id}"))
    elif m.carrier is Carrier.WATER:
        return q.get("water_m3", 0.0)
    else:
        raise BalanceError(f"meter {m.id!r}: role supply with carrier {m.carrier} is not accounted; use role grid")
    return 0.0


def _has_supply(park: Park, key: str) -> bool:
    return any(
        m.role is Role.SUPPLY and m.carrier in _FUEL_CARRIERS and _FUEL_CARRIERS[m.carrier][1] == key
        for m in park.meters
    )


def _check(park: Park, totals: Mapping[str, Mapping[str, float]], completeness: Mapping[str, float]) -> None:
    ids = {m.id for m in park.meters}
    for meter_id, q in totals.items():
        if meter_id not in ids:
            raise BalanceError(f"totals[{meter_id!r}]: meter is not declared in park {park.id!r}")
        for name, value in q.items():
            if name not in COUNTERS:
                raise BalanceError(f"totals[{meter_id!r}][{name!r}]: not a counter quantity; "
                                   f"accepted: {sorted(COUNTERS)}")
            if not isinstance(value, (int, float)) or value != value or value < 0 or value == float("inf"):
                raise BalanceError(f"totals[{meter_id!r}][{name!r}] = {value!r}: must be a finite number >= 0")
    for meter_id, c in completeness.items():
        if meter_id not in ids:
            raise BalanceError(f"completeness[{meter_id!r}]: meter is not declared in park {park.id!r}")
        if not 0 <= c <= 1:
            raise BalanceError(f"completeness[{meter_id!r}] = {c!r}: must be between 0 and 1")
