// A page of charts grouped by key prefix (train/, eval/, sys/ ...) plus custom panels; the page's
// view controls; hidden charts; zoom synced on demand; one batched /series request for the first
// paint and one per live update (only the keys whose point count grew). Everything set here is
// kept in the URL (js/urlstate.js).
import {query} from "./api.js";
import {h, clear, groupOf, uplotReady} from "./util.js";
import {MetricChart, viewControls, serverX} from "./charts.js";
import {groupsOf} from "./groups.js";
import {urlState} from "./urlstate.js";

const MAX_SERIES = 2500;  // the server's bound on runs x keys in one /series request
const MAX_KEYS = 200;     // keys in one first-paint request
const PANELS = " panels"; // the group of custom panels (a name no metric prefix has)
const X_MODES = ["step", "time", "relative"];
const RETRY_MS = [1000, 3000, 9000, 20000];  // a chart whose load failed on the network or a 5xx/408 tries again

/** A failure worth trying again: the network (status 0), a timeout, or the server's side (not a 4xx it meant). */
export function transient(err) {
  return !(err && typeof err.status === "number") || err.status === 0 || err.status === 408 || err.status >= 500;
}

function groupOrder(a, b) {
  const rank = (g) => (g === PANELS ? -1 : g === "" ? 0 : g === "sys" ? 2 : 1);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** "lo~hi~key" (the URL's zoom) -> [key, [lo, hi]]. */
function parseZoom(v) {
  const [lo, hi, ...rest] = v.split("~");
  return [rest.join("~"), [Number(lo), Number(hi)]];
}

export class ChartGrid {
  /** @param runs the runs drawn; @param onGroups called with the groups (or null) when the group-by changes;
   *  @param onHighlight called with the run uuid or group name highlighted (null: none) */
  constructor(runs, {onGroups, onHighlight} = {}) {
    this.runs = runs;
    this.onGroups = onGroups;
    this.onHighlight = onHighlight;
    const x = urlState.get("x", "step");
    this.view = {xMode: X_MODES.includes(x) ? x : "step", smoothing: Math.min(0.99, Math.max(0, urlState.getNum("smooth", 0))),
      logY: urlState.getBool("logy"), syncZoom: urlState.getBool("sync")};
    this.hidden = new Set(urlState.getAll("hide"));
    this.zooms = new Map(urlState.getAll("zoom").map(parseZoom).filter(([, r]) => r.every(Number.isFinite)));
    this.own = new Map();      // key -> {logY?, smoothing?} from the URL
    for (const k of urlState.getAll("clog")) this.ownOf(k).logY = true;
    for (const k of urlState.getAll("clin")) this.ownOf(k).logY = false;
    for (const v of urlState.getAll("csmooth")) { const i = v.lastIndexOf("~"); if (i > 0) this.ownOf(v.slice(0, i)).smoothing = +v.slice(i + 1) || 0; }
    for (const v of urlState.getAll("csize")) { const i = v.lastIndexOf("~"); if (i > 0 && /^([sl]|\d{2,3})$/.test(v.slice(i + 1))) this.ownOf(v.slice(0, i)).size = v.slice(i + 1); }
    this.groupBy = urlState.getAll("group", true);
    this.view.groups = runs.length > 1 ? groupsOf(runs, this.groupBy) : null;
    this.groupIn = h("input", {type: "search", name: "groupby", placeholder: "group by: optimizer, batch (or tag)", size: 26,
      value: this.groupBy.join(", "), title: "one line per group of runs (mean, min–max band, the group's size): config keys or tag, comma-separated",
      onchange: () => this.setGroupBy(this.groupIn.value.split(",").map((s) => s.trim()).filter(Boolean))});
    this.panelKeys = urlState.getAll("panel").filter((k) => k.includes(","));
    this.scalarKeys = [];
    this.charts = new Map();   // key -> MetricChart
    this.counts = new Map();   // key -> point count seen in /keys (the cursor that says "grew")
    this.groups = new Map();   // group -> grid element
    this.filter = h("input", {type: "search", name: "chartfilter", placeholder: "filter charts", value: urlState.get("cf", ""),
      oninput: () => { this.applyFilter(); this.saveUrl(); }});
    this.hiddenBtn = h("button", {type: "button", class: "hidden-charts", hidden: true, onclick: () => { this.hiddenList.hidden = !this.hiddenList.hidden; }});
    this.hiddenList = h("div", {class: "hidden-list colpick", hidden: true});
    this.panelBox = h("div", {class: "panel-form colpick", hidden: true});
    this.body = h("div", {class: "groups"});
    this.el = h("div", {},
      h("div", {class: "toolbar"}, viewControls(this.view, (what) => this.viewChanged(what)), this.filter, runs.length > 1 ? this.groupIn : null,
        h("span", {class: "rel"}, h("button", {type: "button", class: "add-panel", title: "a chart of several metrics",
          onclick: () => this.panelForm()}, "+ panel"), this.panelBox),
        h("span", {class: "rel"}, this.hiddenBtn, this.hiddenList)),
      this.body);
    this.resizeObs = new ResizeObserver(() => { for (const c of this.charts.values()) c.resize(); });
    window.seetrain = window.seetrain || {};
    window.seetrain.charts = this.charts;
  }

  ownOf(key) { if (!this.own.has(key)) this.own.set(key, {}); return this.own.get(key); }

  makeChart(key, group) {
    const c = new MetricChart(key, this.runs, this.view, {own: this.own.get(key), onZoom: (ch, r) => this.zoomFrom(ch, r),
      onHide: (ch) => this.hide(ch.key), onChange: () => this.saveUrl(), onHighlight: (id) => this.highlight(id)});
    if (this.zooms.has(key)) c.zoom = this.zooms.get(key);
    this.charts.set(key, c);
    this.groupEl(group).append(c.el);
    this.resizeObs.observe(c.plotEl);
    return c;
  }

  /** Add charts for new scalar keys (and the URL's custom panels); return the load promises. */
  update(keys) {
    const fresh = [];
    for (const k of keys) if (!this.scalarKeys.includes(k.key)) this.scalarKeys.push(k.key);
    for (const p of this.panelKeys) {
      if (!this.charts.has(p) && p.split(",").every((k) => this.scalarKeys.includes(k))) fresh.push(this.makeChart(p, PANELS));
    }
    const sorted = keys.slice().sort((a, b) => groupOrder(groupOf(a.key), groupOf(b.key)) || a.key.localeCompare(b.key));
    for (const k of sorted) {
      if (this.charts.has(k.key)) continue;
      fresh.push(this.makeChart(k.key, groupOf(k.key)));
      this.counts.set(k.key, k.count);
    }
    this.applyFilter();
    return this.loadAll(fresh);
  }

  /** Load charts: the zoomed ones alone, the rest in as few /series requests as the bound allows. */
  loadAll(charts, range) {
    const pending = [];
    const bySx = new Map();
    for (const c of charts) {
      if (c.zoom && !range) { pending.push(this.loadRetrying(c)); continue; }
      const sx = serverX(c.mode());
      if (!bySx.has(sx)) bySx.set(sx, []);
      bySx.get(sx).push(c);
    }
    const per = Math.max(1, Math.min(MAX_KEYS, Math.floor(MAX_SERIES / Math.max(1, this.runs.length))));
    for (const [sx, list] of bySx) {
      let batch = [], nkeys = 0;
      for (const c of list) {
        if (batch.length && nkeys + c.keys.length > per) { pending.push(this.loadBatch(batch, sx, range)); batch = []; nkeys = 0; }
        batch.push(c); nkeys += c.keys.length;
      }
      if (batch.length) pending.push(this.loadBatch(batch, sx, range));
    }
    return pending;
  }

  /** Several charts in one request (one request per chart if that fails). */
  async loadBatch(charts, sx, range) {
    try {
      const keys = [...new Set(charts.flatMap((c) => c.keys))];
      const q = {run: this.runs.map((r) => r.uuid), key: keys, x: sx, points: Math.min(...charts.map((c) => c.points())),
        band: charts.some((c) => c.banded()) ? 1 : 0};
      if (range) [q.start, q.end] = range;
      const ans = await query("/series", q);
      const byKey = new Map();
      for (const s of ans.series) { if (!byKey.has(s.key)) byKey.set(s.key, []); byKey.get(s.key).push(s); }
      await uplotReady();
      const widths = charts.map((c) => c.plotEl.clientWidth);  // one layout for the batch, not one per chart
      charts.forEach((c, i) => { c.width = widths[i]; c.accept(c.keys.flatMap((k) => byKey.get(k) || [])); });
    } catch (e) {
      await Promise.all(charts.map((c) => this.loadRetrying(c)));
    }
  }

  /** Load one chart; a transient failure shows on the chart and is tried again a few times (a
   *  finished run is never polled, so without this one dropped request left its chart empty). */
  async loadRetrying(c) {
    for (let attempt = 0; ; attempt++) {
      try { await c.load(); return; } catch (err) {
        const msg = String(err.message || err);
        if (this.destroyed || !transient(err) || attempt >= RETRY_MS.length) { c.info.textContent = msg; return; }
        c.info.textContent = `${msg}; trying again in ${RETRY_MS[attempt] / 1000} s`;
        await new Promise((ok) => setTimeout(ok, RETRY_MS[attempt]));
        if (this.destroyed) return;
      }
    }
  }

  groupEl(g) {
    if (!this.groups.has(g)) {
      const grid = h("div", {class: "charts"});
      const sec = h("section", {class: "group", dataset: {group: g}}, h("h2", {}, g === PANELS ? "custom panels" : g ? `${g}/` : "metrics"), grid);
      const names = [...this.groups.keys(), g].sort(groupOrder);
      const idx = names.indexOf(g);
      const after = idx + 1 < names.length ? this.groups.get(names[idx + 1]).parentElement : null;
      this.body.insertBefore(sec, after);
      this.groups.set(g, grid);
    }
    return this.groups.get(g);
  }

  /** Live update (keys: the fresh /keys answer, merged over runs): new charts, then one request per
   *  x kind for the charts whose key count grew, asking only for points after their cursor. */
  async poll(keys) {
    const news = this.update(keys);
    const grownKeys = new Set();
    for (const k of keys) {
      if (this.counts.has(k.key) && this.counts.get(k.key) !== k.count) grownKeys.add(k.key);
      this.counts.set(k.key, k.count);
    }
    const grown = [...this.charts.values()].filter((c) => !c.zoom && c.keys.some((k) => grownKeys.has(k)));
    const reload = [], bySx = new Map();
    for (const c of grown) {
      const cur = c.cursor();
      if (cur === undefined) { reload.push(c); continue; }
      const sx = serverX(c.mode());
      if (!bySx.has(sx)) bySx.set(sx, {charts: [], after: Infinity});
      const g = bySx.get(sx);
      g.charts.push(c);
      g.after = cur == null ? -Infinity : Math.min(g.after, cur);
    }
    const work = [...news, ...reload.map((c) => c.load())];
    for (const [sx, g] of bySx) {
      work.push((async () => {
        const keyList = [...new Set(g.charts.flatMap((c) => c.keys))];
        const ans = await query("/series", {run: this.runs.map((r) => r.uuid), key: keyList, x: sx,
          points: Math.min(...g.charts.map((c) => c.points())), after: Number.isFinite(g.after) ? g.after : null,
          band: g.charts.some((c) => c.banded()) ? 1 : 0});
        const byKey = new Map();
        for (const s of ans.series) { if (!byKey.has(s.key)) byKey.set(s.key, []); byKey.get(s.key).push(s); }
        await Promise.all(g.charts.map((c) => (c.append(c.keys.flatMap((k) => byKey.get(k) || [])).refetch ? c.load() : null)));
      })());
    }
    await Promise.all(work);
  }

  /** Group the runs by config keys (or tag): one line per group on every chart. */
  setGroupBy(by) {
    this.groupBy = by;
    this.view.groups = this.runs.length > 1 ? groupsOf(this.runs, by) : null;
    for (const c of this.charts.values()) c.draw(false);
    if (this.onGroups) this.onGroups(this.view.groups);
    this.saveUrl();
  }

  /** Highlight one run (a uuid) or group (its name) on every chart; null: none. */
  highlight(id) {
    if (id === this.highlighted) return;
    this.highlighted = id;
    for (const c of this.charts.values()) c.highlight(id);
    if (this.onHighlight) this.onHighlight(id);
  }

  viewChanged(what) {
    if (what === "x") {
      for (const c of this.charts.values()) c.zoom = null;
      this.loadAll([...this.charts.values()]);
    } else if (what !== "sync") {
      for (const c of this.charts.values()) { c.syncOwn(); c.draw(false); }
    }
    this.saveUrl();
  }

  /** A zoom asked on chart `from` (null: back to everything): that chart, or every chart with the
   *  same x when zoom is synced. */
  async zoomFrom(from, range) {
    const targets = this.view.syncZoom ? [...this.charts.values()].filter((c) => c.mode() === from.mode()) : [from];
    for (const c of targets) c.zoom = range;
    this.saveUrl();
    if (targets.length > 1 && from.mode() !== "relative") await Promise.all(this.loadAll(targets, range || undefined));
    else await Promise.all(targets.map((c) => c.load()));
  }

  hide(key) {
    this.hidden.add(key);
    this.applyFilter();
    this.saveUrl();
  }

  unhide(key) {
    this.hidden.delete(key);
    this.applyFilter();
    this.saveUrl();
    const c = this.charts.get(key);
    if (c) requestAnimationFrame(() => c.resize());
  }

  panelForm() {
    const box = this.panelBox;
    box.hidden = !box.hidden;
    if (box.hidden) return;
    const order = [];  // the metrics in the order they were ticked (the panel's legend order)
    const boxes = this.scalarKeys.slice().sort().map((k) => h("label", {style: "display:block"}, h("input", {type: "checkbox", value: k,
      onchange: (e) => { const i = order.indexOf(k); if (i >= 0) order.splice(i, 1); if (e.target.checked) order.push(k); }}), " ", k));
    clear(box).append(h("div", {class: "muted"}, "metrics on one chart"), ...boxes,
      h("button", {type: "button", class: "primary", onclick: () => {
        const keys = order.slice();
        if (!keys.length) return;
        box.hidden = true;
        const key = keys.length === 1 ? `${keys[0]},${keys[0]}` : keys.join(",");
        if (this.charts.has(key)) return;
        this.panelKeys.push(key);
        this.saveUrl();
        this.loadAll([this.makeChart(key, PANELS)]);
      }}, "add"));
  }

  applyFilter() {
    const f = this.filter.value.trim().toLowerCase();
    for (const c of this.charts.values()) c.el.hidden = this.hidden.has(c.key) || (!!f && !c.key.toLowerCase().includes(f));
    for (const grid of this.groups.values()) grid.parentElement.hidden = ![...grid.children].some((e) => !e.hidden);
    const hidden = [...this.hidden].filter((k) => this.charts.has(k));
    this.hiddenBtn.hidden = !hidden.length;
    this.hiddenBtn.textContent = `${hidden.length} hidden`;
    clear(this.hiddenList).append(h("div", {class: "muted"}, "show again"),
      ...hidden.map((k) => h("button", {type: "button", style: "display:block", onclick: () => this.unhide(k)}, k)));
    if (!hidden.length) this.hiddenList.hidden = true;
  }

  /** Write the charts' state into the URL. */
  saveUrl() {
    const own = [...this.charts.values()].filter((c) => Object.keys(c.own).length);
    const num = (v) => +v.toPrecision(10);
    urlState.set({x: this.view.xMode === "step" ? null : this.view.xMode, smooth: this.view.smoothing || null,
      logy: this.view.logY, sync: this.view.syncZoom, cf: this.filter.value.trim(), hide: [...this.hidden],
      clog: own.filter((c) => c.own.logY === true).map((c) => c.key), clin: own.filter((c) => c.own.logY === false).map((c) => c.key),
      csmooth: own.filter((c) => c.own.smoothing != null).map((c) => `${c.key}~${c.own.smoothing}`),
      csize: own.filter((c) => c.own.size).map((c) => `${c.key}~${c.own.size}`), group: this.groupBy.join(","),
      zoom: [...this.charts.values()].filter((c) => c.zoom).map((c) => `${num(c.zoom[0])}~${num(c.zoom[1])}~${c.key}`),
      panel: this.panelKeys});
  }

  destroy() {
    this.destroyed = true;
    this.resizeObs.disconnect();
    for (const c of this.charts.values()) c.destroy();
    clear(this.body);
  }
}
