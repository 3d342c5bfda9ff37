// The dashboard's entry: a hash router over the projects list, runs table, run page and compare.
import {h, clear, uplotReady} from "./util.js";
import {projectsPage, runsPage} from "./runs.js";
import {runPage} from "./run.js";
import {comparePage} from "./compare.js";
import {artifactsPage, artifactPage} from "./artifacts.js";
import {uiState} from "./state.js";

window.seetrain = window.seetrain || {};
const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
let teardown = () => {};

function setCrumbs(parts) {
  clear(crumbs);
  parts.forEach(([label, href], i) => {
    if (i) crumbs.append(" / ");
    crumbs.append(href ? h("a", {href}, label) : h("span", {}, label));
  });
}

async function route() {
  teardown();
  teardown = () => {};
  window.seetrain.rendered = null;
  clear(app);
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const qs = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "p" && parts[1]) teardown = await runsPage(app, parts[1], (c) => {
      setCrumbs(c);  // the project's artifact page is one click away
      crumbs.append(" · ", h("a", {href: `#/artifacts/${encodeURIComponent(parts[1])}`, class: "artifacts-link"}, "artifacts"));
    });
    else if (parts[0] === "run" && parts[1]) teardown = await runPage(app, parts[1], setCrumbs);
    else if (parts[0] === "artifacts" && parts[2]) teardown = await artifactPage(app, parts[1], parts[2], qs.get("v"), setCrumbs);
    else if (parts[0] === "artifacts" && parts[1]) teardown = await artifactsPage(app, parts[1], setCrumbs);
    else if (parts[0] === "compare") teardown = await comparePage(app, (qs.get("runs") || "").split(",").filter(Boolean), setCrumbs);
    else teardown = await projectsPage(app, setCrumbs);
  } catch (e) {
    app.append(h("div", {class: "warnbox"}, `Could not load this page: ${e.message}`));
  }
}

async function banner() {
  const s = await uiState();
  const el = document.getElementById("notice");
  if (s.logdir) { el.hidden = false; el.textContent = `Watching ${s.logdir}`; el.className = "muted notice-plain"; }
}

window.addEventListener("hashchange", route);
route();
banner();
if (/^#\/(run|compare)/.test(location.hash)) uplotReady();  // parsed while the first answers travel
