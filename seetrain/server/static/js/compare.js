// Compare: the chosen runs overlaid on the same charts, one shared legend (a colour per run, never
// repeated), a config diff showing only what differs, and a picker to add or remove runs.
import {get, query} from "./api.js";
import {h, clear, flatten, fmtNum, statusBadge} from "./util.js";
import {ChartGrid} from "./chartgrid.js";
import {runColor} from "./series.js";
import {urlState} from "./urlstate.js";

const POLL_MS = 2000;
const LISTED = 40;  // up to this many runs the URL lists their uuids; more are packed (runs_packed)

/** 32-hex-digit uuids as base64url of their 16 bytes each (22 characters a run instead of 33). */
export function packUuids(uuids) {
  let bin = "";
  for (const u of uuids) for (let i = 0; i < 32; i += 2) bin += String.fromCharCode(parseInt(u.slice(i, i + 2), 16));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function unpackUuids(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = [];
  for (let i = 0; i + 16 <= bin.length; i += 16) {
    let u = "";
    for (let j = i; j < i + 16; j++) u += bin.charCodeAt(j).toString(16).padStart(2, "0");
    out.push(u);
  }
  return out;
}

/** The link to a compare of `uuids`: a short list in `runs`, hundreds packed in `rs` (500 runs: 10.7 KB of
 *  hash, which the browser keeps and never sends; the page asks the server by POST). */
export function compareHref(uuids, extra = {}) {
  const packable = uuids.length > LISTED && uuids.every((u) => /^[0-9a-f]{32}$/.test(u));
  return urlState.href("/compare", packable ? {rs: packUuids(uuids), ...extra} : {runs: uuids.join(","), ...extra});
}

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

/** One legend for every chart: a swatch and a link per run (or, grouped, per group with its size);
 *  hovering an entry highlights that run (or group) on every chart, as hovering its line does. */
function sharedLegend(runs, groups, grid) {
  const hover = (id) => ({onmouseenter: () => grid.highlight(id), onmouseleave: () => grid.highlight(null),
    onfocusin: () => grid.highlight(id), onfocusout: () => grid.highlight(null)});
  if (groups) {
    return h("div", {class: "shared-legend grouped"}, groups.map((g, i) => h("span", {class: "entry", tabindex: 0, dataset: {group: g.name, size: g.runs.length, color: runColor(i)}, ...hover(g.name)},
      h("span", {class: "swatch", style: `background:${runColor(i)}`}), `${g.name} `, h("span", {class: "muted"}, `(${g.runs.length} runs)`))));
  }
  return h("div", {class: "shared-legend"}, runs.map((r, i) => h("span", {class: "entry", dataset: {run: r.uuid, color: runColor(i)}, ...hover(r.uuid)},
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
  if (!uuids.length && urlState.get("rs")) {
    try { uuids = unpackUuids(urlState.get("rs")); } catch (e) { uuids = []; }
  }
  if (!uuids.length) { root.append(h("div", {class: "warnbox"}, "No runs to compare: choose some in a project's runs table.")); return () => {}; }
  let ans = await query("/ui/compare", {run: uuids});
  const runs = ans.runs;
  const project = runs[0].project;
  setCrumbs([["projects", "#/"], [project, `#/p/${encodeURIComponent(project)}`], [`compare ${runs.length} runs`, null]]);
  const legendSlot = h("div", {});
  const grid = new ChartGrid(runs, {onGroups: (groups) => clear(legendSlot).append(sharedLegend(runs, groups, grid)),
    onHighlight: (id) => { for (const e of legendSlot.querySelectorAll(".entry")) e.classList.toggle("hl", id != null && (e.dataset.run || e.dataset.group) === id); }});
  legendSlot.append(sharedLegend(runs, grid.view.groups, grid));
  const pickerSlot = h("div", {});
  const openPicker = async () => {
    if (pickerSlot.firstChild) { clear(pickerSlot); return; }
    pickerSlot.append(await runPicker(project, runs.map((r) => r.uuid), (chosen) => {
      location.hash = compareHref(chosen);
    }));
  };
  root.append(
    h("div", {class: "card"}, h("div", {class: "toolbar"}, h("h3", {}, `Runs (${runs.length})`),
      h("button", {type: "button", class: "add-runs", onclick: openPicker}, "add or remove runs…")), pickerSlot, legendSlot),
    h("details", {class: "card", open: runs.length <= 10}, h("summary", {}, h("b", {}, "Config differences")), configDiff(runs)),
    grid.el);
  if (urlState.get("add")) { urlState.set({add: null}); await openPicker(); }
  let stopped = false, timer = null;
  const tick = async (first) => {
    try {
      if (!first) ans = await query("/ui/compare", {run: uuids});
      if (first) { await Promise.all(grid.update(ans.keys)); window.seetrain.rendered = performance.now(); }
      else await grid.poll(ans.keys);
    } catch (e) { /* the next tick tries again */ }
    if (!stopped && ans.runs.some((r) => r.status === "running")) timer = setTimeout(() => tick(false), POLL_MS);
  };
  await tick(true);
  return () => { stopped = true; clearTimeout(timer); grid.destroy(); };
}
