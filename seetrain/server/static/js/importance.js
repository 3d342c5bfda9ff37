// Parameter importance bars (GET /projects/{p}/analysis/importance): per config key, the fraction of
// the metric's variance its values explain and Pearson's r for numeric keys, with the runs used.
import {get} from "./api.js";
import {h, clear} from "./util.js";

export async function drawImportance(root, {project, metric, agg, filter}) {
  clear(root).append(h("p", {class: "muted"}, "computing…"));
  const ans = await get(`/projects/${encodeURIComponent(project)}/analysis/importance`, {metric, agg, filter});
  clear(root);
  root.dataset.runsUsed = ans.runs_used;
  root.append(h("p", {class: "imp-note"},
    `${metric} (${agg}) over ${ans.runs_used} of ${ans.runs} runs. `,
    h("span", {class: "muted"}, "importance: share of the metric's variance explained by the key's values; correlation: Pearson's r (numeric keys). See docs/ui.md for the limits.")));
  if (!ans.keys.length) { root.append(h("p", {class: "muted"}, "No config key varies over runs with this metric (at least 3 runs are needed).")); return; }
  root.append(h("table", {class: "imp"}, h("thead", {}, h("tr", {}, h("th", {}, "config key"), h("th", {}, "importance"), h("th", {}, "correlation"), h("th", {class: "num"}, "runs"))),
    h("tbody", {}, ans.keys.map((k) => h("tr", {class: "imp-row", dataset: {key: k.key, importance: k.importance, correlation: k.correlation == null ? "" : k.correlation}},
      h("td", {}, k.key),
      h("td", {}, h("span", {class: "imp-bar", style: `width:${(k.importance * 160).toFixed(1)}px`}), ` ${k.importance.toFixed(3)}`),
      h("td", {}, k.correlation == null ? h("span", {class: "muted"}, "categorical")
        : [h("span", {class: "imp-corr", style: `width:${(Math.abs(k.correlation) * 80).toFixed(1)}px;background:${k.correlation < 0 ? "#e8590c" : "#1971c2"}`}), ` ${k.correlation.toFixed(3)}`]),
      h("td", {class: "num"}, k.n))))));
}
