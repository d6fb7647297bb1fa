// History (#/history[/<day|month|year>/<date>]): the park's electricity, energy (tce) and CO₂ over a
// park-local day (hourly), month (daily) or year (monthly) from /parks/{id}/series, with the same
// period of the previous year drawn beside it, the totals and the change. Also the period picker
// and the park-local calendar arithmetic that enterprises.js uses (LT.period).
"use strict";
(() => {
  const LT = window.LT;
  if (!LT || !LT.views) return;  // the shell did not load
  const t = LT.t, num = (v, d) => LT.fmt.num(v, d);
  const pad = (n) => String(n).padStart(2, "0");

  LT.i18n.add({
    zh: {
      "view.history": "历史数据",
      "hist.title": "历史能耗与碳排放", "hist.day": "日", "hist.month": "月", "hist.year": "年",
      "hist.prev": "上一期", "hist.next": "下一期", "hist.today": "今天", "hist.pick": "选择日期",
      "hist.electricity": "用电量", "hist.energy": "综合能耗（等价值）", "hist.co2": "碳排放",
      "hist.same_period": "{year}同期 {value}", "hist.change": "同比 {pct}", "hist.no_change": "同比 –",
      "hist.partial": "同比按本期已计量的时段比较（{first} 至 {last}），去年同期全期：{list}。",
      "hist.complete": "本期数据完整度 {pct}", "hist.none": "本期没有计量数据",
      "hist.day_n": "{n}日", "hist.month_n": "{n}月", "hist.of_year": "{year}",
      "hist.scaled": "{list}：未完整计量，曲线按已计量部分折算为整小时（kWh ÷ 完整度，与总览负荷曲线同一规则，以圆点标出）；合计只计已计量的量。",
      "hist.scaled_one": "{time} 完整度 {pct}",
    },
    en: {
      "view.history": "History",
      "hist.title": "Energy and emissions history", "hist.day": "Day", "hist.month": "Month", "hist.year": "Year",
      "hist.prev": "Previous", "hist.next": "Next", "hist.today": "Today", "hist.pick": "Choose a date",
      "hist.electricity": "Electricity", "hist.energy": "Energy (equivalent value)", "hist.co2": "CO₂ emissions",
      "hist.same_period": "{year} same period {value}", "hist.change": "year on year {pct}",
      "hist.no_change": "year on year –",
      "hist.partial": "Year on year over the part of this period measured so far ({first} to {last}); last year's whole period: {list}.",
      "hist.complete": "Completeness of this period {pct}", "hist.none": "Nothing measured in this period",
      "hist.day_n": "{n}", "hist.month_n": "{n}", "hist.of_year": "{year}",
      "hist.scaled": "{list}: measured only in part, drawn scaled to the whole hour (kWh ÷ completeness, the overview load curve's rule, marked with a dot); the totals count only what was measured.",
      "hist.scaled_one": "{time} completeness {pct}",
    },
  });

  // -- park-local calendar dates ("YYYY-MM-DD"), no clock zone involved ---------------------
  const iso = (y, m, d) => `${y}-${pad(m)}-${pad(d)}`;
  const ymd = (s) => s.split("-").map(Number);
  const daysIn = (y, m) => new Date(Date.UTC(y, m, 0)).getUTCDate();
  function shiftDay(s, n) {
    const [y, m, d] = ymd(s);
    const x = new Date(Date.UTC(y, m - 1, d + n));
    return iso(x.getUTCFullYear(), x.getUTCMonth() + 1, x.getUTCDate());
  }
  // the same day in `year` (29 February as 28 February), as the API's compare does
  function inYear(s, year) {
    const [, m, d] = ymd(s);
    return iso(year, m, Math.min(d, daysIn(year, m)));
  }
  // the local days [first, last] and the series step of a period around `anchor`
  function span(mode, anchor) {
    const [y, m] = ymd(anchor);
    if (mode === "day") return { first: anchor, last: anchor, step: "hour" };
    if (mode === "month") return { first: iso(y, m, 1), last: iso(y, m, daysIn(y, m)), step: "day" };
    return { first: iso(y, 1, 1), last: iso(y, 12, 31), step: "month" };
  }
  function move(mode, anchor, n) {
    const [y, m, d] = ymd(anchor);
    if (mode === "day") return shiftDay(anchor, n);
    if (mode === "month") {
      const k = y * 12 + (m - 1) + n;
      const yy = Math.floor(k / 12), mm = (k % 12) + 1;
      return iso(yy, mm, Math.min(d, daysIn(yy, mm)));
    }
    return inYear(anchor, y + n);
  }
  // today in the park, by the platform's clock (the newest realtime figures), else the browser's
  const today = () => LT.fmt.isoDay(LT.data() && LT.data().realtime ? LT.data().realtime.time : Date.now());
  function title(mode, anchor) {
    if (mode === "day") return LT.fmt.date(anchor, "day");
    if (mode === "month") return LT.fmt.date(anchor.slice(0, 7), "month");
    return LT.fmt.date(anchor.slice(0, 7), "year");
  }
  // "month/2026-06-15" <-> {mode, anchor}
  function parseArg(arg, fallback = "day") {
    const [mode, date] = (arg || "").split("/");
    const ok = ["day", "month", "year"].includes(mode) && /^\d{4}-\d{2}-\d{2}$/.test(date || "");
    return ok ? { mode, anchor: date } : { mode: fallback, anchor: today() };
  }

  // the day / month / year picker: mode buttons, previous, a date control, next, today
  function picker(state, onChange) {
    const el = LT.el;
    const modes = el("div", { class: "lt-seg", role: "group" }, ...["day", "month", "year"].map((m) => {
      const b = el("button", { type: "button", "data-mode": m, class: m === state.mode ? "on" : "", text: t(`hist.${m}`) });
      b.onclick = () => onChange({ mode: m, anchor: state.anchor > today() ? today() : state.anchor });
      return b;
    }));
    // the date as selects (year, month, day as the mode needs): a native date or month input speaks
    // the browser's language ("December 2026" in the Chinese page), these the page's
    const [ay, am, ad] = ymd(state.anchor), [ty, tm, td] = ymd(today());
    const base = LT.park() && LT.park().base_year;
    const fromYear = Math.max(2000, Math.min(ay, base || ty - 9, ty - 9));
    const option = (value, text, disabled) => {
      const o = el("option", { value: String(value), text });
      if (disabled) o.disabled = true;
      return o;
    };
    const enMonth = new Intl.DateTimeFormat("en-GB", { month: "short", timeZone: "UTC" });
    const monthText = (m) => (LT.lang() === "zh" ? `${m}月` : enMonth.format(new Date(Date.UTC(2000, m - 1, 1))));
    const years = el("select", { class: "lt-y", "aria-label": t("hist.year") },
      ...Array.from({ length: ty - fromYear + 1 }, (_, i) => ty - i).map((y) => option(y, LT.fmt.date(String(y), "year"))));
    const months = el("select", { class: "lt-m", "aria-label": t("hist.month") },
      ...Array.from({ length: 12 }, (_, i) => option(i + 1, monthText(i + 1), ay === ty && i + 1 > tm)));
    const days = el("select", { class: "lt-d", "aria-label": t("hist.day") },
      ...Array.from({ length: daysIn(ay, am) }, (_, i) => option(i + 1, LT.lang() === "zh" ? `${i + 1}日` : String(i + 1),
        ay === ty && am === tm && i + 1 > td)));
    years.value = String(ay); months.value = String(am); days.value = String(ad);
    const input = el("span", { class: "lt-date", role: "group", title: t("hist.pick"), "aria-label": t("hist.pick") },
      years, ...(state.mode !== "year" ? [months] : []), ...(state.mode === "day" ? [days] : []));
    input.onchange = () => {
      const y = Number(years.value), m = state.mode === "year" ? am : Number(months.value);
      const d = Math.min(state.mode === "day" ? Number(days.value) : ad, daysIn(y, m));
      const anchor = iso(y, m, d);
      onChange({ mode: state.mode, anchor: anchor > today() ? today() : anchor });
    };
    const prev = el("button", { type: "button", class: "lt-prev", title: t("hist.prev"), "aria-label": t("hist.prev"), text: "‹" });
    prev.onclick = () => onChange({ mode: state.mode, anchor: move(state.mode, state.anchor, -1) });
    const next = el("button", { type: "button", class: "lt-next", title: t("hist.next"), "aria-label": t("hist.next"), text: "›" });
    const after = move(state.mode, state.anchor, 1);
    if (span(state.mode, after).first > today()) next.disabled = true;
    next.onclick = () => onChange({ mode: state.mode, anchor: after > today() ? today() : after });
    const now = el("button", { type: "button", class: "lt-today", text: t("hist.today") });
    now.onclick = () => onChange({ mode: state.mode, anchor: today() });
    return el("div", { class: "lt-picker" }, modes, prev, input, next, now);
  }

  LT.period = { iso, shiftDay, inYear, span, move, today, title, parseArg, picker };

  // styles of the picker and the change figures (shared with enterprises.js), injected once
  if (!document.getElementById("lt-history-css")) {
    const style = document.createElement("style");
    style.id = "lt-history-css";
    style.textContent = `
      .lt-picker { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 0 0 12px; }
      .lt-picker .lt-date { display: inline-flex; gap: 4px; }
      .lt-picker button, .lt-picker select { font: inherit; padding: 4px 10px; border: 1px solid var(--line, #dde3ea); border-radius: 4px; background: #fff; color: inherit; }
      .lt-picker button:disabled { opacity: 0.4; }
      .lt-picker .lt-period { font-weight: 600; margin-left: 8px; }
      .lt-seg { display: inline-flex; } .lt-seg button { border-radius: 0; margin-left: -1px; }
      .lt-seg button:first-child { border-radius: 4px 0 0 4px; } .lt-seg button:last-child { border-radius: 0 4px 4px 0; }
      .lt-seg button.on { background: var(--green, #2b8a3e); color: #fff; border-color: var(--green, #2b8a3e); }
      .lt-up { color: var(--red, #c92a2a); } .lt-down { color: var(--green, #2b8a3e); }
      .hist .chart { height: 280px; }
      .hist .lt-grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }  /* the wide chart, then two: no empty slot */
      @media (max-width: 900px) { .hist .lt-grid { grid-template-columns: minmax(0, 1fr); } }
      @media (max-width: 700px) { .lt-picker .lt-period { flex-basis: 100%; margin: 0; } }`;
    document.head.append(style);
  }

  // "+25.0%" with an arrow; more energy or CO₂ is shown red, less green
  LT.fmt.change = (ratio) => (typeof ratio === "number" && Number.isFinite(ratio)
    ? `${ratio > 0 ? "▲ +" : ratio < 0 ? "▼ " : ""}${LT.fmt.pct(ratio, 1)}` : "–");
  LT.fmt.changeClass = (ratio) => (typeof ratio === "number" && ratio > 0.0005 ? "lt-up" : typeof ratio === "number" && ratio < -0.0005 ? "lt-down" : "");

  const FIGURES = [  // series value, title, unit, digits
    { key: "electricity_kwh", title: "hist.electricity", unit: "kWh", digits: 0 },
    { key: "energy_tce", title: "hist.energy", unit: "tce", digits: 2 },
    { key: "co2_t", title: "hist.co2", unit: "tCO2", digits: 2 },
  ];
  const MONTHS = (m) => (LT.lang() === "zh" ? t("hist.month_n", { n: m })
    : new Intl.DateTimeFormat("en-GB", { month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2000, m - 1, 1))));
  const yearName = (y) => LT.fmt.date(String(y), "year");
  const sum = (xs) => xs.reduce((a, x) => a + (typeof x === "number" ? x : 0), 0);

  const history = {
    title: "view.history",
    async mount(root, arg) {
      this.root = root;
      this.state = parseArg(arg);
      this.onLang = () => { LT.ready = false; this.render(); LT.ready = true; };
      LT.on("lang", this.onLang);
      await this.load();
    },
    unmount() { LT.off("lang", this.onLang); this.data = null; },
    async go(state) {
      LT.ready = false;
      this.state = state;
      window.history.replaceState(null, "", `#/history/${state.mode}/${state.anchor}`);
      try { await this.load(); } catch (e) { console.error(e); LT.showError(this.root, e); }
      LT.ready = true;
    },
    async load() {
      const { mode, anchor } = this.state;
      const s = span(mode, anchor);
      const y = Number(anchor.slice(0, 4));
      const id = encodeURIComponent(LT.park().id);
      const get = (first, last) => LT.api(`/parks/${id}/series`, { params: { scope: "park", step: s.step, first, last } });
      const [now, then] = await Promise.all([get(s.first, s.last), get(inYear(s.first, y - 1), inYear(s.last, y - 1))]);
      this.data = { now, then, year: y };
      this.render();
    },
    render() {
      const el = LT.el, root = this.root, { mode, anchor } = this.state, { now, then, year } = this.data;
      const cards = FIGURES.map((f, i) => el("div", { class: i === 0 ? "lt-card wide" : "lt-card", "data-figure": f.key },
        el("h2", {}, el("span", { text: `${t(f.title)} · ${LT.fmt.unit(f.unit)}` })), el("div", { class: "chart" })));
      const kpis = el("div", { class: "lt-kpis", id: "h-kpis" });
      const note = el("p", { class: "note", id: "h-note" });
      const head = picker(this.state, (st) => this.go(st));
      head.append(el("span", { class: "lt-period", id: "h-period", text: title(mode, anchor) }));
      root.replaceChildren(el("div", { class: "hist" }, head, kpis, el("div", { class: "lt-grid" }, ...cards), note));

      const labels = now.points.map((p) => {
        if (mode === "day") return LT.fmt.date(p.start, "time");
        if (mode === "month") return t("hist.day_n", { n: Number(p.label.slice(8, 10)) });
        return MONTHS(Number(p.label.slice(5, 7)));
      });
      // like for like: last year's buckets where this period has a measured value
      const measured = now.points.map((p) => p.values.electricity_kwh !== null && p.values.electricity_kwh !== undefined);
      const partial = measured.some((m) => !m) && measured.some((m) => m);
      const wholeThen = [];
      for (const f of FIGURES) {
        const cur = now.points.map((p) => p.values[f.key] ?? null);
        const prev = labels.map((_, i) => (then.points[i] ? then.points[i].values[f.key] ?? null : null));
        const total = sum(cur);
        // last year's like-for-like total: null (shown "–") where nothing was measured then, never 0
        const likeVals = prev.filter((v, i) => measured[i] && v !== null);
        const like = likeVals.length ? sum(likeVals) : null;
        const ratio = measured.some(Boolean) && like > 0 ? total / like - 1 : null;
        const thenVals = prev.filter((v) => v !== null);
        wholeThen.push(`${t(f.title)} ${thenVals.length ? `${num(sum(thenVals), f.digits)} ${LT.fmt.unit(f.unit)}` : "–"}`);
        kpis.append(el("div", { class: "lt-kpi", "data-figure": f.key },
          el("span", { class: "label", text: `${t(f.title)} · ${title(mode, anchor)}` }),
          el("span", { class: "value", text: measured.some(Boolean) ? num(total, f.digits) : "–" }),
          el("span", { class: "unit", text: LT.fmt.unit(f.unit) }),
          el("span", { class: "sub" }, el("span", { text: t("hist.same_period", { year: yearName(year - 1), value: like === null ? "–" : `${num(like, f.digits)} ${LT.fmt.unit(f.unit)}` }) }),
            " · ", el("span", { class: `lt-yoy ${LT.fmt.changeClass(ratio)}`, text: ratio === null ? t("hist.no_change") : t("hist.change", { pct: LT.fmt.change(ratio) }) }))));
        const chart = LT.charts.init(cards[FIGURES.indexOf(f)].querySelector(".chart"));
        const type = mode === "day" ? "line" : "bar";
        // the day's hours measured only in part (the running hour, a gap) are drawn at the rate of their
        // measured part, kWh ÷ completeness, as the overview's curve draws its 15-minute buckets: no dip
        const drawn = (points, values) => (mode !== "day" ? values : values.map((v, i) => {
          const c = points[i] ? points[i].completeness : 1;
          return v !== null && c > 0 && c < 1 ? v / c : v;
        }));
        const curDrawn = drawn(now.points, cur), prevDrawn = drawn(then.points, prev);
        const dots = mode !== "day" ? [] : now.points.map((p, i) => [p, i]).filter(([p, i]) => cur[i] !== null && p.completeness > 0 && p.completeness < 1)
          .map(([, i]) => ({ coord: [i, curDrawn[i]], value: curDrawn[i] }));
        chart.setOption({
          tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "–" : `${num(v, f.digits)} ${LT.fmt.unit(f.unit)}`) },
          legend: { top: 0 },
          grid: { left: 8, right: 12, top: 34, bottom: 4, containLabel: true },
          xAxis: { type: "category", data: labels, axisTick: { alignWithLabel: true }, axisLabel: { hideOverlap: true } },
          yAxis: { type: "value", name: LT.fmt.unit(f.unit), axisLabel: { formatter: (v) => num(v, Number.isInteger(v) ? 0 : 1) } },
          series: [
            { name: yearName(year), type, data: curDrawn, showSymbol: false, smooth: false, connectNulls: false,
              itemStyle: { color: LT.charts.colors[f.key === "co2_t" ? 2 : f.key === "energy_tce" ? 1 : 0] },
              markPoint: dots.length ? { symbol: "circle", symbolSize: 9, label: { show: false }, data: dots } : undefined },
            { name: yearName(year - 1), type, data: prevDrawn, showSymbol: false, connectNulls: false,
              itemStyle: { color: "#adb5bd" }, lineStyle: { type: "dashed" } },
          ],
        });
      }
      const withData = now.points.filter((p, i) => measured[i]);
      // the measured share of the period so far: a bucket's completeness is of the whole bucket, so the
      // bucket that holds "now" (the platform's clock) counts only its elapsed part
      const nowMs = Date.parse(LT.data() && LT.data().realtime ? LT.data().realtime.time : new Date().toISOString());
      let measuredMs = 0, elapsedMs = 0;
      for (const p of withData) {
        const s = Date.parse(p.start), e = Date.parse(p.end);
        measuredMs += p.completeness * (e - s);
        elapsedMs += Math.max(0, Math.min(e, nowMs) - s);
      }
      const complete = elapsedMs > 0 ? Math.min(1, measuredMs / elapsedMs) : null;
      const last = withData.length ? withData[withData.length - 1] : null;
      const lastLabel = last ? (mode === "day" ? LT.fmt.date(last.end, "time") : mode === "month" ? LT.fmt.date(last.label, "day") : LT.fmt.date(last.label, "month")) : "";
      const firstLabel = withData.length ? (mode === "day" ? LT.fmt.date(withData[0].start, "time") : mode === "month" ? LT.fmt.date(withData[0].label, "day") : LT.fmt.date(withData[0].label, "month")) : "";
      const scaled = mode !== "day" ? [] : withData.filter((p) => p.completeness > 0 && p.completeness < 1)
        .map((p) => t("hist.scaled_one", { time: LT.fmt.date(p.start, "time"), pct: LT.fmt.pct(p.completeness, 0) }));
      note.textContent = !withData.length ? t("hist.none")
        : [t("hist.complete", { pct: LT.fmt.pct(complete, 0) }), partial ? t("hist.partial", { first: firstLabel, last: lastLabel, list: wholeThen.join(LT.lang() === "zh" ? "，" : "; ") }) : "",
          scaled.length ? t("hist.scaled", { list: scaled.join(LT.lang() === "zh" ? "，" : ", ") }) : ""].filter(Boolean).join(" · ");
    },
  };
  LT.views.register("history", history);
})();
