// Compare: the chosen runs overlaid on the same charts, one shared legend (a colour per run, never
// repeated), a config diff showing only what differs, and a picker to add or remove runs.
import {get} from "./api.js";
import {h, clear, flatten, fmtNum, statusBadge} from "./util.js";
import {ChartGrid} from "./chartgrid.js";
import {runColor} from "./series.js";
import {urlState} from "./urlstate.js";

const POLL_MS = 2000;

export function configDiff(runs) {
  const flats = runs.map((r) => flatten(r.config));
  const keys = [...new Set(flats.flatMap(Object.keys))].sort();
  const differs = keys.filter((k) => new Set(flats.map((f) => JSON.stringify(f[k]))).size > 1);
  if (!differs.length) return h("p", {class: "muted diff-none"}, "The configs are identical.");
  return h("div", {class: "tablewrap"}, h("table", {class: "grid diff"},
    h("thead", {}, h("tr", {}, h("th", {}, "config key"), runs.map((r, i) => h("th", {style: `color:${runColor(i)}`, title: r.name}, r.name)))),
    h("tbody", {}, differs.map((k) => h("tr", {dataset: {key: k}}, h("td", {}, k),
      flats.map((f) => h("td", {class: "differs"}, f[k] === undefined ? "—" : typeof f[k] === "number" ? fmtNum(f[k]) : JSON.stringify(f[k]))))))));
}

/** One legend for every chart: a swatch and a link per run; hovering an entry highlights nothing
 *  (the charts name the run under the cursor), it is there to be read and clicked. */
function sharedLegend(runs) {
  return h("div", {class: "shared-legend"}, runs.map((r, i) => h("span", {class: "entry", dataset: {run: r.uuid, color: runColor(i)}},
    h("span", {class: "swatch", style: `background:${runColor(i)}`}), h("a", {href: `#/run/${r.uuid}`, title: r.id}, r.name), " ", statusBadge(r))));
}

/** A list of the project's runs with checkboxes: the runs to compare. */
export async function runPicker(project, chosen, onDone) {
  const box = h("div", {class: "runpicker card"});
  const list = h("div", {class: "picklist"});
  const filter = h("input", {type: "search", placeholder: "filter runs", oninput: () => {
    const f = filter.value.trim().toLowerCase();
    for (const row of list.children) row.hidden = !!f && !row.dataset.name.toLowerCase().includes(f);
  }});
  const ans = await get("/runs", {project, limit: 1000, sort: "-start_time"});
  const picked = new Set(chosen);
  const count = h("span", {class: "muted"});
  const go = h("button", {type: "button", class: "primary", onclick: () => onDone([...picked])}, "Compare");
  const sync = () => { count.textContent = `${picked.size} chosen`; go.disabled = !picked.size; };
  list.append(...ans.runs.map((r) => h("label", {class: "pickrow", dataset: {uuid: r.uuid, name: r.name}},
    h("input", {type: "checkbox", checked: picked.has(r.uuid), onchange: (e) => { e.target.checked ? picked.add(r.uuid) : picked.delete(r.uuid); sync(); }}),
    " ", r.name, " ", statusBadge(r))));
  sync();
  box.append(h("div", {class: "toolbar"}, h("b", {}, `Runs of ${project} to compare`), filter, count, go,
    h("button", {type: "button", onclick: () => box.remove()}, "close")), list);
  return box;
}

export async function comparePage(root, uuids, setCrumbs) {
  if (!uuids.length) { root.append(h("div", {class: "warnbox"}, "No runs to compare: choose some in a project's runs table.")); return () => {}; }
  let ans = await get("/ui/compare", {run: uuids});
  const runs = ans.runs;
  const project = runs[0].project;
  setCrumbs([["projects", "#/"], [project, `#/p/${encodeURIComponent(project)}`], [`compare ${runs.length} runs`, null]]);
  const grid = new ChartGrid(runs);
  const pickerSlot = h("div", {});
  const openPicker = async () => {
    if (pickerSlot.firstChild) { clear(pickerSlot); return; }
    pickerSlot.append(await runPicker(project, runs.map((r) => r.uuid), (chosen) => {
      location.hash = urlState.href("/compare", {runs: chosen.join(",")});
    }));
  };
  root.append(
    h("div", {class: "card"}, h("div", {class: "toolbar"}, h("h3", {}, `Runs (${runs.length})`),
      h("button", {type: "button", class: "add-runs", onclick: openPicker}, "add or remove runs…")), pickerSlot, sharedLegend(runs)),
    h("details", {class: "card", open: runs.length <= 10}, h("summary", {}, h("b", {}, "Config differences")), configDiff(runs)),
    grid.el);
  if (urlState.get("add")) { urlState.set({add: null}); await openPicker(); }
  let stopped = false, timer = null;
  const tick = async (first) => {
    try {
      if (!first) ans = await get("/ui/compare", {run: uuids});
      if (first) { await Promise.all(grid.update(ans.keys)); window.seetrain.rendered = performance.now(); }
      else await grid.poll(ans.keys);
    } catch (e) { /* the next tick tries again */ }
    if (!stopped && ans.runs.some((r) => r.status === "running")) timer = setTimeout(() => tick(false), POLL_MS);
  };
  await tick(true);
  return () => { stopped = true; clearTimeout(timer); grid.destroy(); };
}
