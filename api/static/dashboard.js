// Lingtan dashboard: Chinese by default, English on switch; polls the REST API.
const T = {
  zh: { title: "零碳园区能碳监测", grid: "电网", pv: "光伏", storage: "储能", load: "负荷", rate: "碳排放速率",
        periods: "能耗与碳排放", today: "今日", month: "本月", year: "本年", elec: "用电 kWh",
        tce: "综合能耗 tce（等价值）", co2: "碳排放 tCO₂", intensity: "单位能耗碳排放 tCO₂/tce",
        meters: "计量表计", meter: "表计", carrier: "能源品种", role: "角色", last: "最近读数", values: "数值",
        updated: "更新于", lang: "English" },
  en: { title: "Zero-carbon park energy & carbon", grid: "Grid", pv: "PV", storage: "Storage", load: "Load",
        rate: "Carbon rate", periods: "Energy and emissions", today: "Today", month: "This month",
        year: "This year", elec: "Electricity kWh", tce: "Energy tce (equivalent value)", co2: "CO₂ t",
        intensity: "Carbon per energy tCO₂/tce", meters: "Meters", meter: "Meter", carrier: "Carrier",
        role: "Role", last: "Last reading", values: "Values", updated: "updated", lang: "中文" },
};
let lang = localStorage.getItem("lingtan-lang") || "zh";
const $ = (id) => document.getElementById(id);
const fmt = (x, d = 1) => (x === null || x === undefined) ? "–" : Number(x).toLocaleString(lang === "zh" ? "zh-CN" : "en", { maximumFractionDigits: d });

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = T[lang][el.dataset.i18n]; });
  $("lang").textContent = T[lang].lang;
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function refresh() {
  const park = $("park").value;
  if (!park) return;
  const [rt, meters] = await Promise.all([
    getJSON(`/api/v1/parks/${park}/carbon/realtime`), getJSON(`/api/v1/parks/${park}/meters`)]);
  $("p-grid").textContent = fmt(rt.power.grid_kw);
  $("p-pv").textContent = fmt(rt.power.pv_kw);
  $("p-storage").textContent = fmt(rt.power.storage_kw);
  $("p-load").textContent = fmt(rt.power.load_kw);
  $("rate").textContent = fmt(rt.carbon_rate_t_per_h, 3);
  for (const p of ["today", "month", "year"]) {
    const f = rt[p];
    $(`${p}-kwh`).textContent = fmt(f.energy_by_carrier.electricity, 1);
    $(`${p}-tce`).textContent = fmt(f.energy_tce, 3);
    $(`${p}-co2`).textContent = fmt(f.co2_t, 3);
    $(`${p}-int`).textContent = fmt(f.intensity_t_per_tce, 3);
  }
  const body = $("meters").querySelector("tbody");
  body.replaceChildren(...meters.map((m) => {
    const tr = document.createElement("tr");
    const vals = Object.entries(m.values).map(([k, v]) => `${k}=${fmt(v, 2)}`).join("  ");
    for (const text of [m.name || m.id, m.carrier, m.role, m.last_reading_at ? new Date(m.last_reading_at).toLocaleTimeString() : "–", vals]) {
      const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
    }
    return tr;
  }));
  $("updated").textContent = `${T[lang].updated} ${new Date(rt.time).toLocaleTimeString()}`;
}

async function init() {
  applyLang();
  $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lingtan-lang", lang); applyLang(); refresh(); });
  const parks = await getJSON("/api/v1/parks");
  $("park").replaceChildren(...parks.map((p) => { const o = document.createElement("option"); o.value = p.id; o.textContent = p.name; return o; }));
  const show = () => { const p = parks.find((x) => x.id === $("park").value); $("park-name").textContent = p ? p.name : ""; refresh(); };
  $("park").addEventListener("change", show);
  show();
  setInterval(() => refresh().catch((e) => console.error(e)), 1000);
}
init();
