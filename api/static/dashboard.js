// Lingtan dashboard: Chinese by default, English on switch. Live: one Server-Sent Events stream
// per park (/api/v1/parks/{id}/stream) pushes realtime figures, meters and gateways; the load
// curve, the indicator scorecard and the gateways' clock offsets are fetched once a minute. Auth: the session cookie from
// the login form (or demo mode); every request is same-origin.
"use strict";
const T = {
  zh: { title: "零碳园区能碳监测", grid: "电网", pv: "光伏", storage: "储能", load: "负荷", rate: "碳排放速率",
        soc: "储能SOC", gas: "天然气", flow: "园区功率流", intensity: "单位能耗碳排放", today: "今日", ytd: "本年累计",
        month: "本月", year: "本年", target: "目标", elec: "用电 kWh", tce: "综合能耗 tce（等价值）", co2: "碳排放 tCO₂",
        intensity_u: "单位能耗碳排放 tCO₂/tce", curve: "今日负荷与光伏曲线", sources: "碳排放来源（本年）",
        scorecard: "指标评价", indicator: "指标", value: "数值", status: "状态", complete: "数据完整度",
        health: "表计与网关状态", meter: "表计", carrier: "能源品种", role: "角色", age: "读数时延", values: "数值",
        updated: "更新于", lang: "English", login: "登录", username: "用户名", password: "密码", signin: "登录",
        logout: "退出", badlogin: "用户名或密码错误", loadkw: "负荷 kW", reference: "参考，未达规模门槛", pvkw: "光伏 kW", gateway: "网关",
        clock: "时钟偏差", src_electricity: "外购电力", src_fuels: "化石燃料", src_heat: "外购热力", src_process: "工业过程",
        src_transformation: "加工转换",
        st_met: "达标", st_not_met: "未达标", st_insufficient_data: "数据不足", st_not_applicable: "不适用", st_excluded: "已排除",
        ms_ok: "正常", ms_late: "延迟", ms_silent: "离线", ms_no_data: "无数据" },
  en: { title: "Zero-carbon park energy & carbon", grid: "Grid", pv: "PV", storage: "Storage", load: "Loads",
        rate: "Carbon rate", soc: "Battery SOC", gas: "Natural gas", flow: "Park power flow",
        intensity: "Carbon per unit energy", today: "Today", ytd: "Year to date", month: "This month", year: "This year",
        target: "Target", elec: "Electricity kWh", tce: "Energy tce (equivalent value)", co2: "CO₂ t",
        intensity_u: "Carbon per energy tCO₂/tce", curve: "Today's load and PV", sources: "Emissions by source (year)",
        scorecard: "Indicator scorecard", indicator: "Indicator", value: "Value", status: "Status",
        complete: "Completeness", health: "Meter and gateway health", meter: "Meter", carrier: "Carrier", role: "Role",
        age: "Reading age", values: "Values", updated: "updated", lang: "中文", login: "Log in", username: "Username",
        password: "Password", signin: "Log in", logout: "Log out", badlogin: "Wrong username or password",
        loadkw: "Load kW", reference: "reference: below the size tier", pvkw: "PV kW", gateway: "Gateway",
        clock: "clock off by", src_electricity: "Purchased electricity", src_fuels: "Fossil fuels", src_heat: "Purchased heat",
        src_process: "Industrial process", src_transformation: "Transformation",
        st_met: "met", st_not_met: "not met", st_insufficient_data: "insufficient data", st_not_applicable: "n/a", st_excluded: "excluded",
        ms_ok: "ok", ms_late: "late", ms_silent: "silent", ms_no_data: "no data" },
};
let lang = localStorage.getItem("lingtan-lang") || "zh";
let source = null, curve = null, last = null, scorecard = null, slowTimer = null, refTarget = null;
let clocks = {};  // gateway id -> {clock_offset_s, clock_off}, from /parks/{id}/gateways
const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k] ?? k;
const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x)) ? "–"
  : Number(x).toLocaleString(lang === "zh" ? "zh-CN" : "en", { maximumFractionDigits: d });

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("lang");
  if (last) render(last);
  if (scorecard) renderScorecard(scorecard);
  if (curve) { curve.destroy(); curve = null; loadCurve(); }
}

async function api(url, options = {}) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", ...(options.headers || {}) }, ...options });
  if (r.status === 401) { showLogin(); throw new Error("login required"); }
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.status === 204 ? null : r.json();
}

function showLogin() { if (!$("login").open) $("login").showModal(); }

// -- live figures ------------------------------------------------------------------------
function setFlow(id, kw, forward) {
  const line = $(id);
  line.classList.toggle("active", Math.abs(kw) > 0.05);
  line.setAttribute("marker-end", forward ? "url(#arrow)" : "");
  line.setAttribute("marker-start", forward ? "" : "url(#arrow)");
}

function render(data) {
  last = data;
  const rt = data.realtime, p = rt.power;
  $("p-grid").textContent = fmt(p.grid_kw); $("p-pv").textContent = fmt(p.pv_kw);
  $("p-storage").textContent = fmt(p.storage_kw); $("p-load").textContent = fmt(p.load_kw);
  $("p-gas").textContent = fmt(p.gas_m3h);
  $("rate").textContent = fmt(rt.carbon_rate_t_per_h, 3);
  setFlow("l-grid", p.grid_kw, p.grid_kw >= 0);        // import flows towards the bus
  setFlow("l-pv", p.pv_kw, true);
  setFlow("l-storage", p.storage_kw, p.storage_kw < 0); // discharge flows towards the bus
  setFlow("l-load", p.load_kw, true);
  const bess = data.meters.find((m) => m.role === "storage" && m.values.soc_pct !== undefined);
  $("soc").textContent = bess ? fmt(bess.values.soc_pct, 0) : "–";
  for (const k of ["today", "month", "year"]) {
    const f = rt[k];
    $(`${k}-kwh`).textContent = fmt(f.energy_by_carrier.electricity, 0);
    $(`${k}-tce`).textContent = fmt(f.energy_tce, 3);
    $(`${k}-co2`).textContent = fmt(f.co2_t, 3);
    $(`${k}-int`).textContent = fmt(f.intensity_t_per_tce, 3);
  }
  gauges();
  renderSources(rt.year.co2_by_source_t || {});
  renderHealth(data.meters, data.gateways);
  $("updated").textContent = `${t("updated")} ${new Date(rt.time).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en")}`;
}

function gauges() {
  if (!last) return;
  const rt = last.realtime;
  // the target that applies to the park's tier; else the framework's first one, shown as a reference
  const applied = scorecard ? (scorecard.results.find((r) => r.id === "carbon_per_energy") || {}).target : null;
  const target = applied ?? refTarget;
  const scale = Math.max(target || 0, rt.today.intensity_t_per_tce || 0, rt.year.intensity_t_per_tce || 0, 0.01) * 1.25;
  for (const [k, f] of [["today", rt.today], ["year", rt.year]]) {
    const v = f.intensity_t_per_tce;
    $(`int-${k}`).textContent = fmt(v, 3);
    const bar = $(`g-${k}`);
    bar.style.width = `${Math.min(100, 100 * (v || 0) / scale)}%`;
    bar.classList.toggle("over", target !== null && target !== undefined && v > target);
    const mark = $(`g-target-${k}`);
    mark.hidden = target === null || target === undefined;
    if (!mark.hidden) mark.style.left = `${100 * target / scale}%`;
  }
  $("target").textContent = fmt(target, 2) + (applied === null || applied === undefined ? ` (${t("reference")})` : "");
}

function renderSources(src) {
  const entries = Object.entries(src).filter(([, v]) => Math.abs(v) > 1e-9).sort((a, b) => b[1] - a[1]);
  const max = Math.max(...entries.map(([, v]) => Math.abs(v)), 1e-9);
  $("sources").replaceChildren(...entries.map(([k, v]) => {
    const row = document.createElement("div"); row.className = "hbar";
    const label = document.createElement("span"); label.textContent = t(`src_${k}`);
    const track = document.createElement("div"); track.className = "track";
    const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = `${100 * Math.abs(v) / max}%`;
    track.appendChild(fill);
    const val = document.createElement("b"); val.textContent = `${fmt(v, 3)} t`;
    row.append(label, track, val);
    return row;
  }));
}

function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }

function age(s) { return s === null || s === undefined ? "–" : s < 120 ? `${fmt(s, 0)} s` : s < 7200 ? `${fmt(s / 60, 0)} min` : `${fmt(s / 3600, 1)} h`; }

function renderHealth(meters, gateways) {
  $("gateways").replaceChildren(...gateways.map((g) => {
    const chip = document.createElement("span"); chip.className = `chip ${g.status}`;
    chip.textContent = `${t("gateway")} ${g.id}: ${t(`ms_${g.status}`)} · ${g.meters_ok}/${g.meters_total} · ${age(g.reading_age_s)}`;
    const c = clocks[g.id];
    if (c && c.clock_off) {  // its clock is further from ingest's than ingest.max_clock_ahead_s
      const badge = document.createElement("span"); badge.className = "clock-off";
      badge.textContent = `${t("clock")} ${c.clock_offset_s > 0 ? "+" : ""}${fmt(c.clock_offset_s, 0)} s`;
      chip.classList.add("clock"); chip.append(" · ", badge);
    }
    return chip;
  }));
  $("meters").querySelector("tbody").replaceChildren(...meters.map((m) => {
    const tr = document.createElement("tr");
    const vals = Object.entries(m.values).filter(([k]) => !k.startsWith("energy") && !k.endsWith("_m3") && !k.endsWith("_gj"))
      .map(([k, v]) => `${k}=${fmt(v, 2)}`).join("  ");
    cell(tr, m.name || m.id); cell(tr, m.carrier); cell(tr, m.role);
    cell(tr, t(`ms_${m.status}`), `st ${m.status}`); cell(tr, age(m.reading_age_s)); cell(tr, vals, "small");
    return tr;
  }));
}

// -- slower panels -----------------------------------------------------------------------
function renderScorecard(sc) {
  scorecard = sc;
  if (refTarget === null) {
    api(`/api/v1/frameworks/${sc.framework.id}`).then((fw) => {
      const core = fw.indicators.find((i) => i.id === "carbon_per_energy");
      const first = core && core.targets.find((x) => x.value !== null);
      refTarget = first ? first.value : null; gauges();
    }).catch(() => {});
  }
  $("framework").textContent = sc.framework.name;
  $("sc-year").textContent = `${sc.framework.name} · ${sc.year}`;
  $("scorecard").querySelector("tbody").replaceChildren(...sc.results.map((r) => {
    const tr = document.createElement("tr");
    const value = typeof r.value === "boolean" ? (r.value ? "✓" : "✗") : fmt(r.value, 3);
    cell(tr, r.name); cell(tr, `${value} ${r.unit}`);
    cell(tr, r.target !== null ? `${r.comparator} ${fmt(r.target, 3)}` : r.target_text || "–");
    cell(tr, t(`st_${r.status}`), `st ${r.status}`); cell(tr, `${fmt(100 * r.completeness, 0)} %`);
    tr.title = r.note;
    return tr;
  }));
  gauges();
}

async function loadCurve() {
  const park = $("park").value;
  if (!park) return;
  const s = await api(`/api/v1/parks/${park}/series?scope=park&step=15min`);
  const xs = s.points.map((p) => Date.parse(p.start) / 1000);
  // kWh per 15 min -> kW; an unmeasured bucket (value null, e.g. the future) is a gap, never 0
  const kw = (key) => s.points.map((p) => p.completeness > 0 && typeof p.values[key] === "number" ? p.values[key] * 4 : null);
  const data = [xs, kw("electricity_kwh"), kw("pv_kwh")];
  const el = $("curve");
  if (curve) { curve.setData(data); return; }
  el.replaceChildren();
  curve = new uPlot({
    width: Math.max(320, el.clientWidth), height: 220, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), s.timezone),
    series: [{}, { label: t("loadkw"), stroke: "#d9480f", width: 2 }, { label: t("pvkw"), stroke: "#2b8a3e", fill: "rgba(43,138,62,0.12)", width: 2 }],
    axes: [{}, { label: "kW" }],
  }, data, el);
}

async function loadSlow() {
  const park = $("park").value;
  if (!park) return;
  const year = new Date().getFullYear();
  await Promise.all([
    loadCurve().catch((e) => console.error(e)),
    api(`/api/v1/parks/${park}/indicators/${year}`).then(renderScorecard).catch((e) => console.error(e)),
    api(`/api/v1/parks/${park}/gateways`).then((gws) => {
      clocks = Object.fromEntries(gws.map((g) => [g.id, g]));
      if (last) renderHealth(last.meters, last.gateways);
    }).catch((e) => console.error(e)),
  ]);
}

function connect() {
  const park = $("park").value;
  if (source) source.close();
  if (!park) return;
  source = new EventSource(`/api/v1/parks/${park}/stream`);
  source.addEventListener("update", (e) => { $("live").classList.add("on"); render(JSON.parse(e.data)); });
  source.onerror = () => { $("live").classList.remove("on"); api("/api/v1/session").catch(() => {}); };
}

async function start() {
  const me = await api("/api/v1/session");
  $("logout").hidden = me.kind !== "user";
  const parks = await api("/api/v1/parks");
  $("park").replaceChildren(...parks.map((p) => { const o = document.createElement("option"); o.value = p.id; o.textContent = p.name; return o; }));
  const show = () => {
    const p = parks.find((x) => x.id === $("park").value);
    $("park-name").textContent = p ? p.name : "";
    if (curve) { curve.destroy(); curve = null; }
    scorecard = null; connect(); loadSlow();
  };
  $("park").onchange = show;
  show();
  clearInterval(slowTimer);
  slowTimer = setInterval(loadSlow, 60000);
}

function init() {
  applyLang();
  $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lingtan-lang", lang); applyLang(); });
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const r = await fetch("/api/v1/session", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(Object.fromEntries(form)) });
    if (!r.ok) { $("login-error").textContent = t("badlogin"); return; }
    $("login-error").textContent = ""; e.target.reset(); $("login").close(); start();
  });
  $("logout").addEventListener("click", async () => { await fetch("/api/v1/session", { method: "DELETE" }); location.reload(); });
  start().catch((e) => console.error(e));
}
init();
