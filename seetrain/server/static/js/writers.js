// The writers of a shared run (issue 23), one tab of the run page: each writer's status, a writer
// filter, every scalar metric (system metrics too: each writer's CPU, memory, GPUs) as a line per
// writer or as their mean with the min–max band across writers, and each writer's console.
import {get} from "./api.js";
import {h, clear, fmtTime, fmtTicks, cssVar, statusBadge, uplotReady} from "./util.js";
import {runColor, join} from "./series.js";

const POINTS = 1000;

/** The writers tab of run ``run``, or null when the run has one writer (nothing to show). */
export async function writersView(run) {
  const writers = await get(`/runs/${run.uuid}/writers`).catch(() => []);
  return writers.length > 1 ? new WritersView(run, writers) : null;
}

/** ``/api/v1`` path with a query whose ``writer=`` may be empty (the primary): built here. */
function seriesPath(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of [].concat(v)) q.append(k, one);
  return `/series?${q}`;
}

class WritersView {
  constructor(run, writers) {
    this.run = run;
    this.writers = writers;
    this.shown = new Set(writers.map((w) => w.writer));
    this.mode = "each";
    this.charts = new Map();  // key -> uPlot
    this.table = h("table", {class: "grid writers"});
    this.note = h("div", {class: "writer-note"});
    this.filter = h("span", {class: "writer-filter"});
    this.modeSel = h("select", {name: "writers-view", title: "how the writers' values are drawn",
      onchange: () => { this.mode = this.modeSel.value; this.drawCharts(); }},
    h("option", {value: "each"}, "a line per writer"), h("option", {value: "mean"}, "mean with min–max band"));
    this.chartsEl = h("div", {class: "writer-charts"});
    this.consoleSel = h("select", {name: "writer-console", onchange: () => this.loadConsole()});
    this.pre = h("pre", {class: "console writer-console"});
    this.el = h("div", {class: "writers-view"}, h("h3", {}, "Writers"), this.note, this.table,
      h("div", {class: "writer-controls"}, "show ", this.filter, " as ", this.modeSel), this.chartsEl,
      h("h3", {}, "Console of ", this.consoleSel), this.pre);
    this.renderControls();
  }

  name(w) {
    if (!w.primary) return w.writer;
    const own = this.run.environment && this.run.environment.writer;
    return own ? `${own} (primary)` : "primary";
  }

  renderControls() {
    clear(this.filter).append(...this.writers.map((w, i) => h("label", {class: "writer-toggle", style: `color:${runColor(i)}`},
      h("input", {type: "checkbox", name: "writer", value: w.writer, checked: this.shown.has(w.writer),
        onchange: (e) => { e.target.checked ? this.shown.add(w.writer) : this.shown.delete(w.writer); this.drawCharts(); }}),
      " ", this.name(w))));
    clear(this.consoleSel).append(...this.writers.map((w) => h("option", {value: w.writer}, this.name(w))));
  }

  renderTable() {
    const crashed = this.writers.filter((w) => w.status === "crashed");
    clear(this.note).append(...(crashed.length ? [h("div", {class: "warnbox", dataset: {problem: "writer-crashed"}},
      `crashed: ${crashed.map((w) => this.name(w) + (w.vanished ? " (vanished: no heartbeat)" : "")).join(", ")}; `
      + "the run reads crashed once no writer runs")] : []));
    const head = h("tr", {}, ...["writer", "rank", "host", "pid", "status", "records", "last seq", "heartbeat"].map((t) => h("th", {}, t)));
    clear(this.table).append(h("thead", {}, head), h("tbody", {}, this.writers.map((w) =>
      h("tr", {dataset: {writer: w.writer, status: w.status}}, h("td", {}, this.name(w)), h("td", {}, w.rank ?? ""),
        h("td", {}, w.host ?? ""), h("td", {}, w.pid ?? ""), h("td", {}, statusBadge(w)), h("td", {}, String(w.records)),
        h("td", {}, String(w.last_seq)), h("td", {}, w.heartbeat ? fmtTime(w.heartbeat) : "")))));
  }

  /** Refresh the writers, the charts and the console (the run page's poll). */
  async poll(keys) {
    this.writers = await get(`/runs/${this.run.uuid}/writers`);
    this.keys = keys.map((k) => k.key);
    this.renderTable();
    if (this.filter.childElementCount !== this.writers.length) this.renderControls();
    await Promise.all([this.drawCharts(), this.loadConsole()]);
  }

  async drawCharts() {
    const keys = this.keys || [];
    const picked = this.writers.filter((w) => this.shown.has(w.writer));
    this.el.dataset.shown = String(picked.length);
    if (!keys.length) return;
    await uplotReady();
    const by = {};
    for (const xMode of ["step", "time"]) {
      const ks = keys.filter((k) => (xMode === "time") === k.startsWith("sys/"));  // system metrics have no step
      if (!ks.length) continue;
      const params = {run: this.run.uuid, key: ks, x: xMode, points: POINTS, writers: this.mode, writer: picked.map((w) => w.writer)};
      const ans = picked.length ? await get(seriesPath(params)) : {series: []};
      for (const s of ans.series) (by[s.key] = by[s.key] || []).push(s);
    }
    for (const key of keys) this.drawChart(key, by[key] || [], key.startsWith("sys/"));
  }

  drawChart(key, list, byTime) {
    let box = this.chartsEl.querySelector(`.chart[data-key="${CSS.escape(key)}"]`);
    if (!box) {
      box = h("div", {class: "chart writer-chart", dataset: {key}}, h("div", {class: "ctitle"}, h("span", {class: "ckey"}, key)), h("div", {class: "plot"}));
      this.chartsEl.append(box);
    }
    const fg = cssVar("--fg") || "#1d2330", grid = cssVar("--grid") || "#0000001a";
    const series = [{}], bands = [], tables = [];
    const colorOf = (writer) => runColor(Math.max(0, this.writers.findIndex((w) => w.writer === writer)));
    for (const s of list) {
      if (this.mode === "mean") {
        tables.push([s.x, s.y, s.ymax, s.ymin]);
        series.push({label: `mean of ${s.writers}`, stroke: "#3b5bdb", width: 1.5},
          {label: "max", stroke: "#3b5bdb55", width: 0.5}, {label: "min", stroke: "#3b5bdb55", width: 0.5});
        bands.push({series: [series.length - 2, series.length - 1], fill: "#3b5bdb22"});
      } else {
        tables.push([s.x, s.y]);
        const w = this.writers.find((x) => x.writer === s.writer);
        series.push({label: w ? this.name(w) : s.writer, stroke: colorOf(s.writer), width: 1.25});
      }
    }
    box.dataset.lines = String(list.length);
    box.dataset.band = String(bands.length > 0);
    box.dataset.points = String(list.reduce((n, s) => n + s.total, 0));
    const data = tables.length ? join(tables) : [[]];
    const plot = box.querySelector(".plot");
    const old = this.charts.get(key);
    if (old) old.destroy();
    const axis = {stroke: fg, grid: {stroke: grid}, ticks: {stroke: grid}};
    this.charts.set(key, new uPlot({width: Math.max(240, plot.clientWidth || 420), height: 180, series, bands,
      scales: {x: {time: byTime}}, axes: [{...axis, values: byTime ? undefined : (u, v) => fmtTicks(v)},
        {...axis, values: (u, v) => fmtTicks(v)}], legend: {show: true}}, data, plot));
  }

  async loadConsole() {
    const writer = this.consoleSel.value;
    const lines = await get(`/runs/${this.run.uuid}/console?writer=${encodeURIComponent(writer)}&limit=5000`);
    clear(this.pre).append(...lines.map((l) => h("span", {class: l.stream}, l.line + "\n")));
    this.pre.dataset.writer = writer;
    this.pre.dataset.lines = String(lines.length);
  }

  destroy() { for (const u of this.charts.values()) u.destroy(); }
}
