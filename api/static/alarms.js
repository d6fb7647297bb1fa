// The alarm panel (docs/alarms.md): the park's active alarms, refreshed every few seconds from
// GET /api/v1/parks/{id}/alarms, each with an acknowledge button (POST .../alarms/{id}/ack, scope
// write), and a badge on the affected meter row or gateway chip of dashboard.js's health panel.
"use strict";
(() => {
  const REFRESH_MS = 3000;
  const TEXT = {
    zh: { title: "告警", none: "无活动告警", ack: "确认", acked: "已确认", by: "确认人", flaps: "次抖动",
          note: "确认备注（可选）", failed: "确认失败", info: "提示", warning: "警告", critical: "严重",
          meter_no_data: "仪表无数据", gateway_offline: "网关离线", gateway_spool: "网关缓存积压", gateway_clock: "网关时钟偏差", counter_events: "计量异常事件",
          completeness_day: "日数据完整率不足", completeness_month: "月数据完整率不足", dead_letters: "接入死信过多",
          power: "功率超限", projection_off_track: "年末预测超目标" },
    en: { title: "Alarms", none: "No active alarms", ack: "Acknowledge", acked: "acknowledged", by: "by", flaps: "flaps",
          note: "Note (optional)", failed: "acknowledge failed", info: "info", warning: "warning", critical: "critical",
          meter_no_data: "Meter not reporting", gateway_offline: "Gateway offline", gateway_spool: "Gateway spool backlog", gateway_clock: "Gateway clock offset", counter_events: "Counter events",
          completeness_day: "Daily completeness low", completeness_month: "Monthly completeness low",
          dead_letters: "Ingest dead letters", power: "Power above threshold",
          projection_off_track: "Year-end projection above target" },
  };
  const tr = (k) => (TEXT[localStorage.getItem("lingtan-lang") || "zh"] || TEXT.zh)[k] || k;
  let active = [];
  let names = {};  // meter id -> display name, for matching the meter table's rows

  function panel() {
    let section = document.getElementById("alarms");
    if (!section) {
      section = document.createElement("section");
      section.id = "alarms"; section.className = "panel wide";
      section.innerHTML = '<h2 id="alarms-title"></h2><p id="alarms-error" class="bad"></p><ul id="alarm-list"></ul>'
        + '<details><summary id="alarms-acked-title"></summary><ul id="alarm-acked"></ul></details>';
      const main = document.querySelector("main");
      main.insertBefore(section, main.firstChild);
    }
    return section;
  }

  function render() {
    panel();
    document.getElementById("alarms-title").textContent = `${tr("title")} (${active.filter((a) => a.state === "raised").length})`;
    const raised = active.filter((a) => a.state === "raised");
    const acked = active.filter((a) => a.state === "acknowledged");
    document.getElementById("alarms-acked-title").textContent = `${tr("acked")} (${acked.length})`;
    const list = document.getElementById("alarm-list");
    if (!raised.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = tr("none");
      list.replaceChildren(li);
    } else {
      list.replaceChildren(...raised.map(item));
    }
    document.getElementById("alarm-acked").replaceChildren(...acked.map(item));
    badges();
  }

  function item(a) {
    const li = document.createElement("li");
    li.className = `alarm ${a.severity} ${a.state}`; li.dataset.alarm = a.id; li.dataset.rule = a.rule;
    const head = document.createElement("b");
    head.textContent = `[${tr(a.severity)}] ${tr(a.rule)} · ${a.subject}`;
    const msg = document.createElement("span"); msg.className = "small muted";
    msg.textContent = ` ${a.message}${a.flaps ? ` · ${a.flaps} ${tr("flaps")}` : ""}`;
    li.append(head, msg);
    if (a.state === "raised") {
      const b = document.createElement("button"); b.type = "button"; b.className = "ack"; b.textContent = tr("ack");
      b.addEventListener("click", () => acknowledge(a.id));
      li.append(" ", b);
    } else {
      const s = document.createElement("span"); s.className = "small";
      s.textContent = ` · ${tr("by")} ${a.acknowledged_by}${a.note ? `: ${a.note}` : ""}`;
      li.append(s);
    }
    return li;
  }

  function badges() {
    const open = active.filter((a) => a.state === "raised" || a.state === "acknowledged");
    const meters = document.querySelectorAll("#meters tbody tr");
    meters.forEach((row) => {
      row.querySelectorAll(".alarm-badge").forEach((b) => b.remove());
      const label = row.firstElementChild ? row.firstElementChild.textContent : "";
      const hits = open.filter((a) => a.subject === label || names[a.subject] === label);
      if (hits.length) row.firstElementChild.append(badge(hits));
    });
    document.querySelectorAll("#gateways .chip").forEach((chip) => {
      chip.querySelectorAll(".alarm-badge").forEach((b) => b.remove());
      const hits = open.filter((a) => a.rule.startsWith("gateway_") && chip.textContent.includes(` ${a.subject}:`));
      if (hits.length) chip.append(badge(hits));
    });
  }

  function badge(hits) {
    const b = document.createElement("span");
    b.className = `alarm-badge ${hits.some((a) => a.severity === "critical") ? "critical" : "warning"}`;
    b.textContent = "⚠"; b.title = hits.map((a) => tr(a.rule)).join(", ");
    return b;
  }

  async function acknowledge(id) {
    const park = document.getElementById("park").value;
    const note = window.prompt(tr("note"), "") || "";
    const r = await fetch(`/api/v1/parks/${park}/alarms/${id}/ack`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify({ note }) });
    document.getElementById("alarms-error").textContent = r.ok ? "" : `${tr("failed")}: HTTP ${r.status}`;
    await refresh();
  }

  let namesOf = null;
  async function refresh() {
    const select = document.getElementById("park");
    const park = select && select.value;
    if (!park) return;
    try {
      if (namesOf !== park) {
        const m = await fetch(`/api/v1/parks/${park}/meters`, { credentials: "same-origin" });
        if (m.ok) { names = Object.fromEntries((await m.json()).map((x) => [x.id, x.name || x.id])); namesOf = park; }
      }
      const r = await fetch(`/api/v1/parks/${park}/alarms?limit=1`, { credentials: "same-origin" });
      if (!r.ok) return;  // not logged in yet, or no access: dashboard.js shows the login
      active = (await r.json()).active;
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
    document.getElementById("park").addEventListener("change", refresh);
    document.getElementById("lang").addEventListener("click", () => setTimeout(render, 0));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
