// Small DOM and formatting helpers shared by the views.

/** Create an element: h("div", {class: "x", onclick: f}, child, "text", ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function fmtNum(v) {
  if (v == null) return "";
  if (typeof v !== "number") {
    if (typeof v === "object") return v._type ? `<${v._type}>` : JSON.stringify(v);
    return String(v);
  }
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(+v.toPrecision(5));
}

export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtDuration(s) {
  if (s == null || !Number.isFinite(s)) return "";
  if (Math.abs(s) < 10 && !Number.isInteger(s)) return `${+s.toFixed(2)}s`;
  s = Math.max(0, Math.round(s));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${ss}s`;
  return `${ss}s`;
}

export function statusBadge(run) {
  const title = run.vanished ? "the process stopped writing without finishing (no heartbeat)" : "";
  return h("span", {class: `status ${run.status}`, title, "data-status": run.status},
    run.status + (run.vanished ? " (vanished)" : ""));
}

/** Flatten a nested config into dotted keys. */
export function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v) && !v._type) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

/** The group of a metric key: the part before the first "/" ("" for none). */
export function groupOf(key) { const i = key.indexOf("/"); return i > 0 ? key.slice(0, i) : ""; }

export function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

/** Save text as a file download. */
export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h("a", {href: url, download: name});
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

let uplot = null;
/** The chart library, run once when first needed (downloaded early by a preload link), so the
 *  page's first data requests start before it is parsed and the runs table never waits for it. */
export function uplotReady() {
  if (!uplot) {
    uplot = window.uPlot ? Promise.resolve() : new Promise((ok, fail) => {
      const s = document.createElement("script");
      s.src = "vendor/uPlot.iife.min.js";
      s.onload = () => ok();
      s.onerror = () => fail(new Error("could not load the chart library (vendor/uPlot.iife.min.js)"));
      document.head.append(s);
    });
  }
  return uplot;
}
