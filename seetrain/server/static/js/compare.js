// Compare: the selected runs overlaid on the same charts, and a config diff showing only what differs.
import {get} from "./api.js";
import {h, flatten, fmtNum, statusBadge} from "./util.js";
import {ChartGrid} from "./chartgrid.js";
import {PALETTE} from "./series.js";

function mergeKeys(lists) {
  const m = new Map();
  for (const list of lists) for (const k of list) {
    if (k.kind !== "scalar") continue;
    const o = m.get(k.key);
    m.set(k.key, {key: k.key, kind: k.kind, count: (o ? o.count : 0) + k.count});
  }
  return [...m.values()];
}

export function configDiff(runs) {
  const flats = runs.map((r) => flatten(r.config));
  const keys = [...new Set(flats.flatMap(Object.keys))].sort();
  const differs = keys.filter((k) => new Set(flats.map((f) => JSON.stringify(f[k]))).size > 1);
  if (!differs.length) return h("p", {class: "muted diff-none"}, "The configs are identical.");
  return h("table", {class: "grid diff"},
    h("thead", {}, h("tr", {}, h("th", {}, "config key"), runs.map((r, i) => h("th", {style: `color:${PALETTE[i % PALETTE.length]}`}, r.name)))),
    h("tbody", {}, differs.map((k) => h("tr", {dataset: {key: k}}, h("td", {}, k),
      flats.map((f) => h("td", {class: "differs"}, f[k] === undefined ? "—" : typeof f[k] === "number" ? fmtNum(f[k]) : JSON.stringify(f[k])))))));
}

export async function comparePage(root, uuids, setCrumbs) {
  const runs = await Promise.all(uuids.map((u) => get(`/runs/${u}`)));
  setCrumbs([["projects", "#/"], [runs[0].project, `#/p/${encodeURIComponent(runs[0].project)}`], [`compare ${runs.length} runs`, null]]);
  const grid = new ChartGrid(runs);
  root.append(
    h("div", {class: "card"}, h("h3", {}, "Runs"), h("div", {}, runs.map((r, i) => h("span", {style: "margin-right:14px"},
      h("span", {style: `color:${PALETTE[i % PALETTE.length]}`}, "■ "), h("a", {href: `#/run/${r.uuid}`}, r.name), " ", statusBadge(r))))),
    h("div", {class: "card"}, h("h3", {}, "Config differences"), configDiff(runs)),
    grid.el);
  let stopped = false, timer = null;
  const tick = async (first) => {
    const keys = mergeKeys(await Promise.all(uuids.map((u) => get(`/runs/${u}/keys`))));
    if (first) { await Promise.all(grid.update(keys)); window.seetrain.rendered = performance.now(); }
    else await grid.poll(keys);
    if (!stopped) timer = setTimeout(() => tick(false), 2000);
  };
  await tick(true);
  return () => { stopped = true; clearTimeout(timer); grid.destroy(); };
}
