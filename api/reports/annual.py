"""The annual reports: the accounting table of annex 4, and the Jiangxi plan's annex-1 application tables.

Both come from the year's account as /indicators/{year} evaluates it (lingtan.api.reports.accounts),
so their totals are the API's `energy_tce` and `co2_t` for the year.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from lingtan.accounting.account import Account
from lingtan.accounting.activity import fuel_key
from lingtan.accounting.factors import FactorError
from lingtan.api.reports import accounts
from lingtan.api.reports.labels import (
    CO2_SOURCES,
    T,
    fuel_text,
    item_text,
    number_column,
    percent_column,
    text_column,
    unit_text,
    year_text,
)
from lingtan.api.reports.model import Column, Report, Table, Text
from lingtan.kernel.park import Park

CATEGORY = {"fuel": T("化石燃料燃烧", "Fuel combustion"), "transformation": T("能源加工转换", "Energy transformation"),
            "electricity": T("净调入电力", "Net imported electricity"), "heat": T("净调入热力", "Net imported heat"),
            "process": T("工业生产过程", "Industrial process")}
STATUS = {"P": T("P 政策原文确认", "P confirmed in the policy text"), "S": T("S 二手来源确认", "S secondary source"),
          "S-code": T("S-code 仅见于第三方代码", "S-code found only in third-party code"),
          "U": T("U 未确认", "U unconfirmed"),
          "A": T("A 假设值（按园区和年份设置）", "A assumption (set per park and year)")}


# how exported electricity is valued in E电 (accounting/emissions.py, docs/accounting.md)
EXPORT_RULE_TEXT = {
    "by_origin": T("上网电量按来源抵减：富余的园区可再生电力和绿电直供按绿电因子，园区化石发电和电网转供按化石能源电力"
                   "因子（by_origin）。",
                   "Exported electricity deducted by origin: surplus on-site renewable and green direct supply at "
                   "the green factor, on-site fossil generation and grid pass-through at the fossil factor "
                   "(by_origin)."),
    "literal": T("未随绿色属性售出的上网电量一律按化石能源电力排放因子抵减（literal）。",
                 "Exported electricity not sold with green attributes deducted at the fossil factor (literal)."),
    "zero": T("上网电量不抵减（zero）。", "Exported electricity not deducted (zero)."),
}

def _factor_rows(acct: Account) -> list[dict]:
    a = acct.activity
    keys = [ln.factor_key for ln in acct.energy.lines]
    keys += [ln.factor_source.split(" ")[0] for ln in acct.emissions.lines]
    rows, seen = [], set()
    for key in keys:
        if key in seen or not key.startswith(("tce.", "co2.")):
            continue
        seen.add(key)
        try:
            f = acct.factors.for_period(key, a.period_start, a.period_end)
        except FactorError:
            continue
        src = acct.factors.sources.get(f.source)
        rows.append({"key": key, "value": f.value, "unit": unit_text(f.unit), "version": f.version,
                     "status": STATUS.get(str(f.status), T(str(f.status), str(f.status))),
                     "source": src.title if src else f.source, "url": src.url if src else None,
                     "note": f.note or None, "from": f.valid_from})
    return rows


def annex4_annual(session: Session, park: Park, period: str, now: datetime) -> Report:
    span = accounts.year_span(period, park, now)
    year = span.first.year
    acct = accounts.year_account(session, park, year, now)
    if acct is None:
        raise accounts.NoData(f"period = {period!r}: park {park.id!r} has no metered energy and no activity "
                                   f"data for {year}")
    factors = acct.factors
    energy = Table(
        key="energy", title=T("综合能源消费量核算表", "Energy use accounting"),
        columns=(text_column("item", "项目", "Item", 30), number_column("quantity", "实物量", "Quantity", None, 3),
                 text_column("unit", "单位", "Unit", 8),
                 number_column("factor", "折标系数", "tce factor", "tce/单位", 7),
                 text_column("key", "系数编号", "Factor", 26),
                 number_column("tce", "折标准煤", "Energy", "tce", 3)),
        rows=tuple({"item": item_text(ln.item, factors), "quantity": ln.quantity, "unit": unit_text(ln.unit),
                    "factor": ln.factor,
                    "key": ln.factor_key, "tce": ln.energy_tce} for ln in acct.energy.lines),
        total={"item": T("综合能源消费量（等价值）", "Energy use (equivalent value)"), "tce": acct.energy.total_tce},
        note=T(f"电力按等价值折标；当量值合计 {acct.energy.total_calorific_tce:,.3f} tce。",
               "Electricity at equivalent value; at calorific value the total is "
               f"{acct.energy.total_calorific_tce:,.3f} tce."))
    tce_of = {ln.item: ln.factor for ln in acct.energy.lines}
    co2 = Table(
        key="annex4", title=T("碳排放核算表（附件4）", "Emissions accounting (annex 4)"),
        columns=(text_column("category", "排放类别", "Category", 18), text_column("item", "项目", "Item", 30),
                 number_column("quantity", "活动数据", "Activity data", None, 3),
                 text_column("unit", "单位", "Unit", 8),
                 number_column("tce_factor", "折标系数", "tce factor", "tce/单位", 7),
                 number_column("factor", "排放因子", "Emission factor", "tCO₂/单位", 7),
                 text_column("source", "因子编号", "Factor", 26),
                 number_column("co2", "排放量", "CO₂", "tCO₂", 3)),
        rows=tuple({"category": CATEGORY.get(ln.category, T(ln.category, ln.category)),
                    "item": item_text(ln.item, factors), "quantity": ln.quantity, "unit": unit_text(ln.unit),
                    "tce_factor": tce_of.get(ln.item),
                    "factor": ln.factor_tco2_per_unit, "source": ln.factor_source, "co2": ln.co2_t}
                   for ln in acct.emissions.lines),
        total={"category": T("合计", "Total"), "co2": acct.emissions.total_co2_t},
        note=T("E = E燃料 + E加工转换 + E电 + E热 + E过程；送出电量、热量为负值；不扣除抵销量。",
               "E = fuels + transformation + electricity + heat + process; deliveries are negative; "
               "no offsets deducted."))
    e = acct.emissions
    by = {"fuels": e.fuel_co2_t, "transformation": e.transformation_co2_t, "electricity": e.electricity_co2_t,
          "heat": e.heat_co2_t, "process": e.process_co2_t}
    summary = Table(
        key="summary", title=T("排放汇总", "Summary"),
        columns=(text_column("source", "排放来源", "Source", 26), number_column("co2", "排放量", "CO₂", "tCO₂", 3),
                 percent_column("share", "占比", "Share")),
        rows=tuple({"source": CO2_SOURCES[k], "co2": v, "share": v / e.total_co2_t if e.total_co2_t else None}
                   for k, v in by.items()),
        total={"source": T("合计", "Total"), "co2": e.total_co2_t, "share": 1.0 if e.total_co2_t else None})
    factor_table = Table(
        key="factors", title=T("所用系数及来源", "Factors used and their sources"),
        columns=(text_column("key", "系数编号", "Factor", 28), number_column("value", "数值", "Value", None, 4),
                 text_column("unit", "单位", "Unit", 12), number_column("version", "版本", "Version", None, 0),
                 Column("from", T("生效日期", "Valid from"), kind="date", width=12),
                 text_column("status", "状态", "Status", 22), text_column("source", "来源", "Source", 50),
                 text_column("url", "链接", "URL", 40), text_column("note", "说明（系数库原文）", "Note", 50)),
        rows=tuple(_factor_rows(acct)),
        note=T("状态：P 政策原文、S 二手来源、S-code 仅见于代码、U 未确认、A 假设值（见 reference.yaml）。",
               "Status: P policy text, S secondary source, S-code only in code, U unconfirmed, A assumption "
               "(see reference.yaml)."))
    intensity = e.total_co2_t / acct.energy.total_tce if acct.energy.total_tce > 0 else None
    facts = ((T("核算年度", "Year"), year, None),
             (T("综合能源消费量（等价值）", "Energy use (equivalent value)"), acct.energy.total_tce, "tce"),
             (T("综合能源消费量（当量值）", "Energy use (calorific value)"), acct.energy.total_calorific_tce, "tce"),
             (T("二氧化碳排放量", "CO₂ emissions"), e.total_co2_t, "tCO₂"),
             (T("单位能耗碳排放", "Carbon per energy"), intensity, "tCO₂/tce"),
             (T("数据完整度", "Data completeness"), acct.completeness, "%"),
             (T("统计期", "Period"), T(f"{span.first} 至 {span.through}", f"{span.first} to {span.through}"), None))
    notes = [T("依据：《零碳园区碳排放核算方法（试行）》（发改环资〔2025〕910号附件4）："
               "核算边界为一个自然年，仅计CO₂。",
               "Basis: annex 4 of NDRC notice 发改环资〔2025〕910号: the boundary is one calendar year, CO₂ only."),
             EXPORT_RULE_TEXT[e.export_rule.rule if e.export_rule else "by_origin"]]
    if not span.closed:
        notes.append(T(f"本年度尚未结束：数据截至 {span.through}。",
                       f"The year is still open: figures through {span.through}."))
    return Report(kind="annex4-annual", title=T("零碳园区碳排放核算表", "Zero-carbon park emissions accounting table"),
                  park_id=park.id, park_name=park.name, period=year_text(year), generated_at=now.astimezone(park.zone),
                  facts=facts, tables=(energy, co2, summary, factor_table), notes=tuple(notes))


# -- Jiangxi annex 1 ------------------------------------------------------------------------------
def _supply(acct: Account) -> dict[tuple[str, str], tuple[Text, Text, str, float]]:
    """(carrier, kind) -> (carrier label, 外购/自供 label, unit, quantity) of one year."""
    a, f = acct.activity, acct.factors
    buy, own, out_ = T("外购", "purchased"), T("自供", "self-supplied"), T("外送", "delivered out")
    el = T("电力", "Electricity")
    rows = {("electricity", "grid"): (el, T("外购（电网）", "purchased (grid)"), "kWh", a.electricity.grid_import_kwh),
            ("electricity", "green_direct"): (el, T("外购（绿电直连）", "purchased (green direct)"), "kWh",
                                              a.electricity.green_direct_kwh),
            ("electricity", "onsite"): (el, T("自供（园区可再生能源发电）", "self-supplied (on-site renewable)"), "kWh",
                                        a.electricity.onsite_generation_kwh),
            ("electricity", "onsite_fossil"): (el, T("自供（园区化石能源发电）", "self-supplied (on-site fossil)"),
                                               "kWh",
                                               a.electricity.onsite_fossil_generation_kwh),
            ("electricity", "export"): (el, out_, "kWh", a.electricity.grid_export_kwh)}
    for section in ("fuels", "feedstock", "bunker"):
        for key, qty in getattr(a, section).items():
            k = ("fuel", key)
            prev = rows.get(k)
            rows[k] = (fuel_text(key, f), buy, f.fuels[fuel_key(key, f)].unit, (prev[3] if prev else 0.0) + qty)
    for key, qty in a.transformation.inputs.items():
        k = ("fuel", key)
        prev = rows.get(k)
        rows[k] = (fuel_text(key, f), buy, f.fuels[fuel_key(key, f)].unit, (prev[3] if prev else 0.0) + qty)
    for key, qty in a.transformation.outputs.items():
        rows[("made", key)] = (fuel_text(key, f), own, f.fuels[fuel_key(key, f)].unit, qty)
    heat = T("热力", "Heat")
    rows[("heat", "in")] = (heat, buy, "GJ", sum(h.gj for h in a.heat.imports))
    rows[("heat", "out")] = (heat, out_, "GJ", sum(h.gj for h in a.heat.exports))
    return rows


def _uses(acct: Account) -> dict[tuple[str, str], tuple[Text, Text, str, float, float]]:
    """(line item) -> (carrier, use, unit, quantity, tce) by 燃料 / 加工转换 / 原料 / 终端消费."""
    f = acct.factors
    out = {}
    for ln in acct.energy.lines:
        section, _, rest = ln.item.partition(".")
        if section == "electricity":
            carrier, use = T("电力", "Electricity"), T("终端消费", "end use")
        elif section.startswith("heat"):
            carrier, use = T("热力", "Heat"), T("终端消费（净调入）", "end use (net import)")
            section = "heat"
        elif section == "transformation":
            direction, _, key = rest.partition(".")
            carrier = fuel_text(key, f)
            use = T("加工转换投入", "transformation input") if direction == "inputs" else T(
                "加工转换产出（扣减）", "transformation output (deducted)")
            section = f"transformation.{direction}"
            rest = key
        else:
            carrier = fuel_text(rest, f)
            use = {"fuels": T("用作燃料", "as fuel"), "feedstock": T("用作原料", "as feedstock"),
                   "bunker": T("国际燃料舱", "bunker")}.get(section, T(section, section))
        key = (section, rest)
        prev = out.get(key)
        out[key] = (carrier, use, unit_text(ln.unit), (prev[3] if prev else 0.0) + ln.quantity,
                    (prev[4] if prev else 0.0) + ln.energy_tce)
    return out


def jiangxi_annex1(session: Session, park: Park, period: str, now: datetime) -> Report:
    span = accounts.year_span(period, park, now)
    last = span.first.year
    years = [last - 2, last - 1, last]
    accts = {y: accounts.year_account(session, park, y, now) for y in years}
    with_data = [y for y in years if accts[y] is not None]
    if not with_data:
        raise accounts.NoData(f"period = {period!r}: park {park.id!r} has no metered energy and no activity "
                                   f"data in {years[0]}–{last}")
    # the base year: the configured one, else the earliest of the years shown with data before the
    # report year; a base that is not before the report year compares nothing (base, change empty)
    base_year = park.base_year if park.base_year is not None else next((y for y in with_data if y < last), None)
    comparable = base_year is not None and base_year < last
    if comparable and base_year not in accts:
        accts[base_year] = accounts.year_account(session, park, base_year, now)
    base = accts.get(base_year) if comparable else None
    base_zh, base_en = (str(base_year), str(base_year)) if base_year is not None else ("无", "none")
    ycols = tuple(number_column(f"y{y}", str(y), str(y), None, 3) for y in years)

    supply_rows: dict = {}
    for y in years:
        if accts[y] is None:
            continue
        for k, (carrier, kind, unit, qty) in _supply(accts[y]).items():
            row = supply_rows.setdefault(k, {"carrier": carrier, "kind": kind, "unit": unit})
            row[f"y{y}"] = qty
    for row in supply_rows.values():  # a year with data but without this carrier: 0; a year without data: empty
        for y in with_data:
            row.setdefault(f"y{y}", 0.0)
    supply = Table(
        key="supply", title=T("能源供应情况（外购与自供）", "Energy supply"),
        columns=(text_column("carrier", "能源品种", "Carrier", 16), text_column("kind", "来源", "Source", 26),
                 text_column("unit", "单位", "Unit", 8), *ycols),
        rows=tuple(supply_rows.values()),
        note=T("无数据的年份留空，不计为零。", "Years without data are left empty, never zero."))

    use_rows: dict = {}
    for y in years:
        if accts[y] is None:
            continue
        for k, (carrier, use, unit, qty, tce) in _uses(accts[y]).items():
            row = use_rows.setdefault(k, {"carrier": carrier, "use": use, "unit": unit})
            row[f"q{y}"], row[f"t{y}"] = qty, tce
    for row in use_rows.values():
        for y in with_data:
            row.setdefault(f"q{y}", 0.0)
            row.setdefault(f"t{y}", 0.0)
    use = Table(
        key="consumption", title=T("能源消费情况（按用途）", "Energy consumption by use"),
        columns=(text_column("carrier", "能源品种", "Carrier", 16), text_column("use", "用途", "Use", 22),
                 text_column("unit", "单位", "Unit", 8),
                 *(number_column(f"q{y}", f"{y} 实物量", f"{y} quantity", None, 3) for y in years),
                 *(number_column(f"t{y}", f"{y} 折标量", f"{y} energy", "tce", 3) for y in years)),
        rows=tuple(use_rows.values()),
        total={"carrier": T("综合能源消费量（等价值）", "Energy use (equivalent value)"),
               **{f"t{y}": accts[y].energy.total_tce for y in with_data}},
        note=T("用途按附件1：用作燃料、用于能源加工转换、用作原料；电力、热力为终端消费（电力按等价值折标）。",
               "Uses as annex 1 asks: as fuel, for energy transformation, as feedstock; electricity and heat are end "
               "use (electricity at equivalent value)."))

    def emission_values(acct: Account | None) -> dict[str, float | None]:
        if acct is None:
            return {}
        e = acct.emissions
        v = {"energy": acct.energy.total_tce, "fuels": e.fuel_co2_t, "transformation": e.transformation_co2_t,
             "electricity": e.electricity_co2_t, "heat": e.heat_co2_t, "process": e.process_co2_t,
             "total": e.total_co2_t}
        v["intensity"] = e.total_co2_t / acct.energy.total_tce if acct.energy.total_tce > 0 else None
        return v
    labels = {"energy": (T("综合能源消费量（等价值）", "Energy use (equivalent value)"), "tce"),
              **{k: (CO2_SOURCES[k], "tCO₂") for k in CO2_SOURCES},
              "total": (T("碳排放总量", "Total CO₂"), "tCO₂"), "intensity": (T("单位能耗碳排放", "Carbon per energy"),
                                                                          "tCO₂/tce")}
    values = {y: emission_values(accts[y]) for y in years}
    base_values = emission_values(base)
    em_rows = []
    for k, (label, unit) in labels.items():
        row = {"item": label, "unit": unit, **{f"y{y}": values[y].get(k) for y in years}, "base": base_values.get(k)}
        b, latest = base_values.get(k), values[last].get(k)
        row["change"] = (latest - b) / b if b and latest is not None else None
        if k in CO2_SOURCES:
            for y in years:
                t = values[y].get("total")
                row[f"s{y}"] = values[y][k] / t if t and values[y].get(k) is not None else None
        em_rows.append(row)
    emissions_table = Table(
        key="emissions", title=T("碳排放情况及结构", "Emissions and their structure"),
        columns=(text_column("item", "项目", "Item", 26), text_column("unit", "单位", "Unit", 10), *ycols,
                 *(percent_column(f"s{y}", f"{y} 结构占比", f"{y} share") for y in years),
                 number_column("base", f"基准年（{base_zh}）", f"Base year ({base_en})", None, 3),
                 percent_column("change", f"{last}年较基准年变化", f"{last} vs base year")),
        rows=tuple(em_rows),
        note=T("按《零碳园区碳排放核算方法（试行）》核算；结构占比为各来源占当年碳排放总量的比例。",
               "Accounted by annex 4 (零碳园区碳排放核算方法（试行）); shares are of the year's total CO₂."))
    missing = [y for y in years if accts[y] is None]
    facts = ((T("申报年份", "Years"), T(f"{years[0]}–{last}年", f"{years[0]}–{last}"), None),
             (T("基准年", "Base year"), base_year if comparable else T("无", "none"), None),
             (T("无数据的年份", "Years without data"), T("、".join(map(str, missing)) or "无",
                                                      ", ".join(map(str, missing)) or "none"), None),
             *((T(f"{y}年碳排放总量", f"CO₂ {y}"), values[y].get("total"), "tCO₂") for y in years))
    notes = [T("依据：《江西省零碳园区建设实施方案》附件1 零碳园区实施方案编制大纲，"
               "一（三）能源供应及消费情况、一（四）碳排放情况。",
               "Basis: the Jiangxi plan's annex 1 (outline of the application), I(3) energy supply and consumption, "
               "I(4) emissions."),
             T(f"基准年：园区配置的 base_year；未配置时取{last}年之前最早有数据的年份"
               "（附件1 二 建设目标以2025年为基准年）。",
               f"Base year: the park's configured base_year, else the earliest year with data before {last} (annex 1, "
               "II, names 2025 as the base year of the targets).")]
    if not comparable:
        notes.append(T(f"无早于{last}年且有数据的基准年：基准年及变化两列留空（不与本年自身比较）。",
                       f"No base year with data before {last}: the base-year and change columns are left empty "
                       "(never a comparison with the year itself)."))
    elif base is None:
        notes.append(T(f"基准年 {base_year} 无数据：基准年及变化两列留空。",
                       f"The base year {base_year} has no data: the base-year and change columns are left empty."))
    if not span.closed:
        notes.append(T(f"{last}年尚未结束：数据截至 {span.through}。",
                       f"{last} is still open: figures through {span.through}."))
    return Report(kind="jiangxi-annex1", title=T("零碳园区申报数据表（江西省方案附件1）",
                                                 "Zero-carbon park application tables (Jiangxi plan, annex 1)"),
                  park_id=park.id, park_name=park.name, period=T(f"{years[0]}–{last}年", f"{years[0]}–{last}"),
                  generated_at=now.astimezone(park.zone), facts=facts, tables=(supply, use, emissions_table),
                  notes=tuple(notes))
