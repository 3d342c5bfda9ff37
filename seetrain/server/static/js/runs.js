// Projects list and the runs table: server-side filter, sort and paging; chosen config and metric
// columns; selection for compare; statuses refresh live.
import {get} from "./api.js";
import {h, clear, fmtTime, fmtDuration, fmtNum, flatten, statusBadge, debounce} from "./util.js";
import {mountAnalysis} from "./analysis.js";
import {mountViews} from "./views.js";
import {defaultMetricCols} from "./metriccols.js";
import {alertMark} from "./alerts.js";
import {urlState} from "./urlstate.js";
import {compareHref} from "./compare.js";
import {groupsOf, stats} from "./groups.js";
import {stateSelect, rowActions} from "./curate.js";

const PAGE = 50;
const GROUPED_MAX = 1000;  // a grouped table shows every matching run up to this many, in groups
/** The page's group-by (config keys or tag), from the URL: the runs table, its analysis panel and the
 *  compare charts read the same `group` key. */
const groupBy = () => urlState.getAll("group", true);
const STATUSES = ["running", "success", "failed", "crashed", "killed"];
const SERVER_SORT = new Set(["name", "status", "start_time", "duration", "id"]);

export async function projectsPage(root, setCrumbs) {
  setCrumbs([["projects", null]]);
  const projects = await get("/projects");
  if (projects.length === 1) {  // one project: its runs table, unless the user went elsewhere meanwhile
    if (root.isConnected) location.replace(`#/p/${encodeURIComponent(projects[0].name)}`);
    return () => {};
  }
  if (!projects.length) {
    root.append(h("div", {class: "card"}, h("p", {}, "No runs yet."),
      h("p", {class: "muted"}, "Log one with seetrain.init(project=...) and it shows up here within a few seconds.")));
    return () => {};
  }
  root.append(h("table", {class: "grid projects"}, h("thead", {}, h("tr", {}, h("th", {}, "project"), h("th", {class: "num"}, "runs"), h("th", {}, "last activity"))),
    h("tbody", {}, projects.map((p) => h("tr", {}, h("td", {}, h("a", {href: `#/p/${encodeURIComponent(p.name)}`}, p.name)),
      h("td", {class: "num"}, p.runs), h("td", {}, fmtTime(p.last_activity)))))));
  return () => {};
}

function loadCols(project) {
  try { return JSON.parse(localStorage.getItem(`seetrain.cols.${project}`)); } catch (e) { return null; }
}

export async function runsPage(root, project, setCrumbs) {
  setCrumbs([["projects", "#/"], [project, null]]);
  // the table's state starts from the URL (js/urlstate.js) and is written back as it changes
  const st = {q: urlState.get("q", ""), status: urlState.get("status", ""), tag: urlState.get("tag", ""), cfg: urlState.get("cfg", ""),
    state: urlState.get("state", "active"), sort: urlState.get("sort", "-start_time"), offset: Math.max(0, (Math.floor(urlState.getNum("page", 1)) - 1) * PAGE),
    selected: new Set(urlState.getAll("sel", true)), cols: loadCols(project), collapsed: new Set()};
  const q = h("input", {type: "search", name: "q", value: st.q, placeholder: "search name or id", oninput: debounce(() => { st.q = q.value; st.offset = 0; refresh(); }, 250)});
  const status = h("select", {name: "status", value: st.status, onchange: () => { st.status = status.value; st.offset = 0; refresh(); }},
    h("option", {value: ""}, "any status"), STATUSES.map((s) => h("option", {value: s}, s)));
  const tag = h("input", {type: "search", name: "tag", value: st.tag, placeholder: "tag", oninput: debounce(() => { st.tag = tag.value.trim(); st.offset = 0; refresh(); }, 250)});
  const cfg = h("input", {type: "search", name: "config", value: st.cfg, placeholder: "filter: lr>0.001 and optimizer in (adam, adamw)", size: 40,
    title: "filter runs: lr>0.001, optimizer in (adam, adamw), summary.val/acc>=0.9, status!=crashed, tag=x; combine with and",
    oninput: debounce(() => { st.cfg = cfg.value; st.offset = 0; refresh(); analysis.refresh(); }, 400)});
  const compare = h("button", {class: "primary", disabled: true, onclick: () => { location.hash = compareHref([...st.selected], {group: groupBy().join(",")}); }}, "Compare");
  const groupIn = h("input", {type: "search", name: "groupby", value: groupBy().join(", "), size: 18, placeholder: "group by: optimizer",
    title: "group the table's rows by config keys (or tag), comma-separated: a row per group with its size and metric means; click a group to fold it",
    onchange: () => { urlState.set({group: groupIn.value.split(",").map((s) => s.trim()).filter(Boolean).join(",")}); st.offset = 0; refresh(); }});
  const colBtn = h("button", {onclick: () => toggleCols()}, "Columns");
  const colBox = h("div", {class: "colpick", hidden: true});
  const msg = h("span", {class: "muted"});
  const table = h("table", {class: "grid runs"});
  const selection = h("span", {class: "selection muted", "aria-live": "polite"});
  const pager = h("div", {class: "pager"});
  const analysis = mountAnalysis({project, userFilter: () => st.cfg, selected: st.selected, onFilter: () => { st.offset = 0; refresh(); }});
  const stateSel = stateSelect(st.state, (v) => { st.state = v; st.offset = 0; refresh(); });
  root.append(h("div", {class: "toolbar"}, q, status, stateSel, tag, cfg, groupIn, h("span", {class: "rel"}, colBtn, colBox), compare, selection, mountViews(project), msg), analysis.el,
    table, pager);
  status.value = st.status;

  let asked = 0, last = {runs: [], total: 0}, shown = null, timer = null, stopped = false, seenKeys = {config: new Set(), metric: new Set()};

  function params() {
    const p = {project, q: st.q, status: st.status, tag: st.tag, limit: PAGE, offset: st.offset};
    if (groupBy().length) Object.assign(p, {limit: GROUPED_MAX, offset: 0});  // groups hold every run, not a page's
    if (st.state !== "active") p.state = st.state;  // archived, deleted or all (js/curate.js)
    const field = st.sort.replace(/^-/, "");
    if (SERVER_SORT.has(field)) p.sort = st.sort;
    else if (/^(config|metric):/.test(field))  // config/metric columns sort server-side: sort=config.KEY / summary.KEY
      p.sort = `${st.sort.startsWith("-") ? "-" : ""}${field.startsWith("config:") ? "config." : "summary."}${field.slice(7)}`;
    const filter = [st.cfg.trim(), analysis.brushFilter()].filter(Boolean).join(" and ");  // runs filter language
    if (filter) p.filter = filter;
    return p;
  }

  function chooseDefaultCols(runs) {
    // Config columns: keys whose values differ on this page (up to 4); metrics: first 4 non-sys summary keys.
    const cfgVals = {};
    for (const r of runs) for (const [k, v] of Object.entries(flatten(r.config))) (cfgVals[k] ||= new Set()).add(JSON.stringify(v));
    const config = Object.keys(cfgVals).filter((k) => cfgVals[k].size > 1).sort().slice(0, 4);
    const metric = defaultMetricCols(runs);  // validation metrics, then the most common last values
    return {config, metric};
  }

  function toggleCols() {
    colBox.hidden = !colBox.hidden;
    if (colBox.hidden) return;
    clear(colBox);
    for (const kind of ["config", "metric"]) {
      colBox.append(h("div", {class: "muted"}, kind === "config" ? "config columns" : "metric columns"));
      for (const k of [...seenKeys[kind]].sort()) {
        const cb = h("input", {type: "checkbox", checked: st.cols[kind].includes(k), onchange: () => {
          st.cols[kind] = cb.checked ? [...st.cols[kind], k] : st.cols[kind].filter((c) => c !== k);
          localStorage.setItem(`seetrain.cols.${project}`, JSON.stringify(st.cols));
          render();
        }});
        colBox.append(h("label", {style: "display:block"}, cb, " ", k));
      }
    }
  }

  function sortBy(field) {
    st.sort = st.sort === `-${field}` ? field : `-${field}`;
    st.offset = 0;
    refresh();
  }

  function saveUrl() {
    urlState.set({q: st.q, status: st.status, state: st.state === "active" ? null : st.state, tag: st.tag, cfg: st.cfg, sort: st.sort === "-start_time" ? null : st.sort,
      page: st.offset ? Math.floor(st.offset / PAGE) + 1 : null, sel: [...st.selected].join(",")});
  }

  function toggleAll() {
    const {runs} = last;
    const allOn = runs.length > 0 && runs.every((r) => st.selected.has(r.uuid));
    for (const r of runs) allOn ? st.selected.delete(r.uuid) : st.selected.add(r.uuid);
    render();
  }

  /** Redraw the table, keeping keyboard focus on the same header or row checkbox. */
  function render() {
    const a = document.activeElement;
    const focus = a && table.contains(a) ? (a.dataset.sort ? `th[data-sort="${CSS.escape(a.dataset.sort)}"]`
      : a.closest("tr[data-uuid]") ? `tr[data-uuid="${a.closest("tr[data-uuid]").dataset.uuid}"] input` : a.matches("thead input") ? "thead input" : null) : null;
    draw();
    if (focus) table.querySelector(focus)?.focus();
  }

  function draw() {
    const {runs, total} = last;
    for (const r of runs) {
      for (const k of Object.keys(flatten(r.config))) seenKeys.config.add(k);
      for (const k of Object.keys(r.summary || {})) seenKeys.metric.add(k);
    }
    if (!st.cols) st.cols = chooseDefaultCols(runs);
    const rows = runs;  // sorted by the server, config/metric columns too
    const field = st.sort.replace(/^-/, ""), desc = st.sort.startsWith("-");
    const arrow = (f) => (field === f ? (desc ? " ▼" : " ▲") : "");
    const th = (label, f, cls, pre) => h("th", {class: cls, tabindex: 0, dataset: {sort: f}, title: `${pre || ""}${label}: sort (Enter)`,
      "aria-sort": field === f ? (desc ? "descending" : "ascending") : "none", onclick: () => sortBy(f),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(f); } }},
      pre ? h("span", {class: "muted"}, pre) : null, label + arrow(f));
    const onPage = runs.filter((r) => st.selected.has(r.uuid)).length;
    const all = h("input", {type: "checkbox", title: "select all on this page (again: clear)", "aria-label": "select all runs on this page",
      checked: runs.length > 0 && onPage === runs.length, onclick: (e) => { e.preventDefault(); toggleAll(); }});
    all.indeterminate = onPage > 0 && onPage < runs.length;
    clear(table).append(
      h("thead", {}, h("tr", {}, h("th", {}, all), th("name", "name"), th("status", "status"), th("start", "start_time"),
        th("duration", "duration", "num"), h("th", {}, "tags"),
        st.cols.config.map((k) => th(k, `config:${k}`, "cfg", "cfg ")), st.cols.metric.map((k) => th(k, `metric:${k}`, "num")),
        h("th", {class: "act"}, h("span", {class: "sr-only"}, "actions")))),
      h("tbody", {}, withGroups(rows, (r) => {
        const flat = flatten(r.config);
        const cb = h("input", {type: "checkbox", checked: st.selected.has(r.uuid), "aria-label": `select ${r.name}`, onchange: () => {
          cb.checked ? st.selected.add(r.uuid) : st.selected.delete(r.uuid);
          const n = runs.filter((x) => st.selected.has(x.uuid)).length;
          all.checked = n === runs.length; all.indeterminate = n > 0 && n < runs.length;
          updateCompare();
        }});
        return h("tr", {dataset: {uuid: r.uuid, name: r.name}},
          h("td", {}, cb), h("td", {class: "name", title: r.name}, h("a", {href: `#/run/${r.uuid}`, title: r.id}, r.name)),
          h("td", {class: "st"}, statusBadge(r), alertMark(r)), h("td", {}, fmtTime(r.start_time)), h("td", {class: "num"}, fmtDuration(r.duration)),
          h("td", {}, (r.tags || []).map((t) => h("span", {class: "tag"}, t))),
          st.cols.config.map((k) => h("td", {title: flat[k] == null ? "" : fmtNum(flat[k])}, flat[k] == null ? "" : fmtNum(flat[k]))),
          st.cols.metric.map((k) => h("td", {class: "num"}, fmtNum((r.summary || {})[k]))),
          h("td", {class: "act"}, rowActions(r, () => refresh())));
      })));
    const end = Math.min(total, st.offset + runs.length);
    if (groupBy().length) {
      clear(pager).append(h("span", {class: "count"}, `${runs.length}${total > runs.length ? ` of ${total}` : ""} runs in ${table.querySelectorAll("tr.group-row").length} groups`));
      table.dataset.total = total;
      updateCompare();
      return;
    }
    clear(pager).append(
      h("button", {disabled: st.offset === 0, onclick: () => { st.offset = Math.max(0, st.offset - PAGE); refresh(); }}, "‹ prev"),
      h("span", {class: "count"}, total ? `${st.offset + 1}–${end} of ${total}` : "no runs match"),
      h("button", {disabled: end >= total, onclick: () => { st.offset += PAGE; refresh(); }}, "next ›"));
    table.dataset.total = total;
    updateCompare();
  }

  /** The table's rows, grouped when the page groups runs: a header row per group (its label, its size,
   *  the mean of each metric column over its runs; a click folds it) before its runs' rows. */
  function withGroups(rows, rowOf) {
    if (document.activeElement !== groupIn) groupIn.value = groupBy().join(", ");  // the analysis panel may have set it
    const groups = groupsOf(rows, groupBy());
    if (!groups) return rows.map(rowOf);
    return groups.flatMap((g) => {
      const open = !st.collapsed.has(g.name);
      const toggle = () => { open ? st.collapsed.add(g.name) : st.collapsed.delete(g.name); render(); };
      const head = h("tr", {class: "group-row", dataset: {group: g.name, size: g.runs.length}},
        h("td", {colspan: 6 + st.cols.config.length},
          h("button", {type: "button", class: "gtoggle", "aria-expanded": String(open), "aria-label": `${open ? "fold" : "unfold"} group ${g.name}`, onclick: toggle}, open ? "▾" : "▸"),
          " ", h("b", {}, g.name), " ", h("span", {class: "muted gsize"}, `${g.runs.length} run${g.runs.length === 1 ? "" : "s"}`)),
        st.cols.metric.map((k) => {
          const s = stats(g.runs.map((r) => (r.summary || {})[k]));
          return h("td", {class: "num gmean", dataset: {metric: k}, title: s ? `mean of ${s.n} runs; min ${fmtNum(s.min)}, max ${fmtNum(s.max)}` : ""}, s ? fmtNum(s.mean) : "");
        }), h("td", {}));
      return [head, ...(open ? g.runs.map(rowOf) : [])];
    });
  }

  function updateCompare() {
    compare.disabled = st.selected.size < 1;
    compare.textContent = `Compare (${st.selected.size})`;
    const off = [...st.selected].filter((u) => !last.runs.some((r) => r.uuid === u)).length;
    clear(selection).append(...(st.selected.size ? [`${st.selected.size} selected` + (off ? ` (${off} on other pages)` : ""), " ",
      h("button", {type: "button", onclick: () => { st.selected.clear(); render(); }}, "clear")] : []));
    saveUrl();
  }

  async function refresh(quiet) {
    clearTimeout(timer);
    const t0 = performance.now(), mine = ++asked;
    try {
      const ans = await get("/runs", params());
      if (mine !== asked) return;  // a newer filter or page was asked for meanwhile: its answer wins
      last = ans;
      if (msg.textContent) msg.textContent = "";
      if (cfg.classList.contains("bad")) { cfg.classList.remove("bad"); cfg.removeAttribute("aria-invalid"); }
      // nothing changed since the last draw (answer and columns): no DOM work at all
      const seen = () => JSON.stringify([ans, st.cols, st.sort, st.offset, [...st.selected], groupBy()]);
      if (seen() !== shown) { render(); shown = seen(); }
    } catch (e) {
      if (mine !== asked) return;
      msg.textContent = e.message;
      if (e.status === 422 && /^422: filter /.test(e.message)) {  // a filter the parser cannot read: say where
        cfg.classList.add("bad"); cfg.setAttribute("aria-invalid", "true");
        msg.className = "filter-error"; msg.setAttribute("role", "alert");
      }
    }
    // live statuses every 2 s, but never more than a fifth of the server's time on a slow index
    if (!stopped) timer = setTimeout(() => refresh(true), Math.max(2000, 5 * (performance.now() - t0)));
    if (!quiet) { saveUrl(); window.seetrain.rendered = performance.now(); }
  }
  window.seetrain = window.seetrain || {};
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
