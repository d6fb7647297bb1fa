"""Labels the report builders share: carriers, annex-4 line items, periods, in both languages."""

import re
from datetime import date

from lingtan.accounting.factors import FactorSet
from lingtan.api.reports.model import Column, Text

T = Text

CARRIERS = {"electricity": T("电力", "Electricity"), "natural_gas": T("天然气", "Natural gas"),
            "heat": T("热力", "Heat")}
CO2_SOURCES = {"fuels": T("化石燃料燃烧", "Fossil fuel combustion"),
               "transformation": T("能源加工转换", "Energy transformation"),
               "electricity": T("净调入电力", "Net imported electricity"),
               "heat": T("净调入热力", "Net imported heat"), "process": T("工业生产过程", "Industrial processes")}
TOU = {"sharp": T("尖峰", "Sharp peak"), "peak": T("高峰", "Peak"), "flat": T("平段", "Flat"),
       "valley": T("低谷", "Valley"), "outside": T("日历未覆盖", "Not covered by the calendar")}
FLOWS = {"grid_import": T("电网购入", "Grid import"), "grid_export": T("上网电量", "Grid export"),
         "grid_consumed": T("园区消费的电网电量", "Grid power consumed"),
         "green_direct": T("绿电直连", "Green direct supply"),
         "onsite_renewable": T("自发自用可再生电力", "On-site renewable consumed"),
         "onsite_fossil": T("自发自用化石电力", "On-site fossil power consumed"),
         "certificates": T("绿证/绿电交易覆盖", "Covered by GECs / green-power trade"),
         "storage_charge": T("储能充电", "Storage charge"), "storage_discharge": T("储能放电", "Storage discharge")}
ITEM = T("项目", "Item")
UNIT = T("单位", "Unit")
SHARE = T("占比", "Share")


def month_text(d: date) -> Text:
    return T(f"{d.year}年{d.month}月", d.strftime("%B %Y"))


def year_text(year: int) -> Text:
    return T(f"{year}年", str(year))


def fuel_text(key: str, factors: FactorSet) -> Text:
    """`natural_gas_m3` -> 天然气 / natural gas."""
    name = next((n for n, f in factors.fuels.items() if key == f"{n}_{f.unit}"), key)
    fuel = factors.fuels.get(name)
    return T(fuel.name if fuel else key, name.replace("_", " ").capitalize())


def item_text(item: str, factors: FactorSet) -> Text:
    """An annex-4 line item of the core (`fuels.natural_gas_m3`, `heat.imports[0]`, ...) as a label."""
    section, _, rest = item.partition(".")
    if section == "electricity":
        return T("电力消费" + ("（扣除自备化石电厂发电）" if "less" in rest else ""), "Electricity consumed"
                 + (" (less on-site fossil generation)" if "less" in rest else ""))
    if section in ("fuels", "feedstock", "bunker"):
        what = {"fuels": ("燃料", "fuel"), "feedstock": ("原料", "feedstock"),
                "bunker": ("国际燃料舱", "bunker")}[section]
        f = fuel_text(rest, factors)
        return T(f"{f.zh}（{what[0]}）", f"{f.en} ({what[1]})")
    if section == "transformation":
        direction, _, key = rest.partition(".")
        f = fuel_text(key, factors)
        return T(f"{f.zh}（加工转换{'投入' if direction == 'inputs' else '产出'}）",
                 f"{f.en} (transformation {'input' if direction == 'inputs' else 'output'})")
    if section.startswith("heat"):
        m = re.match(r"heat\.(imports|exports)\[(\d+)\]", item)
        if m:
            n = int(m.group(2)) + 1  # numbered only from the second flow on: "热力调入", "热力调入（2）"
            zh, en = ("热力调入", "Heat imported") if m.group(1) == "imports" else ("热力调出", "Heat exported")
            return T(zh if n == 1 else f"{zh}（{n}）", en if n == 1 else f"{en} ({n})")
    if section == "receipts":
        return {"grid (not certificate-covered)": T("电网购入（绿证未覆盖）", "Grid import (not certificate-covered)"),
                "grid (certificate-covered)": T("电网购入（绿证/绿电交易覆盖）", "Grid import (certificate-covered)"),
                "green_direct": T("绿电直连", "Green direct supply")}.get(rest, T(item, item))
    if section == "deliveries":
        return {"onsite_renewable": T("送出：自发可再生电力", "Delivered: on-site renewable"),
                "green_direct": T("送出：绿电直连电量", "Delivered: green direct supply"),
                "onsite_fossil_generation": T("送出：自备化石电厂电量", "Delivered: on-site fossil generation"),
                "grid_pass_through": T("送出：电网转供", "Delivered: grid pass-through"),
                "unattributed": T("送出：储能前期电量", "Delivered: storage from earlier periods")}.get(
                    rest, T(f"送出 {rest}", f"Delivered {rest}"))
    if item.startswith("process"):
        return T(f"工业过程 {item.partition(' ')[2]}", f"Process {item.partition(' ')[2]}")
    return T(item, item)


def unit_text(unit: str | None) -> str | None:
    """A physical unit as printed: `m3` -> m³, `10^4m3` -> 10⁴m³."""
    if unit is None:
        return None
    return unit.replace("10^4", "10⁴").replace("m3", "m³")


def text_column(key: str, zh: str, en: str, width: int | None = None) -> Column:
    return Column(key, T(zh, en), kind="text", width=width)


def number_column(key: str, zh: str, en: str, unit: str | None, digits: int = 2) -> Column:
    return Column(key, T(zh, en), kind="number", unit=unit, digits=digits)


def percent_column(key: str, zh: str, en: str, digits: int = 1) -> Column:
    return Column(key, T(zh, en), kind="percent", digits=digits)


def date_column(key: str, zh: str, en: str, width: int = 12) -> Column:
    return Column(key, T(zh, en), kind="date", width=width)


def datetime_column(key: str, zh: str, en: str, width: int = 18) -> Column:
    return Column(key, T(zh, en), kind="datetime", width=width)
