// The runs page's analysis panel: parallel coordinates (brushing filters the runs table and the
// selection), scatter, parameter importance and groups, over the runs the table's filter matches.
// Its state lives in the URL (js/urlstate.js): an (tab), metric, agg, axes, brush, sx, sy, slogx,
// slogy, group, gmetric.
import {get} from "./api.js";
import {h, clear} from "./util.js";
import {urlState} from "./urlstate.js";
import {drawParcoords, catText, inBrush} from "./parcoords.js";
import {drawScatter} from "./scatter.js";
import {drawImportance} from "./importance.js";
import {drawGroups} from "./groups.js";
import {defaultMetricCols} from "./metriccols.js";

const TABS = [["pc", "Parallel coordinates"], ["scatter", "Scatter"], ["imp", "Importance"], ["group", "Groups"]];
const METRIC_AXIS = "metric:";

/** A filter value for `v` in the runs filter language (text quoted, numbers and booleans bare). */
export function literal(v) {
  if (typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === null) return "None";
  return `"${String(v).replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** The filter field of an axis: config.KEY, or summary.KEY for the metric axis. */
function fieldOf(axisKey) {
  return axisKey.startsWith(METRIC_AXIS) ? `summary.${axisKey.slice(METRIC_AXIS.length)}` : `config.${axisKey}`;
}

function readBrushes() {
  try { return JSON.parse(urlState.get("brush", "{}")) || {}; } catch (e) { return {}; }
}

/**
 * Mount the panel above the runs table. ctx: {project, userFilter() -> text, onFilter() (the table
 * refreshes), selected: Set of uuids}. Returns {el, brushFilter() -> text to AND with the user's}.
 */
export function mountAnalysis(ctx) {
  const el = h("section", {class: "analysis"});
  const tabs = h("div", {class: "tabs an-tabs"});
  const controls = h("div", {class: "toolbar an-controls"});
  const body = h("div", {class: "an-body"});
  const note = h("div", {class: "muted an-note"});
  el.append(tabs, controls, note, body);
  let data = null, dataKey = "", brushes = readBrushes(), asked = 0;

  const tab = () => urlState.get("an", "");
  const agg = () => urlState.get("agg", "last");

  function drawTabs() {
    clear(tabs).append(...TABS.map(([k, label]) => h("button", {class: tab() === k ? "on" : "", dataset: {an: k},
      onclick: () => { urlState.set({an: tab() === k ? null : k}); show(); }}, label)));
  }

  async function load(metrics) {
    const filter = ctx.userFilter().trim();
    const key = JSON.stringify([filter, metrics, agg()]);
    if (data && key === dataKey) return data;
    const mine = ++asked;
    const ans = await get(`/projects/${encodeURIComponent(ctx.project)}/analysis/values`, {metric: metrics, agg: agg(), filter});
    if (mine === asked) { data = ans; dataKey = key; }
    return ans;
  }

  function select(name, value, options, onchange) {
    const s = h("select", {name, onchange: () => onchange(s.value)}, options.map(([v, label]) => h("option", {value: v, selected: v === value}, label)));
    return s;
  }

  function configKeys(runs) {
    const vals = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.config)) (vals[k] ||= new Set()).add(JSON.stringify(v));
    return Object.keys(vals).sort().filter((k) => vals[k].size > 1);
  }

  async function show() {
    drawTabs();
    clear(controls); clear(body); note.textContent = "";
    const t = tab();
    el.classList.toggle("open", !!t);
    if (!t) return;
    try {
      const given = urlState.get("metric") || (t === "group" ? urlState.getAll("gmetric", true)[0] : null);
      const first = await load(given ? [given] : []);
      const metric = given || defaultMetricCols(await sampleSummaries())[0] || first.metric_keys[0] || "";
      const mkeys = first.metric_keys;
      const metricSel = select("an-metric", metric, mkeys.map((k) => [k, k]), (v) => { urlState.set({metric: v}); show(); });
      const aggSel = select("an-agg", agg(), [["last", "last"], ["min", "min"], ["max", "max"]], (v) => { urlState.set({agg: v === "last" ? null : v}); show(); });
      if (t !== "group") controls.append(h("label", {}, "metric ", metricSel), h("label", {}, " summary ", aggSel));
      if (t === "pc") await showParcoords(metric);
      else if (t === "scatter") await showScatter(metric, mkeys);
      else if (t === "imp") { if (metric) await drawImportance(body, {project: ctx.project, metric, agg: agg(), filter: ctx.userFilter().trim()}); }
      else if (t === "group") await showGroups(metric, mkeys);
    } catch (e) {
      note.textContent = e.message;
    }
    window.seetrain.analysisShown = performance.now();
  }

  async function sampleSummaries() {
    const ans = await get("/runs", {project: ctx.project, limit: 200, filter: ctx.userFilter().trim()});
    return ans.runs;
  }

  async function showParcoords(metric) {
    const d = await load(metric ? [metric] : []);
    const all = configKeys(d.runs);
    const chosen = urlState.getAll("axes", true).filter((k) => all.includes(k));
    const axesKeys = chosen.length ? chosen : all.slice(0, 7);
    const pick = h("details", {class: "an-axes"}, h("summary", {}, `axes (${axesKeys.length})`),
      all.map((k) => {
        const cb = h("input", {type: "checkbox", name: "axis", value: k, checked: axesKeys.includes(k), onchange: () => {
          const next = cb.checked ? [...axesKeys, k] : axesKeys.filter((a) => a !== k);
          urlState.set({axes: next.join(",")}); show();
        }});
        return h("label", {}, cb, " ", k);
      }));
    const clearBtn = h("button", {name: "clear-brush", disabled: !Object.keys(brushes).length, onclick: () => setBrushes({})}, "clear brushes");
    controls.append(pick, clearBtn);
    const axes = axesKeys.map((k) => ({key: k, label: k}));
    if (metric) axes.push({key: METRIC_AXIS + metric, label: `${metric} (${agg()})`});
    const vals = d.runs.map((r) => r.metrics[metric]).filter((v) => typeof v === "number");
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const runs = d.runs.map((r) => {
      const v = {...r.config};
      if (metric) v[METRIC_AXIS + metric] = r.metrics[metric] ?? null;
      const m = r.metrics[metric];
      return {uuid: r.uuid, name: r.name, vals: v, color: typeof m === "number" ? (hi > lo ? (m - lo) / (hi - lo) : 0.5) : null};
    });
    const plot = h("div", {class: "pc"});
    body.append(plot);
    const res = drawParcoords(plot, {runs, axes, brushes, onBrush: setBrushes});
    if (agg() !== "last" && brushes[METRIC_AXIS + metric]) note.textContent = `The runs table filters on last values: a brush on ${metric} (${agg()}) narrows the lines only.`;
    window.seetrain.parcoords = {runs: runs.length, axes: axes.length, ms: res.ms, shown: res.shown};
  }

  function setBrushes(next) {
    brushes = next;
    urlState.set({brush: Object.keys(next).length ? JSON.stringify(next) : null});
    if (data) {  // the selection keeps only runs inside the brushes
      const out = new Set(data.runs.filter((r) => !inside(r)).map((r) => r.uuid));
      for (const u of [...ctx.selected]) if (out.has(u)) ctx.selected.delete(u);
    }
    ctx.onFilter();
    show();
  }

  function valueOf(r, key) { return key.startsWith(METRIC_AXIS) ? r.metrics[key.slice(METRIC_AXIS.length)] : r.config[key]; }
  function inside(r) { return Object.entries(brushes).every(([k, b]) => inBrush(b, valueOf(r, k) ?? null)); }

  /** The brushes as a runs filter (numeric ranges inclusive; categories as `in (...)`). */
  function brushFilter() {
    const parts = [];
    for (const [k, b] of Object.entries(brushes)) {
      if (k.startsWith(METRIC_AXIS) && agg() !== "last") continue;
      const f = fieldOf(k);
      if (b.cats) {
        const sample = new Map();
        for (const r of (data ? data.runs : [])) { const v = valueOf(r, k); if (v !== undefined) sample.set(catText(v), v); }
        const lits = b.cats.map((c) => (sample.has(c) ? literal(sample.get(c)) : literal(c)));
        parts.push(`${f} in (${lits.join(", ")})`);
      } else parts.push(`${f}>=${b.lo} and ${f}<=${b.hi}`);
    }
    return parts.join(" and ");
  }

  async function showScatter(metric, mkeys) {
    const d0 = await load(metric ? [metric] : []);
    const opts = [...configKeys(d0.runs).map((k) => [`config:${k}`, `config ${k}`]), ...mkeys.map((k) => [`metric:${k}`, `metric ${k}`])];
    const sx = urlState.get("sx", opts.length ? opts[0][0] : ""), sy = urlState.get("sy", `metric:${metric}`);
    const xSel = select("sc-x", sx, opts, (v) => { urlState.set({sx: v}); show(); });
    const ySel = select("sc-y", sy, opts, (v) => { urlState.set({sy: v}); show(); });
    const lx = h("input", {type: "checkbox", name: "sc-logx", checked: urlState.getBool("slogx"), onchange: () => { urlState.set({slogx: lx.checked}); show(); }});
    const ly = h("input", {type: "checkbox", name: "sc-logy", checked: urlState.getBool("slogy"), onchange: () => { urlState.set({slogy: ly.checked}); show(); }});
    clear(controls).append(h("label", {}, "x ", xSel), h("label", {}, " y ", ySel), h("label", {}, lx, " log x"), h("label", {}, ly, " log y"),
      h("label", {}, " summary ", select("an-agg", agg(), [["last", "last"], ["min", "min"], ["max", "max"]], (v) => { urlState.set({agg: v === "last" ? null : v}); show(); })));
    const need = [...new Set([sx, sy].filter((s) => s.startsWith("metric:")).map((s) => s.slice(7)))];
    const d = await load(need);
    const val = (r, s) => (s.startsWith("metric:") ? r.metrics[s.slice(7)] : r.config[s.slice(7)]);
    const plot = h("div", {class: "scatter"});
    body.append(plot);
    drawScatter(plot, d.runs.map((r) => ({uuid: r.uuid, name: r.name, x: val(r, sx) ?? null, y: val(r, sy) ?? null})),
      {xLabel: sx.replace(":", " "), yLabel: sy.replace(":", " "), logx: urlState.getBool("slogx"), logy: urlState.getBool("slogy")});
  }

  async function showGroups(metric, mkeys) {
    const by = urlState.getAll("group", true);
    const gm = urlState.getAll("gmetric", true);
    const metrics = gm.length ? gm : (metric ? [metric] : []);
    const byIn = h("input", {type: "search", name: "group", value: by.join(", "), placeholder: "group by: optimizer, tag", size: 28,
      onchange: () => { urlState.set({group: byIn.value.split(",").map((s) => s.trim()).filter(Boolean).join(",")}); show(); }});
    const mIn = h("input", {type: "search", name: "gmetric", value: metrics.join(", "), placeholder: "metrics", size: 28, list: "an-mkeys",
      onchange: () => { urlState.set({gmetric: mIn.value.split(",").map((s) => s.trim()).filter(Boolean).join(",")}); show(); }});
    controls.append(h("label", {}, "group by ", byIn), h("label", {}, " metrics ", mIn), h("datalist", {id: "an-mkeys"}, mkeys.map((k) => h("option", {value: k}))));
    const t0 = performance.now();
    const filter = ctx.userFilter().trim();
    const lines = by.length && metrics.length  // asked while the runs' values load
      ? get(`/projects/${encodeURIComponent(ctx.project)}/analysis/groups`, {group: by, metric: metrics, filter, points: 300}) : null;
    const d = await load(metrics);
    const res = await drawGroups(body, {by, metrics, runs: d.runs, lines});
    window.seetrain.groups = {runs: d.runs.length, tableMs: res && res.tableMs, ms: performance.now() - t0};
  }

  show();
  // refresh(): fetch again and redraw (the filter changed); a promise, so a benchmark can time it
  const api = {el, brushFilter, refresh: () => { data = null; return tab() ? show() : Promise.resolve(); }};
  window.seetrain.analysis = api;
  return api;
}
