// Everything a user sets on a page lives in the URL's hash query ("#/p/demo?sort=-lr&page=2"), so a
// reload or a pasted link shows the same page. Views read their state with get()/getAll() when they
// start and write it back with set() as the user changes it; set() replaces the history entry and
// does not re-route (history.replaceState fires no hashchange).
//
//   import {urlState} from "./urlstate.js";
//   const sort = urlState.get("sort", "-start_time");
//   urlState.set({sort: "-lr", page: null});          // null / "" / undefined / default removes a key
//   urlState.set({col: ["lr", "batch"]});             // arrays: repeated keys, read with getAll("col")
//   urlState.getNum("smooth", 0); urlState.getBool("logy");
//
// Keys in use (one name, one meaning, across modules): q, status, tag, cfg, sort, page, sel (runs page);
// tab (run page); runs, rs (packed uuids), add (compare); x, smooth, logy, zoom, sync, hide, clog, csmooth,
// csize, panel (charts); group (the page's group-by: runs table, compare charts, analysis); filter (analysis).

function split() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const i = hash.indexOf("?");
  return {path: i < 0 ? hash : hash.slice(0, i), params: new URLSearchParams(i < 0 ? "" : hash.slice(i + 1))};
}

function write(path, params, push) {
  const q = params.toString();
  const hash = `#${path}${q ? "?" + q : ""}`;
  if (hash === location.hash || (hash === "#/" && !location.hash)) return;
  const u = location.pathname + location.search + hash;
  if (push) history.pushState(null, "", u); else history.replaceState(null, "", u);
}

export const urlState = {
  /** The route part of the hash ("/p/demo"). */
  path() { return split().path; },
  /** One value (the first), or `def` when absent. */
  get(name, def = null) { const v = split().params.get(name); return v == null ? def : v; },
  /** Every value of a repeated key (also splits a single comma-joined value when `comma`). */
  getAll(name, comma = false) {
    const all = split().params.getAll(name);
    return comma ? all.flatMap((v) => v.split(",")).filter(Boolean) : all;
  },
  getNum(name, def = 0) { const v = Number(split().params.get(name)); return split().params.has(name) && Number.isFinite(v) ? v : def; },
  getBool(name, def = false) { const p = split().params; return p.has(name) ? p.get(name) === "1" : def; },
  /** Update keys in place: null/undefined/""/false remove, true -> "1", arrays repeat the key. */
  set(values, {push = false} = {}) {
    const {path, params} = split();
    for (const [k, v] of Object.entries(values)) {
      params.delete(k);
      if (v == null || v === "" || v === false) continue;
      for (const one of Array.isArray(v) ? v : [v]) params.append(k, one === true ? "1" : String(one));
    }
    write(path, params, push);
  },
  /** A link to `path` with `values` as its query (for hrefs). */
  href(path, values = {}) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(values)) {
      if (v == null || v === "" || v === false) continue;
      for (const one of Array.isArray(v) ? v : [v]) params.append(k, one === true ? "1" : String(one));
    }
    const q = params.toString();
    return `#${path}${q ? "?" + q : ""}`;
  },
};
