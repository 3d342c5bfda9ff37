// One metric chart (uPlot): several runs overlaid, min/max band when downsampled, smoothing,
// log scale, hover values, drag-to-zoom that fetches detail for the range, live appends by cursor.
import {get} from "./api.js";
import {h, fmtNum, fmtDuration, uplotReady} from "./util.js";
import {PALETTE, smooth, positive, join, relOrigin} from "./series.js";

const HEIGHT = 200;

/** x mode -> what the server is asked for. */
export const serverX = (mode) => (mode === "step" ? "step" : "time");

export class MetricChart {
  /**
   * @param {string} key metric key
   * @param {Array<{uuid,name,start_time}>} runs runs to overlay (first gets the band)
   * @param {{xMode:string, smoothing:number, logY:boolean}} view shared view settings
   */
  constructor(key, runs, view) {
    this.key = key;
    this.runs = runs;
    this.view = view;
    this.data = new Map();          // uuid -> {x, y, ymin, ymax, downsampled, total, last_x}
    this.zoom = null;               // [lo, hi] in server x units, or null for everything
    this.u = null;
    this.info = h("span", {class: "info"});
    this.plotEl = h("div", {class: "plot"});
    this.el = h("div", {class: "chart", dataset: {key}},
      h("div", {class: "ctitle"}, h("span", {class: "ckey", title: key}, key), this.info,
        h("span", {}, h("a", {href: "#", onclick: (e) => { e.preventDefault(); this.exportCsv(); }}, "csv"), " ",
          h("a", {href: "#", onclick: (e) => { e.preventDefault(); this.exportJsonl(); }}, "jsonl"))),
      this.plotEl);
  }

  points() {
    const w = this.plotEl.clientWidth || 400;
    return Math.max(200, Math.min(4000, Math.round(w * 2)));
  }

  /** Fetch (the zoomed range of) every run's series and draw. */
  async load() {
    const sx = serverX(this.view.xMode);
    const ans = await Promise.all(this.runs.map((r) => {
      const [lo, hi] = this.zoom ? this.toServer(r, this.zoom) : [null, null];
      return get("/series", {run: r.uuid, key: this.key, x: sx, points: this.points(), start: lo, end: hi});
    }));
    ans.forEach((a, i) => this.data.set(this.runs[i].uuid, a.series[0]));
    await uplotReady();
    this.draw(true);
  }

  /** Take series fetched elsewhere (the batched first load) and draw. */
  accept(list) {
    for (const s of list) this.data.set(s.run, s);
    this.draw(true);
  }

  /** Live update: only points after each run's last x (the cursor). Returns true when new points came. */
  async poll() {
    if (this.zoom) return false;
    const sx = serverX(this.view.xMode);
    let grew = false, refetch = false;
    await Promise.all(this.runs.map(async (r) => {
      const cur = this.data.get(r.uuid);
      if (!cur) { refetch = true; return; }
      const a = (await get("/series", {run: r.uuid, key: this.key, x: sx, points: this.points(),
        after: cur.last_x == null ? null : cur.last_x})).series[0];
      if (!a.total) return;
      grew = true;
      for (const f of ["x", "y", "ymin", "ymax"]) cur[f] = cur[f].concat(a[f]);
      cur.total += a.total;
      cur.last_x = a.last_x;
      cur.downsampled = cur.downsampled || a.downsampled;
      if (cur.x.length > 3 * this.points()) refetch = true;  // keep the chart light: downsample again
    }));
    if (refetch) { await this.load(); return true; }
    if (grew) this.draw(false);
    return grew;
  }

  /** A range in chart x units -> server x units for run r. */
  toServer(r, [lo, hi]) {
    if (this.view.xMode !== "relative") return [lo, hi];
    const o = relOrigin(r, this.data.get(r.uuid)?.x || []);
    return [lo + o, hi + o];
  }

  table() {
    // One [x, series...] table per run, in chart units; then joined on x.
    const mode = this.view.xMode, w = this.view.smoothing, logY = this.view.logY;
    const tables = [], series = [{label: mode === "step" ? "step" : mode === "time" ? "time" : "elapsed",
      value: (u, v) => (v == null ? "" : mode === "time" ? new Date(v * 1000).toLocaleString()
        : mode === "relative" ? fmtDuration(v) : fmtNum(v))}];
    const bands = [];
    const single = this.runs.length === 1;
    this.runs.forEach((r, i) => {
      const d = this.data.get(r.uuid);
      if (!d) return;
      const color = PALETTE[i % PALETTE.length];
      const o = mode === "relative" ? relOrigin(r, d.x) : 0;
      const xs = o ? d.x.map((x) => x - o) : d.x;
      const fix = (ys) => (logY ? positive(ys) : ys);
      const cols = [xs];
      const name = single ? this.key : r.name;
      if (w > 0) {
        cols.push(fix(d.y));
        series.push({label: `${name} (raw)`, stroke: color + "40", width: 1, spanGaps: true, raw: true, value: (u, v) => fmtNum(v)});
      }
      cols.push(fix(smooth(d.y, w)));
      series.push({label: name, stroke: color, width: 1.5, spanGaps: true, value: (u, v) => fmtNum(v)});
      if (d.downsampled && single) {
        cols.push(fix(d.ymin), fix(d.ymax));
        const lo = series.length, hi = series.length + 1;
        series.push({label: "min", stroke: color + "30", width: 0.5, spanGaps: true, points: {show: false}, value: (u, v) => fmtNum(v)},
          {label: "max", stroke: color + "30", width: 0.5, spanGaps: true, points: {show: false}, value: (u, v) => fmtNum(v)});
        bands.push({series: [hi, lo], fill: color + "22"});
      }
      tables.push(cols);
    });
    return {data: tables.length ? join(tables) : [[]], series, bands};
  }

  opts(series, bands) {
    const mode = this.view.xMode;
    const width = this.width || this.plotEl.clientWidth || 400;
    this.width = 0;  // a preset width (see ChartGrid.loadBatch) serves one draw
    return {
      width: Math.max(200, width), height: HEIGHT, series, bands,
      scales: {x: {time: mode === "time"}, y: {distr: this.view.logY ? 3 : 1}},
      axes: [{values: mode === "relative" ? (u, vals) => vals.map(fmtDuration) : undefined},
        {size: 56, values: (u, vals) => vals.map(fmtNum)}],
      cursor: {drag: {x: true, y: false, setScale: false}},
      legend: {live: true},
      hooks: {setSelect: [(u) => this.onSelect(u)]},
    };
  }

  draw(reset) {
    const {data, series, bands} = this.table();
    const shape = series.map((s) => s.label).join("|") + "|" + this.view.xMode + "|" + this.view.logY;
    if (!this.u || this.shape !== shape) {
      if (this.u) this.u.destroy();
      this.u = new uPlot(this.opts(series, bands), data, this.plotEl);
      this.u.over.addEventListener("dblclick", () => { if (this.zoom) { this.zoom = null; this.load(); } });
      // the faint unsmoothed lines stay out of the legend (their smoothed twins carry the name)
      const rows = this.u.root.querySelectorAll(".u-legend .u-series");
      series.forEach((sr, i) => { if (sr.raw && rows[i]) rows[i].style.display = "none"; });
      this.shape = shape;
    } else {
      this.u.setData(data, reset || !this.zoom);
    }
    this.describe();
  }

  describe() {
    // What the chart holds, for people (the info line) and for tests (data-* attributes).
    const first = this.data.get(this.runs[0].uuid);
    if (!first) return;
    const n = first.x.length, last = n ? first.y[n - 1] : null;
    let max = -Infinity;
    for (const arr of [first.y, first.ymax]) for (const v of arr) if (v != null && v > max) max = v;
    Object.assign(this.el.dataset, {runs: this.data.size, points: n, total: first.total, last: last == null ? "" : last,
      max: Number.isFinite(max) ? max : "", downsampled: first.downsampled ? "1" : "0", zoomed: this.zoom ? "1" : "0"});
    this.info.textContent = (first.downsampled ? `${n} of ${first.total} pts` + (this.runs.length === 1 ? " (min/max band)" : " (min/max kept)") : `${first.total} pts`)
      + (this.zoom ? " · zoomed (double-click resets)" : "") + (last != null ? ` · last ${fmtNum(last)}` : "");
  }

  onSelect(u) {
    if (u.select.width < 4) return;
    const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
    this.zoom = [lo, hi];
    this.load();
  }

  resize() {
    if (this.u) this.u.setSize({width: Math.max(200, this.plotEl.clientWidth), height: HEIGHT});
  }

  async exportCsv() {
    const {download} = await import("./util.js");
    const {getText} = await import("./api.js");
    for (const r of this.runs) {
      download(`${r.name}-${this.key.replace(/\W+/g, "_")}.csv`,
        await getText(`/runs/${r.uuid}/export`, {format: "csv", key: this.key}), "text/csv");
    }
  }

  async exportJsonl() {
    const {download} = await import("./util.js");
    const sx = serverX(this.view.xMode);
    for (const r of this.runs) {
      const s = (await get("/series", {run: r.uuid, key: this.key, x: sx, full: 1})).series[0];
      const lines = s.x.map((x, i) => JSON.stringify({[sx]: x, key: this.key, value: s.y[i]})).join("\n");
      download(`${r.name}-${this.key.replace(/\W+/g, "_")}.jsonl`, lines + "\n", "application/x-ndjson");
    }
  }

  destroy() { if (this.u) this.u.destroy(); this.u = null; }
}

/** The view controls shared by every chart on a page: x axis, smoothing, log scale. */
export function viewControls(view, onChange) {
  const xSel = h("select", {name: "xmode", onchange: () => { view.xMode = xSel.value; onChange(true); }},
    h("option", {value: "step"}, "x: step"), h("option", {value: "time"}, "x: wall time"),
    h("option", {value: "relative"}, "x: relative time"));
  xSel.value = view.xMode;
  const sm = h("input", {type: "range", min: 0, max: 0.99, step: 0.01, value: view.smoothing, name: "smoothing",
    oninput: () => { view.smoothing = +sm.value; smLabel.textContent = sm.value; onChange(false); }});
  const smLabel = h("span", {class: "muted"}, String(view.smoothing));
  const log = h("input", {type: "checkbox", name: "logy", checked: view.logY,
    onchange: () => { view.logY = log.checked; onChange(false); }});
  return h("span", {class: "toolbar"}, xSel, h("label", {}, "smoothing ", sm, " ", smLabel),
    h("label", {}, log, " log y"));
}
