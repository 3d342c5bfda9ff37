// The artifact pages: a project's artifacts, and one artifact's versions with the chosen version's
// aliases, files, references, users and lineage graph (runs <-> artifact versions, docs/artifacts.md).
import {get, downloadLink} from "./api.js";
import {h, clear, fmtTime, fmtBytes} from "./util.js";

const enc = encodeURIComponent;
const artifactHref = (project, name, version) =>
  `#/artifacts/${enc(project)}/${enc(name)}${version == null ? "" : `?v=${version}`}`;

/** `#/artifacts/<project>`: every artifact of the project. */
export async function artifactsPage(root, project, setCrumbs) {
  setCrumbs([["projects", "#/"], [project, `#/p/${enc(project)}`], ["artifacts", null]]);
  const {artifacts} = await get(`/projects/${enc(project)}/artifacts`);
  if (!artifacts.length) {
    root.append(h("div", {class: "card", dataset: {empty: "artifacts"}}, h("p", {}, `Project ${project} has no artifacts yet.`),
      h("p", {class: "muted"}, "Log one with run.log_artifact(path, name=..., type=\"model\").")));
    return () => {};
  }
  root.append(h("table", {class: "grid artifacts"},
    h("thead", {}, h("tr", {}, ["name", "type", "versions", "latest", "size (latest)", "updated"].map((c) => h("th", {}, c)))),
    h("tbody", {}, artifacts.map((a) => h("tr", {dataset: {artifact: a.name}},
      h("td", {}, h("a", {href: artifactHref(project, a.name)}, a.name)), h("td", {}, a.type),
      h("td", {class: "num"}, a.versions), h("td", {}, a.latest || "-"), h("td", {class: "num"}, fmtBytes(a.size)),
      h("td", {}, fmtTime(a.updated)))))));
  window.seetrain.rendered = "artifacts";
  return () => {};
}

/** `#/artifacts/<project>/<name>?v=N`: versions, and the chosen one (default: latest) in detail. */
export async function artifactPage(root, project, name, version, setCrumbs) {
  setCrumbs([["projects", "#/"], [project, `#/p/${enc(project)}`], ["artifacts", `#/artifacts/${enc(project)}`], [name, null]]);
  const listing = await get(`/projects/${enc(project)}/artifacts/${enc(name)}`);
  const live = listing.versions.filter((v) => !v.deleted);
  const chosen = version != null ? Number(version) : (live[0] || listing.versions[0] || {}).version;
  const detail = h("div", {class: "artifact-detail"});
  const row = (v) => h("tr", {class: v.version === chosen ? "on" : "", dataset: {version: v.version}},
    h("td", {}, h("a", {href: artifactHref(project, name, v.version)}, `v${v.version}`),
      v.deleted ? h("span", {class: "muted"}, " (removed)") : ""),
    h("td", {}, (v.aliases || []).map((a) => h("span", {class: "tag alias"}, a))),
    h("td", {class: "num"}, v.n_files), h("td", {class: "num"}, fmtBytes(v.size)), h("td", {}, fmtTime(v.created)),
    h("td", {}, v.producer ? h("a", {href: `#/run/${v.producer.uuid}`}, v.producer.name || v.producer.uuid.slice(0, 8)) : "-"));
  root.append(h("div", {class: "runhead"}, h("h1", {}, name), h("span", {class: "tag"}, listing.type)),
    h("table", {class: "grid versions"},
      h("thead", {}, h("tr", {}, ["version", "aliases", "files", "size", "created", "logged by"].map((c) => h("th", {}, c)))),
      h("tbody", {}, listing.versions.map(row))),
    detail);
  if (chosen != null) await renderVersion(detail, project, name, chosen);
  window.seetrain.rendered = "artifact";
  return () => {};
}

async function renderVersion(el, project, name, version) {
  const v = await get(`/projects/${enc(project)}/artifacts/${enc(name)}/v${version}`);
  const graph = await get(`/projects/${enc(project)}/lineage`, {node: `artifact:${name}:v${version}`});
  const meta = Object.entries(v.metadata || {});
  clear(el).append(
    h("h2", {}, `${name}:v${v.version}`, " ", (v.aliases || []).map((a) => h("span", {class: "tag alias"}, a))),
    v.deleted ? h("div", {class: "warnbox"}, `Removed ${fmtTime(v.deleted)}: its files are gone (they go at the next gc).`) : "",
    h("table", {class: "kv"}, h("tbody", {},
      h("tr", {}, h("td", {}, "digest"), h("td", {}, h("code", {}, v.digest))),
      h("tr", {}, h("td", {}, "size"), h("td", {}, fmtBytes(v.size))),
      meta.map(([k, x]) => h("tr", {}, h("td", {}, k), h("td", {}, typeof x === "object" ? JSON.stringify(x) : String(x)))))),
    h("h3", {}, "files"),
    h("table", {class: "grid files"}, h("thead", {}, h("tr", {}, ["path", "size", "sha256", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, (v.files || []).map((f) => h("tr", {dataset: {path: f.path}},
        h("td", {}, f.path), h("td", {class: "num"}, fmtBytes(f.size)), h("td", {}, h("code", {title: f.sha256}, f.sha256.slice(0, 12))),
        h("td", {}, downloadLink("download", `/projects/${enc(project)}/artifacts/${enc(name)}/v${v.version}/blobs/${f.sha256}`, null,
          f.path.split("/").pop())))),
      (v.refs || []).map((r) => h("tr", {dataset: {path: r.path}}, h("td", {}, r.path), h("td", {class: "num"}, r.size == null ? "-" : fmtBytes(r.size)),
        h("td", {}, h("span", {class: "muted"}, "reference")), h("td", {}, h("a", {href: r.uri, rel: "noopener noreferrer"}, r.uri)))))),
    h("h3", {}, "lineage"), lineageGraph(project, graph, `artifact:${name}:v${version}`),
    h("p", {class: "muted"}, (v.used_by || []).length ? ["used by ", ...(v.used_by.map((u, i) =>
      [i ? ", " : "", h("a", {href: `#/run/${u.uuid}`}, u.name || u.uuid.slice(0, 8))]).flat())] : "not used by any run yet"));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const k of kids) el.append(k);
  return el;
}

/** The graph laid out left to right: a node's column is its longest path from a source, so data
 *  flows rightwards (dataset -> train run -> model -> evaluate run). */
export function lineageGraph(project, graph, focus) {
  const {nodes, edges} = graph;
  const col = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) if (col.get(e.to) < col.get(e.from) + 1) { col.set(e.to, col.get(e.from) + 1); moved = true; }
    if (!moved) break;
  }
  const rows = new Map();
  const pos = new Map();
  const W = 170, H = 34, DX = 230, DY = 54;
  for (const n of nodes) {
    const c = col.get(n.id), r = rows.get(c) || 0;
    rows.set(c, r + 1);
    pos.set(n.id, {x: 10 + c * DX, y: 10 + r * DY});
  }
  const width = 20 + (Math.max(0, ...col.values()) + 1) * DX, height = 20 + Math.max(1, ...rows.values()) * DY;
  const root = svg("svg", {class: "lineage", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "lineage graph", style: "color:var(--muted, #888);max-width:100%"});
  root.append(svg("defs", {}, svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse"}, svg("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "currentColor"}))));
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    root.append(svg("line", {x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2, class: `edge ${e.direction}`,
      stroke: "currentColor", "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to}));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const href = n.kind === "run" ? `#/run/${n.uuid}` : artifactHref(project, n.artifact, n.version);
    const label = n.label.length > 24 ? n.label.slice(0, 23) + "…" : n.label;
    const box = svg("rect", {x: p.x, y: p.y, width: W, height: H, rx: n.kind === "run" ? 4 : 14,
      class: `node ${n.kind}${n.id === focus ? " focus" : ""}${n.removed ? " removed" : ""}`,
      style: `fill:${n.kind === "run" ? "var(--card)" : "var(--head)"};stroke:${n.id === focus ? "var(--accent, #2a7ae2)" : "var(--line)"};` +
        `stroke-width:${n.id === focus ? 2.5 : 1.2}${n.removed ? ";stroke-dasharray:4 3" : ""}`});
    const text = svg("text", {x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle",
      style: "fill:var(--fg, currentColor);font-size:12px"}, label);
    const title = svg("title", {}, `${n.kind === "run" ? "run" : "artifact"} ${n.label}`);
    root.append(svg("a", {href, "data-node": n.id, class: `gnode ${n.kind}`}, box, text, title));
  }
  return h("div", {class: "lineage-wrap"}, root);
}
