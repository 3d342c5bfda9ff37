// A run's lineage links (issue 26): the run it was forked from (seetrain.init(fork_from=(RUN, STEP)))
// and the runs forked from it, as links to their pages. The run detail carries both (server/forks.py).
import {h} from "./util.js";

const link = (r) => (r.uuid && r.id !== null)
  ? h("a", {href: `#/run/${r.uuid}`, title: `${r.project}/${r.id}`}, r.name || r.id)
  : h("span", {title: "not on this server"}, r.id || r.uuid);

export function lineageLinks(run) {
  const parts = [];
  if (run.fork_from) parts.push(h("span", {class: "fork-from"}, "forked from ", link(run.fork_from), ` at step ${run.fork_from.step}`));
  if (run.forks && run.forks.length) {
    parts.push(h("span", {class: "forks"}, "forks: ",
      run.forks.map((f, i) => [i ? ", " : "", link(f), ` (step ${f.step})`])));
  }
  return parts.length ? h("span", {class: "lineage muted"}, parts.map((p, i) => [i ? " · " : "", p])) : null;
}
