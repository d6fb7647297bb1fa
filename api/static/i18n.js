// The dashboard's languages and events (the module contract, docs/dashboard.md): Chinese by
// default, English on request; every module adds its own strings with LT.i18n.add and looks
// them up with LT.t. A key no language has is shown as itself and recorded in
// LT.i18n.missing, which the browser tests assert is empty.
"use strict";
(() => {
  const LANG_KEY = "lingtan-lang";  // alarms.js reads the same key
  const dict = { zh: {}, en: {} };
  const missing = new Set();
  const listeners = {};
  const query = new URLSearchParams(location.search).get("lang");
  let current = query === "en" || query === "zh" ? query : (localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh");

  function fill(text, vars) {
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (vars[name] === undefined || vars[name] === null ? m : String(vars[name])));
  }

  function t(key, vars) {
    const text = dict[current][key] ?? (current === "en" ? undefined : dict.zh[key]);
    if (text === undefined) { missing.add(key); return key; }
    return fill(text, vars);
  }
  // an enum value of a shared kind (carrier, role, status, quantity, source, ...): key enum.<kind>.<value>
  t.enum = (kind, value) => (value === null || value === undefined || value === "" ? "–" : t(`enum.${kind}.${value}`));
  t.has = (key) => dict[current][key] !== undefined;

  const LT = window.LT = window.LT || {};
  LT.t = t;
  LT.i18n = {
    missing,
    add(strings) {
      for (const lang of Object.keys(dict)) Object.assign(dict[lang], strings[lang] || {});
    },
  };
  LT.lang = () => current;
  LT.setLang = (lang) => {
    if (lang !== "zh" && lang !== "en") throw new Error(`language must be zh or en, not ${lang}`);
    if (lang === current) return;
    current = lang;
    localStorage.setItem(LANG_KEY, lang);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    LT.emit("lang");
  };
  LT.on = (event, fn) => { (listeners[event] = listeners[event] || new Set()).add(fn); };
  LT.off = (event, fn) => { if (listeners[event]) listeners[event].delete(fn); };
  LT.emit = (event, ...args) => {
    for (const fn of [...(listeners[event] || [])]) {
      try { fn(...args); } catch (e) { console.error(e); }
    }
  };
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
})();
