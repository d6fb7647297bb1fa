// The alarm panel (docs/alarms.md): the park's active alarms, refreshed every few seconds from
// GET /api/v1/parks/{id}/alarms, each with an acknowledge button (POST .../alarms/{id}/ack, scope
// write), and a badge on the affected meter row or gateway chip of dashboard.js's health panel.
// The panel is shown on the overview and the health view only (not on history, enterprises, reports).
// Every string goes through LT.t, and each alarm is worded here, per rule, in the page's language
// from the alarm's rule, value, threshold and subject name (the API's English `message` is for
// machines and logs, not shown).
"use strict";
(() => {
  const LT = window.LT;
  const t = LT.t;
  const REFRESH_MS = 3000;
  const RULES = ["meter_no_data", "gateway_offline", "gateway_spool", "gateway_clock", "counter_events",
                 "completeness_day", "completeness_month", "dead_letters", "power", "projection_off_track"];
  LT.i18n.add({
    zh: {
      "alarm.title": "告警", "alarm.none": "无活动告警", "alarm.ack": "确认", "alarm.acked": "已确认",
      "alarm.by": "确认人 {who}", "alarm.flaps": "{n} 次抖动", "alarm.note": "确认备注（可选）",
      "alarm.failed": "确认失败：{detail}", "alarm.since": "{time} 起",
      "enum.severity.info": "提示", "enum.severity.warning": "警告", "enum.severity.critical": "严重",
      "alarm.rule.meter_no_data": "仪表无数据", "alarm.rule.gateway_offline": "网关离线",
      "alarm.rule.gateway_spool": "网关缓存积压", "alarm.rule.gateway_clock": "网关时钟偏差",
      "alarm.rule.counter_events": "计量异常事件", "alarm.rule.completeness_day": "日数据完整率不足",
      "alarm.rule.completeness_month": "月数据完整率不足", "alarm.rule.dead_letters": "接入死信过多",
      "alarm.rule.power": "功率超限", "alarm.rule.projection_off_track": "年末预测超目标",
      "alarm.msg.meter_no_data.none": "尚未收到读数",
      "alarm.msg.meter_no_data": "已 {age} 无读数（限值 {limit} 次轮询）",
      "alarm.msg.gateway_offline": "网关报告离线",
      "alarm.msg.gateway_spool": "缓存中 {value} 条读数待发送（限值 {limit} 条）",
      "alarm.msg.gateway_spool.error": "网关缓存磁盘拒绝写入（缓存中 {value} 条读数）",
      "alarm.msg.gateway_clock": "时钟偏差 {value} s（限值 ±{limit} s）",
      "alarm.msg.counter_events": "{value} 个计量时段被标记（计数器复位、溢出、尖峰、速率异常或回退）",
      "alarm.msg.completeness_day": "昨日数据完整度 {value}（阈值 {limit}）",
      "alarm.msg.completeness_month": "本月至昨日数据完整度 {value}（阈值 {limit}）",
      "alarm.msg.dead_letters": "{value} 条接入死信（限值 {limit} 条）",
      "alarm.msg.power": "功率 {value} kW（阈值 {limit} kW）",
      "alarm.msg.projection_off_track": "单位能耗碳排放年末预测 {value} tCO₂/tce，未达目标",
      "alarm.msg.none": "",
    },
    en: {
      "alarm.title": "Alarms", "alarm.none": "No active alarms", "alarm.ack": "Acknowledge", "alarm.acked": "Acknowledged",
      "alarm.by": "by {who}", "alarm.flaps": "{n} flaps", "alarm.note": "Note (optional)",
      "alarm.failed": "Acknowledge failed: {detail}", "alarm.since": "since {time}",
      "enum.severity.info": "info", "enum.severity.warning": "warning", "enum.severity.critical": "critical",
      "alarm.rule.meter_no_data": "Meter not reporting", "alarm.rule.gateway_offline": "Gateway offline",
      "alarm.rule.gateway_spool": "Gateway spool backlog", "alarm.rule.gateway_clock": "Gateway clock offset",
      "alarm.rule.counter_events": "Counter events", "alarm.rule.completeness_day": "Daily data completeness low",
      "alarm.rule.completeness_month": "Monthly data completeness low", "alarm.rule.dead_letters": "Ingest dead letters",
      "alarm.rule.power": "Power above threshold", "alarm.rule.projection_off_track": "Year-end projection above target",
      "alarm.msg.meter_no_data.none": "no reading received yet",
      "alarm.msg.meter_no_data": "no reading for {age} (limit {limit} polls)",
      "alarm.msg.gateway_offline": "the gateway reports offline",
      "alarm.msg.gateway_spool": "{value} readings waiting in the spool (limit {limit})",
      "alarm.msg.gateway_spool.error": "the gateway's spool disk refuses writes ({value} readings in the spool)",
      "alarm.msg.gateway_clock": "clock off by {value} s (limit ±{limit} s)",
      "alarm.msg.counter_events": "{value} intervals flagged (counter reset, rollover, spike, rate or going down)",
      "alarm.msg.completeness_day": "yesterday's data completeness {value} (threshold {limit})",
      "alarm.msg.completeness_month": "data completeness of the month to yesterday {value} (threshold {limit})",
      "alarm.msg.dead_letters": "{value} dead letters (limit {limit})",
      "alarm.msg.power": "power {value} kW (threshold {limit} kW)",
      "alarm.msg.projection_off_track": "carbon per unit of energy projected at {value} tCO₂/tce for the year end, target not met",
      "alarm.msg.none": "",
    },
  });

  let active = [];

  // the alarm in words, per rule: from its value (what the rule measured) and threshold
  function wording(a) {
    const num = LT.fmt.num, v = a.value, lim = a.threshold;
    const vars = { value: "–", limit: lim === null || lim === undefined ? "–" : num(lim, 0) };
    switch (a.rule) {
      case "meter_no_data":
        if (v === null || v === undefined) return t("alarm.msg.meter_no_data.none");
        return t("alarm.msg.meter_no_data", { age: LT.fmt.age(v), limit: vars.limit });
      case "gateway_offline": return t("alarm.msg.gateway_offline");
      case "gateway_spool":  // raised at or under the limit: the status reported a spool error, not a backlog
        if (typeof v === "number" && typeof lim === "number" && v <= lim) return t("alarm.msg.gateway_spool.error", { value: num(v, 0) });
        vars.value = num(v, 0); break;
      case "gateway_clock": vars.value = v === null ? "–" : `${v > 0 ? "+" : ""}${num(v, 0)}`; break;
      case "completeness_day": case "completeness_month":
        vars.value = LT.fmt.pct(v, 1); vars.limit = LT.fmt.pct(lim ?? 0.9, 0); break;
      case "power": vars.value = num(v, 1); break;
      case "projection_off_track": vars.value = num(v, 2); break;
      default: vars.value = num(v, 0);
    }
    return RULES.includes(a.rule) ? t(`alarm.msg.${a.rule}`, vars) : t("alarm.msg.none");
  }
  const ruleName = (rule) => (RULES.includes(rule) ? t(`alarm.rule.${rule}`) : rule);
  LT.alarms = { wording, ruleName, RULES };  // for the tests: every rule worded in both languages

  function panel() {
    let section = document.getElementById("alarms");
    if (!section) {
      section = document.createElement("section");
      section.id = "alarms"; section.className = "panel wide"; section.hidden = true;
      section.innerHTML = '<h2 id="alarms-title"></h2><p id="alarms-error" class="bad"></p><ul id="alarm-list"></ul>'
        + '<details><summary id="alarms-acked-title"></summary><ul id="alarm-acked"></ul></details>';
      const main = document.querySelector("main");
      main.insertBefore(section, main.firstChild);
    }
    return section;
  }

  // the views the panel belongs on
  const PANEL_VIEWS = new Set(["overview", "health"]);
  let loaded = false;  // hidden until the first answer, so no empty panel flashes before the data
  function place() {
    const section = document.getElementById("alarms");
    if (!section) return;
    const here = LT.views ? LT.views.current() : null;
    section.hidden = !(loaded && here && PANEL_VIEWS.has(here.name));
  }

  function render() {
    panel();
    place();
    const raised = active.filter((a) => a.state === "raised");
    const acked = active.filter((a) => a.state === "acknowledged");
    document.getElementById("alarms-title").textContent = `${t("alarm.title")} (${raised.length})`;
    document.getElementById("alarms-acked-title").textContent = `${t("alarm.acked")} (${acked.length})`;
    const list = document.getElementById("alarm-list");
    if (!raised.length) list.replaceChildren(LT.el("li", { class: "muted", text: t("alarm.none") }));
    else list.replaceChildren(...raised.map(item));
    document.getElementById("alarm-acked").replaceChildren(...acked.map(item));
    badges();
  }

  function item(a) {
    const li = LT.el("li", { class: `alarm ${a.severity} ${a.state}`, "data-alarm": a.id, "data-rule": a.rule });
    const head = LT.el("b", {}, `[${t.enum("severity", a.severity)}] ${ruleName(a.rule)} · `,
                       LT.el("span", { class: "lt-name", text: a.subject_name || a.subject }));
    const extra = [wording(a)];
    if (a.raised_at) extra.push(t("alarm.since", { time: LT.fmt.date(a.raised_at, "datetime") }));
    if (a.flaps) extra.push(t("alarm.flaps", { n: a.flaps }));
    li.append(head, LT.el("span", { class: "small muted msg", text: ` ${extra.filter(Boolean).join(" · ")}` }));
    if (a.state === "raised") {
      const b = LT.el("button", { type: "button", class: "ack", text: t("alarm.ack") });
      b.addEventListener("click", () => acknowledge(a.id));
      li.append(" ", b);
    } else {
      li.append(LT.el("span", { class: "small", text: ` · ${t("alarm.by", { who: a.acknowledged_by })}${a.note ? `: ${a.note}` : ""}` }));
    }
    return li;
  }

  function badges() {
    const open = active.filter((a) => a.state === "raised" || a.state === "acknowledged");
    document.querySelectorAll("#meters tbody tr").forEach((row) => {
      row.querySelectorAll(".alarm-badge").forEach((b) => b.remove());
      const hits = open.filter((a) => a.subject === row.dataset.meter);
      if (hits.length && row.firstElementChild) row.firstElementChild.append(badge(hits));
    });
    document.querySelectorAll("#gateways .chip").forEach((chip) => {
      chip.querySelectorAll(".alarm-badge").forEach((b) => b.remove());
      const hits = open.filter((a) => a.rule.startsWith("gateway_") && chip.textContent.includes(` ${a.subject}:`));
      if (hits.length) chip.append(badge(hits));
    });
  }

  function badge(hits) {
    const b = LT.el("span", { class: `alarm-badge ${hits.some((a) => a.severity === "critical") ? "critical" : "warning"}`, text: "⚠" });
    b.title = hits.map((a) => ruleName(a.rule)).join(", ");
    return b;
  }

  async function acknowledge(id) {
    const note = window.prompt(t("alarm.note"), "") || "";
    const error = document.getElementById("alarms-error");
    try {
      await LT.api(`/parks/${encodeURIComponent(LT.park().id)}/alarms/${id}/ack`, { method: "POST", body: { note } });
      error.textContent = "";
    } catch (e) {
      error.textContent = t("alarm.failed", { detail: (e && e.problem && e.problem.detail) || (e && e.message) || "" });
    }
    await refresh();
  }

  async function refresh() {
    const park = LT.park && LT.park();
    if (!park) return;
    if (LT.enterprises && LT.enterprises()) return;  // an enterprise's user: no park alarms
    try {
      // plain fetch, not LT.api: a poll must not open the login dialog (dashboard.js does that)
      const r = await fetch(`/api/v1/parks/${encodeURIComponent(park.id)}/alarms?limit=1`, { credentials: "same-origin" });
      if (!r.ok) return;
      const page = await r.json();
      if (page.park !== (LT.park() || {}).id) return;  // the park changed meanwhile
      active = page.active; loaded = true;
      render();
    } catch (e) { /* the next refresh tries again */ }
  }

  function start() {
    refresh();
    setInterval(refresh, REFRESH_MS);
    const health = document.querySelector("#meters tbody");
    const observer = new MutationObserver(() => { observer.disconnect(); badges(); watch(); });
    function watch() {
      if (health) observer.observe(health, { childList: true });
      const chips = document.getElementById("gateways");
      if (chips) observer.observe(chips, { childList: true });
    }
    watch();
    LT.on("lang", () => { if (document.getElementById("alarms")) render(); });
    LT.on("route", place);
    LT.on("ready", () => { place(); badges(); refresh(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
