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

let generation = 0;  // which route() call is current: a page still loading when the hash changes is stale

/** Render the page the hash names into a fresh container. A page that finishes loading after the
 *  hash moved on (a slow answer, a quick click) is torn down at once and its container is already
 *  detached, so it can neither draw over nor navigate away from the page the user asked for. */
async function route() {
  const mine = ++generation;
  teardown();
  teardown = () => {};
  window.seetrain.rendered = null;
  clear(app);
  const root = h("div", {class: "page"});
  app.append(root);
  const crumbsOf = (parts) => { if (mine === generation) setCrumbs(parts); };
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const qs = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let down = () => {};
  try {
    if (parts[0] === "p" && parts[1]) down = await runsPage(root, parts[1], (c) => {
      crumbsOf(c);  // the project's artifact page is one click away
      if (mine === generation) crumbs.append(" · ", h("a", {href: `#/artifacts/${encodeURIComponent(parts[1])}`, class: "artifacts-link"}, "artifacts"));
    });
    else if (parts[0] === "run" && parts[1]) down = await runPage(root, parts[1], crumbsOf);
    else if (parts[0] === "artifacts" && parts[2]) down = await artifactPage(root, parts[1], parts[2], qs.get("v"), crumbsOf);
    else if (parts[0] === "artifacts" && parts[1]) down = await artifactsPage(root, parts[1], crumbsOf);
    else if (parts[0] === "compare") down = await comparePage(root, (qs.get("runs") || "").split(",").filter(Boolean), crumbsOf);
    else down = await projectsPage(root, crumbsOf);
  } catch (e) {
    root.append(h("div", {class: "warnbox"}, `Could not load this page: ${e.message}`));
  }
  if (mine !== generation) { (down || (() => {}))(); return; }
  teardown = down || (() => {});
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
