"""Park CO2 emissions per the national method (附件4 零碳园区碳排放核算方法（试行）).

    E园区 = E用作燃料 + E加工转换 + E电 + E热 + E工业过程

E电 = Σ受入 × EF − Σ送出 × EF with 0 for direct-supplied non-fossil power and certificate-covered
power and 0.8325 kgCO2/kWh for all other power; exports get the factor of their origin by default
(`export_lines`), so exported green power is never a credit; E热 likewise with 0.11 tCO2/GJ (or a measured
factor) for fossil heat and 0 for non-fossil heat. Bunker fuels are included and listed
separately. CCER offsets never enter these figures: they are carried alongside as `offsets_tco2`
for the frameworks (Jiangxi) whose own indicator allows deducting them.
"""

from dataclasses import dataclass

from lingtan.accounting.activity import Activity, fuel_key
from lingtan.accounting.balance import ElectricitySplit, split_electricity
from lingtan.accounting.energy import period_factor
from lingtan.accounting.factors import FactorSet


@dataclass(frozen=True, slots=True)
class EmissionLine:
    category: str  # fuel | transformation | electricity | heat | process
    item: str
    quantity: float  # signed: receipts and inputs +, deliveries and outputs −
    unit: str
    factor_tco2_per_unit: float
    factor_source: str  # factor key or the product factor's stated source
    co2_t: float


EXPORT_RULES = ("by_origin", "literal", "zero")


@dataclass(frozen=True, slots=True)
class ExportRuleResult:
    """Which export rule E电 used, and E电 under the other rule for comparison."""

    rule: str
    other_rule: str
    other_rule_electricity_co2_t: float


def export_lines(split: ElectricitySplit, rule: str, fossil: float, green: float) -> list[tuple]:
    """Deliveries (送出) of one export rule as (item, signed kWh, factor, factor key).

    by_origin: each exported kWh gets the factor of its kind (docs/accounting.md, 4): surplus
    on-site renewable and green direct supply at the green factor, on-site fossil generation and
    grid pass-through at the fossil factor. literal: every export not sold with green attributes
    at the fossil factor (the reading before issue 15). zero: no export is deducted.
    """
    g, f = "co2.electricity.green", "co2.electricity.fossil"
    if rule == "by_origin":
        return [
            ("deliveries.onsite_renewable", -split.export_of_generation_kwh, green, g),
            ("deliveries.green_direct", -split.export_of_green_direct_kwh, green, g),
            ("deliveries.onsite_fossil_generation", -split.export_of_fossil_generation_kwh, fossil, f),
            ("deliveries.grid_pass_through", -split.export_of_grid_kwh, fossil, f),
            ("deliveries.unattributed", -split.export_unattributed_kwh, green, g),
        ]
    export = (split.export_of_generation_kwh + split.export_of_green_direct_kwh
              + split.export_of_fossil_generation_kwh + split.export_of_grid_kwh + split.export_unattributed_kwh)
    if rule == "literal":  # own-plant certificates retired here: their exported kWh count 0, like sold ones
        return [
            ("deliveries.grid", -(export - split.sold_green_export_kwh), fossil, f),
            ("deliveries.grid (green attributes sold)", -split.sold_green_export_kwh, green, g),
        ]
    return [("deliveries.grid", -export, green, g)]


@dataclass(frozen=True)
class Emissions:
    fuel_co2_t: float
    transformation_co2_t: float
    electricity_co2_t: float
    heat_co2_t: float
    process_co2_t: float
    bunker_co2_t: float  # included in fuel_co2_t, listed separately (annex 4, 二(一))
    offsets_tco2: float  # CCER; never deducted here
    lines: tuple[EmissionLine, ...]
    export_rule: "ExportRuleResult | None" = None

    @property
    def energy_co2_t(self) -> float:
        return self.fuel_co2_t + self.transformation_co2_t + self.electricity_co2_t + self.heat_co2_t

    @property
    def total_co2_t(self) -> float:
        return self.energy_co2_t + self.process_co2_t


def emissions(activity: Activity, factors: FactorSet) -> Emissions:
    lines: list[EmissionLine] = []

    def add(category: str, item: str, quantity: float, unit: str, factor: float, source: str) -> float:
        co2 = quantity * factor
        lines.append(EmissionLine(category, item, quantity, unit, factor, source, co2))
        return co2

    def ef(key: str, full_oxidation: bool = False) -> float:
        f = period_factor(factors, activity, key)
        return f.per_unit / (f.oxidation or 1.0) if full_oxidation else f.per_unit

    fuel = bunker = 0.0
    for section in ("fuels", "bunker"):
        for key, qty in getattr(activity, section).items():
            name = fuel_key(key, factors)
            co2 = add("fuel", f"{section}.{key}", qty, factors.fuels[name].unit, ef(f"co2.{name}"), f"co2.{name}")
            fuel += co2
            if section == "bunker":
                bunker += co2

    transformation = 0.0  # carbon balance, oxidation 100 % (annex 4, 二(二)2)
    for section, sign in (("inputs", 1.0), ("outputs", -1.0)):
        for key, qty in getattr(activity.transformation, section).items():
            name = fuel_key(key, factors)
            transformation += add(
                "transformation", f"transformation.{section}.{key}", sign * qty, factors.fuels[name].unit,
                ef(f"co2.{name}", full_oxidation=True), f"co2.{name} / oxidation",
            )

    e = activity.electricity
    split = split_electricity(e)
    fossil = ef("co2.electricity.fossil")
    green = ef("co2.electricity.green")
    rule = e.rule
    receipts = [
        ("receipts.grid (not certificate-covered)", e.grid_import_kwh - split.certificate_kwh, fossil,
         "co2.electricity.fossil"),
        ("receipts.grid (certificate-covered)", split.certificate_kwh, green, "co2.electricity.green"),
        ("receipts.green_direct", e.green_direct_kwh, green, "co2.electricity.green"),
    ]
    by_rule = {r: export_lines(split, r, fossil, green) for r in EXPORT_RULES}
    electricity = 0.0
    for item, qty, factor, source in receipts + by_rule[rule]:
        electricity += add("electricity", item, qty, "kWh", factor, source)
    receipts_co2 = sum(qty * factor for _, qty, factor, _ in receipts)
    other = "literal" if rule != "literal" else "by_origin"
    export_rule = ExportRuleResult(
        rule=rule, other_rule=other,
        other_rule_electricity_co2_t=receipts_co2 + sum(qty * f for _, qty, f, _ in by_rule[other]),
    )

    heat = 0.0
    for section, sign in (("imports", 1.0), ("exports", -1.0)):
        for i, flow in enumerate(getattr(activity.heat, section)):
            if flow.non_fossil:
                factor, source = ef("co2.heat.non_fossil"), "co2.heat.non_fossil"
            elif flow.factor_tco2_per_gj is not None:
                factor, source = flow.factor_tco2_per_gj, f"measured ({flow.note})" if flow.note else "measured"
            else:
                factor, source = ef("co2.heat.fossil"), "co2.heat.fossil"
            heat += add("heat", f"heat.{section}[{i}]", sign * flow.gj, "GJ", factor, source)

    process = 0.0
    for i, p in enumerate(activity.process):
        process += add("process", f"process[{i}] {p.product}", p.output_t, "t", p.factor_tco2_per_t, p.factor_source)

    return Emissions(
        fuel_co2_t=fuel,
        transformation_co2_t=transformation,
        electricity_co2_t=electricity,
        heat_co2_t=heat,
        process_co2_t=process,
        bunker_co2_t=bunker,
        offsets_tco2=activity.offsets.ccer_tco2,
        lines=tuple(lines),
        export_rule=export_rule,
    )
