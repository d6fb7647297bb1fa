// Reports (#/reports[/<YYYY-MM>]): the documents a park files, as XLSX or PDF, for a chosen month
// (and that month's year for the annual ones), and the key energy users' monthly reports with
// their status (on time, late, missing, not yet due) and a button to record a filing.
// The files come from /parks/{id}/reports/...; docs/reports.md says what is in each.
"use strict";
(() => {
  const LT = window.LT;
  if (!LT || !LT.views) return;  // the shell did not load
  const t = LT.t;
  const el = (...a) => LT.el(...a);
  const pad = (n) => String(n).padStart(2, "0");

  LT.i18n.add({
    zh: {
      "view.reports": "报表",
      "rep.title": "报表下载", "rep.month": "报告期", "rep.year": "年份", "rep.annual_of": "年度报表按 {year} 年",
      "rep.kind.park-monthly": "园区月度能耗与碳排放报告",
      "rep.kind.annex4-annual": "年度碳排放核算表（910号文附件4）",
      "rep.kind.jiangxi-annex1": "江西省零碳园区申报数据表（附件1）",
      "rep.desc.park-monthly": "能源消费、折标煤、分来源碳排放、单位能耗碳排放、绿电、分时电量、企业排名",
      "rep.desc.annex4-annual": "逐项列出：消费量 × 折标系数 × 排放因子，注明每个因子的来源",
      "rep.desc.jiangxi-annex1": "三年分品种能源（外购/自供，燃料/加工转换/原料）、排放及结构，对比基准年",
      "rep.keu": "重点用能单位月度报告", "rep.keu_none": "本园区在该月没有重点用能单位。",
      "rep.enterprise": "企业", "rep.due": "截止日期", "rep.status": "状态", "rep.submitted": "报送时间",
      "rep.by": "报送人", "rep.files": "下载", "rep.action": "操作", "rep.submit": "登记报送",
      "rep.submitted_ok": "已登记 {name} 的 {month} 月度报告。", "rep.key": "API 密钥 {name}", "rep.demo": "演示",
      "enum.filing.on_time": "按时报送", "enum.filing.late": "逾期报送", "enum.filing.missing": "未报送",
      "enum.filing.not_due": "未到期",
    },
    en: {
      "view.reports": "Reports",
      "rep.title": "Reports", "rep.month": "Period", "rep.year": "Year", "rep.annual_of": "annual reports for {year}",
      "rep.kind.park-monthly": "Monthly park energy and carbon report",
      "rep.kind.annex4-annual": "Annual carbon accounting table (annex 4 of notice 910)",
      "rep.kind.jiangxi-annex1": "Jiangxi zero-carbon park application tables (annex 1)",
      "rep.desc.park-monthly": "energy by carrier, tce, CO₂ by source, carbon intensity, green power, time-of-use split, enterprise ranking",
      "rep.desc.annex4-annual": "line by line: quantity × conversion factor × emission factor, with each factor's source",
      "rep.desc.jiangxi-annex1": "three years of energy by carrier (purchased/self-supplied; fuel/conversion/feedstock), emissions and their structure, against the base year",
      "rep.keu": "Key energy users' monthly reports", "rep.keu_none": "The park has no key energy user in that month.",
      "rep.enterprise": "Enterprise", "rep.due": "Due", "rep.status": "Status", "rep.submitted": "Filed",
      "rep.by": "Filed by", "rep.files": "Download", "rep.action": "Action", "rep.submit": "Record filing",
      "rep.submitted_ok": "Recorded the {month} report of {name}.", "rep.key": "API key {name}", "rep.demo": "demo",
      "enum.filing.on_time": "on time", "enum.filing.late": "late", "enum.filing.missing": "missing",
      "enum.filing.not_due": "not yet due",
    },
  });

  // the audit log's "user:<name>" / "key:<name>" as a person reads it
  function actor(who) {
    if (!who) return "–";
    const [kind, ...rest] = who.split(":"), name = rest.join(":");
    return kind === "user" ? name : kind === "key" ? t("rep.key", { name }) : t("rep.demo");
  }

  const EN_MONTH = new Intl.DateTimeFormat("en-GB", { month: "long", timeZone: "UTC" });
  const monthName = (i) => (LT.lang() === "zh" ? `${i + 1}月` : EN_MONTH.format(Date.UTC(2000, i, 1)));

  const PARK_KINDS = [["park-monthly", "month"], ["annex4-annual", "year"], ["jiangxi-annex1", "year"]];
  const parkId = () => encodeURIComponent(LT.park().id);

  // the park's current month, by the platform's clock (the newest realtime figures), else the browser's
  const thisMonth = () => LT.fmt.isoDay(LT.data() && LT.data().realtime ? LT.data().realtime.time : Date.now()).slice(0, 7);
  // the month before: the newest closed period
  function lastMonth() {
    const [y, m] = thisMonth().split("-").map(Number);
    return m === 1 ? `${y - 1}-12` : `${y}-${pad(m - 1)}`;
  }

  function fileLinks(path, period) {
    return ["xlsx", "pdf"].map((format) => {
      const q = new URLSearchParams({ period, format, lang: LT.lang() });
      return el("a", { class: "lt-file", href: `/api/v1${path}?${q}`, download: "", "data-format": format,
                       text: format.toUpperCase() });
    });
  }

  const view = {
    title: "view.reports",
    async mount(root, arg) {
      this.root = root;
      this.month = /^\d{4}-\d{2}$/.test(arg || "") ? arg : lastMonth();
      this.onLang = () => this.render();
      LT.on("lang", this.onLang);
      await this.load();
    },
    unmount() { LT.off("lang", this.onLang); },
    async load() {
      const [status, enterprises] = await Promise.all([
        LT.api(`/parks/${parkId()}/reports/keu-monthly/status`, { params: { period: this.month } }),
        LT.api(`/parks/${parkId()}/enterprises`).catch(() => []),
      ]);
      this.status = status;
      this.names = new Map(enterprises.map((e) => [e.id, e.name]));
      this.render();
    },
    async go(month) {
      LT.ready = false;
      this.month = month;
      window.history.replaceState(null, "", `#/reports/${month}`);
      try { await this.load(); } catch (e) { console.error(e); LT.showError(this.root, e); }
      LT.ready = true;
    },
    async submit(filing) {
      LT.ready = false;
      const path = `/parks/${parkId()}/enterprises/${encodeURIComponent(filing.enterprise)}/reports/keu-monthly/${filing.month}/submit`;
      let note = null;
      try {
        await LT.api(path, { method: "POST" });
        note = t("rep.submitted_ok", { name: this.names.get(filing.enterprise) || filing.enterprise, month: filing.month });
        await this.load();
      } catch (e) { console.error(e); LT.showError(this.root, e); }
      if (note) this.root.prepend(el("p", { class: "good", text: note }));
      LT.ready = true;
    },
    render() {
      const year = this.month.slice(0, 4);
      // year and month as selects: a native month input speaks the browser's language, not the page's
      const now = Number(thisMonth().slice(0, 4)), first = Math.min(LT.park().base_year || now - 4, now - 4);
      const years = el("select", { class: "rep-year", "aria-label": t("rep.year") },
        ...Array.from({ length: now - first + 1 }, (_, i) => now - i).map((y) =>
          el("option", { value: String(y), text: LT.fmt.date(`${y}-01`, "year") })));
      const months = el("select", { class: "rep-month", "aria-label": t("rep.month") },
        ...Array.from({ length: 12 }, (_, i) => el("option", { value: pad(i + 1), text: monthName(i) })));
      years.value = year; months.value = this.month.slice(5);
      years.onchange = months.onchange = () => this.go(`${years.value}-${months.value}`);
      const kinds = el("table", { class: "lt-table reports" },
        el("tbody", {}, ...PARK_KINDS.map(([kind, per]) => el("tr", { "data-kind": kind },
          el("th", { scope: "row" }, el("div", { text: t(`rep.kind.${kind}`) }),
            el("div", { class: "muted", text: t(`rep.desc.${kind}`) })),
          el("td", { class: "files" }, ...fileLinks(`/parks/${parkId()}/reports/${kind}`, per === "year" ? year : this.month))))));
      const filings = this.status.reports;
      const over = this.month < thisMonth();  // a month's report is filed after its last day
      const keu = filings.length === 0 ? el("p", { class: "muted", text: t("rep.keu_none") }) : el("table", { class: "lt-table keu" },
        el("thead", {}, el("tr", {}, ...["rep.enterprise", "rep.due", "rep.status", "rep.submitted", "rep.by", "rep.files", "rep.action"]
          .map((k) => el("th", { text: t(k), class: k === "rep.files" ? "files" : "" })))),
        el("tbody", {}, ...filings.map((f) => {
          const button = el("button", { type: "button", text: t("rep.submit") });
          button.onclick = () => this.submit(f);
          return el("tr", { "data-enterprise": f.enterprise },
            el("td", {}, el("span", { class: "lt-name", text: this.names.get(f.enterprise) || f.enterprise })),
            el("td", { text: LT.fmt.date(f.due, "day") }),
            el("td", { class: `filing ${f.status}`, text: t(`enum.filing.${f.status}`) }),
            el("td", { text: f.submitted_at ? LT.fmt.date(f.submitted_at, "datetime") : "–" }),
            el("td", { text: actor(f.submitted_by) }),
            el("td", { class: "files" }, ...fileLinks(`/parks/${parkId()}/enterprises/${encodeURIComponent(f.enterprise)}/reports/keu-monthly`, this.month)),
            el("td", {}, f.submitted_at || !over ? "" : button));
        })));
      this.root.replaceChildren(
        LT.card("reports", "rep.title", null,
          el("p", {}, `${t("rep.month")} `, years, " ", months, " ",
            el("span", { class: "muted", text: t("rep.annual_of", { year }) })),
          kinds),
        LT.card("keu", "rep.keu", null, keu));
    },
  };

  const style = document.createElement("style");
  style.textContent = `
    .view-reports table.reports th { text-align: left; font-weight: normal; white-space: normal; }
    .view-reports table.reports th > div:first-child { color: var(--fg); }  /* the report's name, its description muted */
    .view-reports th.files { text-align: right; }
    .view-reports td.files { white-space: nowrap; text-align: right; }
    .view-reports a.lt-file { display: inline-block; margin-left: 8px; padding: 2px 10px; border: 1px solid #2b8a3e;
      border-radius: 4px; color: #2b8a3e; text-decoration: none; font-size: .9rem; }
    .view-reports td.filing.on_time { color: #2b8a3e; } .view-reports td.filing.late { color: #e8590c; }
    .view-reports td.filing.missing { color: #c92a2a; font-weight: 600; } .view-reports td.filing.not_due { color: #868e96; }
    .view-reports .lt-card { margin-bottom: 16px; }
    @media (max-width: 700px) {  /* the phone: each report's buttons under its description, nothing off-screen */
      .view-reports table.reports tr { display: block; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
      .view-reports table.reports th, .view-reports table.reports td { display: block; border: 0; padding: 4px 0; }
      .view-reports table.reports td.files { text-align: left; }
      .view-reports table.reports a.lt-file, .view-reports table.keu a.lt-file { margin: 0 8px 0 0; }
      .view-reports table.keu thead { display: none; }  /* a filing's cells wrap as one block per enterprise */
      .view-reports table.keu tr { display: flex; flex-wrap: wrap; gap: 2px 12px; border-bottom: 1px solid var(--line); padding: 4px 0; }
      .view-reports table.keu td { display: block; border: 0; padding: 2px 0; }
      .view-reports table.keu td.files { text-align: left; }
    }`;
  document.head.append(style);

  LT.views.register("reports", view);
})();
