// Lingtan dashboard shell (docs/dashboard.md, the module contract): login, the park, one
// Server-Sent Events stream per park (/api/v1/parks/{id}/stream) for the realtime figures,
// formatting in the park's time zone, ECharts with the dashboard's theme, and hash routing over
// registered views (#/<name>[/<arg>]). The shell's own views are the overview (default), health
// and the wall-screen mode (?wall=1 or #/wall); history.js and enterprises.js add theirs.
// An enterprise's own user (GET /session names its enterprises) gets only the views registered
// with `enterprise: true` (its enterprise's page), opens on it, and has no park stream: its
// clock is the platform's (GET /health).
"use strict";
(() => {
  const LT = window.LT;
  const $ = (id) => document.getElementById(id);
  const SLOW_MS = 60000;  // the views' slower data (curve, scorecard) refresh once a minute

  LT.i18n.add({
    zh: {
      title: "零碳园区能碳监测", wall_title: "零碳园区能碳监测大屏", live: "实时连接", updated: "更新于 {time}",
      lang: "English", login: "登录", username: "用户名", password: "密码", signin: "登录", logout: "退出",
      badlogin: "用户名或密码错误", tz_note: "时间为园区时间 {zone}（UTC{offset}）", error: "出错了：{detail}",
      "view.overview": "总览", "view.health": "设备状态", "view.wall": "大屏",
      no_view: "您的账号只能查看本企业的页面，但企业页面未能加载。",
      "enum.carrier.electricity": "电力", "enum.carrier.natural_gas": "天然气", "enum.carrier.heat": "热力",
      "enum.carrier.diesel": "柴油", "enum.carrier.gasoline": "汽油", "enum.carrier.lpg": "液化石油气",
      "enum.carrier.raw_coal": "原煤", "enum.carrier.water": "水",
      "enum.role.grid": "电网关口", "enum.role.green_direct": "绿电直连", "enum.role.pv": "光伏", "enum.role.wind": "风电",
      "enum.role.fossil_generation": "化石能源发电", "enum.role.storage": "储能", "enum.role.supply": "进线总表",
      "enum.role.enterprise": "企业", "enum.role.load": "其他负荷",
      "enum.status.ok": "正常", "enum.status.late": "延迟", "enum.status.silent": "离线", "enum.status.no_data": "无数据",
      "enum.status.offline": "离线", "enum.status.online": "在线",
      "enum.status.met": "达标", "enum.status.not_met": "未达标", "enum.status.insufficient_data": "数据不足",
      "enum.status.not_applicable": "不适用", "enum.status.excluded": "已排除",
      "enum.kind.core": "核心指标", "enum.kind.guidance": "引导性指标", "enum.kind.principle": "核算原则",
      "enum.source.electricity": "外购电力", "enum.source.fuels": "化石燃料", "enum.source.heat": "外购热力",
      "enum.source.process": "工业过程", "enum.source.transformation": "加工转换",
      "enum.quantity.power_kw": "功率", "enum.quantity.soc_pct": "荷电状态", "enum.quantity.gas_flow_m3h": "流量",
      "enum.quantity.heat_power_kw": "热功率", "enum.quantity.water_flow_m3h": "流量", "enum.quantity.voltage_v": "电压",
      "enum.quantity.current_a": "电流", "enum.quantity.frequency_hz": "频率", "enum.quantity.power_factor": "功率因数",
      "enum.quantity.reactive_power_kvar": "无功功率",
      "enum.quantity.energy_import_kwh": "正向电量", "enum.quantity.energy_export_kwh": "反向电量",
      "enum.quantity.gas_m3": "用气量", "enum.quantity.heat_gj": "用热量", "enum.quantity.heat_export_gj": "供出热量",
      "enum.quantity.water_m3": "用水量", "enum.quantity.fuel_kg": "燃料",
    },
    en: {
      title: "Zero-carbon park energy & carbon", wall_title: "Zero-carbon park control-room screen",
      live: "live connection", updated: "updated {time}",
      lang: "中文", login: "Log in", username: "Username", password: "Password", signin: "Log in", logout: "Log out",
      badlogin: "Wrong username or password", tz_note: "Times are park time, {zone} (UTC{offset})",
      error: "Error: {detail}",
      "view.overview": "Overview", "view.health": "Health", "view.wall": "Wall screen",
      no_view: "Your account may see only its enterprise's page, which did not load.",
      "enum.carrier.electricity": "Electricity", "enum.carrier.natural_gas": "Natural gas", "enum.carrier.heat": "Heat",
      "enum.carrier.diesel": "Diesel", "enum.carrier.gasoline": "Gasoline", "enum.carrier.lpg": "LPG",
      "enum.carrier.raw_coal": "Raw coal", "enum.carrier.water": "Water",
      "enum.role.grid": "Grid connection", "enum.role.green_direct": "Green direct supply", "enum.role.pv": "PV",
      "enum.role.wind": "Wind", "enum.role.fossil_generation": "Fossil generation", "enum.role.storage": "Storage",
      "enum.role.supply": "Supply main", "enum.role.enterprise": "Enterprise", "enum.role.load": "Other load",
      "enum.status.ok": "OK", "enum.status.late": "Late", "enum.status.silent": "Silent", "enum.status.no_data": "No data",
      "enum.status.offline": "Offline", "enum.status.online": "Online",
      "enum.status.met": "Met", "enum.status.not_met": "Not met", "enum.status.insufficient_data": "Insufficient data",
      "enum.status.not_applicable": "Not applicable", "enum.status.excluded": "Excluded",
      "enum.kind.core": "Core", "enum.kind.guidance": "Guidance", "enum.kind.principle": "Accounting principle",
      "enum.source.electricity": "Purchased electricity", "enum.source.fuels": "Fossil fuels",
      "enum.source.heat": "Purchased heat", "enum.source.process": "Industrial process",
      "enum.source.transformation": "Transformation",
      "enum.quantity.power_kw": "Power", "enum.quantity.soc_pct": "State of charge", "enum.quantity.gas_flow_m3h": "Flow",
      "enum.quantity.heat_power_kw": "Heat power", "enum.quantity.water_flow_m3h": "Flow",
      "enum.quantity.voltage_v": "Voltage", "enum.quantity.current_a": "Current", "enum.quantity.frequency_hz": "Frequency",
      "enum.quantity.power_factor": "Power factor", "enum.quantity.reactive_power_kvar": "Reactive power",
      "enum.quantity.energy_import_kwh": "Import energy", "enum.quantity.energy_export_kwh": "Export energy",
      "enum.quantity.gas_m3": "Gas", "enum.quantity.heat_gj": "Heat", "enum.quantity.heat_export_gj": "Heat delivered",
      "enum.quantity.water_m3": "Water", "enum.quantity.fuel_kg": "Fuel",
    },
  });

  // -- the API -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      super(problem && (problem.detail || problem.title) ? `${problem.title || status}: ${problem.detail || ""}` : `HTTP ${status}`);
      this.status = status; this.problem = problem || {};
    }
  }
  LT.ApiError = ApiError;

  LT.api = async (path, { params, method = "GET", body } = {}) => {
    let url = `/api/v1${path}`;
    if (params) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.append(k, v);
      if ([...q].length) url += `?${q}`;
    }
    const headers = { Accept: "application/json", "Accept-Language": LT.lang() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, { method, credentials: "same-origin", headers,
      body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { showLogin(); throw new ApiError(401, await r.json().catch(() => null)); }
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
    return r.status === 204 ? null : r.json();
  };

  // -- the park and its time zone ----------------------------------------------------------
  let park = null;   // GET /parks/{id}
  let data = null;   // the newest SSE payload {realtime, meters, gateways}; an enterprise session: {realtime: {time}}
  let me = null;     // GET /session
  LT.park = () => park;
  LT.session = () => me;
  // the enterprises an enterprise's own credential is bound to (its park's `enterprises`), else null
  LT.enterprises = () => (me && me.enterprises ? me.enterprises : null);
  LT.tz = () => (park && park.timezone) || "Asia/Shanghai";
  LT.data = () => data;

  const formatters = new Map();
  function dtf(options) {
    const key = `${LT.lang()}|${LT.tz()}|${JSON.stringify(options)}`;
    if (!formatters.has(key)) {
      formatters.set(key, new Intl.DateTimeFormat(LT.lang() === "zh" ? "zh-CN" : "en-GB",
        { timeZone: LT.tz(), ...options }));
    }
    return formatters.get(key);
  }
  function toDate(value) {
    if (value instanceof Date) return value;
    if (typeof value === "number") return new Date(value);
    return new Date(Date.parse(value));
  }
  const MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // the calendar fields of an instant in the park's zone; a plain "YYYY-MM[-DD]" is a park-local date already
  function parts(value) {
    if (typeof value === "string") {
      const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(value);
      if (m) return { year: +m[1], month: +m[2], day: m[3] ? +m[3] : 1, hour: 0, minute: 0, second: 0 };
    }
    const d = toDate(value);
    const out = {};
    for (const p of dtf({ year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric",
                          second: "numeric", hourCycle: "h23" }).formatToParts(d)) {
      if (p.type !== "literal") out[p.type] = Number(p.value);
    }
    if (out.hour === 24) out.hour = 0;
    return out;
  }
  const pad = (n) => String(n).padStart(2, "0");
  function fmtDate(value, style = "datetime") {
    if (value === null || value === undefined || value === "") return "–";
    const p = parts(value);
    if (Number.isNaN(p.year)) return "–";
    const zh = LT.lang() === "zh";
    const time = `${pad(p.hour)}:${pad(p.minute)}`;
    const day = zh ? `${p.year}-${pad(p.month)}-${pad(p.day)}` : `${MONTHS_EN[p.month - 1]} ${p.day}, ${p.year}`;
    switch (style) {
      case "time": return time;
      case "seconds": return `${time}:${pad(p.second)}`;
      case "day": return day;
      case "daymonth": return zh ? `${p.month}月${p.day}日` : `${MONTHS_EN[p.month - 1]} ${p.day}`;
      case "month": return zh ? `${p.year}年${p.month}月` : `${MONTHS_EN[p.month - 1]} ${p.year}`;
      case "year": return zh ? `${p.year}年` : String(p.year);
      default: return `${day} ${time}`;
    }
  }
  function fmtNum(v, digits = 1) {
    if (v === null || v === undefined || typeof v !== "number" || !Number.isFinite(v)) return "–";
    const factor = 10 ** digits;
    let x = Math.round(v * factor) / factor;
    if (Object.is(x, -0) || x === 0) x = 0;  // never "-0"
    return x.toLocaleString(LT.lang() === "zh" ? "zh-CN" : "en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  // the UTC offset of the park's zone now, "+8" or "+5:30"
  function offset(at = new Date()) {
    const p = parts(at);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const minutes = Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60000);
    const sign = minutes < 0 ? "−" : "+";
    const a = Math.abs(minutes);
    return `${sign}${Math.floor(a / 60)}${a % 60 ? `:${pad(a % 60)}` : ""}`;
  }
  const UNITS = { tCO2: "tCO₂", "tCO2/tce": "tCO₂/tce", m3: "m³", "m3/h": "m³/h", "tCO2/h": "tCO₂/h", "1": "" };
  LT.fmt = {
    date: fmtDate,
    parts,
    num: fmtNum,
    pct: (ratio, digits = 1) => (typeof ratio === "number" && Number.isFinite(ratio) ? `${fmtNum(100 * ratio, digits)}%` : "–"),
    unit: (u) => (u in UNITS ? UNITS[u] : u || ""),
    offset,
    // "YYYY-MM-DD" of today (or of an instant) in the park's zone
    isoDay: (value = Date.now()) => { const p = parts(value); return `${p.year}-${pad(p.month)}-${pad(p.day)}`; },
  };

  // -- charts ------------------------------------------------------------------------------
  const COLORS = ["#2b8a3e", "#1c7ed6", "#e8590c", "#7048e8", "#f08c00", "#0c8599", "#c2255c", "#5c940d"];
  echarts.registerTheme("lingtan", {
    color: COLORS, backgroundColor: "transparent",
    textStyle: { fontFamily: '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif' },
  });
  let charts = new Set();  // the current view's instances
  LT.charts = {
    colors: COLORS,
    // options.onResize(chart): called after the chart followed its element's new size (to redo a size-dependent layout)
    init(el, options = {}) {
      const old = echarts.getInstanceByDom(el);
      if (old) { charts.delete(old); old.dispose(); }
      const chart = echarts.init(el, "lingtan", { locale: LT.lang() === "zh" ? "ZH" : "EN", renderer: "canvas" });
      charts.add(chart);
      // follow the element's size (a card that grows with its neighbours, the wall screen's grid), not only the window's
      const observer = new ResizeObserver(() => {
        if (chart.isDisposed()) return;
        chart.resize();
        if (options.onResize) options.onResize(chart);
      });
      observer.observe(el);
      const dispose = chart.dispose.bind(chart);
      chart.dispose = () => { observer.disconnect(); dispose(); };
      return chart;
    },
    // a time axis labelled in the park's zone and the current language: HH:mm within a day, the date at midnight
    axisTime(options = {}) {
      const step = options.step || "15min";
      return {
        type: "time",
        axisLabel: {
          hideOverlap: true,
          formatter: (v) => {
            const p = parts(v);
            if (step === "month") return fmtDate(v, "month");
            if (step === "day" || (p.hour === 0 && p.minute === 0)) return fmtDate(v, "daymonth");
            return fmtDate(v, "time");
          },
        },
        axisPointer: { label: { formatter: (a) => fmtDate(a.value, step === "month" ? "month" : step === "day" ? "day" : "datetime") } },
        ...options.extra,
      };
    },
    // an axis tooltip whose heading is the time in the park's zone (ECharts' own would use the browser's)
    timeTooltip({ step = "15min", unit = "", digits = 1 } = {}) {
      const esc = (x) => String(x).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
      return {
        trigger: "axis",
        formatter: (items) => {
          const list = Array.isArray(items) ? items : [items];
          if (!list.length) return "";
          const at = Array.isArray(list[0].value) ? list[0].value[0] : list[0].axisValue;
          const head = fmtDate(at, step === "month" ? "month" : step === "day" ? "day" : "datetime");
          return [esc(head), ...list.map((p) => {
            const v = Array.isArray(p.value) ? p.value[1] : p.value;
            return `${p.marker}${esc(p.seriesName)} <b>${fmtNum(v, digits)}${unit ? ` ${esc(unit)}` : ""}</b>`;
          })].join("<br>");
        },
      };
    },
    resize() { charts.forEach((c) => c.resize()); },
  };
  window.addEventListener("resize", () => LT.charts.resize());

  // -- views and routing -------------------------------------------------------------------
  const views = new Map();
  let mounted = null;  // {name, arg, view}
  LT.ready = false;
  LT.views = {
    register(name, view) {
      views.set(name, { nav: true, enterprise: false, ...view });
      renderNav();
      // a view registered after the shell routed to it (a module loaded late) is mounted now
      if (started && !mounted && routeOf().name === name) route();
    },
    go(name, arg) { location.hash = `#/${name}${arg !== undefined && arg !== null && arg !== "" ? `/${encodeURIComponent(arg)}` : ""}`; },
    current: () => (mounted ? { name: mounted.name, arg: mounted.arg } : null),
    list: () => [...views.keys()],
  };
  const wall = () => new URLSearchParams(location.search).get("wall") === "1" || location.hash.replace(/^#\/?/, "") === "wall";
  LT.wall = wall;

  // whether this session may use a view: an enterprise session only the views registered with `enterprise: true`
  const usable = (view) => !LT.enterprises() || view.enterprise === true;

  function routeOf() {
    const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
    const arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
    if (LT.enterprises()) {  // its enterprise's page, whatever park-wide view was asked for
      if (views.has(name) && usable(views.get(name))) return { name, arg };
      const own = (park && park.enterprises && park.enterprises[0]) || { id: LT.enterprises()[0] };
      return { name: "enterprise", arg: own.id, redirect: true };
    }
    if (wall()) return { name: "overview", arg: "wall" };
    return views.has(name) ? { name, arg } : { name: "overview", arg: undefined };
  }

  function renderNav() {
    const nav = $("nav");
    if (!nav) return;
    if (LT.enterprises()) {  // an enterprise session: a link to each of its enterprises' pages
      const at = mounted ? `${mounted.name}/${mounted.arg}` : "";
      nav.replaceChildren(...((park && park.enterprises) || []).map((e) => {
        const a = document.createElement("a");
        a.href = `#/enterprise/${encodeURIComponent(e.id)}`; a.textContent = e.name; a.dataset.view = "enterprise";
        a.className = `lt-name${at === `enterprise/${e.id}` ? " here" : ""}`;
        return a;
      }));
      return;
    }
    const here = mounted ? mounted.name : routeOf().name;
    nav.replaceChildren(...[...views.entries()].filter(([, v]) => v.nav !== false).map(([name, v]) => {
      const a = document.createElement("a");
      a.href = `#/${name}`; a.textContent = LT.t(v.title); a.dataset.view = name;
      if (name === here) a.className = "here";
      return a;
    }));
  }

  let routing = Promise.resolve();
  function route() {
    routing = routing.then(async () => {
      if (!park) return;
      const { name, arg, redirect } = routeOf();
      const view = views.get(name);
      if (!view) {
        if (LT.enterprises()) {  // the enterprise page did not register: say so, never a park-wide view
          unmount();
          const p = document.createElement("p"); p.className = "bad"; p.id = "no-view"; p.textContent = LT.t("no_view");
          $("view").replaceChildren(p);
          LT.ready = true;
        }
        return;
      }
      LT.ready = false;
      unmount();
      if (redirect) window.history.replaceState(null, "", `${location.pathname}${location.search}#/${name}/${encodeURIComponent(arg)}`);
      const isWall = wall() && !LT.enterprises();
      document.body.classList.toggle("wall", isWall);
      $("top").hidden = isWall; $("wallbar").hidden = !isWall;
      const el = $("view");
      el.replaceChildren();
      el.className = `view-${name}`;
      mounted = { name, arg, view };
      renderNav();
      LT.emit("route");  // a view is about to mount (LT.views.current() names it)
      try { await view.mount(el, arg); } catch (e) { console.error(e); showError(el, e); }
      LT.ready = true;
      LT.emit("ready");
    });
    return routing;
  }
  function unmount() {
    if (!mounted) return;
    try { if (mounted.view.unmount) mounted.view.unmount(); } catch (e) { console.error(e); }
    charts.forEach((c) => c.dispose());
    charts = new Set();
    mounted = null;
  }
  function showError(el, e) {
    const p = document.createElement("p"); p.className = "bad";
    p.textContent = LT.t("error", { detail: e.problem && e.problem.detail ? e.problem.detail : e.message });
    el.prepend(p);
  }
  LT.showError = showError;
  window.addEventListener("hashchange", () => { if (started) route(); });

  // -- language ----------------------------------------------------------------------------
  function applyLang() {
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = LT.t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = LT.t(el.dataset.i18nTitle); });
    $("lang").textContent = LT.t("lang");
    tzNote(); renderNav(); updated(); tick();
  }
  function tzNote() {
    $("tz-note").textContent = park ? LT.t("tz_note", { zone: LT.tz(), offset: offset() }) : "";
  }
  LT.on("lang", applyLang);

  // -- live data ---------------------------------------------------------------------------
  let source = null;
  function updated() {
    $("updated").textContent = data ? LT.t("updated", { time: fmtDate(data.realtime.time, "seconds") }) : "";
  }
  function connect() {
    if (source) source.close();
    let first = true;
    return new Promise((resolve) => {
      source = new EventSource(`/api/v1/parks/${encodeURIComponent(park.id)}/stream`);
      source.addEventListener("update", (e) => {
        $("live").classList.add("on");
        data = JSON.parse(e.data);
        updated();
        if (first) { first = false; resolve(); }
        LT.emit("data");
      });
      source.onerror = () => {
        $("live").classList.remove("on");
        LT.api("/session").catch(() => {});  // shows the login when the session ended
        if (first) { first = false; resolve(); }
      };
    });
  }
  // an enterprise session has no park stream (it is park-wide): its "now" is the platform's clock,
  // from GET /health (which needs no credential), so that its today and this month are the park's
  let clockTimer = null;
  async function platformClock() {
    const read = async () => {
      try {
        const h = await LT.api("/health");
        data = { realtime: { time: h.time } };
        updated();
      } catch (e) { console.error(e); }
    };
    clearInterval(clockTimer);
    clockTimer = setInterval(read, SLOW_MS);
    await read();
  }

  // the wall screen's clock, in the park's zone
  function tick() {
    if (!park) return;
    $("wall-clock").textContent = fmtDate(Date.now(), "seconds");
    $("wall-date").textContent = fmtDate(Date.now(), "day");
  }
  setInterval(tick, 1000);
  LT.slowEvery = SLOW_MS;

  // -- session and park --------------------------------------------------------------------
  let started = false;
  function showLogin() {
    const dialog = $("login");
    if (!dialog.open) dialog.showModal();
  }

  async function choosePark(id) {
    LT.ready = false;
    unmount();
    $("view").replaceChildren();
    park = await LT.api(`/parks/${encodeURIComponent(id)}`);
    $("park-name").textContent = park.name; $("wall-park").textContent = park.name;
    document.title = `${park.name} · Lingtan`;
    formatters.clear();
    data = null;
    tzNote(); tick();
    if (LT.enterprises()) await platformClock(); else await connect();
    started = true;
    await route();
  }

  async function start() {
    me = await LT.api("/session");
    $("logout").hidden = me.kind !== "user";
    $("live").hidden = !!LT.enterprises();  // no live stream for an enterprise session
    const parks = await LT.api("/parks");
    const select = $("park");
    select.replaceChildren(...parks.map((p) => { const o = document.createElement("option"); o.value = p.id; o.textContent = p.name; return o; }));
    const wanted = new URLSearchParams(location.search).get("park");
    if (wanted && parks.some((p) => p.id === wanted)) select.value = wanted;
    select.onchange = () => choosePark(select.value).catch((e) => console.error(e));
    if (parks.length) await choosePark(select.value);
  }

  function init() {
    const isWall = wall();
    document.body.classList.toggle("wall", isWall);
    $("top").hidden = isWall; $("wallbar").hidden = !isWall;
    applyLang();
    $("lang").addEventListener("click", () => LT.setLang(LT.lang() === "zh" ? "en" : "zh"));
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      const r = await fetch("/api/v1/session", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(Object.fromEntries(form)) });
      if (!r.ok) { $("login-error").textContent = LT.t("badlogin"); return; }
      $("login-error").textContent = ""; e.target.reset(); $("login").close();
      start().catch((err) => console.error(err));
    });
    $("logout").addEventListener("click", async () => { await fetch("/api/v1/session", { method: "DELETE" }); location.reload(); });
    start().catch((e) => { if (!(e instanceof ApiError && e.status === 401)) console.error(e); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

// -- the shell's views: overview (also the wall screen) and health --------------------------
(() => {
  const LT = window.LT;
  const t = LT.t, num = (v, d) => LT.fmt.num(v, d);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  };
  LT.el = el;

  LT.i18n.add({
    zh: {
      grid: "电网", pv: "光伏", storage: "储能", load: "负荷", gas: "天然气", heat: "外购热力", bus: "园区配电",
      import: "购入", export: "上网", charge: "充电", discharge: "放电", idle: "待机", generation: "发电",
      carbon_rate: "碳排放速率", soc: "SOC {soc}", other_load: "其他负荷及损耗", gas_use: "园区用气", heat_use: "园区用热",
      flow: "园区能流", flow_unit: "电 kW · 气 m³/h · 热 kW",
      load_def: "负荷 = 电网购入 − 上网 + 光伏发电 + 储能放电 − 储能充电（园区用电，不含储能充电）。曲线与能流图用同一定义。",
      intensity_ytd: "单位能耗碳排放（本年累计）", intensity_today: "今日 {value} tCO₂/tce",
      target: "目标 ≤ {target} tCO₂/tce（{framework}）",
      target_ref: "参考目标 ≤ {target} tCO₂/tce：{framework}对年综合能耗 ≥ {min_wan} 万 tce 的园区适用，本园区未达规模门槛",
      no_target: "{framework}未设目标", target_short: "目标", ref_target: "{target}（参考）",
      curve: "今日负荷与光伏", curve_note: "每 15 分钟的平均功率；未完整计量的时段按已计量部分的平均功率绘制（kWh ÷ 已计量时长）。",
      load_kw: "负荷", pv_kw: "光伏发电", completeness_of: "完整度 {pct}",
      sources: "碳排放来源（本年）", sources_total: "合计 {total} tCO₂",
      periods: "能耗与碳排放", today: "今日", month: "本月", year: "本年",
      row_elec: "用电 kWh", row_gas: "天然气 m³", row_heat: "热力 GJ", row_tce: "综合能耗 tce（等价值）",
      row_co2: "碳排放 tCO₂", row_int: "单位能耗碳排放 tCO₂/tce", year_complete: "本年数据完整度 {pct}",
      scorecard: "指标评价", indicator: "指标", value: "数值", status: "状态", complete: "数据完整度",
      needs_input: "待录入数据", not_applicable_scale: "规模未达门槛",
      health_title: "网关与表计", meters: "表计", more_health: "查看全部表计 →", gateway: "网关", clock: "时钟偏差",
      meter: "表计", carrier: "能源品种", role: "角色", enterprise: "所属企业", age: "读数时延", reading: "瞬时值",
      today_energy: "今日累计", gateways: "网关", meters_ok: "正常表计", newest: "最新读数", clock_offset: "时钟偏差",
      meters_summary: "{ok}/{total} 块表计正常",
      sec: "{n} 秒", min: "{n} 分钟", hour: "{n} 小时",
    },
    en: {
      grid: "Grid", pv: "PV", storage: "Storage", load: "Load", gas: "Natural gas", heat: "Purchased heat", bus: "Park bus",
      import: "import", export: "export", charge: "charging", discharge: "discharging", idle: "idle",
      generation: "generation", carbon_rate: "Carbon rate", soc: "SOC {soc}", other_load: "Other loads and losses",
      gas_use: "Gas use", heat_use: "Heat use",
      flow: "Park energy flow", flow_unit: "electricity kW · gas m³/h · heat kW",
      load_def: "Load = grid import − export + PV generation + battery discharge − battery charging (the park's electricity use, battery charging excluded). The curve and the flow use this one definition.",
      intensity_ytd: "Carbon per unit energy (year to date)", intensity_today: "Today {value} tCO₂/tce",
      target: "Target ≤ {target} tCO₂/tce ({framework})",
      target_ref: "Reference target ≤ {target} tCO₂/tce: {framework} sets it for parks using ≥ {min} tce a year; this park is below the size tier",
      no_target: "{framework} sets no target", target_short: "Target", ref_target: "{target} (reference)",
      curve: "Today's load and PV", curve_note: "Mean power per 15 minutes; a period measured only in part is drawn at the mean power of its measured part (kWh ÷ measured time).",
      load_kw: "Load", pv_kw: "PV generation", completeness_of: "completeness {pct}",
      sources: "Emissions by source (year)", sources_total: "total {total} tCO₂",
      periods: "Energy and emissions", today: "Today", month: "This month", year: "This year",
      row_elec: "Electricity kWh", row_gas: "Natural gas m³", row_heat: "Heat GJ", row_tce: "Energy tce (equivalent value)",
      row_co2: "CO₂ t", row_int: "Carbon per energy tCO₂/tce", year_complete: "year's completeness {pct}",
      scorecard: "Indicator scorecard", indicator: "Indicator", value: "Value", status: "Status", complete: "Completeness",
      needs_input: "needs data entry", not_applicable_scale: "below the size tier",
      health_title: "Gateways and meters", meters: "Meters", more_health: "All meters →", gateway: "Gateway", clock: "clock off by",
      meter: "Meter", carrier: "Carrier", role: "Role", enterprise: "Enterprise", age: "Reading age", reading: "Now",
      today_energy: "Today", gateways: "Gateways", meters_ok: "Meters OK", newest: "Newest reading",
      clock_offset: "Clock offset", meters_summary: "{ok}/{total} meters OK",
      sec: "{n} s", min: "{n} min", hour: "{n} h",
    },
  });

  // indicator and framework names in English (the frameworks' YAML carries the Chinese names only)
  LT.i18n.add({
    en: {
      "fw.national": "National zero-carbon park indicator system (trial)", "fw.jiangsu_guide": "Jiangsu (near-)zero-carbon industrial park guide (interim)",
      "fw.jiangxi": "Jiangxi zero-carbon park evaluation indicators", "fw.hunan": "Hunan zero-carbon park indicator system",
      "fw.wuxi": "Wuxi zero-carbon park evaluation indicators", "fw.yangzhou": "Yangzhou (near-)zero-carbon park targets",
      "ind.carbon_per_energy": "Carbon per unit of energy", "ind.revenue_growth": "Technology, industry and trade revenue",
      "ind.clean_energy_share": "Clean energy share of consumption", "ind.product_unit_energy": "Energy per unit of product of park enterprises",
      "ind.solid_waste_utilisation": "Industrial solid waste utilisation", "ind.waste_heat_cold_pressure": "Waste heat, cold and pressure utilisation",
      "ind.industrial_water_reuse": "Industrial water reuse", "ind.energy_per_value_added": "Energy per unit of industrial value added",
      "ind.co2_per_value_added": "CO₂ per unit of industrial value added", "ind.efficiency_benchmark_share": "Enterprises at the sector's efficiency benchmark",
      "ind.green_factory_share": "Green factories and green supply chains", "ind.cleaner_production_audit_share": "Enterprises with a cleaner-production audit",
      "ind.smart_diagnosis_share": "Enterprises in the digital-transformation diagnosis", "ind.non_fossil_share": "Non-fossil energy share",
      "ind.renewable_electricity_share": "Renewable electricity share (certificates included)", "ind.terminal_electrification": "Final-use electrification",
      "ind.green_building_share": "New buildings rated two-star green or better", "ind.clean_freight_share": "Clean freight transport share",
      "ind.clean_vehicle_share": "New-energy and clean vehicles in the park", "ind.waste_heat_recovery": "Industrial waste-heat recovery",
      "ind.carbon_verification_share": "Enterprises with verified carbon emissions", "ind.carbon_footprint_share": "Enterprises with a certified carbon footprint",
      "ind.environmental_disclosure_share": "Environmental disclosure of enterprises above the size threshold",
      "ind.green_rd_intensity": "Green low-carbon R&D intensity", "ind.innovation_platforms": "Provincial green low-carbon innovation platforms",
      "ind.clean_transport_share": "Clean transport share", "ind.public_service_nev_share": "New-energy vehicles in public service",
      "ind.low_energy_buildings": "Ultra-low, near-zero energy and high-star green buildings", "ind.green_direct_supply_share": "Green power direct supply share",
      "ind.offset_ratio": "Emissions offset ratio", "ind.green_direct_supply_principle": "Green power direct supply share (accounting principle)",
      "ind.park_scale": "Park size", "ind.demand_response_capacity": "Demand-response capacity", "ind.storage_capacity": "Energy storage capacity",
      "ind.rooftop_pv_coverage": "Rooftop PV coverage of usable roofs", "ind.platform_coverage": "Smart management platform coverage of enterprises",
      "ind.low_energy_building_area": "Ultra-low and near-zero energy building area", "ind.ccus_scale": "Carbon capture, use and storage",
      "ind.new_equipment_efficiency": "Energy use of general end-use equipment, new projects",
      "ind.existing_equipment_efficiency": "Energy use of general end-use equipment, existing projects",
      "ind.renewable_share": "Renewable energy share",
    },
  });
  // the API's Chinese name in Chinese, the dictionary's in English (its id if the dictionary has none: recorded as missing)
  LT.indicatorName = (r) => (LT.lang() === "zh" ? r.name : t(`ind.${r.id}`));
  LT.frameworkName = (fw) => (LT.lang() === "zh" ? fw.name : t(`fw.${fw.id}`));

  LT.fmt.age = (s) => (s === null || s === undefined ? "–" : s < 120 ? t("sec", { n: num(s, 0) })
    : s < 7200 ? t("min", { n: num(s / 60, 0) }) : t("hour", { n: num(s / 3600, 1) }));

  const DIGITS = { "%": 1, "tCO2/tce": 2, tce: 1, tCO2: 1 };
  function indicatorValue(r) {
    if (typeof r.value === "boolean") return r.value ? "✓" : "✗";
    if (r.value === null || r.value === undefined) return "–";
    return r.unit === "%" ? `${num(r.value, DIGITS[r.unit])}%` : `${num(r.value, DIGITS[r.unit] ?? 2)} ${LT.fmt.unit(r.unit)}`.trim();
  }
  function withUnit(v, unit) {
    const digits = Number.isInteger(v) ? 0 : DIGITS[unit] ?? 2;
    return unit === "%" ? `${num(v, digits)}%` : `${num(v, digits)} ${LT.fmt.unit(unit)}`.trim();
  }
  const comparator = (c) => ({ "<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "=" }[c] || "");

  // -- the realtime flows, one definition of the load ----------------------------------------
  // load = grid import − export + PV (and wind) + battery discharge − battery charging: what the park uses
  function flows(d) {
    const p = d.realtime.power;
    const generation = p.pv_kw + p.wind_kw;
    const enterprises = Object.fromEntries(((LT.park() || {}).enterprises || []).map((e) => [e.id, e.name]));
    const load = p.grid_kw + generation - p.storage_kw;
    const power = (m) => (m.values && typeof m.values.power_kw === "number" ? m.values.power_kw : null);
    const consumers = d.meters.filter((m) => (m.role === "enterprise" || m.role === "load") && m.carrier === "electricity"
      && !m.parent && power(m) !== null).map((m) => ({ id: m.id, name: m.name || m.id, enterprise: enterprises[m.enterprise],
        kw: Math.max(0, power(m)) }));
    const metered = consumers.reduce((a, c) => a + c.kw, 0);
    const bess = d.meters.find((m) => m.role === "storage" && m.values && typeof m.values.soc_pct === "number");
    return { ...p, generation, load, consumers, other: load - metered, soc: bess ? bess.values.soc_pct : null };
  }
  LT.flows = flows;

  // -- overview ------------------------------------------------------------------------------
  const overview = {
    title: "view.overview",
    mount(root, arg) {
      this.wall = arg === "wall";
      this.root = root;
      root.append(el("div", { class: "ov" },
        el("div", { class: "lt-kpis", id: "kpis" }),
        card("c-flow", "flow", "flow_unit", el("div", { class: "chart", id: "flow" }), el("p", { class: "note", text: t("load_def"), "data-t": "load_def" })),
        card("c-gauge", "intensity_ytd", null, el("div", { class: "chart", id: "gauge" }), el("p", { class: "note", id: "gauge-note" })),
        card("c-curve", "curve", null, el("div", { class: "chart", id: "curve" }), el("p", { class: "note", id: "curve-note" })),
        card("c-sources", "sources", null, el("div", { class: "chart", id: "sources" })),
        card("c-periods", "periods", null, el("div", { class: "lt-table-wrap" }, el("table", { class: "lt-table", id: "periods" }))),
        card("c-scorecard", "scorecard", null, el("div", { class: "lt-table-wrap" }, el("table", { class: "lt-table", id: "scorecard" }))),
        card("c-health", "health_title", null, el("div", { id: "gateways", class: "chips" }),
          el("a", { href: "#/health", class: "health-link", "data-t": "more_health", text: t("more_health") })),
      ));
      this.flowResized = () => { const d = LT.data(); if (d) this.flow(flows(d)); };
      this.charts = { flow: LT.charts.init(root.querySelector("#flow"), { onResize: this.flowResized }), gauge: LT.charts.init(root.querySelector("#gauge")),
        curve: LT.charts.init(root.querySelector("#curve")), sources: LT.charts.init(root.querySelector("#sources")) };
      this.onData = () => this.live();
      this.onLang = () => this.relabel();
      LT.on("data", this.onData);
      LT.on("lang", this.onLang);
      this.timer = setInterval(() => this.slow().catch((e) => console.error(e)), LT.slowEvery);
      this.live();
      return this.slow();
    },
    unmount() {
      LT.off("data", this.onData); LT.off("lang", this.onLang); clearInterval(this.timer);
    },
    relabel() {
      LT.ready = false;
      this.root.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
      for (const k of Object.keys(this.charts)) {
        this.charts[k] = LT.charts.init(this.root.querySelector(`#${k}`), k === "flow" ? { onResize: this.flowResized } : {});
      }
      this.live();
      if (this.series) this.curve(this.series);
      if (this.sc) this.scorecard(this.sc);
      LT.ready = true;
    },
    live() {
      const d = LT.data();
      if (!d) return;
      const f = flows(d);
      this.kpis(f, d.realtime);
      this.flow(f);
      this.gauge();
      this.sources(d.realtime.year.co2_by_source_t || {});
      this.periods(d.realtime);
      gatewayChips(this.root.querySelector("#gateways"), d.gateways, this.clocks || {});
    },
    async slow() {
      const park = LT.park(), d = LT.data();
      const year = LT.fmt.parts(d ? d.realtime.time : Date.now()).year;
      const id = encodeURIComponent(park.id);
      const [series, sc, gws] = await Promise.all([
        LT.api(`/parks/${id}/series`, { params: { scope: "park", step: "15min" } }),
        LT.api(`/parks/${id}/indicators/${year}`),
        LT.api(`/parks/${id}/gateways`),
      ]);
      if (!this.framework || this.framework.id !== sc.framework.id) {
        this.framework = await LT.api(`/frameworks/${encodeURIComponent(sc.framework.id)}`);
      }
      this.clocks = Object.fromEntries(gws.map((g) => [g.id, g]));
      this.series = series; this.sc = sc;
      this.curve(series);
      this.scorecard(sc);
      this.gauge();
      if (d) gatewayChips(this.root.querySelector("#gateways"), LT.data().gateways, this.clocks);
    },
    kpis(f, rt) {
      const kpi = (key, value, unit, sub) => el("div", { class: "lt-kpi", "data-kpi": key }, el("span", { class: "label", text: t(key) }),
        el("span", { class: "value", text: value }), el("span", { class: "unit", text: unit }), el("span", { class: "sub", text: sub || "\u00a0" }));
      const dir = (v, pos, neg) => (Math.abs(v) < 0.05 ? t("idle") : v > 0 ? t(pos) : t(neg));
      this.root.querySelector("#kpis").replaceChildren(
        kpi("grid", num(Math.abs(f.grid_kw), 1), "kW", dir(f.grid_kw, "import", "export")),
        kpi("pv", num(f.generation, 1), "kW", t("generation")),
        kpi("storage", num(Math.abs(f.storage_kw), 1), "kW",
          `${dir(f.storage_kw, "charge", "discharge")}${f.soc !== null ? ` · ${t("soc", { soc: LT.fmt.pct(f.soc / 100, 0) })}` : ""}`),
        kpi("load", num(f.load, 1), "kW"),
        kpi("gas", num(f.gas_m3h, 1), "m³/h"),
        kpi("heat", num(f.heat_kw, 1), "kW"),
        kpi("carbon_rate", num(rt.carbon_rate_t_per_h, 3), "tCO₂/h"),
      );
    },
    flow(f) {
      // a narrow chart (the phone) leaves the enterprises' breakdown to the health view
      const narrow = !this.wall && window.innerWidth < 700;
      const big = this.wall ? 16 : narrow ? 11 : 13;
      const size = this.wall ? [136, 62] : narrow ? [96, 48] : [124, 54];
      const nodes = [], links = [];
      // positions in pixels of the box the graph is drawn in, so that ECharts does not stretch the nodes
      const chart = this.charts.flow;
      const box = { left: size[0] / 2 + 4, right: (narrow ? size[0] : this.wall ? 170 : 150) / 2 + 4, top: size[1] / 2 + 8,
        bottom: size[1] / 2 + 8 };
      const sx = Math.max(1, chart.getWidth() - box.left - box.right) / (narrow ? 400 : 600);
      const sy = Math.max(1, chart.getHeight() - box.top - box.bottom) / 400;
      const node = (id, name, value, x, y, color) => nodes.push({ id, name: value ? `${name}\n${value}` : name, x: x * sx, y: y * sy, symbol: "roundRect",
        symbolSize: size, itemStyle: { color: "#f1f8f4", borderColor: color, borderWidth: 2 },
        label: { show: true, color: "#1d2733", fontSize: big, lineHeight: big + 4 } });
      const kw = (v) => `${num(Math.abs(v), 1)} kW`;
      const electric = Math.max(1, Math.abs(f.grid_kw), f.generation, Math.abs(f.storage_kw), f.load);
      const link = (source, target, value, label, scale, color) => {
        const on = Math.abs(value) >= 0.05;
        links.push({ source, target, value: Math.abs(value), label: { show: false }, tooltip: { formatter: label },
          lineStyle: { width: on ? 2 + 9 * Math.abs(value) / scale : 1.5, color: on ? color : "#b8c2cc", type: on ? "solid" : "dashed",
            opacity: 0.9, curveness: 0 } });
      };
      const G = "#2b8a3e", B = "#1c7ed6", O = "#e8590c", R = "#c2255c";
      node("grid", t("grid"), `${f.grid_kw >= 0 ? t("import") : t("export")} ${kw(f.grid_kw)}`, 0, 0, B);
      node("pv", t("pv"), kw(f.generation), 0, 100, G);
      const sto = Math.abs(f.storage_kw) < 0.05 ? t("idle") : `${f.storage_kw > 0 ? t("charge") : t("discharge")} ${kw(f.storage_kw)}`;
      node("storage", t("storage"), f.soc !== null ? `${sto}\n${t("soc", { soc: LT.fmt.pct(f.soc / 100, 0) })}` : sto, 0, 200, G);
      node("bus", t("bus"), "", 200, 100, B);
      nodes[nodes.length - 1].symbolSize = [size[0] * 0.8, size[1] * 0.7];
      node("load", t("load"), kw(f.load), 400, 100, O);
      node("gas", t("gas"), `${num(f.gas_m3h, 1)} m³/h`, 0, 300, O);
      node("gas_use", t("gas_use"), "", 400, 300, O);
      node("heat", t("heat"), `${num(f.heat_kw, 1)} kW`, 0, 400, R);
      node("heat_use", t("heat_use"), "", 400, 400, R);
      if (f.grid_kw >= 0) link("grid", "bus", f.grid_kw, kw(f.grid_kw), electric, B);
      else link("bus", "grid", f.grid_kw, kw(f.grid_kw), electric, B);
      link("pv", "bus", f.generation, kw(f.generation), electric, G);
      if (f.storage_kw > 0) link("bus", "storage", f.storage_kw, `${t("charge")} ${kw(f.storage_kw)}`, electric, G);
      else link("storage", "bus", f.storage_kw, `${t("discharge")} ${kw(f.storage_kw)}`, electric, G);
      link("bus", "load", f.load, kw(f.load), electric, O);
      const rows = narrow ? [] : [...f.consumers.map((c) => [c.id, c.name, c.kw])];
      if (!narrow && f.other > 0.5) rows.push(["other", t("other_load"), f.other]);
      const span = rows.length > 1 ? 260 / (rows.length - 1) : 0;
      rows.forEach(([id, name, v], i) => {
        const nid = `c-${id}`;
        nodes.push({ id: nid, name: `${name}\n${kw(v)}`, x: 600 * sx, y: (rows.length > 1 ? i * span : 100) * sy, symbol: "roundRect",
          symbolSize: [this.wall ? 170 : 150, this.wall ? 46 : 38], itemStyle: { color: "#fff", borderColor: O, borderWidth: 1 },
          label: { show: true, fontSize: big - 2, color: "#1d2733" } });
        links.push({ source: "load", target: nid, value: v, label: { show: false }, lineStyle: { width: 1 + 6 * v / electric, color: O, opacity: 0.6 } });
      });
      link("gas", "gas_use", f.gas_m3h, `${num(f.gas_m3h, 1)} m³/h`, Math.max(1, f.gas_m3h), O);
      link("heat", "heat_use", f.heat_kw, `${num(f.heat_kw, 1)} kW`, Math.max(1, f.heat_kw), R);
      this.charts.flow.setOption({
        animation: false,
        series: [{ type: "graph", layout: "none", roam: false, nodeScaleRatio: 0, data: nodes, links, edgeSymbol: ["none", "arrow"], edgeSymbolSize: 9,
          ...box, edgeLabel: { show: false } }],
        tooltip: { show: true },
      }, true);
    },
    target() {
      // the target that applies to the park's tier; else the framework's first one, as a reference
      const core = this.sc && this.sc.results.find((r) => r.id === "carbon_per_energy");
      if (core && typeof core.target === "number") return { value: core.target, applied: true };
      const ind = this.framework && this.framework.indicators.find((i) => i.id === "carbon_per_energy");
      const first = ind && ind.targets.find((x) => typeof x.value === "number");
      return first ? { value: first.value, applied: false, min: first.energy_tce_min } : null;
    },
    gauge() {
      const d = LT.data();
      if (!d) return;
      const v = d.realtime.year.intensity_t_per_tce, today = d.realtime.today.intensity_t_per_tce;
      const target = this.target();
      const max = Math.max(target ? target.value * 2 : 0, (v || 0) * 1.2, (today || 0) * 1.1, 0.5);
      const top = Math.ceil(max * 10) / 10;
      const at = target ? Math.min(1, target.value / top) : 1;
      const big = this.wall ? 34 : 26;
      this.charts.gauge.setOption({
        animation: false,
        series: [{
          type: "gauge", min: 0, max: top, startAngle: 210, endAngle: -30, radius: "92%", center: ["50%", "58%"], splitNumber: 5,
          axisLine: { lineStyle: { width: 16, color: target ? [[at, "#2b8a3e"], [1, "#c92a2a"]] : [[1, "#868e96"]] } },
          axisTick: { distance: -16, length: 5, lineStyle: { color: "#fff" } },
          splitLine: { distance: -16, length: 16, lineStyle: { color: "#fff", width: 2 } },
          axisLabel: { distance: 22, fontSize: this.wall ? 14 : 11, formatter: (x) => num(x, 1) },
          pointer: { width: 5, itemStyle: { color: "#1d2733" } },
          title: { show: true, offsetCenter: [0, "72%"], fontSize: this.wall ? 16 : 12, color: "#66727f" },
          detail: { valueAnimation: false, offsetCenter: [0, "40%"], fontSize: big, fontWeight: 700,
            formatter: () => (typeof v === "number" ? `${num(v, 2)}` : "–"), color: "#1d2733" },
          data: [{ value: typeof v === "number" ? Math.min(v, top) : 0, name: "tCO₂/tce" }],
        }],
      }, true);
      const fw = this.sc ? LT.frameworkName(this.sc.framework) : "";
      const note = this.root.querySelector("#gauge-note");
      const todayText = t("intensity_today", { value: num(today, 2) });
      if (!this.sc) note.textContent = todayText;
      else if (!target) note.textContent = `${todayText} · ${t("no_target", { framework: fw })}`;
      else if (target.applied) note.textContent = `${todayText} · ${t("target", { target: num(target.value, 2), framework: fw })}`;
      else note.textContent = `${todayText} · ${t("target_ref", { target: num(target.value, 2), framework: fw, min: num(target.min || 0, 0), min_wan: num((target.min || 0) / 1e4, 0) })}`;
    },
    curve(s) {
      // average power over the measured part of each bucket: kWh / (hours × completeness); an
      // unmeasured bucket (null, e.g. the future) is a gap, never 0 nor a dip
      const pts = s.points.map((p) => {
        const h = (Date.parse(p.end) - Date.parse(p.start)) / 3.6e6;
        const v = p.values;
        const ok = p.completeness > 0 && typeof v.electricity_kwh === "number";
        const scale = ok ? 1 / (h * p.completeness) : null;
        const load = ok ? (v.electricity_kwh - (v.storage_charge_kwh || 0) + (v.storage_discharge_kwh || 0)) * scale : null;
        const pv = ok && typeof v.pv_kwh === "number" ? v.pv_kwh * scale : null;
        return { t: Date.parse(p.start), load, pv, c: p.completeness };
      });
      this.curvePoints = pts;
      const big = this.wall ? 14 : 12;
      this.charts.curve.setOption({
        animation: false,
        grid: { left: 56, right: 30, top: 34, bottom: 28 },
        legend: { top: 0, textStyle: { fontSize: big } },
        tooltip: LT.charts.timeTooltip({ step: "15min", unit: "kW", digits: 1 }),
        xAxis: { ...LT.charts.axisTime({ step: "15min" }), min: Date.parse(s.points.length ? s.points[0].start : Date.now()),
          max: s.points.length ? Date.parse(s.points[s.points.length - 1].end) : undefined },
        yAxis: { type: "value", name: "kW", nameTextStyle: { fontSize: big }, axisLabel: { formatter: (x) => num(x, 0), fontSize: big } },
        series: [
          { name: t("load_kw"), type: "line", showSymbol: false, connectNulls: false, data: pts.map((p) => [p.t, p.load]),
            lineStyle: { width: 2, color: "#e8590c" }, itemStyle: { color: "#e8590c" } },
          { name: t("pv_kw"), type: "line", showSymbol: false, connectNulls: false, data: pts.map((p) => [p.t, p.pv]),
            lineStyle: { width: 2, color: "#2b8a3e" }, itemStyle: { color: "#2b8a3e" }, areaStyle: { color: "rgba(43,138,62,0.12)" } },
        ],
      }, true);
      const last = [...pts].reverse().find((p) => p.load !== null);
      this.root.querySelector("#curve-note").textContent = t("curve_note")
        + (last && last.c < 0.999 ? ` ${LT.fmt.date(last.t, "time")}: ${t("completeness_of", { pct: LT.fmt.pct(last.c, 0) })}` : "");
    },
    sources(src) {
      const entries = Object.entries(src).filter(([, v]) => Math.abs(v) > 1e-9).sort((a, b) => a[1] - b[1]);
      const total = entries.reduce((a, [, v]) => a + v, 0);
      const big = this.wall ? 15 : 12;
      this.charts.sources.setOption({
        animation: false,
        title: { text: t("sources_total", { total: num(total, 1) }), right: 8, top: 0, textStyle: { fontSize: big, fontWeight: "normal", color: "#66727f" } },
        grid: { left: 8, right: 140, top: 28, bottom: 8, containLabel: true },
        xAxis: { type: "value", show: false },
        yAxis: { type: "category", data: entries.map(([k]) => t.enum("source", k)), axisLabel: { fontSize: big }, axisTick: { show: false } },
        series: [{ type: "bar", barMaxWidth: 26, data: entries.map(([, v]) => v), itemStyle: { color: "#5c7cfa", borderRadius: 3 },
          label: { show: true, position: "right", fontSize: big,
            formatter: (p) => `${num(p.value, 1)} t · ${LT.fmt.pct(total ? p.value / total : null, 1)}` } }],
      }, true);
    },
    periods(rt) {
      const rows = [
        ["row_elec", (f) => num(f.energy_by_carrier.electricity, 0)],
        ["row_gas", (f) => num(f.energy_by_carrier.natural_gas, 0)],
        ["row_heat", (f) => num(f.energy_by_carrier.heat, 1)],
        ["row_tce", (f) => num(f.energy_tce, 2)],
        ["row_co2", (f) => num(f.co2_t, 2)],
        ["row_int", (f) => num(f.intensity_t_per_tce, 2)],
      ];
      const periods = [rt.today, rt.month, rt.year];
      this.root.querySelector("#periods").replaceChildren(
        el("thead", {}, el("tr", {}, el("th"), ...["today", "month", "year"].map((k) => el("th", { class: "num", text: t(k) })))),
        el("tbody", {}, ...rows.map(([k, fn]) => el("tr", {}, el("th", { text: t(k) }), ...periods.map((f) => el("td", { class: "num", text: fn(f) }))))),
      );
    },
    scorecard(sc) {
      const target = this.target();
      const head = this.root.querySelector(".c-scorecard h2 .muted");
      // the year's completeness is the measured share of the year so far, as the indicators judge it
      head.textContent = `${LT.frameworkName(sc.framework)} · ${LT.fmt.date(String(sc.year), "year")} · `
        + t("year_complete", { pct: LT.fmt.pct(sc.completeness, sc.completeness < 0.1 ? 1 : 0) });
      const rows = sc.results.map((r) => {
        let targetText = "–";
        if (typeof r.target === "number") targetText = `${comparator(r.comparator)} ${withUnit(r.target, r.unit)}`;
        else if (r.id === "carbon_per_energy" && target && !target.applied) {
          targetText = t("ref_target", { target: `${comparator(r.comparator)} ${withUnit(target.value, r.unit)}` });
        } else if (r.target_text) targetText = LT.lang() === "zh" ? r.target_text : t(`tt.${r.target_text}`);
        // no value at all: nothing was measured or entered, so there is no completeness to show
        const noValue = r.value === null || r.value === undefined;
        // the reason after the verdict is a span of its own: the wall screen leaves it out to fit all rows
        let why = null;
        if (r.status === "insufficient_data" && noValue) why = t("needs_input");
        if (r.status === "not_applicable" && r.id === "carbon_per_energy" && target && !target.applied) why = t("not_applicable_scale");
        const tr = el("tr", {}, el("td", { text: LT.indicatorName(r) }), el("td", { class: "num", text: indicatorValue(r) }),
          el("td", { class: "target", text: targetText }),
          el("td", { class: `st ${r.status}` }, t.enum("status", r.status), why ? el("span", { class: "why", text: ` · ${why}` }) : null),
          el("td", { class: "num", text: noValue ? "–" : LT.fmt.pct(r.completeness, r.completeness < 0.1 ? 1 : 0) }));
        tr.title = r.note || "";
        tr.dataset.indicator = r.id;
        return tr;
      });
      this.root.querySelector("#scorecard").replaceChildren(
        el("thead", {}, el("tr", {}, el("th", { text: t("indicator") }), el("th", { class: "num", text: t("value") }),
          el("th", { class: "target", text: t("target_short") }), el("th", { text: t("status") }), el("th", { class: "num", text: t("complete") }))),
        el("tbody", {}, ...rows));
    },
  };
  // the frameworks' qualitative targets in English, keyed by their Chinese text
  LT.i18n.add({ en: {
    "tt.达到或优于二级能耗限额标准": "at or better than grade 2 of the energy-consumption limit standard",
    "tt.建设期内持续增长": "growing throughout the construction period",
    "tt.市级不作限制（需四至边界）；省级须列入《中国开发区审核公告目录》；国家级另需年综合能源消费量≥20万吨标准煤":
      "city level: no limit (a defined boundary); provincial: listed in the China Development Zone catalogue; national: also ≥ 200,000 tce a year",
    "tt.≥日均用电量的8%": "≥ 8% of the mean daily electricity use", "tt.≥日均用电量的10%": "≥ 10% of the mean daily electricity use",
    "tt.≥最大用电负荷的10%": "≥ 10% of the peak electric load",
    "tt.达到或优于一级能效标准": "at or better than grade 1 of the energy-efficiency standard",
  } });

  function card(cls, titleKey, subKey, ...body) {
    const h2 = el("h2", {}, el("span", { text: t(titleKey), "data-t": titleKey }), el("span", { class: "muted", ...(subKey ? { "data-t": subKey, text: t(subKey) } : {}) }));
    return el("section", { class: `lt-card ${cls}` }, h2, ...body);
  }
  LT.card = card;

  // the gateway chips: alarms.js puts its badges on "#gateways .chip" whose text contains " <id>:"
  function gatewayChips(box, gateways, clocks) {
    if (!box) return;
    box.replaceChildren(...gateways.map((g) => {
      const chip = el("span", { class: `chip ${g.status}` });
      chip.textContent = `${t("gateway")} ${g.id}: ${t.enum("status", g.status)} · ${t("meters_summary", { ok: g.meters_ok, total: g.meters_total })} · ${LT.fmt.age(g.reading_age_s)}`;
      const c = clocks[g.id];
      if (c && c.clock_off) {  // its clock is further from ingest's than ingest.max_clock_ahead_s
        chip.classList.add("clock");
        chip.append(" · ", el("span", { class: "clock-off", text: `${t("clock")} ${c.clock_offset_s > 0 ? "+" : ""}${num(c.clock_offset_s, 0)} s` }));
      }
      return chip;
    }));
  }

  // -- health --------------------------------------------------------------------------------
  // a meter's instantaneous values with names and units; generation positive, as in the flow
  function reading(m) {
    const v = m.values || {};
    const out = [];
    if (typeof v.power_kw === "number") {
      const p = v.power_kw;
      if (m.role === "pv" || m.role === "wind") out.push(`${t("generation")} ${num(Math.abs(p), 1)} kW`);
      else if (m.role === "grid") out.push(`${Math.abs(p) < 0.05 ? t("idle") : p > 0 ? t("import") : t("export")} ${num(Math.abs(p), 1)} kW`);
      else if (m.role === "storage") out.push(`${Math.abs(p) < 0.05 ? t("idle") : p > 0 ? t("charge") : t("discharge")} ${num(Math.abs(p), 1)} kW`);
      else out.push(`${t.enum("quantity", "power_kw")} ${num(p, 1)} kW`);
    }
    if (typeof v.soc_pct === "number") out.push(`SOC ${LT.fmt.pct(v.soc_pct / 100, 0)}`);
    if (typeof v.gas_flow_m3h === "number") out.push(`${t.enum("quantity", "gas_flow_m3h")} ${num(v.gas_flow_m3h, 1)} m³/h`);
    if (typeof v.heat_power_kw === "number") out.push(`${t.enum("quantity", "heat_power_kw")} ${num(v.heat_power_kw, 1)} kW`);
    if (typeof v.water_flow_m3h === "number") out.push(`${t.enum("quantity", "water_flow_m3h")} ${num(v.water_flow_m3h, 1)} m³/h`);
    return out.join(" · ") || "–";
  }
  const COUNTER_UNITS = { energy_import_kwh: "kWh", energy_export_kwh: "kWh", gas_m3: "m³", heat_gj: "GJ", heat_export_gj: "GJ", water_m3: "m³", fuel_kg: "kg" };
  function todayEnergy(m) {
    const out = [];
    for (const [k, v] of Object.entries(m.today || {})) {
      if (!(k in COUNTER_UNITS) || typeof v !== "number") continue;
      if (v === 0 && Object.keys(m.today).length > 1) continue;  // the unused direction of a two-way meter
      let label = t.enum("quantity", k);
      if (m.role === "pv" || m.role === "wind") label = t("generation");
      else if (m.role === "grid") label = k === "energy_import_kwh" ? t("import") : t("export");
      else if (m.role === "storage") label = k === "energy_import_kwh" ? t("charge") : t("discharge");
      out.push(`${label} ${num(v, COUNTER_UNITS[k] === "GJ" ? 1 : 0)} ${COUNTER_UNITS[k]}`);
    }
    return out.join(" · ") || "–";
  }

  const health = {
    title: "view.health",
    mount(root) {
      this.root = root;
      root.append(el("div", { class: "lt-grid" },
        card("wide c-gw", "gateways", null, el("div", { id: "gateways", class: "chips" }),
          el("div", { class: "lt-table-wrap" }, el("table", { class: "lt-table", id: "gw-table" }))),
        card("wide c-meters", "meters", null, el("div", { class: "lt-table-wrap" }, el("table", { class: "lt-table", id: "meters" })))));
      this.onData = () => this.render();
      this.onLang = () => { root.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); }); this.render(); };
      LT.on("data", this.onData); LT.on("lang", this.onLang);
      this.timer = setInterval(() => this.slow().catch((e) => console.error(e)), LT.slowEvery);
      return this.slow();
    },
    unmount() { LT.off("data", this.onData); LT.off("lang", this.onLang); clearInterval(this.timer); },
    async slow() {
      const gws = await LT.api(`/parks/${encodeURIComponent(LT.park().id)}/gateways`);
      this.clocks = Object.fromEntries(gws.map((g) => [g.id, g]));
      this.render();
    },
    render() {
      const d = LT.data();
      if (!d) return;
      const clocks = this.clocks || {};
      gatewayChips(this.root.querySelector("#gateways"), d.gateways, clocks);
      this.root.querySelector("#gw-table").replaceChildren(
        el("thead", {}, el("tr", {}, el("th", { text: t("gateway") }), el("th", { text: t("status") }), el("th", { class: "num", text: t("meters_ok") }),
          el("th", { text: t("newest") }), el("th", { class: "num", text: t("age") }), el("th", { class: "num", text: t("clock_offset") }))),
        el("tbody", {}, ...d.gateways.map((g) => {
          const c = clocks[g.id];
          return el("tr", {}, el("td", { class: "lt-name", text: g.id }), el("td", { class: `st ${g.status}`, text: t.enum("status", g.status) }),
            el("td", { class: "num", text: `${g.meters_ok}/${g.meters_total}` }), el("td", { text: LT.fmt.date(g.last_reading_at, "datetime") }),
            el("td", { class: "num", text: LT.fmt.age(g.reading_age_s) }),
            el("td", { class: `num${c && c.clock_off ? " clock-off" : ""}`, text: c && typeof c.clock_offset_s === "number" ? `${c.clock_offset_s > 0 ? "+" : ""}${num(c.clock_offset_s, 1)} s` : "–" }));
        })));
      const ents = Object.fromEntries(((LT.park() || {}).enterprises || []).map((e) => [e.id, e.name]));
      this.root.querySelector("#meters").replaceChildren(
        el("thead", {}, el("tr", {}, ...[["meter"], ["carrier"], ["role"], ["enterprise"], ["status"], ["age", "num"], ["reading", "num"], ["today_energy", "num"]]
          .map(([k, c]) => el("th", { text: t(k), ...(c ? { class: c } : {}) })))),
        el("tbody", {}, ...d.meters.map((m) => el("tr", { "data-meter": m.id },
          el("td", { class: "lt-name", text: m.name || m.id }), el("td", { text: t.enum("carrier", m.carrier) }),
          el("td", { text: t.enum("role", m.role) }), el("td", { class: "lt-name", text: m.enterprise ? ents[m.enterprise] || m.enterprise : "–" }),
          el("td", { class: `st ${m.status}`, text: t.enum("status", m.status) }), el("td", { class: "num", text: LT.fmt.age(m.reading_age_s) }),
          el("td", { class: "num", text: reading(m) }), el("td", { class: "num", text: todayEnergy(m) })))));
    },
  };

  LT.views.register("overview", overview);
  LT.views.register("health", health);
})();
