// One chart (uPlot): one metric of several runs, or a custom panel of several metrics; min/max band
// when downsampled, smoothing and log scale (the page's, or the chart's own), hover values, NaN/Inf
// marks, drag-to-zoom that fetches detail for the range, live appends by cursor, enlarge, hide,
// export as CSV, JSON Lines, PNG and SVG.
import {query} from "./api.js";
import {h, fmtNum, fmtTicks, fmtDuration, uplotReady, cssVar, download} from "./util.js";
import {runColor, smooth, positive, join, relOrigin} from "./series.js";
import {aggregate} from "./groups.js";

const HEIGHT = 200;
/** Size presets of a chart (kept in the URL as csize=KEY~s|l, or KEY~<px> after dragging its corner):
 *  plot height and whether it spans the row. */
export const SIZES = {s: {height: 130, label: "S"}, m: {height: HEIGHT, label: "M"}, l: {height: 380, label: "L"}};
const NEXT_SIZE = {s: "m", m: "l", l: "s", px: "m"};
export const DRAG_HEIGHTS = [100, 900];  // a dragged plot's height stays within these (px)
/** More runs than this on one chart: no legend under it (the page shows one), hover names the run. */
export const LEGEND_MAX_RUNS = 5;

/** x mode -> what the server is asked for. */
export const serverX = (mode) => (mode === "step" ? "step" : "time");

/** System metrics are sampled by time and have no step: under x = step they are drawn by relative time. */
export function modeFor(key, mode) { return mode === "step" && key.startsWith("sys/") ? "relative" : mode; }

const X_LABEL = {step: "step", time: "time", relative: "elapsed"};

export class MetricChart {
  /**
   * @param {string} key metric key, or several joined by "," (a custom panel)
   * @param {Array<{uuid,name,start_time}>} runs runs to overlay (first gets the band)
   * @param {{xMode:string, smoothing:number, logY:boolean}} view the page's view settings
   * @param {{onZoom?:Function, onHide?:Function, onChange?:Function, own?:{logY?:boolean, smoothing?:number}}} hooks
   */
  constructor(key, runs, view, hooks = {}) {
    this.key = key;
    this.keys = key.split(",");
    this.panel = this.keys.length > 1;
    this.runs = runs;
    this.view = view;
    this.hooks = hooks;
    this.own = Object.assign({}, hooks.own);  // this chart's own log scale / smoothing, over the page's
    this.data = new Map();          // `${uuid}|${key}` -> {x, y, ymin, ymax, downsampled, total, last_x, nonfinite}
    this.zoom = null;               // [lo, hi] in server x units, or null for everything
    this.u = null;
    this.info = h("span", {class: "info"});
    this.hoverRun = h("span", {class: "hover-run"});
    this.plotEl = h("div", {class: "plot"});
    const act = (name, label, title, fn) => h("button", {type: "button", class: "cact", dataset: {act: name}, title, "aria-label": title,
      onclick: (e) => { e.preventDefault(); fn(); }}, label);
    this.logBtn = act("log", "log", "log scale on this chart", () => this.setOwn({logY: !this.logY()}));
    this.sizeBtn = act("size", "M", "chart size: small, medium, large (click for the next)",
      () => this.setOwn({size: NEXT_SIZE[this.size()] === "m" ? undefined : NEXT_SIZE[this.size()]}));
    this.lineIds = [];              // series index -> the run uuid or group label it draws (highlight)
    this.smoothIn = h("input", {type: "range", name: "csmooth", min: 0, max: 0.99, step: 0.01, value: 0, title: "smoothing of this chart",
      oninput: () => this.setOwn({smoothing: +this.smoothIn.value})});
    this.el = h("div", {class: "chart", dataset: {key}},
      h("div", {class: "ctitle"}, h("span", {class: "ckey", title: key}, this.panel ? this.keys.join(" · ") : key), this.hoverRun,
        h("span", {class: "cacts"}, this.smoothIn, this.logBtn, this.sizeBtn,
          act("enlarge", "⤢", "enlarge (Esc closes)", () => this.enlarge()),
          act("png", "png", "export as PNG", () => this.exportPng()), act("svg", "svg", "export as SVG", () => this.exportSvg()),
          act("csv", "csv", "export the points as CSV", () => this.exportCsv()), act("jsonl", "jsonl", "export the points as JSON Lines", () => this.exportJsonl()),
          act("hide", "✕", "hide this chart", () => hooks.onHide && hooks.onHide(this))),
        this.info),
      this.plotEl,
      h("span", {class: "resize-grip", title: "drag to resize (the height; the size button goes back to S/M/L)", "aria-hidden": "true",
        onpointerdown: (e) => this.dragResize(e)}));
    this.syncOwn();
  }

  mode() { return modeFor(this.keys[0], this.view.xMode); }
  logY() { return this.own.logY ?? this.view.logY; }
  smoothing() { return this.own.smoothing ?? this.view.smoothing; }
  size() { return SIZES[this.own.size] ? this.own.size : /^\d+$/.test(this.own.size || "") ? "px" : "m"; }
  height() {
    if (this.big) return Math.max(HEIGHT, innerHeight - 170);
    const s = this.size();
    return s === "px" ? Math.min(DRAG_HEIGHTS[1], Math.max(DRAG_HEIGHTS[0], +this.own.size)) : SIZES[s].height;
  }

  /** Drag the chart's bottom-right corner: the plot's height follows the pointer, kept as the chart's size. */
  dragResize(e) {
    e.preventDefault();
    const y0 = e.clientY, h0 = this.height();
    const move = (ev) => {
      this.own.size = String(Math.round(Math.min(DRAG_HEIGHTS[1], Math.max(DRAG_HEIGHTS[0], h0 + ev.clientY - y0))));
      this.resize();
    };
    const up = () => {
      removeEventListener("pointermove", move);
      removeEventListener("pointerup", up);
      this.syncOwn();
      if (this.hooks.onChange) this.hooks.onChange(this);
    };
    addEventListener("pointermove", move);
    addEventListener("pointerup", up);
  }
  /** Lines drawn: one a group when the page groups runs, else one a run. */
  lineCount() { return this.grouped() ? this.view.groups.length : this.runs.length; }
  grouped() { return !!(this.view.groups && this.view.groups.length && !this.panel); }

  setOwn(change) {
    Object.assign(this.own, change);
    this.syncOwn();
    this.draw(false);
    if (this.hooks.onChange) this.hooks.onChange(this);
  }

  syncOwn() {
    if (this.own.size === undefined) delete this.own.size;
    const size = this.size();
    this.sizeBtn.textContent = size === "px" ? `${this.height()}px` : SIZES[size].label;
    this.el.classList.toggle("size-s", size === "s");
    this.el.classList.toggle("size-l", size === "l");
    this.el.dataset.size = size;
    this.logBtn.classList.toggle("on", this.logY());
    this.logBtn.setAttribute("aria-pressed", String(this.logY()));
    this.smoothIn.value = this.smoothing();
    this.el.dataset.smoothing = String(this.smoothing());
  }

  points() {
    const w = this.plotEl.clientWidth || 400;
    const full = Math.max(200, Math.min(4000, Math.round(w * 2)));
    // many runs on one chart: fewer points each (100 lines of 1,000 points say no more than of 150)
    return this.runs.length <= 4 ? full : Math.max(150, Math.round(full * 4 / this.runs.length));
  }

  /** Whether this chart draws the min/max band (one run, one key): otherwise the server leaves it out. */
  banded() { return this.runs.length === 1 && !this.panel; }

  /** The /series query for this chart (several keys and runs in one request). */
  query(extra = {}) {
    const q = {run: this.runs.map((r) => r.uuid), key: this.keys, x: serverX(this.mode()), points: this.points(), band: this.banded() ? 1 : 0};
    if (this.zoom && this.mode() !== "relative") [q.start, q.end] = this.zoom;
    return Object.assign(q, extra);
  }

  /** Fetch (the zoomed range of) every series of this chart and draw. */
  async load() {
    if (this.zoom && this.mode() === "relative") {  // each run's own origin: one request per run
      const ans = await Promise.all(this.runs.map((r) => {
        const [lo, hi] = this.toServer(r, this.zoom);
        return query("/series", {run: r.uuid, key: this.keys, x: "time", points: this.points(), start: lo, end: hi, band: this.banded() ? 1 : 0});
      }));
      ans.forEach((a) => { for (const s of a.series) this.data.set(`${s.run}|${s.key}`, s); });
    } else {
      for (const s of (await query("/series", this.query())).series) this.data.set(`${s.run}|${s.key}`, s);
    }
    await uplotReady();
    this.draw(true);
  }

  /** Take series fetched elsewhere (the page's batched load) and draw. */
  accept(list) {
    for (const s of list) this.data.set(`${s.run}|${s.key}`, s);
    this.draw(true);
  }

  /** Append points that came after each series' last x (a live update fetched by the page). */
  append(list) {
    let grew = false, refetch = false;
    for (const a of list) {
      const cur = this.data.get(`${a.run}|${a.key}`);
      if (!cur) { refetch = true; continue; }
      const from = cur.last_x == null ? 0 : a.x.findIndex((x) => x > cur.last_x);
      if (from < 0 || !a.x.length) continue;
      const n0 = cur.x.length;
      for (const f of ["x", "y"]) cur[f] = cur[f].concat(a[f].slice(from));
      for (const f of ["ymin", "ymax"]) cur[f] = cur[f] && a[f] ? cur[f].concat(a[f].slice(from)) : undefined;  // band only if both had it
      cur.nonfinite = (cur.nonfinite || []).concat((a.nonfinite || []).filter((m) => m.i >= from).map((m) => ({i: m.i - from + n0, value: m.value})));
      cur.total += a.x.length - from;
      cur.last_x = a.last_x;
      cur.downsampled = cur.downsampled || a.downsampled;
      grew = true;
      if (cur.x.length > 3 * this.points()) refetch = true;  // keep the chart light: downsample again
    }
    if (grew && !refetch) this.draw(false);
    return {grew, refetch};
  }

  /** The smallest last x over this chart's series (the cursor of one batched live request), or
   *  undefined when one of them has not loaded yet. */
  cursor() {
    let lo = Infinity;
    for (const r of this.runs) for (const k of this.keys) {
      const d = this.data.get(`${r.uuid}|${k}`);
      if (!d) return undefined;
      if (d.last_x != null) lo = Math.min(lo, d.last_x);
    }
    return Number.isFinite(lo) ? lo : null;
  }

  /** A range in chart x units -> server x units for run r. */
  toServer(r, [lo, hi]) {
    if (this.mode() !== "relative") return [lo, hi];
    const o = relOrigin(r, this.data.get(`${r.uuid}|${this.keys[0]}`)?.x || []);
    return [lo + o, hi + o];
  }

  /** A series' name on the chart. */
  nameOf(r, k) {
    if (this.runs.length === 1) return k;
    return this.panel ? `${r.name} ${k}` : r.name;
  }

  /** One line a group of runs (the page's group-by): the mean over its runs at each x, inside the
   *  band of their min and max; the legend names each group with its size. */
  groupTable() {
    const mode = this.mode(), w = this.smoothing(), logY = this.logY(), key = this.keys[0];
    const fix = (ys) => (logY ? positive(ys) : ys);
    const xfmt = (v) => (v == null ? "" : mode === "time" ? new Date(v * 1000).toLocaleString() : mode === "relative" ? fmtDuration(v) : fmtNum(v));
    const series = [{label: X_LABEL[mode], value: (u, v) => xfmt(v)}], names = [null], ids = [null], bands = [], tables = [];
    this.view.groups.forEach((g, gi) => {
      const parts = [];
      for (const r of g.runs) {
        const d = this.data.get(`${r.uuid}|${key}`);
        if (!d) continue;
        const o = mode === "relative" ? relOrigin(r, d.x) : 0;
        parts.push([o ? d.x.map((x) => x - o) : d.x, smooth(d.y, w)]);
      }
      if (!parts.length) return;
      const a = aggregate(parts), color = runColor(gi), name = `${g.name} (${g.runs.length})`;
      tables.push([a.x, fix(a.mean), fix(a.min), fix(a.max)]);
      const base = series.length, value = (u, v) => fmtNum(v);
      series.push({label: name, stroke: color, width: 2, spanGaps: true, value},
        {label: `${name} min`, stroke: color + "50", width: 0.5, spanGaps: true, points: {show: false}, aux: true, value},
        {label: `${name} max`, stroke: color + "50", width: 0.5, spanGaps: true, points: {show: false}, aux: true, value});
      names.push(name, null, null);
      ids.push(g.name, g.name, g.name);
      bands.push({series: [base + 2, base + 1], fill: color + "22"});
    });
    this.lineIds = ids;
    return {data: tables.length ? join(tables) : [[]], series, bands, marks: [], names, n: tables.length};
  }

  table() {
    if (this.grouped()) return this.groupTable();
    // One [x, series...] table per (run, key), in chart units; then joined on x.
    const mode = this.mode(), w = this.smoothing(), logY = this.logY();
    const tables = [], marks = [];
    const xfmt = (v) => (v == null ? "" : mode === "time" ? new Date(v * 1000).toLocaleString() : mode === "relative" ? fmtDuration(v) : fmtNum(v));
    const series = [{label: X_LABEL[mode], value: (u, v) => xfmt(v)}];
    const bands = [], names = [null], ids = [null];
    this.lineIds = ids;
    const banded = this.banded();
    let n = 0;
    this.runs.forEach((r, ri) => this.keys.forEach((k, ki) => {
      const d = this.data.get(`${r.uuid}|${k}`);
      if (!d) return;
      const color = runColor(this.panel ? ri * this.keys.length + ki : ri);
      const o = mode === "relative" ? relOrigin(r, d.x) : 0;
      const xs = o ? d.x.map((x) => x - o) : d.x;
      const fix = (ys) => (logY ? positive(ys) : ys);
      const bad = new Map((d.nonfinite || []).map((m) => [xs[m.i], m.value]));
      for (const [x, value] of bad) marks.push({x, value, color});
      const value = (u, v, si, di) => (v == null && di != null && bad.has(u.data[0][di]) ? bad.get(u.data[0][di]) : fmtNum(v));
      const cols = [xs];
      const name = this.nameOf(r, k);
      if (w > 0) {
        cols.push(fix(d.y));
        series.push({label: `${name} (raw)`, stroke: color + "40", width: 1, spanGaps: false, raw: true, value});
        names.push(null);
        ids.push(r.uuid);
      }
      cols.push(fix(smooth(d.y, w)));
      series.push({label: name, stroke: color, width: 1.5, spanGaps: false, value});
      names.push(name);
      ids.push(r.uuid);
      if (d.downsampled && banded && d.ymin && d.ymax) {
        cols.push(fix(d.ymin), fix(d.ymax));
        const lo = series.length, hi = series.length + 1;
        series.push({label: "min", stroke: color + "30", width: 0.5, spanGaps: false, points: {show: false}, value: (u, v) => fmtNum(v)},
          {label: "max", stroke: color + "30", width: 0.5, spanGaps: false, points: {show: false}, value: (u, v) => fmtNum(v)});
        names.push(null, null);
        ids.push(r.uuid, r.uuid);
        bands.push({series: [hi, lo], fill: color + "22"});
      }
      tables.push(cols);
      n++;
    }));
    return {data: tables.length ? join(tables) : [[]], series, bands, marks, names, n};
  }

  opts(series, bands) {
    const mode = this.mode();
    const width = this.width || this.plotEl.clientWidth || 400;
    this.width = 0;  // a preset width (see ChartGrid.loadBatch) serves one draw
    const fg = cssVar("--fg") || "#1d2330", grid = cssVar("--grid") || "#0000001a";
    const font = "11px system-ui, sans-serif";
    const sizeFromLabels = (u, values) => {
      if (!values || !values.length) return 40;
      const ctx = u.ctx;
      ctx.save(); ctx.font = font;
      const widest = Math.max(...values.map((v) => ctx.measureText(v || "").width));
      ctx.restore();
      return Math.ceil(widest) + 18;  // the widest label, the tick and a gap
    };
    return {
      width: Math.max(200, width), height: this.height(), series, bands, focus: {alpha: 0.15},
      scales: {x: {time: mode === "time"}, y: {distr: this.logY() ? 3 : 1}},
      axes: [{stroke: fg, font, grid: {stroke: grid}, ticks: {stroke: grid},
        values: mode === "relative" ? (u, vals) => vals.map(fmtDuration) : mode === "step" ? (u, vals) => fmtTicks(vals) : undefined},
      {stroke: fg, font, grid: {stroke: grid}, ticks: {stroke: grid}, size: sizeFromLabels, values: (u, vals) => fmtTicks(vals)}],
      cursor: {drag: {x: true, y: false, setScale: false}, focus: {prox: 12}},
      legend: {show: this.lineCount() <= LEGEND_MAX_RUNS, live: true},
      hooks: {setSelect: [(u) => this.onSelect(u)], draw: [(u) => this.placeMarks(u)], setCursor: [(u) => this.onCursor(u)],
        setSeries: [(u, i, o) => this.onFocus(i, o)]},
    };
  }

  draw(reset) {
    if (!window.uPlot) return;
    const {data, series, bands, marks, names, n} = this.table();
    this.marks = marks;
    this.names = names;
    const shape = series.map((s) => s.label).join("|") + "|" + this.mode() + "|" + this.logY() + "|" + !!this.big + "|" + this.size();
    if (!this.u || this.shape !== shape) {
      if (this.u) this.u.destroy();
      this.u = new uPlot(this.opts(series, bands), data, this.plotEl);
      this.u.over.addEventListener("dblclick", () => { if (this.zoom) (this.hooks.onZoom ? this.hooks.onZoom(this, null) : this.setZoom(null)); });
      this.u.over.addEventListener("mouseleave", () => { this.hoverRun.textContent = ""; });
      // the faint unsmoothed lines stay out of the legend (their smoothed twins carry the name)
      const rows = this.u.root.querySelectorAll(".u-legend .u-series");
      series.forEach((sr, i) => { if ((sr.raw || sr.aux) && rows[i]) rows[i].style.display = "none"; });
      this.shape = shape;
      if (this.highlighted) this.highlight(this.highlighted);
    } else {
      this.u.setData(data, reset || !this.zoom);
    }
    this.el.dataset.series = String(n);
    this.el.dataset.groups = this.grouped() ? String(n) : "";
    this.describe();
  }

  /** uPlot focused a line (the cursor near it, or its legend entry): tell the page, which highlights
   *  the same run (or group) on every chart. */
  onFocus(i, o) {
    if (this.quiet || !o || o.focus == null) return;
    const id = o.focus && i != null ? this.lineIds[i] || null : null;
    if (this.hooks.onHighlight) this.hooks.onHighlight(id, this); else this.highlight(id);
  }

  /** Bring the line of run (or group) `id` forward and dim the others; null: every line as drawn. */
  highlight(id) {
    this.highlighted = id;
    this.el.dataset.highlight = id || "";
    if (!this.u) return;
    const i = id ? this.lineIds.findIndex((x, j) => x === id && !this.u.series[j].raw && !this.u.series[j].aux) : -1;
    this.quiet = true;
    try { this.u.setSeries(i > 0 ? i : null, {focus: i > 0}); } finally { this.quiet = false; }
  }

  /** NaN and +/-Inf: a mark at the top (NaN, +Inf) or bottom (-Inf) of the plot at their x, named on hover. */
  placeMarks(u) {
    for (const m of u.over.querySelectorAll(".nonfinite")) m.remove();
    for (const m of this.marks || []) {
      const left = u.valToPos(m.x, "x");
      if (!(left >= 0 && left <= u.over.clientWidth)) continue;
      const down = m.value === "-Inf";
      u.over.append(h("span", {class: `nonfinite ${down ? "bottom" : "top"}`, style: `left:${left}px;color:${m.color}`,
        title: `${m.value} at ${X_LABEL[this.mode()]} ${this.mode() === "step" ? m.x : fmtNum(m.x)}`}, m.value === "NaN" ? "◆" : down ? "▼" : "▲"));
    }
  }

  /** Many runs and no legend: name the run whose line is nearest the cursor. */
  onCursor(u) {
    if (this.runs.length <= LEGEND_MAX_RUNS) return;
    const i = u.cursor.idx, top = u.cursor.top;
    if (i == null || top == null || top < 0) { this.hoverRun.textContent = ""; return; }
    let best = null, dist = Infinity;
    for (let s = 1; s < u.series.length; s++) {
      const v = u.data[s][i];
      if (v == null || !this.names[s]) continue;
      const d = Math.abs(u.valToPos(v, "y") - top);
      if (d < dist) { dist = d; best = s; }
    }
    this.hoverRun.textContent = best == null ? "" : `${this.names[best]}: ${fmtNum(u.data[best][i])}`;
    this.hoverRun.style.color = best == null ? "" : u.series[best].stroke();
  }

  describe() {
    // What the chart holds, for people (the info line) and for tests (data-* attributes).
    const first = this.data.get(`${this.runs[0].uuid}|${this.keys[0]}`);
    if (!first) return;
    const n = first.x.length, last = n ? first.y[n - 1] : null;
    let max = -Infinity;
    for (const arr of [first.y, first.ymax || []]) for (const v of arr) if (v != null && v > max) max = v;
    Object.assign(this.el.dataset, {runs: new Set([...this.data.keys()].map((k) => k.split("|")[0])).size, points: n, total: first.total,
      last: last == null ? "" : last, max: Number.isFinite(max) ? max : "", downsampled: first.downsampled ? "1" : "0", zoomed: this.zoom ? "1" : "0"});
    const sys = this.mode() !== this.view.xMode ? " · x: elapsed time (system metrics have no step)" : "";
    this.info.textContent = (first.downsampled ? `${n} of ${first.total} pts` + (this.runs.length === 1 ? " (min/max band)" : " (min/max kept)") : `${first.total} pts`)
      + (this.zoom ? " · zoomed (double-click resets)" : "") + (last != null ? ` · last ${fmtNum(last)}` : "") + sys;
  }

  onSelect(u) {
    if (u.select.width < 4) return;
    const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
    if (this.hooks.onZoom) this.hooks.onZoom(this, [lo, hi]); else this.setZoom([lo, hi]);
  }

  /** Zoom to [lo, hi] (chart x units) or back to everything (null), fetching the detail. */
  setZoom(range) {
    this.zoom = range;
    return this.load();
  }

  /** Enlarge to nearly the whole window, or back (Esc closes). */
  enlarge(on = !this.big) {
    this.big = on;
    this.el.classList.toggle("big", on);
    document.body.classList.toggle("has-big-chart", on);
    if (on) {
      this.escape = (e) => { if (e.key === "Escape") this.enlarge(false); };
      document.addEventListener("keydown", this.escape);
    } else if (this.escape) document.removeEventListener("keydown", this.escape);
    requestAnimationFrame(() => { this.shape = null; this.draw(false); });
  }

  resize() {
    if (this.u) this.u.setSize({width: Math.max(200, this.plotEl.clientWidth), height: this.height()});
  }

  fileName(ext) { return `${this.key.replace(/\W+/g, "_")}.${ext}`; }

  /** The chart as drawn (axes included), on the page's background, with its title. */
  exportPng() {
    if (!this.u) return;
    const src = this.u.ctx.canvas, pad = 28 * (window.devicePixelRatio || 1);
    const cv = h("canvas", {width: src.width, height: src.height + pad});
    const g = cv.getContext("2d");
    g.fillStyle = cssVar("--card") || "#fff"; g.fillRect(0, 0, cv.width, cv.height);
    g.fillStyle = cssVar("--fg") || "#000"; g.font = `${Math.round(pad * 0.5)}px system-ui, sans-serif`;
    g.fillText(this.keys.join(" · "), 8, pad * 0.7);
    g.drawImage(src, 0, pad);
    cv.toBlob((b) => download(this.fileName("png"), b));
  }

  /** The chart as vector lines: the plotted series as paths, the axes' tick labels, a legend. */
  exportSvg() {
    const u = this.u;
    if (!u) return;
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
    const dpr = window.devicePixelRatio || 1;
    const L = u.bbox.left / dpr, T = u.bbox.top / dpr + 24, W = u.bbox.width / dpr, H = u.bbox.height / dpr;
    const width = Math.round(u.width), height = Math.round(u.height) + 24 + 18 * Math.min(12, u.series.length);
    const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
      `<rect width="100%" height="100%" fill="#fff"/>`, `<text x="8" y="16" font-size="13" font-weight="600">${esc(this.keys.join(" · "))}</text>`,
      `<rect x="${L}" y="${T}" width="${W}" height="${H}" fill="none" stroke="#ccc"/>`];
    const [xa, ya] = u.axes;
    (ya._splits || []).forEach((v, i) => {
      const y = T + u.valToPos(v, "y");
      out.push(`<line x1="${L}" x2="${L + W}" y1="${y}" y2="${y}" stroke="#eee"/>`, `<text x="${L - 4}" y="${y + 4}" text-anchor="end">${esc(ya._values[i])}</text>`);
    });
    (xa._splits || []).forEach((v, i) => {
      const x = L + u.valToPos(v, "x");
      out.push(`<text x="${x}" y="${T + H + 14}" text-anchor="middle">${esc(xa._values[i])}</text>`);
    });
    let row = 0;
    for (let s = 1; s < u.series.length; s++) {
      const ser = u.series[s];
      if (!ser.show) continue;
      const stroke = typeof ser.stroke === "function" ? ser.stroke(u, s) : ser.stroke;
      let d = "", pen = false;
      u.data[s].forEach((v, i) => {
        if (v === undefined) return;
        if (v === null) { pen = false; return; }
        const x = L + u.valToPos(u.data[0][i], "x"), y = T + u.valToPos(v, "y");
        if (x < L - 1 || x > L + W + 1) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
        pen = true;
      });
      if (d) out.push(`<path d="${d}" fill="none" stroke="${esc(stroke)}" stroke-width="${ser.width || 1}"><title>${esc(ser.label)}</title></path>`);
      if (this.names[s] && row < 12) {
        const y = T + H + 32 + 18 * row++;
        out.push(`<rect x="${L}" y="${y - 9}" width="10" height="10" fill="${esc(stroke)}"/>`, `<text x="${L + 16}" y="${y}">${esc(this.names[s])}</text>`);
      }
    }
    out.push("</svg>");
    download(this.fileName("svg"), out.join("\n"), "image/svg+xml");
  }

  async exportCsv() {
    const {getText} = await import("./api.js");
    for (const r of this.runs) for (const k of this.keys) {
      download(`${r.name}-${k.replace(/\W+/g, "_")}.csv`,
        await getText(`/runs/${r.uuid}/export`, {format: "csv", key: k}), "text/csv");
    }
  }

  async exportJsonl() {
    const sx = serverX(this.mode());
    const ans = (await query("/series", {run: this.runs.map((r) => r.uuid), key: this.keys, x: sx, full: 1})).series;
    for (const s of ans) {
      const name = this.runs.find((r) => r.uuid === s.run).name;
      const lines = s.x.map((x, i) => JSON.stringify({[sx]: x, key: s.key, value: s.y[i]})).join("\n");
      download(`${name}-${s.key.replace(/\W+/g, "_")}.jsonl`, lines + "\n", "application/x-ndjson");
    }
  }

  destroy() {
    if (this.big) this.enlarge(false);
    if (this.u) this.u.destroy();
    this.u = null;
  }
}

/** The view controls shared by every chart on a page: x axis, smoothing, log scale, synced zoom. */
export function viewControls(view, onChange) {
  const xSel = h("select", {name: "xmode", onchange: () => { view.xMode = xSel.value; onChange("x"); }},
    h("option", {value: "step"}, "x: step"), h("option", {value: "time"}, "x: wall time"),
    h("option", {value: "relative"}, "x: relative time"));
  xSel.value = view.xMode;
  const sm = h("input", {type: "range", min: 0, max: 0.99, step: 0.01, value: view.smoothing, name: "smoothing",
    oninput: () => { view.smoothing = +sm.value; smLabel.textContent = sm.value; onChange("smoothing"); }});
  const smLabel = h("span", {class: "muted"}, String(view.smoothing));
  const log = h("input", {type: "checkbox", name: "logy", checked: view.logY,
    onchange: () => { view.logY = log.checked; onChange("logy"); }});
  const sync = h("input", {type: "checkbox", name: "synczoom", checked: view.syncZoom,
    onchange: () => { view.syncZoom = sync.checked; onChange("sync"); }});
  return h("span", {class: "toolbar"}, xSel, h("label", {}, "smoothing ", sm, " ", smLabel),
    h("label", {}, log, " log y"), h("label", {title: "zooming one chart zooms every chart with the same x"}, sync, " sync zoom"));
}
