// Alerts (seetrain.alert): a list at the top of the run page and a marker in the runs table.
import {h, clear, fmtTime} from "./util.js";

const RANK = {info: 0, warn: 1, error: 2};
const SHOWN = 20;  // newest alerts listed; the events tab has them all

function worst(items) {
  return items.reduce((lv, a) => ((RANK[a.level] ?? 0) > (RANK[lv] ?? 0) ? a.level : lv), "info");
}

/** The run page's alert list: fed every event by the events panel, it keeps the alerts (newest first). */
export class AlertsBox {
  constructor() {
    this.items = [];
    this.el = h("div", {class: "alerts", hidden: true});
  }
  add(ev) {
    if (ev.event !== "alert") return;
    this.items.push(ev);
    this.render();
  }
  render() {
    const n = this.items.length, level = worst(this.items);
    const rows = this.items.slice(-SHOWN).reverse().map((a) => h("li", {class: `alert ${a.level}`, dataset: {level: a.level}},
      h("span", {class: "lvl"}, a.level), h("span", {class: "muted"}, fmtTime(a.time)), " ",
      h("b", {class: "title"}, a.title), a.text ? h("div", {class: "text"}, a.text) : null));
    const more = n > SHOWN ? h("p", {class: "muted"}, `${n - SHOWN} older alerts in the events tab`) : null;
    clear(this.el).append(h("details", {open: true},
      h("summary", {}, h("span", {class: `alertmark ${level}`, dataset: {count: n}}, `⚠ ${n}`), ` alert${n === 1 ? "" : "s"}`),
      h("ul", {}, rows), more));
    this.el.hidden = false;
    this.el.dataset.count = n;
    this.el.dataset.level = level;
  }
}

/** The runs table's marker for a run with alerts (``run.alerts``: {count, level, last_time} or null). */
export function alertMark(run) {
  const a = run.alerts;
  if (!a || !a.count) return null;
  return h("span", {class: `alertmark ${a.level}`, title: `${a.count} alert${a.count === 1 ? "" : "s"}, the last at ${fmtTime(a.last_time)}`,
    dataset: {count: a.count, level: a.level}}, `⚠ ${a.count}`);
}
