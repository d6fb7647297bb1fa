"""Hand-built reports for the PDF renderer's tests: shaped like the real ones (a park's monthly report
with a 12-month trend, emissions by source, an enterprise ranking and a 40-row table that spans pages),
and a hostile one (markup, ampersands, very long names, missing values)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from lingtan.api.reports.model import Chart, Column, Report, Table, Text

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHS = tuple(Text(f"{m}月", ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                "Dec")[m - 1]) for m in range(1, 13))
# 40 enterprises with made-up but plausible figures: electricity (kWh), tce, tCO2
ENTERPRISES = tuple(
    (f"E{i:02d}", Text(f"{city}{name}有限公司", f"{city_en} {en} Co., Ltd."), 180_000 + 23_457.5 * ((i * 37) % 41),
     i % 7 == 0)
    for i, ((city, city_en), (name, en)) in enumerate(
        ((c, n) for c in (("苏州", "Suzhou"), ("昆山", "Kunshan"), ("无锡", "Wuxi"), ("常州", "Changzhou"))
         for n in (("精密机械", "Precision Machinery"), ("新能源材料", "New Energy Materials"),
                   ("电子科技", "Electronics"), ("光学器件", "Optics"), ("汽车零部件", "Auto Parts"),
                   ("生物医药", "Biopharma"), ("包装印刷", "Packaging"), ("纺织", "Textiles"), ("食品", "Foods"),
                   ("智能装备", "Smart Equipment"))), start=1))


def park_monthly() -> Report:
    """A park's monthly energy-and-carbon report, November 2026."""
    electricity = (812_340.0, 760_120.5, 845_910.25, 830_001.0, 880_450.0, 951_230.75, 1_020_400.0, 1_034_980.5,
                   940_210.0, 901_330.0, 873_560.25, None)
    last_year = (790_000.0, 742_500.0, 820_120.0, 815_300.0, 860_000.0, 930_100.0, 1_001_250.0, 1_010_900.0,
                 925_400.0, 889_000.0, 861_200.0, 902_300.0)
    rows = []
    for key, name, kwh, keu in ENTERPRISES:
        tce = kwh * 0.1229 / 1000
        co2 = kwh * 0.5366 / 1000
        rows.append({"id": key, "name": name, "kwh": kwh, "tce": tce, "co2": co2,
                     "share": None, "keu": Text("是", "yes") if keu else Text("否", "no")})
    total_kwh = sum(r["kwh"] for r in rows)
    for r in rows:
        r["share"] = r["kwh"] / total_kwh
    monthly = Table(
        key="enterprises",
        title=Text("企业能耗与碳排放（2026年11月）", "Enterprise energy and emissions (November 2026)"),
        columns=(Column("id", Text("编号", "ID"), kind="text"),
                 Column("name", Text("企业", "Enterprise"), kind="text"),
                 Column("kwh", Text("电量", "Electricity"), unit="kWh", digits=1),
                 Column("tce", Text("综合能耗", "Energy"), unit="tce", digits=2),
                 Column("co2", Text("二氧化碳排放", "CO2 emissions"), unit="tCO2", digits=2),
                 Column("share", Text("占园区电量", "Share of park"), kind="percent", digits=1),
                 Column("keu", Text("重点用能单位", "Key energy user"), kind="text")),
        rows=tuple(rows),
        total={"kwh": total_kwh, "tce": sum(r["tce"] for r in rows), "co2": sum(r["co2"] for r in rows),
               "share": 1.0},
        note=Text("电量来自企业分表 15 分钟数据；排放因子 0.5366 tCO2/MWh（生态环境部 2022 年全国电网平均）。",
                  "Electricity from the enterprises' sub-meters (15-minute data); factor 0.5366 tCO2/MWh "
                  "(MEE 2022 national grid average)."))
    sources = Table(
        key="sources", title=Text("排放来源", "Emissions by source"),
        columns=(Column("source", Text("来源", "Source"), kind="text"),
                 Column("qty", Text("消费量", "Quantity"), unit=None, digits=1),
                 Column("co2", Text("排放量", "Emissions"), unit="tCO2", digits=2),
                 Column("from", Text("起始日", "From"), kind="date")),
        rows=({"source": Text("外购电力", "Purchased electricity"), "qty": 8_735_600.0, "co2": 4_687.52,
               "from": date(2026, 11, 1)},
              {"source": Text("天然气", "Natural gas"), "qty": 120_400.0, "co2": 260.81, "from": date(2026, 11, 1)},
              {"source": Text("外购热力", "Purchased heat"), "qty": 3_200.0, "co2": 352.0, "from": date(2026, 11, 1)},
              {"source": Text("柴油", "Diesel"), "qty": None, "co2": None, "from": None}),
        total={"source": Text("合计", "Total"), "co2": 5_300.33})
    annex = Table(  # as wide as annex 4's accounting table: it needs a landscape page
        key="annex4", title=Text("附件4 核算明细", "Annex 4 accounting lines"),
        columns=(Column("item", Text("能源品种", "Carrier"), kind="text", width=16),
                 Column("qty", Text("实物消费量", "Quantity consumed"), digits=3),
                 Column("unit", Text("计量单位", "Unit of quantity"), kind="text", width=10),
                 Column("factor", Text("折标系数", "Coefficient to standard coal"), unit="tce/单位", digits=4),
                 Column("tce", Text("综合能耗（等价值）", "Energy (equivalent value)"), unit="tce", digits=3),
                 Column("tce_cal", Text("综合能耗（当量值）", "Energy (calorific value)"), unit="tce", digits=3),
                 Column("ef", Text("排放因子", "Emission factor"), unit="tCO2/单位", digits=4),
                 Column("co2", Text("二氧化碳排放量", "CO2 emissions"), unit="tCO2", digits=3),
                 Column("source", Text("因子来源", "Source of the factor"), kind="text", width=28),
                 Column("status", Text("状态", "Status"), kind="text", width=8)),
        rows=({"item": Text("外购电力", "Purchased electricity"), "qty": 8_735_600.0, "unit": "kWh",
               "factor": 0.0001229, "tce": 1_073.605, "tce_cal": 1_073.605, "ef": 0.0005366, "co2": 4_687.523,
               "source": Text("生态环境部 2024 年公告", "MEE notice 2024"), "status": "C"},
              {"item": Text("天然气", "Natural gas"), "qty": 120_400.0, "unit": "m³", "factor": 0.0013300,
               "tce": 160.132, "tce_cal": 160.132, "ef": 0.0021662, "co2": 260.810,
               "source": Text("GB/T 2589-2020 附录A", "GB/T 2589-2020 annex A"), "status": "C"}),
        total={"item": Text("合计", "Total"), "tce": 1_233.737, "tce_cal": 1_233.737, "co2": 4_948.333})
    top = sorted(rows, key=lambda r: -r["co2"])[:10]
    return Report(
        kind="park-monthly", title=Text("园区能源与碳排放月报", "Park energy and carbon report, monthly"),
        park_id="sip-east", park_name="苏州工业园区东区零碳产业园", period=Text("2026年11月", "November 2026"),
        generated_at=datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI),
        facts=((Text("综合能耗（当量值）", "Energy (calorific)"), 1_234.56, "tce"),
               (Text("二氧化碳排放", "CO2 emissions"), 5_300.33, "tCO2"),
               (Text("可再生能源电力占比", "Renewable electricity share"), 0.314, "%"),
               (Text("单位增加值碳排放", "CO2 per value added"), 0.412, "tCO2/万元"),
               (Text("数据完整率", "Data completeness"), 0.9987, "%"),
               (Text("重点用能单位", "Key energy users"), 5, None),
               (Text("同比变化", "Year on year"), -0.032, "%"),
               (Text("绿证", "Green certificates"), None, "MWh")),
        charts=(Chart("trend", Text("月度用电趋势", "Monthly electricity"), "bar", MONTHS,
                      ((Text("2026年", "2026"), electricity), (Text("2025年", "2025"), last_year)), "kWh"),
                Chart("co2-trend", Text("月度碳排放", "Monthly CO2"), "line", MONTHS,
                      ((Text("2026年", "2026"), tuple(None if v is None else v * 0.5366 / 1000 for v in electricity)),
                       (Text("2025年", "2025"), tuple(v * 0.5581 / 1000 for v in last_year))), "tCO2"),
                Chart("sources", Text("排放来源构成", "Emissions by source"), "bar",
                      (Text("外购电力", "Electricity"), Text("天然气", "Natural gas"), Text("外购热力", "Heat")),
                      ((Text("排放量", "Emissions"), (4_687.52, 260.81, 352.0)),), "tCO2"),
                Chart("ranking", Text("企业碳排放排名（前十）", "Enterprise CO2 ranking (top 10)"), "hbar",
                      tuple(r["name"] for r in top), ((Text("排放量", "Emissions"), tuple(r["co2"] for r in top)),),
                      "tCO2")),
        tables=(sources, monthly, annex),
        notes=(Text("核算方法：《工业园区温室气体排放核算指南》附件4；电力排放因子按生态环境部公布值。",
                    "Method: annex 4 of the park accounting guide; electricity factor as published by the MEE."),
               Text("数据完整率为本月应有 15 分钟数据点中实际到达的比例。",
                    "Completeness: the share of the month's 15-minute intervals that arrived.")))


def hostile() -> Report:
    """Labels a careless renderer would run or break on (markup, ampersands, control characters, a very
    long name), and values that are missing."""
    long_name = "超长企业名称" * 12 + "&Co<b>"
    script = "<script>alert('x')</script>"
    return Report(
        kind="park-monthly", title=Text(f"月报 {script} & 测试", f"Report {script} & test"),
        park_id="p&1", park_name='园区 "</style><h1>x</h1>', period=Text("2026年11月", "November 2026"),
        generated_at=datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI),
        facts=((Text("缺失值", "Missing"), None, "tce"), (Text("A & B", "A & B"), 12.5, "<i>t</i>")),
        charts=(Chart("h", Text(f"排名 {script}", f"Ranking {script}"), "hbar",
                      (long_name, "B & C", "<img src=x>"), ((Text("排放 & 量", "CO2 & co"), (12.0, None, 3.5)),),
                      "t&CO2"),),
        tables=(Table("hostile", Text("敌意表格 & <表>", "Hostile & <table>"),
                      (Column("name", Text("名称 <b>", "Name <b>"), kind="text"),
                       Column("v", Text("数值", "Value"), unit="kWh&", digits=3),
                       Column("when", Text("时间", "Time"), kind="datetime")),
                      ({"name": long_name, "v": 1234.5, "when": datetime(2026, 11, 30, 16, 0, tzinfo=ZoneInfo("UTC"))},
                       {"name": script, "v": None, "when": None},
                       {"name": "R&D\x08\x00", "v": float("nan")}),
                      total={"v": 1234.5}),),
        notes=(Text(f"说明 {script}", f"Note {script}"),))


def small() -> Report:
    """One short table and no charts: one page."""
    return Report(
        kind="keu-monthly", title=Text("重点用能单位月报", "Key energy user report, monthly"), park_id="sip-east",
        park_name="苏州工业园区东区零碳产业园", period=Text("2026年11月", "November 2026"),
        generated_at=datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI),
        tables=(Table("tou", Text("分时电量", "Time-of-use electricity"),
                      (Column("period", Text("时段", "Period"), kind="text"),
                       Column("kwh", Text("电量", "Electricity"), unit="kWh", digits=0)),
                      ({"period": Text("尖峰", "Critical peak"), "kwh": 12_000},
                       {"period": Text("峰", "Peak"), "kwh": 310_500}),
                      total={"kwh": 322_500}),))
