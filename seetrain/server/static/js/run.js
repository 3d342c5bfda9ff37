// The run page: header and warnings, charts grouped by prefix, media, console, events, config.
import {get, downloadLink} from "./api.js";
import {h, clear, fmtTime, fmtDuration, statusBadge} from "./util.js";
import {ChartGrid} from "./chartgrid.js";
import {ConsolePanel, EventsPanel, configPanel} from "./panels.js";
import {MediaPanel} from "./media.js";
import {AlertsBox} from "./alerts.js";
import {uiState, problemsOf} from "./state.js";
import {urlState} from "./urlstate.js";
import {mountCurate} from "./curate.js";
import {lineageLinks} from "./lineage.js";
import {writersView} from "./writers.js";

const POLL_MS = 1000;

export async function runPage(root, uuid, setCrumbs) {
  let run;
  let firstKeys = get(`/runs/${uuid}/keys`).catch(() => null);  // in parallel with the run itself
  try {
    run = await get(`/runs/${uuid}`);
  } catch (e) {
    root.append(h("div", {class: "warnbox"}, `This run cannot be shown: ${e.message}. `,
      e.status === 404 ? "It is not in the index (its directory may have been removed before it was read)." : ""));
    return () => {};
  }
  setCrumbs([["projects", "#/"], [run.project, `#/p/${encodeURIComponent(run.project)}`], [run.name, null]]);
  const head = h("div", {class: "runhead"});
  const warn = h("div", {class: "warnings"});
  const grid = new ChartGrid([run]);
  const media = new MediaPanel(uuid);
  const cons = new ConsolePanel(uuid);
  const notable = [];  // lost-record and exception events, for the notes at the top
  const alerts = new AlertsBox();
  const events = new EventsPanel(uuid, (ev) => { if (ev.event === "lost" || ev.event === "exception") notable.push(ev); alerts.add(ev); });
  const panes = {charts: grid.el, media: media.el, console: cons.el, events: events.el, config: h("div", {})};
  const writersTab = await writersView(run);  // a shared run: its writers (issue 23, writers.js)
  if (writersTab) panes.writers = writersTab.el;
  const tabs = h("div", {class: "tabs"});
  const body = h("div", {});
  let current = "charts";
  const show = (name) => {
    current = name;
    urlState.set({tab: name === "charts" ? null : name});
    for (const b of tabs.children) b.classList.toggle("on", b.dataset.tab === name);
    clear(body).append(panes[name]);
    if (name === "media") media.poll();
  };
  for (const name of Object.keys(panes)) tabs.append(h("button", {dataset: {tab: name}, onclick: () => show(name)}, name));
  const curate = mountCurate(uuid, () => run, (fresh) => { run = {...run, ...fresh}; renderHead(); });
  root.append(head, curate.el, warn, alerts.el, tabs, body);
  show(panes[urlState.get("tab")] ? urlState.get("tab") : "charts");

  const renderHead = () => {
    clear(head).append(...[h("h1", {}, run.name), statusBadge(run),
      h("span", {class: "muted"}, `${run.id} · started ${fmtTime(run.start_time)} · ${fmtDuration(run.duration)}`),
      (run.tags || []).map((t) => h("span", {class: "tag"}, t)), lineageLinks(run),
      h("span", {class: "export"}, "export: ", downloadLink("CSV", `/runs/${uuid}/export`, {format: "csv"}, `${run.id}.csv`), " · ",
        downloadLink("JSONL", `/runs/${uuid}/export`, {format: "jsonl"}, `${run.id}.jsonl`)),
      h("a", {class: "btn", href: urlState.href("/compare", {runs: uuid, add: 1}), title: "compare this run with others of its project"}, "compare…")].flat());
    clear(panes.config).append(configPanel(run));
    curate.update();
  };
  const renderWarnings = async () => {
    const notes = problemsOf(run, await uiState(), notable);
    clear(warn).append(...notes.map((n) => h("div", {class: "warnbox", dataset: {problem: n.kind}}, n.text)));
  };

  let stopped = false, timer = null;
  const tick = async (first) => {
    try {
      const [fresh, allKeys] = await Promise.all([first ? run : get(`/runs/${uuid}`),
        (first && (await firstKeys)) || get(`/runs/${uuid}/keys`)]);
      run = fresh;
      const keys = allKeys.filter((k) => k.kind === "scalar");
      renderHead();
      const side = Promise.all([cons.poll(), events.poll(), writersTab && writersTab.poll(keys)]);
      if (first) {
        await Promise.all(grid.update(keys));
        if (!keys.length) grid.body.append(h("p", {class: "muted"}, "No scalar metrics yet."));
        window.seetrain.rendered = performance.now();
      } else {
        await grid.poll(keys);
      }
      await side;
      if (current === "media") await media.poll();
      await renderWarnings();
    } catch (e) {
      clear(warn).append(h("div", {class: "warnbox"}, `Could not refresh: ${e.message}`));
    }
    if (!stopped && (run.status === "running" || first)) timer = setTimeout(() => tick(false), POLL_MS);
  };
  await tick(true);
  return () => { stopped = true; clearTimeout(timer); grid.destroy(); if (writersTab) writersTab.destroy(); };
}
