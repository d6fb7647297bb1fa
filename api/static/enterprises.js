// The park's enterprises: a ranking (#/enterprises[/<day|month|year>/<date>]) by energy, CO₂,
// intensity and year-on-year change from /parks/{id}/enterprise-ranking, with the unallocated
// remainder (public use and losses) always shown; and one enterprise's page (#/enterprise/<id>):
// its load curve today, its monthly trend this year against last year, and its indicators from
// /parks/{id}/enterprises/{id}/figures (energy by carrier, tce 等价值/当量值, CO₂, intensity, per
// 10,000 yuan of value added, completeness, the time-of-use split). Uses LT.period (history.js).
// An enterprise's own user (LT.enterprises(), docs/dashboard.md) sees only its enterprise's page,
// with its monthly report to download; another enterprise is "not found or not allowed".
"use strict";
(() => {
  const LT = window.LT;
  if (!LT || !LT.views || !LT.period) return;
  const t = LT.t, num = (v, d) => LT.fmt.num(v, d), P = LT.period;
  const unit = (u) => LT.fmt.unit(u);

  LT.i18n.add({
    zh: {
      "view.enterprises": "企业排名", "view.enterprise": "企业详情",
      "ent.title": "园区企业能耗与碳排放排名", "ent.rank": "排名", "ent.name": "企业",
      "ent.electricity": "用电量", "ent.energy": "综合能耗", "ent.energy_eq": "综合能耗（等价值）",
      "ent.energy_cal": "综合能耗（当量值）", "ent.co2": "碳排放", "ent.intensity": "单位能耗碳排放",
      "ent.per_va": "万元增加值能耗", "ent.co2_per_va": "万元增加值碳排放", "ent.energy_yoy": "能耗同比",
      "ent.co2_yoy": "碳排放同比", "ent.key_user": "重点用能单位", "ent.complete": "数据完整度",
      "ent.yes": "是", "ent.no": "否", "ent.unallocated": "公共用能及损耗（未分摊）",
      "ent.unallocated_note": "园区边界计量值减去各企业分表之和：公共设施用能、线损及未分表计量的用能，单列显示，不分摊、不隐藏。",
      "ent.park_total": "园区合计", "ent.compare": "对比", "ent.previous_year": "同比上年",
      "ent.base_year": "对比基准年（{year}年）", "ent.compared_with": "对比期：{first} 至 {last}",
      "ent.chart_by": "按{metric}排名", "ent.open": "查看企业详情", "ent.sort": "点击表头排序",
      "ent.rule": "电力碳排放按园区绿电比例分摊（企业自有绿电直连与绿证先归属本企业）。",
      "ent.back": "← 企业排名", "ent.industry": "行业", "ent.curve": "今日负荷曲线", "ent.load_kw": "负荷",
      "ent.curve_note": "每 15 分钟的平均功率（kWh ÷ 已计量时长）。",
      "ent.trend": "月度用电趋势", "ent.by_carrier": "分品种能源消费", "ent.carrier": "能源品种",
      "ent.quantity": "消费量", "ent.co2_sources": "碳排放构成", "ent.co2_electricity": "电力",
      "ent.co2_fuels": "化石燃料", "ent.co2_heat": "热力", "ent.green": "其中绿电 {kwh} kWh（{pct}）",
      "ent.tou": "分时电量（尖峰平谷）", "ent.park_tou": "园区分时用电量（尖峰平谷）", "ent.tou_source": "分时电价时段：{name}（来源：{title}，状态 {status}）",
      "ent.tou.sharp": "尖峰", "ent.tou.peak": "高峰", "ent.tou.flat": "平段", "ent.tou.valley": "低谷",
      "ent.tou.outside": "日历未覆盖", "ent.share": "占比", "ent.then": "{year}年同期", "ent.change": "变化",
      "ent.indicators": "主要指标", "ent.indicator": "指标", "ent.value": "本期",
      "ent.key_declared": "已申报为重点用能单位", "ent.key_threshold": "年化能耗 {annual} tce，门槛 {threshold} tce（{source}）",
      "ent.per_output": "单位产品能耗（{product}）", "ent.none": "本期没有计量数据", "ent.unknown": "园区没有这家企业：{id}",
      "ent.basis.calorific": "当量值", "ent.basis.equivalent": "等价值",
      "ent.not_allowed": "找不到企业“{id}”，或您的账号无权查看它。",
      "ent.reports": "本企业月度能耗与碳排放报告", "ent.report_month": "报告期",
      "ent.report_note": "重点用能单位月度报告的格式（XLSX 或 PDF），按所选月份生成。",
    },
    en: {
      "view.enterprises": "Enterprises", "view.enterprise": "Enterprise",
      "ent.title": "Enterprises by energy and emissions", "ent.rank": "#", "ent.name": "Enterprise",
      "ent.electricity": "Electricity", "ent.energy": "Energy", "ent.energy_eq": "Energy (equivalent value)",
      "ent.energy_cal": "Energy (calorific value)", "ent.co2": "CO₂", "ent.intensity": "Carbon per energy",
      "ent.per_va": "Energy per 10,000 yuan value added", "ent.co2_per_va": "CO₂ per 10,000 yuan value added",
      "ent.energy_yoy": "Energy YoY", "ent.co2_yoy": "CO₂ YoY", "ent.key_user": "Key energy user",
      "ent.complete": "Completeness", "ent.yes": "Yes", "ent.no": "No",
      "ent.unallocated": "Public use and losses (unallocated)",
      "ent.unallocated_note": "The park boundary's meters minus the sum of the enterprises' sub-meters: public facilities, line losses and use no sub-meter sees, shown on its own line, never allocated or hidden.",
      "ent.park_total": "Park total", "ent.compare": "Compare", "ent.previous_year": "with last year",
      "ent.base_year": "with the base year ({year})", "ent.compared_with": "compared with {first} to {last}",
      "ent.chart_by": "by {metric}", "ent.open": "Open the enterprise's page", "ent.sort": "click a header to sort",
      "ent.rule": "Electricity emissions are shared by the park's green share (an enterprise's own green contracts and certificates count for it first).",
      "ent.back": "← Enterprises", "ent.industry": "Industry", "ent.curve": "Load today", "ent.load_kw": "Load",
      "ent.curve_note": "Mean power per 15 minutes (kWh ÷ measured time).",
      "ent.trend": "Monthly electricity", "ent.by_carrier": "Energy by carrier", "ent.carrier": "Carrier",
      "ent.quantity": "Quantity", "ent.co2_sources": "Emissions by source", "ent.co2_electricity": "Electricity",
      "ent.co2_fuels": "Fossil fuels", "ent.co2_heat": "Heat", "ent.green": "of which green {kwh} kWh ({pct})",
      "ent.tou": "Electricity by time of use", "ent.park_tou": "The park's electricity by time of use", "ent.tou_source": "Tariff periods: {name} (source: {title}, status {status})",
      "ent.tou.sharp": "Critical peak", "ent.tou.peak": "Peak", "ent.tou.flat": "Flat", "ent.tou.valley": "Valley",
      "ent.tou.outside": "Outside the calendar", "ent.share": "Share", "ent.then": "{year} same period", "ent.change": "Change",
      "ent.indicators": "Indicators", "ent.indicator": "Indicator", "ent.value": "This period",
      "ent.key_declared": "declared a key energy user", "ent.key_threshold": "annualised {annual} tce, threshold {threshold} tce ({source})",
      "ent.per_output": "Energy per unit of product ({product})", "ent.none": "Nothing measured in this period",
      "ent.unknown": "The park has no enterprise {id}",
      "ent.basis.calorific": "calorific value", "ent.basis.equivalent": "equivalent value",
      "ent.not_allowed": "No enterprise \u201c{id}\u201d, or your account may not see it.",
      "ent.reports": "This enterprise's monthly energy and carbon report", "ent.report_month": "Period",
      "ent.report_note": "In the key energy users' monthly report format (XLSX or PDF), for the month chosen.",
    },
  });

  if (!document.getElementById("lt-enterprises-css")) {
    const style = document.createElement("style");
    style.id = "lt-enterprises-css";
    style.textContent = `
      .ent #e-table th, .ent #e-table th.num, .ent #e-carriers th, .ent #e-indicators th { white-space: normal; vertical-align: bottom; }  /* long English headers wrap, no column clipped */
      .ent #e-table th button { text-align: inherit; }
      .ent #e-carriers td:first-child { white-space: nowrap; }
      .ent #e-carriers .sub { display: block; white-space: normal; }
      .ent .lt-table th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
      .ent .lt-table th.sorted button::after { content: " ▼"; font-size: 0.75em; }
      .ent .lt-table th.sorted.asc button::after { content: " ▲"; }
      .ent .lt-table tr.unallocated td { background: #f8f9fa; font-style: italic; }
      .ent .lt-table tfoot td { font-weight: 600; border-top: 2px solid var(--line, #dde3ea); }
      .ent .badge { display: inline-block; padding: 0 7px; border-radius: 9px; background: #fff3bf; color: #8a5a00; font-size: 0.8em; margin-left: 6px; white-space: nowrap; }
      .ent .lt-picker select { font: inherit; padding: 4px 8px; border: 1px solid var(--line, #dde3ea); border-radius: 4px; }
      .ent .chart.bars { height: 300px; } .ent .chart { height: 260px; }
      .ent a.lt-name { color: var(--blue, #1c7ed6); text-decoration: none; } .ent a.lt-name:hover { text-decoration: underline; }
      .ent .head h2 { margin: 0 0 4px; font-size: 1.2rem; } .ent .head p { margin: 0; }
      .ent a.lt-file { display: inline-block; margin-left: 8px; padding: 2px 10px; border: 1px solid #2b8a3e;
        border-radius: 4px; color: #2b8a3e; text-decoration: none; font-size: .9rem; }`;
    document.head.append(style);
  }

  const el = (...a) => LT.el(...a);
  const change = (ratio) => el("span", { class: `lt-yoy ${LT.fmt.changeClass(ratio)}`, text: LT.fmt.change(ratio) });
  const perTce = (co2, tce) => (tce > 0 ? co2 / tce : null);
  const parkId = () => encodeURIComponent(LT.park().id);
  // the local days of the chosen period, cut at today (the ranking and figures take one calendar year)
  function daysOf(state) {
    const s = P.span(state.mode, state.anchor), today = P.today();
    return { first: s.first, last: s.last > today ? today : s.last };
  }
  function basisPicker(view) {
    const park = LT.park();
    const select = el("select", { class: "lt-basis", "aria-label": t("ent.compare") },
      el("option", { value: "previous_year", text: t("ent.previous_year") }));
    if (park.base_year) select.append(el("option", { value: "base_year", text: t("ent.base_year", { year: park.base_year }) }));
    select.value = view.basis;
    select.onchange = () => view.go(view.state, select.value);
    return el("label", {}, `${t("ent.compare")} `, select);
  }

  // -- the ranking ---------------------------------------------------------------------------
  const COLUMNS = [  // key, title, unit, digits, value(row)
    { key: "electricity_kwh", title: "ent.electricity", unit: "kWh", digits: 0, value: (r) => r.electricity_kwh },
    { key: "energy_tce", title: "ent.energy", unit: "tce", digits: 2, value: (r) => r.energy_tce },
    { key: "co2_t", title: "ent.co2", unit: "tCO2", digits: 2, value: (r) => r.co2_t },
    { key: "co2_t_per_tce", title: "ent.intensity", unit: "tCO2/tce", digits: 2, value: (r) => r.co2_t_per_tce },
    { key: "energy_tce_per_wan_yuan", title: "ent.per_va", unit: "tce/万元", digits: 3, value: (r) => r.energy_tce_per_wan_yuan },
    { key: "energy_change", title: "ent.energy_yoy", change: true, value: (r) => (r.previous ? r.previous.energy_change : null) },
    { key: "co2_change", title: "ent.co2_yoy", change: true, value: (r) => (r.previous ? r.previous.co2_change : null) },
  ];
  const CHARTED = ["energy_tce", "co2_t", "co2_t_per_tce", "energy_change"];
  // "tce/万元" (per 10,000 yuan), "tCO₂/万元"; in English "per 10⁴ yuan"
  const unitLabel = (u) => (u.endsWith("/万元") ? `${unit(u.slice(0, -3))}/${LT.lang() === "en" ? "10⁴ yuan" : "万元"}` : unit(u));

  // electricity by tariff period (尖峰平谷) as bars with shares: the park's on the ranking, an enterprise's on its page
  function drawTou(node, kwh) {
    const total = TOU.reduce((a, k) => a + (kwh[k] || 0), 0);
    const keys = TOU.filter((k) => k !== "outside" || kwh[k]);
    const chart = LT.charts.init(node);
    chart.setOption({
      tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${num(p.value, 0)} kWh (${LT.fmt.pct(total ? p.value / total : null, 1)})` },
      grid: { left: 8, right: 12, top: 36, bottom: 4, containLabel: true },
      xAxis: { type: "category", data: keys.map((k) => t(`ent.tou.${k}`)) },
      yAxis: { type: "value", name: "kWh", axisLabel: { formatter: (v) => num(v, 0) } },
      series: [{ type: "bar", data: keys.map((k) => ({ value: kwh[k] || 0, name: t(`ent.tou.${k}`), itemStyle: { color: TOU_COLORS[k] } })),
        label: { show: true, position: "top", formatter: (p) => `${num(p.value, 0)} kWh\n${LT.fmt.pct(total ? p.value / total : null, 1)}` } }],
    });
  }

  const ranking = {
    title: "view.enterprises",
    async mount(root, arg) {
      this.root = root;
      this.state = P.parseArg(arg, "month");
      this.basis = "previous_year";
      this.sort = { key: "energy_tce", desc: true };
      this.onLang = () => { LT.ready = false; this.render(); LT.ready = true; };
      LT.on("lang", this.onLang);
      await this.load();
    },
    unmount() { LT.off("lang", this.onLang); },
    async go(state, basis = this.basis) {
      LT.ready = false;
      this.state = state; this.basis = basis;
      window.history.replaceState(null, "", `#/enterprises/${state.mode}/${state.anchor}`);
      try { await this.load(); } catch (e) { console.error(e); LT.showError(this.root, e); }
      LT.ready = true;
    },
    async load() {
      const { first, last } = daysOf(this.state);
      this.data = await LT.api(`/parks/${parkId()}/enterprise-ranking`, { params: { first, last, compare: this.basis } });
      this.render();
    },
    rows() {
      const { key, desc } = this.sort, col = COLUMNS.find((c) => c.key === key);
      const rows = this.data.enterprises.slice();
      rows.sort((a, b) => {
        const x = col.value(a), y = col.value(b);
        if (x === null || x === undefined) return 1;  // no value last, either way
        if (y === null || y === undefined) return -1;
        return desc ? y - x : x - y;
      });
      return rows;
    },
    render() {
      const d = this.data, root = this.root;
      const head = P.picker(this.state, (st) => this.go(st));
      head.append(basisPicker(this), el("span", { class: "lt-period", id: "e-period", text: P.title(this.state.mode, this.state.anchor) }));
      const cmp = d.compare;
      const kpis = el("div", { class: "lt-kpis" },
        kpi(t("ent.energy_eq"), num(d.park_energy_tce, 2), "tce", cmp.energy_change, cmp.year, num(cmp.park_energy_tce, 2)),
        kpi(t("ent.co2"), num(d.park_co2_t, 2), "tCO2", cmp.co2_change, cmp.year, num(cmp.park_co2_t, 2)),
        kpi(t("ent.intensity"), num(perTce(d.park_co2_t, d.park_energy_tce), 2), "tCO2/tce",
          LT.fmt.ratioChange(perTce(d.park_co2_t, d.park_energy_tce), perTce(cmp.park_co2_t, cmp.park_energy_tce)), cmp.year,
          num(perTce(cmp.park_co2_t, cmp.park_energy_tce), 2)),
        kpi(t("ent.unallocated"), num(d.unallocated.energy_tce, 2), "tce", d.unallocated.previous && d.unallocated.previous.energy_change,
          cmp.year, d.unallocated.previous ? num(d.unallocated.previous.energy_tce, 2) : undefined));
      const chartEl = el("div", { class: "chart bars", id: "e-bars" });
      const table = el("table", { class: "lt-table", id: "e-table" });
      const touEl = el("div", { class: "chart" });
      root.replaceChildren(el("div", { class: "ent" }, head, kpis,
        el("div", { class: "lt-card wide" }, el("h2", {}, el("span", { text: t("ent.title") }),
          el("span", { class: "muted", text: t("ent.compared_with", { first: LT.fmt.date(cmp.first, "day"), last: LT.fmt.date(cmp.last, "day") }) })),
        chartEl, el("div", { class: "lt-table-wrap" }, table),
        el("p", { class: "note", text: `${t("ent.unallocated_note")} ${t("ent.rule")} ${t("ent.sort")}` })),
        d.park_tou_kwh ? el("div", { class: "lt-card wide", id: "e-park-tou" },
          el("h2", {}, el("span", { text: `${t("ent.park_tou")} · kWh` })), touEl) : null));
      this.table(table);
      this.chart(chartEl);
      if (d.park_tou_kwh) drawTou(touEl, d.park_tou_kwh);
    },
    table(table) {
      const d = this.data, rows = this.rows();
      const th = (col) => {
        const b = el("button", { type: "button", "data-sort": col.key, text: col.unit ? `${t(col.title)} ${unitLabel(col.unit)}` : t(col.title) });
        b.onclick = () => {
          this.sort = { key: col.key, desc: this.sort.key === col.key ? !this.sort.desc : true };
          LT.ready = false; this.render(); LT.ready = true;
        };
        const sorted = this.sort.key === col.key;
        return el("th", { class: `num${sorted ? ` sorted${this.sort.desc ? "" : " asc"}` : ""}` }, b);
      };
      const cell = (col, r) => (col.change ? el("td", { class: "num" }, change(col.value(r))) : el("td", { class: "num", text: num(col.value(r), col.digits) }));
      table.append(el("thead", {}, el("tr", {}, el("th", { class: "num", text: t("ent.rank") }), el("th", { text: t("ent.name") }),
        ...COLUMNS.map(th), el("th", { text: t("ent.key_user") }), el("th", { class: "num", text: t("ent.complete") }))));
      const body = el("tbody");
      rows.forEach((r, i) => {
        const link = el("a", { href: `#/enterprise/${encodeURIComponent(r.id)}`, class: "lt-name", title: t("ent.open"), text: r.name });
        body.append(el("tr", { "data-id": r.id }, el("td", { class: "num", text: String(i + 1) }), el("td", {}, link),
          ...COLUMNS.map((c) => cell(c, r)),
          el("td", {}, r.key_energy_user ? el("span", { class: "badge", text: t("ent.key_user") }) : t("ent.no")),
          el("td", { class: "num", text: LT.fmt.pct(r.completeness, 0) })));
      });
      const u = { ...d.unallocated, co2_t_per_tce: perTce(d.unallocated.co2_t, d.unallocated.energy_tce), energy_tce_per_wan_yuan: null };
      body.append(el("tr", { class: "unallocated", "data-id": "unallocated" }, el("td", { class: "num", text: "" }),
        el("td", { text: t("ent.unallocated") }), ...COLUMNS.map((c) => cell(c, u)), el("td", { text: "" }), el("td", { text: "" })));
      const total = { electricity_kwh: d.enterprises.reduce((a, r) => a + r.electricity_kwh, d.unallocated.electricity_kwh),
        energy_tce: d.park_energy_tce, co2_t: d.park_co2_t, co2_t_per_tce: perTce(d.park_co2_t, d.park_energy_tce),
        energy_tce_per_wan_yuan: null, previous: { energy_change: d.compare.energy_change, co2_change: d.compare.co2_change } };
      table.append(body, el("tfoot", {}, el("tr", {}, el("td", { text: "" }), el("td", { text: t("ent.park_total") }),
        ...COLUMNS.map((c) => cell(c, total)), el("td", { text: "" }), el("td", { text: "" }))));
    },
    chart(node) {
      const d = this.data, key = CHARTED.includes(this.sort.key) ? this.sort.key : "energy_tce";
      const col = COLUMNS.find((c) => c.key === key);
      const rows = this.rows().filter((r) => col.value(r) !== null && col.value(r) !== undefined);
      const u = { id: "unallocated", name: t("ent.unallocated"), energy_tce: d.unallocated.energy_tce, co2_t: d.unallocated.co2_t,
        co2_t_per_tce: perTce(d.unallocated.co2_t, d.unallocated.energy_tce), previous: d.unallocated.previous };
      const all = [...rows, u].reverse();  // largest at the top
      const chart = LT.charts.init(node);
      const fmt = (v) => (col.change ? LT.fmt.change(v) : `${num(v, col.digits)} ${unitLabel(col.unit)}`);
      chart.setOption({
        title: { text: t("ent.chart_by", { metric: t(col.title) }), left: 0, textStyle: { fontSize: 13, fontWeight: "normal" } },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: fmt },
        grid: { left: 8, right: 80, top: 30, bottom: 4, containLabel: true },
        xAxis: { type: "value", axisLabel: { formatter: (v) => (col.change ? LT.fmt.pct(v, 0) : num(v, Number.isInteger(v) ? 0 : 1)) } },
        yAxis: { type: "category", data: all.map((r) => r.name),
          axisLabel: { width: Math.max(90, Math.min(220, node.clientWidth * 0.3)), overflow: "truncate" } },
        series: [{ type: "bar", name: t(col.title), data: all.map((r) => ({ value: col.value(r), id: r.id,
          itemStyle: { color: r.id === "unallocated" ? "#adb5bd" : LT.charts.colors[key === "co2_t" ? 2 : 0] } })),
        label: { show: true, position: "right", formatter: (p) => fmt(p.value) } }],
      });
      chart.on("click", (p) => { if (p.data && p.data.id && p.data.id !== "unallocated") LT.views.go("enterprise", p.data.id); });
    },
  };

  // a figure, and its change against the compared year (none without a year)
  function kpi(label, value, u, ratio, year, then) {
    const before = then === undefined || then === null ? "" : ` ${then}`;
    return el("div", { class: "lt-kpi" }, el("span", { class: "label", text: label }), el("span", { class: "value", text: value }),
      el("span", { class: "unit", text: unitLabel(u) }),
      year ? el("span", { class: "sub" }, `${t("ent.then", { year })}${before} · ${t("ent.change")} `, change(ratio)) : null);
  }
  LT.fmt.ratioChange = (now, then) => (typeof now === "number" && typeof then === "number" && then ? now / then - 1 : null);

  // -- one enterprise ------------------------------------------------------------------------
  const FUELS = { natural_gas_m3: ["natural_gas", "m3"], diesel_t: ["diesel", "t"], gasoline_t: ["gasoline", "t"],
    lpg_t: ["lpg", "t"], raw_coal_t: ["raw_coal", "t"] };
  const TOU = ["sharp", "peak", "flat", "valley", "outside"];
  const TOU_COLORS = { sharp: "#c92a2a", peak: "#e8590c", flat: "#1c7ed6", valley: "#2b8a3e", outside: "#adb5bd" };

  const enterprise = {
    title: "view.enterprise",
    nav: false,
    async mount(root, arg) {
      this.root = root;
      this.id = arg;
      this.state = { mode: "month", anchor: P.today() };
      this.onLang = () => { LT.ready = false; this.render(); LT.ready = true; };
      LT.on("lang", this.onLang);
      this.info = (LT.park().enterprises || []).find((e) => e.id === arg);
      // an enterprise session's park lists only its own enterprises: any other is not found or not allowed, alike
      const missing = LT.enterprises && LT.enterprises() ? "ent.not_allowed" : "ent.unknown";
      if (!this.info) { root.replaceChildren(el("p", { class: "bad", id: "e-unknown", text: t(missing, { id: arg || "" }) })); return; }
      await this.load();
    },
    unmount() { LT.off("lang", this.onLang); },
    async go(state) {
      LT.ready = false;
      this.state = state;
      try { await this.load(); } catch (e) { console.error(e); LT.showError(this.root, e); }
      LT.ready = true;
    },
    async load() {
      const id = encodeURIComponent(this.id), today = P.today(), y = Number(today.slice(0, 4));
      const { first, last } = daysOf(this.state);
      const series = (params) => LT.api(`/parks/${parkId()}/series`, { params: { scope: "enterprise", id: this.id, ...params } });
      const [figures, curve, trend, trendThen] = await Promise.all([
        LT.api(`/parks/${parkId()}/enterprises/${id}/figures`, { params: { first, last, compare: "previous_year" } }),
        series({ step: "15min", first: today, last: today }),
        series({ step: "month", first: `${y}-01-01`, last: `${y}-12-31` }),
        series({ step: "month", first: `${y - 1}-01-01`, last: `${y - 1}-12-31` }),
      ]);
      this.data = { figures, curve, trend, trendThen, year: y };
      this.render();
    },
    render() {
      const root = this.root, { figures, year } = this.data, f = figures.figures, cmp = figures.compare;
      const then = cmp ? cmp.figures : null;
      const own = !!(LT.enterprises && LT.enterprises());  // an enterprise's own user: no ranking to go back to
      const head = el("div", { class: "lt-card wide head" },
        own ? null : el("a", { href: "#/enterprises", class: "back", text: t("ent.back") }),
        el("h2", {}, el("span", { class: "lt-name", id: "e-name", text: this.info.name }),
          f.key_user.key_energy_user ? el("span", { class: "badge", id: "e-key", text: t("ent.key_user") }) : null),
        el("p", { class: "muted" }, `${t("ent.industry")}: `, el("span", { class: "lt-name", text: this.info.industry || "–" }),
          ` · ${t("ent.key_user")}: ${f.key_user.key_energy_user ? t("ent.yes") : t("ent.no")}`
          + `${f.key_user.declared ? ` (${t("ent.key_declared")})` : ""} · `
          + t("ent.key_threshold", { annual: num(f.key_user.annual_tce, 0), threshold: num(f.key_user.threshold_tce, 0), source: f.key_user.source })));
      const picker = P.picker(this.state, (st) => this.go(st));
      picker.append(el("span", { class: "lt-period", id: "e-period", text: P.title(this.state.mode, this.state.anchor) }));
      const ch = cmp ? cmp.change : {};
      const co2Tce = perTce(f.total_co2_t, f.energy_tce);
      // per 10,000 yuan of value added only where the activity data give value added (now or then)
      const hasVa = f.value_added_wan_yuan !== null || (then && then.value_added_wan_yuan !== null);
      const kpis = el("div", { class: "lt-kpis", id: "e-kpis" },
        kpi(t("ent.energy_eq"), num(f.energy_tce, 2), "tce", ch.energy_tce, cmp && cmp.year, then && num(then.energy_tce, 2)),
        kpi(t("ent.energy_cal"), num(f.energy_calorific_tce, 2), "tce", ch.energy_calorific_tce, cmp && cmp.year,
          then && num(then.energy_calorific_tce, 2)),
        kpi(t("ent.co2"), num(f.total_co2_t, 2), "tCO2", ch.total_co2_t, cmp && cmp.year, then && num(then.total_co2_t, 2)),
        kpi(t("ent.intensity"), num(co2Tce, 2), "tCO2/tce", ch.co2_t_per_tce, cmp && cmp.year,
          then && num(perTce(then.total_co2_t, then.energy_tce), 2)),
        hasVa ? kpi(t("ent.per_va"), num(f.energy_tce_per_wan_yuan, 3), "tce/万元", ch.energy_tce_per_wan_yuan, cmp && cmp.year,
          then && num(then.energy_tce_per_wan_yuan, 3)) : null,
        kpi(t("ent.complete"), LT.fmt.pct(f.completeness, 0), "", null, null));
      const curve = el("div", { class: "chart", id: "e-curve" }), trend = el("div", { class: "chart", id: "e-trend" });
      const tou = el("div", { class: "chart", id: "e-tou" });
      const indicators = el("table", { class: "lt-table", id: "e-indicators" });
      const carriers = el("table", { class: "lt-table", id: "e-carriers" });
      const cal = figures.tou_calendar;
      root.replaceChildren(el("div", { class: "ent" }, head, picker, kpis, el("div", { class: "lt-grid" },
        el("div", { class: "lt-card" }, el("h2", {}, el("span", { text: `${t("ent.curve")} · kW` }), el("span", { class: "muted", text: LT.fmt.date(P.today(), "day") })),
          curve, el("p", { class: "note", text: t("ent.curve_note") })),
        el("div", { class: "lt-card" }, el("h2", {}, el("span", { text: `${t("ent.trend")} · kWh` })), trend),
        el("div", { class: "lt-card" }, el("h2", {}, el("span", { text: t("ent.indicators") })), el("div", { class: "lt-table-wrap" }, indicators)),
        el("div", { class: "lt-card" }, el("h2", {}, el("span", { text: t("ent.by_carrier") })), el("div", { class: "lt-table-wrap" }, carriers)),
        el("div", { class: "lt-card wide" }, el("h2", {}, el("span", { text: `${t("ent.tou")} · kWh` })), tou,
          el("p", { class: "note", text: t("ent.tou_source", { name: cal.name, title: LT.lang() === "en" && cal.title_en ? cal.title_en : cal.title, status: cal.status }) })),
        own ? this.reports() : null)));
      this.indicators(indicators, f, then, ch, cmp, hasVa);
      this.carriers(carriers, f, then);
      this.curve(curve); this.trend(trend, year); this.tou(tou, figures.tou_kwh);
    },
    // an enterprise's own user downloads its monthly report here (the park's reports view is park-wide)
    reports() {
      const pad = (n) => String(n).padStart(2, "0");
      const [y, m] = P.today().split("-").map(Number);
      // this month so far, and the twelve before it; the newest closed month first chosen
      const months = Array.from({ length: 13 }, (_, i) => { const k = y * 12 + (m - 1) - i; return `${Math.floor(k / 12)}-${pad((k % 12) + 1)}`; });
      const select = el("select", { class: "e-report-month", "aria-label": t("ent.report_month") },
        ...months.map((v) => el("option", { value: v, text: LT.fmt.date(v, "month") })));
      select.value = this.reportMonth || months[1];
      const links = el("span", { class: "files" });
      const path = `/api/v1/parks/${parkId()}/enterprises/${encodeURIComponent(this.id)}/reports/keu-monthly`;
      const fill = () => {
        this.reportMonth = select.value;
        links.replaceChildren(...["xlsx", "pdf"].map((format) => el("a", { class: "lt-file", download: "", "data-format": format,
          href: `${path}?${new URLSearchParams({ period: select.value, format, lang: LT.lang() })}`, text: format.toUpperCase() })));
      };
      select.onchange = fill;
      fill();
      return el("div", { class: "lt-card wide", id: "e-reports" }, el("h2", {}, el("span", { text: t("ent.reports") })),
        el("p", {}, `${t("ent.report_month")} `, select, " ", links), el("p", { class: "note", text: t("ent.report_note") }));
    },
    indicators(table, f, then, ch, cmp, hasVa) {
      const rows = [
        [t("ent.electricity"), f.electricity_kwh, then && then.electricity_kwh, "kWh", 0, ch.electricity_kwh],
        [t("ent.energy_eq"), f.energy_tce, then && then.energy_tce, "tce", 3, ch.energy_tce],
        [t("ent.energy_cal"), f.energy_calorific_tce, then && then.energy_calorific_tce, "tce", 3, ch.energy_calorific_tce],
        [t("ent.co2"), f.total_co2_t, then && then.total_co2_t, "tCO2", 3, ch.total_co2_t],
        [t("ent.intensity"), perTce(f.total_co2_t, f.energy_tce), then && perTce(then.total_co2_t, then.energy_tce), "tCO2/tce", 3, ch.co2_t_per_tce],
        ...(hasVa ? [
          [t("ent.per_va"), f.energy_tce_per_wan_yuan, then && then.energy_tce_per_wan_yuan, "tce/万元", 4, ch.energy_tce_per_wan_yuan],
          [t("ent.co2_per_va"), f.co2_t_per_wan_yuan, then && then.co2_t_per_wan_yuan, "tCO2/万元", 4, ch.co2_t_per_wan_yuan]] : []),
        ...Object.values(f.per_output || {}).map((o) => [t("ent.per_output", { product: o.product }), o.energy_tce_per_unit,
          then && then.per_output && then.per_output[o.product] ? then.per_output[o.product].energy_tce_per_unit : null, `tce/${o.unit}`, 5,
          LT.fmt.ratioChange(o.energy_tce_per_unit, then && then.per_output && then.per_output[o.product] ? then.per_output[o.product].energy_tce_per_unit : null)]),
      ];
      const label = unitLabel;
      table.append(el("thead", {}, el("tr", {}, el("th", { text: t("ent.indicator") }), el("th", { class: "num", text: t("ent.value") }),
        el("th", { class: "num", text: cmp ? t("ent.then", { year: cmp.year }) : "" }), el("th", { class: "num", text: t("ent.change") }))),
      el("tbody", {}, ...rows.map(([name, v, w, u, digits, ratio]) => el("tr", {}, el("td", { text: `${name} ${label(u)}` }),
        el("td", { class: "num", text: num(v, digits) }), el("td", { class: "num", text: num(w, digits) }), el("td", { class: "num" }, change(ratio))))));
    },
    carriers(table, f, then) {
      const green = f.electricity.green_kwh;
      const rows = [[t.enum("carrier", "electricity"), f.electricity_kwh, then && then.electricity_kwh, "kWh", 0,
        t("ent.green", { kwh: num(green, 0), pct: LT.fmt.pct(f.electricity_kwh ? green / f.electricity_kwh : null, 0) })]];
      for (const [key, qty] of Object.entries(f.fuels || {})) {
        const [carrier, u] = FUELS[key] || [key, ""];
        rows.push([t.enum("carrier", carrier), qty, then && then.fuels ? then.fuels[key] ?? null : null, u, u === "t" ? 3 : 0, ""]);
      }
      if (f.heat_gj) rows.push([t.enum("carrier", "heat"), f.heat_gj, then && then.heat_gj, "GJ", 1, ""]);
      const co2 = [[t("ent.co2_electricity"), f.electricity_co2_t], [t("ent.co2_fuels"), f.fuel_co2_t], [t("ent.co2_heat"), f.heat_co2_t]];
      table.append(el("thead", {}, el("tr", {}, el("th", { text: t("ent.carrier") }), el("th", { class: "num", text: t("ent.quantity") }),
        el("th", { class: "num", text: then ? t("ent.then", { year: this.data.figures.compare.year }) : "" }), el("th", { text: "" }))),
      // a carrier's note (electricity: of which green) under its name, not in a narrow column of its own
      el("tbody", {}, ...rows.map(([name, v, w, u, digits, note]) => el("tr", {},
        el("td", {}, `${name} ${unit(u)}`, note ? el("span", { class: "sub muted small", text: note }) : null),
        el("td", { class: "num", text: num(v, digits) }), el("td", { class: "num", text: num(w, digits) }), el("td", {}))),
      el("tr", {}, el("th", { text: t("ent.co2_sources") }), el("th", { class: "num", text: "tCO₂" }), el("th", {}), el("th", { class: "num", text: t("ent.share") })),
      ...co2.map(([name, v]) => el("tr", {}, el("td", { text: name }), el("td", { class: "num", text: num(v, 3) }), el("td", {}),
        el("td", { class: "num", text: LT.fmt.pct(f.total_co2_t ? v / f.total_co2_t : null, 0) })))));
    },
    curve(node) {
      const pts = this.data.curve.points.filter((p) => p.values.energy_import_kwh !== null && p.values.energy_import_kwh !== undefined && p.completeness > 0);
      // mean power over the measured part of each quarter hour: a quarter not yet complete is not drawn low
      const data = pts.map((p) => [Date.parse(p.start), p.values.energy_import_kwh / (0.25 * p.completeness)]);
      const day = P.today(), s = this.data.curve.points;
      const chart = LT.charts.init(node);
      chart.setOption({
        tooltip: { trigger: "axis", valueFormatter: (v) => `${num(v, 1)} kW` },
        grid: { left: 8, right: 12, top: 16, bottom: 4, containLabel: true },
        xAxis: { ...LT.charts.axisTime({ step: "15min" }), min: s.length ? Date.parse(s[0].start) : undefined,
          max: s.length ? Date.parse(s[s.length - 1].end) : undefined },
        yAxis: { type: "value", name: "kW" },
        series: [{ type: "line", name: `${t("ent.load_kw")} · ${LT.fmt.date(day, "day")}`, data, showSymbol: false, areaStyle: { opacity: 0.12 } }],
      });
    },
    trend(node, year) {
      const now = this.data.trend.points.map((p) => p.values.energy_import_kwh ?? null);
      const then = this.data.trendThen.points.map((p) => p.values.energy_import_kwh ?? null);
      const months = this.data.trend.points.map((p) => (LT.lang() === "zh" ? t("hist.month_n", { n: Number(p.label.slice(5, 7)) })
        : new Intl.DateTimeFormat("en-GB", { month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2000, Number(p.label.slice(5, 7)) - 1, 1)))));
      const chart = LT.charts.init(node);
      chart.setOption({
        tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "–" : `${num(v, 0)} kWh`) },
        legend: { top: 0 },
        grid: { left: 8, right: 12, top: 30, bottom: 4, containLabel: true },
        xAxis: { type: "category", data: months },
        yAxis: { type: "value", name: "kWh", axisLabel: { formatter: (v) => num(v, 0) } },
        series: [{ type: "bar", name: LT.fmt.date(String(year), "year"), data: now },
          { type: "bar", name: LT.fmt.date(String(year - 1), "year"), data: then, itemStyle: { color: "#adb5bd" } }],
      });
    },
    tou(node, kwh) { drawTou(node, kwh); },
  };

  LT.views.register("enterprises", ranking);
  LT.views.register("enterprise", { ...enterprise, enterprise: true });
})();
