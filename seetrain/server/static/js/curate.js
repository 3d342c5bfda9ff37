// Curating runs (docs/ui.md): edit a run's name, tags and notes on its page; archive, delete,
// restore and purge from the runs table (each asks first); the table's archived/deleted filter.
// Every change goes through the REST routes (PATCH/DELETE /runs/{uuid}, POST /runs/{uuid}/restore);
// under `seetrain ui` the server keeps them beside the run directories, never in them.
import {send} from "./api.js";
import {h, clear} from "./util.js";

export const STATES = [["active", "active runs"], ["archived", "archived"], ["deleted", "deleted"], ["all", "all runs"]];

/** The runs table's filter by state: active (default), archived, deleted or all. */
export function stateSelect(value, onchange) {
  const sel = h("select", {name: "state", title: "show active, archived or deleted runs", onchange: () => onchange(sel.value)},
    STATES.map(([v, label]) => h("option", {value: v}, label)));
  sel.value = value || "active";
  return sel;
}

function act(label, title, run) {
  return h("button", {type: "button", class: "mini", dataset: {act: label}, title, onclick: async (e) => {
    e.stopPropagation();
    e.currentTarget.disabled = true;
    try { await run(); } catch (err) { alert(`${label}: ${err.message}`); e.currentTarget.disabled = false; }
  }}, label);
}

/** The buttons of one row of the runs table; ``done()`` refreshes the table. */
export function rowActions(r, done) {
  const u = `/runs/${r.uuid}`;
  if (r.deleted) {
    return [act("restore", "bring this run back", async () => { await send("POST", `${u}/restore`, {}); done(); }),
      act("purge", "delete for good: its records and media nothing else uses", async () => {
        if (!confirm(`Purge run "${r.name}" for good? Its records and the media no other run uses are deleted; this cannot be undone.`)) return;
        await send("DELETE", `${u}?purge=true`, {}); done();
      })];
  }
  return [act(r.archived ? "unarchive" : "archive", r.archived ? "show it among the active runs again" : "hide it from the active runs",
    async () => {
      if (!r.archived && !confirm(`Archive run "${r.name}"? It leaves the list of active runs (filter "archived" shows it).`)) return;
      await send("PATCH", u, {archived: !r.archived}); done();
    }),
  act("delete", "move it to the deleted runs (restorable until purged)", async () => {
    if (!confirm(`Delete run "${r.name}"? It moves to the deleted runs, where you can restore or purge it.`)) return;
    await send("DELETE", u, {}); done();
  })];
}

/** The run page's curation box: notes shown, and an editor for name, tags and notes. */
export function mountCurate(uuid, getRun, onSaved) {
  const el = h("div", {class: "curate"});
  let editing = false;
  const show = () => {
    if (editing) return;
    const run = getRun();
    clear(el).append(...[
      run.deleted ? h("div", {class: "warnbox", dataset: {problem: "deleted"}}, "This run is deleted: restore it from the runs table (filter \"deleted\").") : null,
      run.archived ? h("span", {class: "tag archived"}, "archived") : null,
      run.notes ? h("pre", {class: "notes"}, run.notes) : null,
      h("button", {type: "button", class: "mini", name: "edit", onclick: edit}, "edit name, tags, notes")].filter(Boolean));
  };
  const edit = () => {
    editing = true;
    const run = getRun();
    const name = h("input", {name: "run-name", value: run.name, size: 40, "aria-label": "run name"});
    const tags = h("input", {name: "run-tags", value: (run.tags || []).join(", "), size: 40, "aria-label": "tags, comma separated",
      placeholder: "tags, comma separated"});
    const notes = h("textarea", {name: "run-notes", rows: 4, cols: 60, "aria-label": "notes"});
    notes.value = run.notes || "";
    const msg = h("span", {class: "muted", role: "status"});
    const save = async () => {
      try {
        const fresh = await send("PATCH", `/runs/${uuid}`, {name: name.value, notes: notes.value,
          tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean)});
        editing = false;
        onSaved(fresh);
        show();
      } catch (e) { msg.textContent = e.message; }
    };
    clear(el).append(h("form", {class: "curate-edit", onsubmit: (e) => { e.preventDefault(); save(); }},
      h("label", {}, "name ", name), h("label", {}, "tags ", tags), h("label", {}, "notes ", notes),
      h("button", {type: "submit", class: "primary", name: "save"}, "save"),
      h("button", {type: "button", onclick: () => { editing = false; show(); }}, "cancel"), msg));
    name.focus();
  };
  show();
  return {el, update: show};
}
