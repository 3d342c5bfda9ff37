// Projects list and the runs table: server-side filter, sort and paging; chosen config and metric
// columns; selection for compare; statuses refresh live.
import {get} from "./api.js";
import {h, clear, fmtTime, fmtDuration, fmtNum, flatten, statusBadge, debounce} from "./util.js";
import {mountAnalysis} from "./analysis.js";
import {mountViews} from "./views.js";
import {defaultMetricCols} from "./metriccols.js";
import {alertMark} from "./alerts.js";

const PAGE = 50;
const STATUSES = ["running", "success", "failed", "crashed", "killed"];
const SERVER_SORT = new Set(["name", "status", "start_time", "duration", "id"]);

export async function projectsPage(root, setCrumbs) {
  setCrumbs([["projects", null]]);
  const projects = await get("/projects");
  if (projects.length === 1) { location.replace(`#/p/${encodeURIComponent(projects[0].name)}`); return () => {}; }
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
  const st = {q: "", status: "", tag: "", cfg: "", sort: "-start_time", offset: 0, selected: new Set(), cols: loadCols(project)};
  const q = h("input", {type: "search", name: "q", placeholder: "search name or id", oninput: debounce(() => { st.q = q.value; st.offset = 0; refresh(); }, 250)});
  const status = h("select", {name: "status", onchange: () => { st.status = status.value; st.offset = 0; refresh(); }},
    h("option", {value: ""}, "any status"), STATUSES.map((s) => h("option", {value: s}, s)));
  const tag = h("input", {type: "search", name: "tag", placeholder: "tag", oninput: debounce(() => { st.tag = tag.value.trim(); st.offset = 0; refresh(); }, 250)});
  const cfg = h("input", {type: "search", name: "config", placeholder: "filter: lr>0.001 and optimizer in (adam, adamw)", size: 40,
    title: "filter runs: lr>0.001, optimizer in (adam, adamw), summary.val/acc>=0.9, status!=crashed, tag=x; combine with and",
    oninput: debounce(() => { st.cfg = cfg.value; st.offset = 0; refresh(); analysis.refresh(); }, 400)});
  const compare = h("button", {class: "primary", disabled: true, onclick: () => { location.hash = `#/compare?runs=${[...st.selected].join(",")}`; }}, "Compare");
  const colBtn = h("button", {onclick: () => toggleCols()}, "Columns");
  const colBox = h("div", {class: "colpick", hidden: true});
  const msg = h("span", {class: "muted"});
  const table = h("table", {class: "grid runs"});
  const pager = h("div", {class: "pager"});
  const analysis = mountAnalysis({project, userFilter: () => st.cfg, selected: st.selected, onFilter: () => { st.offset = 0; refresh(); }});
  root.append(h("div", {class: "toolbar"}, q, status, tag, cfg, h("span", {class: "rel"}, colBtn, colBox), compare, mountViews(project), msg), analysis.el, table, pager);

  let asked = 0, last = {runs: [], total: 0}, timer = null, stopped = false, seenKeys = {config: new Set(), metric: new Set()};

  function params() {
    const p = {project, q: st.q, status: st.status, tag: st.tag, limit: PAGE, offset: st.offset};
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

  function render() {
    const {runs, total} = last;
    for (const r of runs) {
      for (const k of Object.keys(flatten(r.config))) seenKeys.config.add(k);
      for (const k of Object.keys(r.summary || {})) seenKeys.metric.add(k);
    }
    if (!st.cols) st.cols = chooseDefaultCols(runs);
    const rows = runs;  // sorted by the server, config/metric columns too
    const field = st.sort.replace(/^-/, ""), desc = st.sort.startsWith("-");
    const arrow = (f) => (field === f ? (desc ? " ▼" : " ▲") : "");
    const th = (label, f, cls, pre) => h("th", {class: cls, onclick: () => sortBy(f), title: "sort"},
      pre ? h("span", {class: "muted"}, pre) : null, label + arrow(f));
    const all = h("input", {type: "checkbox", title: "select all on this page", onchange: () => {
      for (const r of runs) all.checked ? st.selected.add(r.uuid) : st.selected.delete(r.uuid);
      render();
    }});
    clear(table).append(
      h("thead", {}, h("tr", {}, h("th", {}, all), th("name", "name"), th("status", "status"), th("start", "start_time"),
        th("duration", "duration", "num"), h("th", {}, "tags"),
        st.cols.config.map((k) => th(k, `config:${k}`, "cfg", "cfg ")), st.cols.metric.map((k) => th(k, `metric:${k}`, "num")))),
      h("tbody", {}, rows.map((r) => {
        const flat = flatten(r.config);
        const cb = h("input", {type: "checkbox", checked: st.selected.has(r.uuid), onchange: () => {
          cb.checked ? st.selected.add(r.uuid) : st.selected.delete(r.uuid); updateCompare();
        }});
        return h("tr", {dataset: {uuid: r.uuid, name: r.name}},
          h("td", {}, cb), h("td", {class: "name"}, h("a", {href: `#/run/${r.uuid}`, title: r.id}, r.name)),
          h("td", {class: "st"}, statusBadge(r), alertMark(r)), h("td", {}, fmtTime(r.start_time)), h("td", {class: "num"}, fmtDuration(r.duration)),
          h("td", {}, (r.tags || []).map((t) => h("span", {class: "tag"}, t))),
          st.cols.config.map((k) => h("td", {}, flat[k] == null ? "" : fmtNum(flat[k]))),
          st.cols.metric.map((k) => h("td", {class: "num"}, fmtNum((r.summary || {})[k]))));
      })));
    const end = Math.min(total, st.offset + runs.length);
    clear(pager).append(
      h("button", {disabled: st.offset === 0, onclick: () => { st.offset = Math.max(0, st.offset - PAGE); refresh(); }}, "‹ prev"),
      h("span", {class: "count"}, total ? `${st.offset + 1}–${end} of ${total}` : "no runs match"),
      h("button", {disabled: end >= total, onclick: () => { st.offset += PAGE; refresh(); }}, "next ›"));
    table.dataset.total = total;
    updateCompare();
  }

  function updateCompare() {
    compare.disabled = st.selected.size < 1;
    compare.textContent = `Compare (${st.selected.size})`;
  }

  async function refresh(quiet) {
    clearTimeout(timer);
    const t0 = performance.now(), mine = ++asked;
    try {
      const ans = await get("/runs", params());
      if (mine !== asked) return;  // a newer filter or page was asked for meanwhile: its answer wins
      last = ans;
      msg.textContent = "";
      cfg.classList.remove("bad"); cfg.removeAttribute("aria-invalid");
      render();
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
    if (!quiet) window.seetrain.rendered = performance.now();
  }
  window.seetrain = window.seetrain || {};
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
