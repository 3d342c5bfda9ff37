// Runs grouped by config keys (or tag): a table with each group's size and, per metric, the mean
// [min–max] of its runs' last values; and one chart per metric with a line per group (the mean over
// its runs at each step) inside its min–max band (GET /projects/{p}/analysis/groups).
import {h, clear, fmtNum, uplotReady, flatten} from "./util.js";

const COLORS = ["#1971c2", "#e8590c", "#2b8a3e", "#c2255c", "#6741d9", "#0c8599", "#f08c00", "#495057"];

/** mean, min, max and count of the finite numbers in `vals`. */
export function stats(vals) {
  const v = vals.filter((x) => typeof x === "number" && Number.isFinite(x));
  if (!v.length) return null;
  return {mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length};
}

/** The lines of several runs as one (`parts`: [[xs, ys], ...], xs ascending): at each x of any run,
 *  the mean, min and max over the runs whose line covers that x: a run's own value there, or the
 *  straight line between its two points around it (runs logged at other steps, or downsampled to
 *  other points, still count); a NaN, an infinity or a gap next to x leaves that run out there. */
export function aggregate(parts) {
  const all = new Set();
  for (const [xs] of parts) for (const v of xs) all.add(v);
  const x = Float64Array.from(all).sort(), n = x.length;
  const sum = new Float64Array(n), count = new Int32Array(n), min = new Array(n).fill(null), max = new Array(n).fill(null);
  const ok = (y) => y != null && Number.isFinite(y);
  for (const [xs, ys] of parts) {
    if (!xs.length) continue;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const at = x[i];
      if (at < xs[0]) continue;
      if (at > xs[xs.length - 1]) break;
      while (xs[j] < at) j++;            // xs[j] >= at > xs[j - 1]
      let y;
      if (xs[j] === at) y = ys[j];
      else { const a = ys[j - 1], b = ys[j]; y = ok(a) && ok(b) ? a + (b - a) * (at - xs[j - 1]) / (xs[j] - xs[j - 1]) : null; }
      if (!ok(y)) continue;
      sum[i] += y; count[i]++;
      if (min[i] === null || y < min[i]) min[i] = y;
      if (max[i] === null || y > max[i]) max[i] = y;
    }
  }
  const mean = Array.from(sum, (s, i) => (count[i] ? s / count[i] : null));
  return {x: Array.from(x), mean, min, max, count: Array.from(count)};
}

/** The runs (as /runs or /ui/compare answer them, config nested) grouped by `by`: [{name, label, runs}],
 *  named "adam / 32" in the order of their labels. */
export function groupsOf(runs, by) {
  if (!by.length) return null;
  const own = new Map(runs.map((r) => [r.uuid, r]));
  return groupRuns(runs.map((r) => ({...r, config: flatten(r.config || {})})), by)
    .map((g) => ({name: g.label.join(" / "), label: g.label, runs: g.runs.map((f) => own.get(f.uuid) || f)}));
}

/** Group `runs` (values-endpoint rows) by the keys `by` (config keys or "tag"), as the server labels them. */
export function groupRuns(runs, by) {
  const out = new Map();
  for (const r of runs) {
    const label = by.map((k) => {
      if (k === "tag" || k === "tags") return [...(r.tags || [])].sort().join(",") || "-";
      const v = r.config[k.replace(/^config\./, "")];
      return v === undefined ? "-" : (typeof v === "string" ? v : v === null ? "None" : typeof v === "boolean" ? (v ? "True" : "False") : String(v));
    });
    const key = JSON.stringify(label);
    if (!out.has(key)) out.set(key, {label, runs: []});
    out.get(key).runs.push(r);
  }
  return [...out.values()].sort((a, b) => (JSON.stringify(a.label) < JSON.stringify(b.label) ? -1 : 1));
}

/** The group table (from the runs' last values, computed here) and the group charts (`lines`: the
 *  promised answer of GET /projects/{p}/analysis/groups). */
export async function drawGroups(root, {by, metrics, runs, lines}) {
  const t0 = performance.now();
  clear(root);
  if (!by.length) { root.append(h("p", {class: "muted"}, "Choose one or more config keys (or tag) to group by.")); return; }
  const groups = groupRuns(runs, by);
  root.append(h("table", {class: "grid groups"},
    h("thead", {}, h("tr", {}, h("th", {}, by.join(" / ")), h("th", {class: "num"}, "runs"), metrics.map((m) => h("th", {class: "num"}, `${m} mean [min–max]`)))),
    h("tbody", {}, groups.map((g, i) => h("tr", {dataset: {group: JSON.stringify(g.label), size: g.runs.length}},
      h("td", {}, h("span", {class: "gswatch", style: `background:${COLORS[i % COLORS.length]}`}), g.label.join(" / ")),
      h("td", {class: "num"}, g.runs.length),
      metrics.map((m) => {
        const s = stats(g.runs.map((r) => r.metrics[m]));
        return h("td", {class: "num", dataset: s ? {metric: m, mean: s.mean, min: s.min, max: s.max} : {metric: m}},
          s ? `${fmtNum(s.mean)} [${fmtNum(s.min)}–${fmtNum(s.max)}]` : "");
      }))))));
  const tableMs = performance.now() - t0;
  if (!metrics.length) return {tableMs};
  const charts = h("div", {class: "charts"});
  root.append(charts);
  const [ans] = await Promise.all([lines, uplotReady()]);
  for (const m of metrics) {
    const el = h("div", {class: "chart group-chart", dataset: {key: m}}, h("div", {class: "ctitle"}, h("span", {}, `${m} by ${by.join(" / ")}`)));
    charts.append(el);
    const xs = [...new Set(ans.groups.flatMap((g) => g.metrics[m].x))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const data = [xs], series = [{label: "step"}], bands = [];
    ans.groups.forEach((g, i) => {
      const line = g.metrics[m], col = COLORS[i % COLORS.length];
      const cols = [0, 1, 2].map(() => new Array(xs.length).fill(null));
      line.x.forEach((x, j) => { const k = at.get(x); cols[0][k] = line.mean[j]; cols[1][k] = line.max[j]; cols[2][k] = line.min[j]; });
      const base = data.length;
      data.push(...cols);
      const name = `${g.label.join(" / ")} (${g.size})`;
      series.push({label: name, stroke: col, width: 2, spanGaps: true},
        {label: `${name} max`, stroke: col + "55", width: 0.5, spanGaps: true, show: true},
        {label: `${name} min`, stroke: col + "55", width: 0.5, spanGaps: true});
      bands.push({series: [base + 1, base + 2], fill: col + "22"});
    });
    const u = new uPlot({width: Math.max(360, (charts.clientWidth || 900) / 2 - 20), height: 240, series, bands,
      legend: {show: true}, scales: {x: {time: false}}}, data, el);
    el.__u = u;
    // the band's edges stay out of the legend: one entry a group
    u.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => { if (i > 0 && (i - 1) % 3 !== 0) row.hidden = true; });
    el.dataset.groups = ans.groups.length;
  }
  root.dataset.ms = (performance.now() - t0).toFixed(1);
  return {tableMs};
}
