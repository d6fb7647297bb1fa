"""The monthly reports: the park's energy-and-carbon report and a key energy user's report.

Every figure comes from the services the API's routes use (lingtan.api.reports.accounts says
which), so a report's totals are the API's for the same period.
"""

import calendar
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from lingtan.accounting.activity import Activity, Heat, HeatFlow
from lingtan.accounting.emissions import emissions
from lingtan.accounting.energy import energy_use
from lingtan.accounting.enterprises import KEY_USER_SOURCE, KEY_USER_THRESHOLD_TCE
from lingtan.accounting.offline import enterprises_result
from lingtan.accounting.tou import shipped_calendar
from lingtan.api import carbon, enterprises, scorecard
from lingtan.api.reports import accounts, submissions
from lingtan.api.reports.accounts import NoData, Span, UnknownEnterprise
from lingtan.api.reports.labels import (
    CARRIERS,
    CO2_SOURCES,
    FLOWS,
    TOU,
    T,
    date_column,
    datetime_column,
    item_text,
    month_text,
    number_column,
    percent_column,
    text_column,
    unit_text,
)
from lingtan.api.reports.model import Chart, Report, Table, Text
from lingtan.kernel.park import Park

TOU_CALENDAR = "jiangsu"  # the shipped calendar (accounting/tou-jiangsu.yaml names its source)
STATUS_TEXT = {k: T(*v) for k, v in submissions.STATUS_TEXT.items()}
EXPORT_RULE_ZH = {"by_origin": "来源抵减规则", "literal": "化石能源电力因子抵减规则", "zero": "不抵减规则"}
ALLOCATION_ZH = {"pro_rata": "园区绿色电力按电量比例分摊"}
FLAGS_ZH = {"own_green_capped": "企业自有绿电超过其用电量，超出部分并入园区分摊",
            "enterprises_exceed_park": "企业分表读数之和超过园区边界表，未分摊部分为负"}
COMPLETE = 0.95  # below this measured share a report says its figures are low


def _incomplete_note(completeness: float) -> Text:
    return T(f"数据不完整：本期已计量 {completeness:.1%}，数字偏低。",
             f"Data incomplete: {completeness:.1%} of the period measured so far; the figures are low.")


def _tou_source(source) -> T:
    """The calendar's source title in both languages (the YAML's `title` is Chinese, `title_en` English)."""
    title = source["title"] if isinstance(source, dict) else source.title
    en = (source.get("title_en") if isinstance(source, dict) else source.title_en) or title
    return T(title, en)


def _target_note(core) -> T | None:
    """What the core indicator is judged against, in both languages (the core's own note is English)."""
    if core is None:
        return None
    if core.status == "not_applicable":
        return T("不适用：园区规模未达到该指标目标适用的门槛",
                 "not applicable: the park is below the size the target applies to")
    if core.target is not None:
        return T(f"≤ {core.target:g} tCO₂/tce", f"≤ {core.target:g} tCO₂/tce")
    return T(core.target_text, core.target_text) if core.target_text else None


def _tou_table(kwh: dict[str, float], note: Text) -> Table:
    """Electricity by tariff period (尖峰平谷) with shares: the park's or an enterprise's."""
    total = sum(kwh.values())
    return Table(
        key="tou", title=T("分时电量（尖峰平谷）", "Electricity by time of use"),
        columns=(text_column("period", "时段", "Period", 20), number_column("kwh", "电量", "Energy", "kWh", 1),
                 percent_column("share", "占比", "Share")),
        rows=tuple({"period": TOU[k], "kwh": v, "share": _share(v, total)} for k, v in kwh.items()),
        total={"period": T("合计", "Total"), "kwh": total}, note=note)


def _share(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def _status_note(due_day: int) -> Text:
    return T(f"重点用能单位月报应于次月{due_day}日（含）前报送（截止日由园区配置；"
             "该日期为假设值，状态U：扬州市方案要求"
             "重点用能单位按月度报送能耗碳排放数据，但未规定日期）；以首次报送时间判定按时或逾期。",
             f"A key energy user's monthly report is due by day {due_day} of the following month (reports.keu_due_day; "
             "an assumption, status U: the Yangzhou plan has key energy users report monthly but names no day); the "
             "first filing decides on time or late.")


def _common_notes(fig, span: Span, completeness: float) -> list[Text]:
    other = "" if fig.electricity_co2_other_rule_t is None else f"{fig.electricity_co2_other_rule_t:,.3f} t"
    notes = [T("核算方法：《零碳园区碳排放核算方法（试行）》（发改环资〔2025〕910号附件4），仅计CO₂，不含抵销。",
               "Method: annex 4 of NDRC notice 发改环资〔2025〕910号 (零碳园区碳排放核算方法（试行）); "
               "CO₂ only, no offsets."),
             T(f"上网电量按{EXPORT_RULE_ZH.get(fig.export_rule, fig.export_rule)}计（另一规则下电力排放 {other}）。",
               f"Exports valued by rule {fig.export_rule} (electricity CO₂ under the other rule: {other})."),
             T(f"电力折标：等价值（状态 {fig.equivalent_value_status}，按年设置）与当量值 0.1229 kgce/kWh。",
               f"Electricity in tce: 等价值 (equivalent value, status {fig.equivalent_value_status}, set per year) and "
               "当量值 (calorific value) 0.1229 kgce/kWh."),
             T(f"数据完整度 {completeness:.1%}：本期已计量的表计时间占比（截至报表生成时）。",
               f"Data completeness {completeness:.1%}: the measured share of the period's meter-time so far.")]
    if not span.closed:
        notes.append(_open_note(span))
    return notes


def _open_note(span: Span) -> Text:
    return T(f"本期尚未结束：数据截至 {span.through}。", f"The period is still open: figures through {span.through}.")


def _require_data(session: Session, park: Park, span: Span, period: str) -> None:
    if not accounts.has_data(session, park, span.first, span.through):
        raise NoData(f"period = {period!r}: park {park.id!r} has no metered energy from {span.first} to "
                          f"{span.through}")


def park_monthly(session: Session, park: Park, period: str, now: datetime, due_day: int) -> Report:
    span = accounts.month_span(period, park, now)
    _require_data(session, park, span, period)
    year = span.first.year
    factors = carbon.entered_factors(session, park, year)
    fig = carbon.period(session, park, "month", span.first, span.through, factors)
    completeness = accounts.measured_share(session, park, span.first, span.through, now)
    acct = accounts.month_account(session, park, span)
    rank = enterprises.ranking(session, park, span.first, span.through, "energy", compare=None)
    firms, _ = enterprises.account_of(session, park, span.first, span.through)
    ind = scorecard.evaluate(session, park, year, now)
    core = next((r for r in ind.results if r.id == "carbon_per_energy"), None)
    names = {x.id: x.name for x in park.enterprises}  # entered activity data may carry no name
    e = fig.electricity_kwh
    green = e.green_direct + e.onsite_renewable + e.certificates
    consumption = fig.energy_by_carrier.get("electricity", 0.0)

    facts = [
        (T("综合能源消费量（等价值）", "Energy use (equivalent value)"), fig.energy_tce, "tce"),
        (T("综合能源消费量（当量值）", "Energy use (calorific value)"), fig.energy_tce_calorific, "tce"),
        (T("二氧化碳排放量", "CO₂ emissions"), fig.co2_t, "tCO₂"),
        (T("单位能耗碳排放（本月）", "Carbon per energy (month)"), fig.intensity_t_per_tce, "tCO₂/tce"),
        (T("单位能耗碳排放（年初至今）", "Carbon per energy (year to date)"),
         core.value if core and not isinstance(core.value, bool) else None, "tCO₂/tce"),
        (T("单位能耗碳排放目标", "Carbon per energy target"), core.target if core else None, "tCO₂/tce"),
        (T("目标说明", "Target"), _target_note(core), None),
        (T("用电量", "Electricity consumed"), consumption, "kWh"),
        (T("绿色电力", "Green electricity"), green, "kWh"),
        (T("绿色电力占比", "Green electricity share"), _share(green, consumption), "%"),
        (T("数据完整度", "Data completeness"), completeness, "%"),
        (T("统计期", "Period"), T(f"{span.first} 至 {span.through}", f"{span.first} to {span.through}"), None),
    ]

    lines = acct.energy.lines
    energy = Table(
        key="energy", title=T("分品种能源消费", "Energy by carrier"),
        columns=(text_column("item", "能源品种", "Carrier", 28),
                 number_column("quantity", "实物量", "Quantity", None, 3), text_column("unit", "单位", "Unit", 8),
                 number_column("factor", "折标系数", "tce factor", "tce/单位", 7),
                 number_column("tce", "综合能耗（等价值）", "Energy (equivalent)", "tce", 3),
                 percent_column("share", "占比", "Share")),
        rows=tuple({"item": item_text(ln.item, acct.factors), "quantity": ln.quantity, "unit": unit_text(ln.unit),
                    "factor": ln.factor, "tce": ln.energy_tce, "share": _share(ln.energy_tce, fig.energy_tce)}
                   for ln in lines),
        total={"item": T("合计", "Total"), "tce": fig.energy_tce, "share": 1.0 if fig.energy_tce else None},
        note=T(f"电力按等价值折标；当量值合计 {fig.energy_tce_calorific:,.3f} tce。",
               "Electricity at equivalent value; at calorific value the total is "
               f"{fig.energy_tce_calorific:,.3f} tce."))
    flows = Table(
        key="electricity", title=T("电力平衡", "Electricity balance"),
        columns=(text_column("item", "项目", "Item", 30), number_column("kwh", "电量", "Energy", "kWh", 1)),
        rows=tuple({"item": FLOWS[k], "kwh": v} for k, v in e.model_dump().items()),
        note=T("绿色电力 = 绿电直连 + 自发自用可再生电力 + 绿证/绿电交易覆盖电量（附件4 电力排放为0的部分）。",
               "Green electricity = green direct supply + on-site renewable consumed + certificate-covered grid power "
               "(the electricity annex 4 counts at 0)."))
    by_source = fig.co2_by_source_t.model_dump()
    co2 = Table(
        key="co2", title=T("分来源二氧化碳排放", "CO₂ by source"),
        columns=(text_column("source", "排放来源", "Source", 26), number_column("co2", "排放量", "CO₂", "tCO₂", 3),
                 percent_column("share", "占比", "Share")),
        rows=tuple({"source": CO2_SOURCES[k], "co2": v, "share": _share(v, fig.co2_t)} for k, v in by_source.items()),
        total={"source": T("合计", "Total"), "co2": fig.co2_t, "share": 1.0 if fig.co2_t else None})
    cal = shipped_calendar(TOU_CALENDAR)
    tou = _tou_table(rank.park_tou_kwh, T(
        f"分时日历：{cal.name}（来源：{_tou_source(cal.source).zh}，状态 {cal.source.status}）；"
        "按园区边界电量的15分钟数据计。",
        f"Time-of-use calendar: {cal.name} (source: {_tou_source(cal.source).en}, status {cal.source.status}); "
        "from the 15-minute intervals of the park's boundary flows."))
    u = rank.unallocated
    ranking = Table(
        key="enterprises", title=T("企业能耗排名", "Enterprise ranking"),
        columns=(number_column("rank", "排名", "Rank", None, 0), text_column("id", "企业编号", "Id", 12),
                 text_column("name", "企业名称", "Enterprise", 24),
                 number_column("kwh", "用电量", "Electricity", "kWh", 1),
                 number_column("green", "绿色电力", "Green electricity", "kWh", 1),
                 number_column("tce", "综合能耗（等价值）", "Energy (equivalent)", "tce", 3),
                 number_column("tce_cal", "综合能耗（当量值）", "Energy (calorific)", "tce", 3),
                 number_column("co2", "碳排放", "CO₂", "tCO₂", 3),
                 number_column("per_va", "万元增加值能耗", "Energy per value added", "tce/万元", 4),
                 text_column("keu", "重点用能单位", "Key energy user", 10),
                 percent_column("completeness", "数据完整度", "Completeness")),
        rows=tuple({"rank": r.rank, "id": r.id, "name": r.name or names.get(r.id, ""), "kwh": r.electricity_kwh,
                    "green": r.green_electricity_kwh,
                    "tce": r.energy_tce, "tce_cal": r.energy_tce_calorific, "co2": r.co2_t,
                    "per_va": r.energy_tce_per_wan_yuan, "keu": T("是", "yes") if r.key_energy_user else T("否", "no"),
                    "completeness": r.completeness} for r in rank.enterprises)
        + ({"name": T("公共及未分摊（含损耗）", "Public use, losses, unallocated"), "kwh": u.electricity_kwh,
            "tce": u.energy_tce, "tce_cal": u.energy_tce_calorific, "co2": u.co2_t},),
        total={"name": T("园区合计", "Park total"), "kwh": consumption, "tce": rank.park_energy_tce,
               "co2": rank.park_co2_t},
        note=T("园区绿色电力按比例分摊：企业自有绿电直连与绿证先归属本企业；其余按电量分摊。"
               "企业合计加未分摊部分等于园区数。",
               f"The park's green electricity is allocated {rank.allocation_rule}: an enterprise's own direct "
               "contracts "
               "and certificates are attributed to it first, the rest shared by kWh. Enterprises plus the unallocated "
               "remainder equal the park."))
    key_users = accounts.key_users(session, park, span, submissions.filers(session, park, period))
    threshold = key_users[0].threshold_tce if key_users else KEY_USER_THRESHOLD_TCE
    month_tce = {f.id: f.energy_tce for f in firms.enterprises}
    filed = submissions.filings(session, park, [u.id for u in key_users], period, due_day, now)
    keu = Table(
        key="keu", title=T("重点用能单位月报报送情况", "Key energy users' reports"),
        columns=(text_column("id", "企业编号", "Id", 12), text_column("name", "企业名称", "Enterprise", 24),
                 text_column("basis", "认定依据", "Basis", 22),
                 number_column("annual", "近12个月综合能耗", "Energy, last 12 months", "tce", 1),
                 number_column("tce", "本月综合能耗（等价值）", "Month energy (equivalent)", "tce", 3),
                 date_column("due", "截止日期", "Due"), text_column("status", "报送状态", "Status", 10),
                 datetime_column("at", "报送时间", "Filed at"), text_column("by", "报送人", "Filed by", 18)),
        rows=tuple({"id": f.id, "name": f.name or names.get(f.id, ""),
                    "basis": T("申报认定", "declared") if f.declared else T(
                        f"近12个月能耗≥{f.threshold_tce:,.0f} tce", f"12 months ≥ {f.threshold_tce:,.0f} tce")
                    if f.over_threshold else T("已报送", "filed"),
                    "annual": f.annual_tce, "tce": month_tce.get(f.id), "due": s.due, "status": STATUS_TEXT[s.status],
                    "at": s.submitted_at.astimezone(park.zone) if s.submitted_at else None, "by": s.submitted_by}
                   for f, s in zip(key_users, filed, strict=True)),
        note=T(f"认定标准：{KEY_USER_SOURCE}，年综合能耗 {threshold:,.0f} 吨标准煤及以上（按截至本月的近12个月计），"
               "或经申报认定；已报送本月月报的企业一并列出。",
               f"Threshold: {KEY_USER_SOURCE}; at or above {threshold:,.0f} tce a year (the 12 months ending with "
               "the month), or declared; any enterprise that filed for the month is listed too."))
    trend_rows = []
    for m in range(1, span.first.month + 1):
        first = date(year, m, 1)
        last = span.through if m == span.first.month else (date(year, m + 1, 1) - timedelta(days=1))
        if not accounts.has_data(session, park, first, last):
            trend_rows.append({"month": first, "kwh": None, "tce": None, "co2": None, "intensity": None,
                               "completeness": None})
            continue
        p = carbon.period(session, park, f"{year}-{m:02d}", first, last, factors)
        trend_rows.append({"month": first, "kwh": p.energy_by_carrier.get("electricity"), "tce": p.energy_tce,
                           "co2": p.co2_t, "intensity": p.intensity_t_per_tce,
                           "completeness": accounts.measured_share(session, park, first, last, now)})
    trend = Table(
        key="trend", title=T(f"{year}年逐月趋势", f"Monthly trend {year}"),
        columns=(date_column("month", "月份", "Month", 10), number_column("kwh", "用电量", "Electricity", "kWh", 1),
                 number_column("tce", "综合能耗（等价值）", "Energy (equivalent)", "tce", 3),
                 number_column("co2", "碳排放", "CO₂", "tCO₂", 3),
                 number_column("intensity", "单位能耗碳排放", "Carbon per energy", "tCO₂/tce", 4),
                 percent_column("completeness", "数据完整度", "Completeness")),
        rows=tuple(trend_rows),
        note=T(f"无数据的月份留空，不计为零；数据完整度低于{COMPLETE:.0%}的月份数字偏低，图中不画。",
               f"Months without data are left empty, never zero; a month below {COMPLETE:.0%} complete reads low "
               "and is not drawn in the charts."))
    months = tuple(T(f"{r['month'].month}月", r["month"].strftime("%b")) for r in trend_rows)

    def drawn(key: str) -> tuple[float | None, ...]:  # a month measured only in part is no fact to draw
        return tuple(r[key] if (r["completeness"] or 0.0) >= COMPLETE else None for r in trend_rows)
    charts = (
        Chart("trend", T(f"{year}年逐月碳排放", f"Monthly CO₂, {year}"), "line", months,
              ((T("碳排放", "CO₂"), drawn("co2")),), "tCO₂"),
        Chart("trend-energy", T(f"{year}年逐月综合能耗（等价值）", f"Monthly energy use (equivalent), {year}"), "line",
              months, ((T("综合能耗", "Energy"), drawn("tce")),), "tce"),
        Chart("co2", T("分来源碳排放", "CO₂ by source"), "bar", tuple(CO2_SOURCES[k] for k in by_source),
              ((T("碳排放", "CO₂"), tuple(by_source.values())),), "tCO₂"),
        Chart("enterprises", T("企业能耗排名", "Enterprises by energy use"), "hbar",
              tuple(r.name or names.get(r.id, r.id) for r in rank.enterprises) + (T("公共及未分摊", "Unallocated"),),
              ((T("综合能耗", "Energy"), tuple(r.energy_tce for r in rank.enterprises) + (u.energy_tce,)),), "tce"),
    )
    notes = ([_incomplete_note(completeness)] if completeness < COMPLETE else []) + _common_notes(
        fig, span, completeness) + [
        T(f"企业分摊规则：{ALLOCATION_ZH.get(rank.allocation_rule, rank.allocation_rule)}；"
          f"提示：{'；'.join(FLAGS_ZH.get(f, f) for f in rank.flags) or '无'}。",
          f"Enterprise allocation rule: {rank.allocation_rule}; flags: {', '.join(rank.flags) or 'none'}."),
        _status_note(due_day)]
    return Report(kind="park-monthly", title=T("园区能源与碳排放月报", "Park energy and carbon monthly report"),
                  park_id=park.id, park_name=park.name, period=month_text(span.first),
                  generated_at=now.astimezone(park.zone), facts=tuple(facts),
                  tables=(energy, flows, co2, tou, ranking, keu, trend), charts=charts, notes=tuple(notes),
                  warning=_incomplete_note(completeness) if completeness < COMPLETE else None)


# -- a key energy user's month -------------------------------------------------------------------
def _enterprise_row(session: Session, park: Park, eid: str, first: date, last: date) -> dict | None:
    """The enterprise's figures over local days [first, last] as /enterprises/{id}/figures gives them;
    None when no meter has data in the span (missing, never zero)."""
    if not accounts.has_data(session, park, first, last):
        return None
    acct, _ = enterprises.account_of(session, park, first, last)
    return enterprises_result(acct)["by_id"].get(eid)


def keu_monthly(session: Session, park: Park, enterprise_id: str, period: str, now: datetime, due_day: int) -> Report:
    names = {e.id: e.name for e in park.enterprises}
    if enterprise_id not in names:
        raise UnknownEnterprise(f"enterprise_id = {enterprise_id!r}: no enterprise of park {park.id!r}")
    span = accounts.month_span(period, park, now)
    _require_data(session, park, span, period)
    out = enterprises.figures(session, park, enterprise_id, span.first, span.through, TOU_CALENDAR)
    f = out.figures
    factors = accounts.factors_of(session, park, span.first.year, span.through)
    ytd = _enterprise_row(session, park, enterprise_id, date(span.first.year, 1, 1), span.through)
    ly_first = date(span.first.year - 1, span.first.month, 1)
    ly_last = date(ly_first.year, ly_first.month, calendar.monthrange(ly_first.year, ly_first.month)[1])
    last_year = _enterprise_row(session, park, enterprise_id, ly_first, ly_last)
    filing = submissions.filings(session, park, [enterprise_id], period, due_day, now)[0]

    # its carriers through the core's own energy and emission lines, with the park's factors
    sub = Activity(park=park.id, year=span.first.year, timezone=park.timezone,
                   period={"start": span.first, "through": span.through}, fuels=f["fuels"],
                   heat=Heat(imports=[HeatFlow(gj=f["heat_gj"])] if f["heat_gj"] else []))
    energy = energy_use(sub, factors)
    co2_lines = {ln.item: ln.co2_t for ln in emissions(sub, factors).lines}
    rows = [{"item": CARRIERS["electricity"], "quantity": f["electricity_kwh"], "unit": "kWh",
             "tce": f["electricity_tce"], "tce_cal": f["electricity_calorific_tce"], "co2": f["electricity_co2_t"]}]
    for ln in energy.lines:
        if ln.item.startswith("electricity"):
            continue
        rows.append({"item": item_text(ln.item, factors), "quantity": ln.quantity, "unit": unit_text(ln.unit),
                     "tce": ln.energy_tce,
                     "tce_cal": ln.energy_tce, "co2": co2_lines.get(ln.item)})
    carriers = Table(
        key="energy", title=T("分品种能源消费与碳排放", "Energy and CO₂ by carrier"),
        columns=(text_column("item", "能源品种", "Carrier", 24),
                 number_column("quantity", "实物量", "Quantity", None, 3),
                 text_column("unit", "单位", "Unit", 8),
                 number_column("tce", "综合能耗（等价值）", "Energy (equivalent)", "tce", 3),
                 number_column("tce_cal", "综合能耗（当量值）", "Energy (calorific)", "tce", 3),
                 number_column("co2", "碳排放", "CO₂", "tCO₂", 3)),
        rows=tuple(rows),
        total={"item": T("合计", "Total"), "tce": f["energy_tce"], "tce_cal": f["energy_calorific_tce"],
               "co2": f["total_co2_t"]},
        note=T("电力排放按园区绿色电力按比例分摊后计（企业自有绿电直连与绿证先归属本企业）。",
               "Electricity CO₂ after the pro-rata allocation of the park's green electricity (own direct contracts "
               "and certificates attributed first)."))
    el = f["electricity"]
    green = Table(
        key="green", title=T("电力构成", "Electricity by how it counts"),
        columns=(text_column("item", "项目", "Item", 30), number_column("kwh", "电量", "Energy", "kWh", 1),
                 percent_column("share", "占比", "Share")),
        rows=tuple({"item": label, "kwh": el[k], "share": _share(el[k], f["electricity_kwh"])} for k, label in (
            ("own_direct_kwh", T("自有绿电直连", "Own direct green contract")),
            ("own_certificate_kwh", T("自有绿证", "Own certificates")),
            ("pooled_green_kwh", T("分摊的园区绿色电力", "Share of the park's green electricity")),
            ("other_kwh", T("其他电力", "Other electricity")))),
        total={"item": T("合计", "Total"), "kwh": f["electricity_kwh"]})
    name, source = out.tou_calendar["name"], _tou_source(out.tou_calendar)
    tou = _tou_table(out.tou_kwh, T(f"分时日历：{name}（来源：{source.zh}）。",
                                    f"Time-of-use calendar: {name} (source: {source.en})."))

    def cmp_row(label: Text, r: dict | None) -> dict:
        if r is None:
            return {"period": label}
        return {"period": label, "kwh": r["electricity_kwh"], "tce": r["energy_tce"],
                "tce_cal": r["energy_calorific_tce"],
                "co2": r["total_co2_t"], "per_va": r["energy_tce_per_wan_yuan"], "co2_va": r["co2_t_per_wan_yuan"],
                "completeness": r["completeness"]}
    compare = Table(
        key="compare", title=T("同比与年初至今", "Year to date, last year"),
        columns=(text_column("period", "期间", "Period", 22), number_column("kwh", "用电量", "Electricity", "kWh", 1),
                 number_column("tce", "综合能耗（等价值）", "Energy (equivalent)", "tce", 3),
                 number_column("tce_cal", "综合能耗（当量值）", "Energy (calorific)", "tce", 3),
                 number_column("co2", "碳排放", "CO₂", "tCO₂", 3),
                 number_column("per_va", "万元增加值能耗", "Energy per value added", "tce/万元", 4),
                 number_column("co2_va", "万元增加值碳排放", "CO₂ per value added", "tCO₂/万元", 4),
                 percent_column("completeness", "数据完整度", "Completeness")),
        rows=(cmp_row(month_text(span.first), f), cmp_row(T("年初至今", "Year to date"), ytd),
              cmp_row(T(f"上年同期（{ly_first.year}年{ly_first.month}月）", f"Same month last year ({ly_first:%B %Y})"),
                      last_year)),
        note=T("无数据的期间留空，不计为零。", "A period without data is left empty, never zero."))
    tables = [carriers, green, tou, compare]
    if f["per_output"]:
        tables.append(Table(
            key="output", title=T("单位产品能耗与碳排放", "Per unit of product"),
            columns=(text_column("product", "产品", "Product", 18),
                     number_column("quantity", "产量", "Output", None, 2),
                     text_column("unit", "单位", "Unit", 10),
                     number_column("tce", "单位产品综合能耗", "Energy per unit", "tce/单位", 6),
                     number_column("co2", "单位产品碳排放", "CO₂ per unit", "tCO₂/单位", 6)),
            rows=tuple({"product": o["product"], "quantity": o["quantity"], "unit": o["unit"],
                        "tce": o["energy_tce_per_unit"], "co2": o["co2_t_per_unit"]}
                       for o in f["per_output"].values())))
    ku = f["key_user"]
    facts = (
        (T("企业", "Enterprise"),
         T(f"{names[enterprise_id]}（{enterprise_id}）", f"{names[enterprise_id]} ({enterprise_id})"), None),
        (T("重点用能单位", "Key energy user"), T("是", "yes") if ku["key_energy_user"] else T("否", "no"), None),
        (T("年化综合能耗", "Annualised energy use"), ku["annual_tce"], "tce"),
        (T("综合能源消费量（等价值）", "Energy use (equivalent value)"), f["energy_tce"], "tce"),
        (T("综合能源消费量（当量值）", "Energy use (calorific value)"), f["energy_calorific_tce"], "tce"),
        (T("二氧化碳排放量", "CO₂ emissions"), f["total_co2_t"], "tCO₂"),
        (T("用电量", "Electricity"), f["electricity_kwh"], "kWh"),
        (T("万元工业增加值能耗", "Energy per 10,000 yuan value added"), f["energy_tce_per_wan_yuan"], "tce/万元"),
        (T("万元工业增加值碳排放", "CO₂ per 10,000 yuan value added"), f["co2_t_per_wan_yuan"], "tCO₂/万元"),
        (T("数据完整度", "Data completeness"), f["completeness"], "%"),
        (T("报送截止日期", "Due"), filing.due, None),
        (T("报送状态", "Report status"), STATUS_TEXT[filing.status], None),
        (T("报送时间", "Filed at"), filing.submitted_at.astimezone(park.zone) if filing.submitted_at else None, None),
        (T("报送人", "Filed by"), filing.submitted_by, None),
    )
    notes = [T("核算方法同园区（附件4）；增加值与产量按期间天数折算全年填报值。",
               "Same method as the park (annex 4); the year's entered value added and output are taken pro rata "
               "by days."),
             T(f"认定标准：{KEY_USER_SOURCE}。", f"Key energy user threshold: {KEY_USER_SOURCE}."),
             _status_note(due_day)]
    if not span.closed:
        notes.append(_open_note(span))
    title = T("重点用能单位能源与碳排放月报", "Key energy user's monthly energy and carbon report")
    return Report(kind="keu-monthly", title=title,
                  park_id=park.id, park_name=park.name, period=month_text(span.first),
                  generated_at=now.astimezone(park.zone), facts=facts, tables=tuple(tables), notes=tuple(notes))
