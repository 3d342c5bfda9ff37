// Small DOM and formatting helpers shared by the views.

/** A CSS custom property of the page's theme (light or dark), e.g. cssVar("--fg"). */
export function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

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

/** Tick labels of one axis: short, all distinct, scientific ("1.5e-4", "9.7e7") for very small or
 *  large magnitudes, plain ("0.25", "1200") otherwise; trailing zeros dropped. */
export function fmtTicks(vals) {
  const finite = vals.filter((v) => v != null && Number.isFinite(v));
  const big = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const sci = big >= 1e5 || (big > 0 && big < 1e-3);
  const one = (v, p) => {
    if (v == null || !Number.isFinite(v)) return "";
    if (v === 0) return "0";
    if (sci) {
      const [m, e] = v.toExponential(p).split("e");
      return `${m.includes(".") ? m.replace(/\.?0+$/, "") : m}e${e.replace("+", "")}`;
    }
    const s = Math.abs(v) >= 1 && Number.isInteger(v) ? String(v) : String(+v.toPrecision(p + 1));
    return s;
  };
  for (let p = 1; p <= 8; p++) {
    const out = vals.map((v) => one(v, p));
    if (new Set(out.filter(Boolean)).size === new Set(finite).size) return out;
  }
  return vals.map((v) => one(v, 9));
}

/** Bytes for people: 2.528e10 -> "23.5 GiB". */
export function fmtBytes(b) {
  if (b == null || !Number.isFinite(+b)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = +b, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? +v.toFixed(v >= 100 ? 0 : 1) : v} ${units[i]}`;
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

/** Save text (or a Blob) as a file download. */
export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(text instanceof Blob ? text : new Blob([text], {type}));
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
