// A page of metric charts grouped by key prefix (train/, eval/, sys/ ...), shared view controls,
// live polling of only the keys whose point count grew.
import {get} from "./api.js";
import {h, clear, groupOf, uplotReady} from "./util.js";
import {MetricChart, viewControls, serverX} from "./charts.js";

const BATCH = 25;  // keys per /ui/series request on first paint

function groupOrder(a, b) {
  const rank = (g) => (g === "" ? 0 : g === "sys" ? 2 : 1);
  return rank(a) - rank(b) || a.localeCompare(b);
}

export class ChartGrid {
  constructor(runs) {
    this.runs = runs;
    this.view = {xMode: "step", smoothing: 0, logY: false};
    this.charts = new Map();   // key -> MetricChart
    this.counts = new Map();   // key -> point count seen in /keys (the cursor that says "grew")
    this.groups = new Map();   // group -> grid element
    this.filter = h("input", {type: "search", placeholder: "filter charts", oninput: () => this.applyFilter()});
    this.body = h("div", {class: "groups"});
    this.el = h("div", {},
      h("div", {class: "toolbar"}, viewControls(this.view, (reload) => this.viewChanged(reload)), this.filter),
      this.body);
    this.resizeObs = new ResizeObserver(() => { for (const c of this.charts.values()) c.resize(); });
    window.seetrain = window.seetrain || {};
    window.seetrain.charts = this.charts;
  }

  /** Add charts for new scalar keys; return the load promises of the new ones. */
  update(keys) {
    const fresh = [];
    const sorted = keys.slice().sort((a, b) => groupOrder(groupOf(a.key), groupOf(b.key)) || a.key.localeCompare(b.key));
    for (const k of sorted) {
      if (this.charts.has(k.key)) continue;
      const c = new MetricChart(k.key, this.runs, this.view);
      this.charts.set(k.key, c);
      this.counts.set(k.key, k.count);
      this.groupEl(groupOf(k.key)).append(c.el);
      this.resizeObs.observe(c.plotEl);
      fresh.push(c);
    }
    this.applyFilter();
    const pending = [];
    for (let i = 0; i < fresh.length; i += BATCH) pending.push(this.loadBatch(fresh.slice(i, i + BATCH)));
    return pending;
  }

  /** First load of several charts in one request (one per chart if that fails). */
  async loadBatch(charts) {
    try {
      const ans = await get("/ui/series", {run: this.runs.map((r) => r.uuid), key: charts.map((c) => c.key),
        x: serverX(this.view.xMode), points: charts[0].points()});
      const byKey = new Map();
      for (const s of ans.series) { if (!byKey.has(s.key)) byKey.set(s.key, []); byKey.get(s.key).push(s); }
      await uplotReady();
      const widths = charts.map((c) => c.plotEl.clientWidth);  // one layout for the batch, not one per chart
      charts.forEach((c, i) => { c.width = widths[i]; c.accept(byKey.get(c.key) || []); });
    } catch (e) {
      await Promise.all(charts.map((c) => c.load().catch((err) => { c.info.textContent = String(err.message || err); })));
    }
  }

  groupEl(g) {
    if (!this.groups.has(g)) {
      const grid = h("div", {class: "charts"});
      const sec = h("section", {class: "group", dataset: {group: g}}, h("h2", {}, g ? `${g}/` : "metrics"), grid);
      const names = [...this.groups.keys(), g].sort(groupOrder);
      const idx = names.indexOf(g);
      const after = idx + 1 < names.length ? this.groups.get(names[idx + 1]).parentElement : null;
      this.body.insertBefore(sec, after);
      this.groups.set(g, grid);
    }
    return this.groups.get(g);
  }

  /** Poll the charts whose key count changed (keys: the fresh /keys answer, merged over runs). */
  async poll(keys) {
    const news = this.update(keys);
    const grown = [];
    for (const k of keys) {
      const c = this.charts.get(k.key);
      if (c && this.counts.get(k.key) !== k.count) { this.counts.set(k.key, k.count); grown.push(c.poll()); }
    }
    await Promise.all([...news, ...grown]);
  }

  viewChanged(reload) {
    for (const c of this.charts.values()) {
      if (reload) { c.zoom = null; c.load(); } else c.draw(false);
    }
  }

  applyFilter() {
    const f = this.filter.value.trim().toLowerCase();
    for (const c of this.charts.values()) c.el.hidden = !!f && !c.key.toLowerCase().includes(f);
    for (const grid of this.groups.values()) grid.parentElement.hidden = ![...grid.children].some((e) => !e.hidden);
  }

  destroy() {
    this.resizeObs.disconnect();
    for (const c of this.charts.values()) c.destroy();
    clear(this.body);
  }
}
