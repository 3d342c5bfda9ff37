// Saved views of a project (/api/v1/projects/{p}/views): a name for the page's URL state (filters,
// sort, analysis, grouping ...) and its chart layout; choosing one restores the page.
import {get, send} from "./api.js";
import {h, clear} from "./util.js";
import {urlState} from "./urlstate.js";

const LAYOUT_KEYS = ["hide", "clog", "csmooth", "csize", "panel", "sync", "zoom", "logy", "smooth", "x"];

/** The page's state as a view stores it: the route and every URL key; the layout keys apart. */
export function currentView() {
  const q = new URLSearchParams((location.hash.split("?")[1]) || "");
  const params = {};
  for (const k of new Set(q.keys())) params[k] = q.getAll(k);
  const layout = Object.fromEntries(Object.entries(params).filter(([k]) => LAYOUT_KEYS.includes(k)));
  return {state: {path: urlState.path(), params}, layout};
}

/** The hash that shows a saved view. */
export function viewHash(view) {
  const q = new URLSearchParams();
  for (const [k, vs] of Object.entries({...(view.state.params || {}), ...(view.layout || {})})) for (const v of vs) q.append(k, v);
  const s = q.toString();
  return `#${view.state.path}${s ? "?" + s : ""}`;
}

/** The views control for a project's runs page: a list to choose from, save and delete. */
export function mountViews(project) {
  const base = `/projects/${encodeURIComponent(project)}/views`;
  const list = h("select", {name: "view", title: "saved views", onchange: () => choose(list.value)});
  const name = h("input", {type: "text", name: "view-name", placeholder: "view name", size: 14, hidden: true});
  const save = h("button", {name: "save-view", onclick: () => onSave()}, "Save view");
  const del = h("button", {name: "delete-view", hidden: true, title: "delete the chosen view", onclick: () => onDelete()}, "Delete view");
  const msg = h("span", {class: "muted view-msg"});
  const el = h("span", {class: "views"}, list, name, save, del, msg);
  let views = [];

  async function load(selected) {
    try { views = await get(base); } catch (e) { msg.textContent = e.message; views = []; }
    if (!selected) selected = (views.find((v) => viewHash(v) === location.hash) || {}).name;  // the page shows a saved view
    clear(list).append(h("option", {value: ""}, views.length ? "views…" : "no saved views"),
      ...views.map((v) => h("option", {value: v.name, selected: v.name === selected}, v.name)));
    del.hidden = !list.value;
  }

  function choose(n) {
    del.hidden = !n;
    const v = views.find((x) => x.name === n);
    if (v) location.hash = viewHash(v);
  }

  async function onSave() {
    if (name.hidden) { name.hidden = false; name.focus(); save.textContent = "Save"; return; }
    const n = name.value.trim();
    if (!n) { msg.textContent = "name the view first"; return; }
    if (n.includes("/")) { msg.textContent = "a view's name cannot contain '/'"; return; }
    try {
      await send("PUT", `${base}/${encodeURIComponent(n)}`, currentView());
      msg.textContent = `saved “${n}”`;
      name.hidden = true; name.value = ""; save.textContent = "Save view";
      await load(n);
    } catch (e) { msg.textContent = e.message; }
  }

  async function onDelete() {
    const n = list.value;
    if (!n) return;
    try { await send("DELETE", `${base}/${encodeURIComponent(n)}`); msg.textContent = `deleted “${n}”`; await load(""); } catch (e) { msg.textContent = e.message; }
  }

  name.addEventListener("keydown", (e) => { if (e.key === "Enter") onSave(); });
  load("");
  return el;
}
