// The dashboard's only door to data: the server's REST API (docs/server-api.md), same origin.

export const API = "/api/v1";

/** The API key, for servers started with one: `#...?key=` once, then kept in localStorage. */
function apiKey() {
  const m = location.search.match(/[?&]key=([^&]+)/);
  if (m) localStorage.setItem("seetrain.key", decodeURIComponent(m[1]));
  return localStorage.getItem("seetrain.key");
}

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

function headers() {
  const k = apiKey();
  return k ? {Authorization: `Bearer ${k}`} : {};
}

/** GET a JSON answer; `params` may hold arrays (repeated keys). */
function online(ok) {
  const dot = document.getElementById("live");
  if (dot) { dot.classList.toggle("off", !ok); dot.title = ok ? "connected" : "the server does not answer"; }
}

export async function get(path, params) {
  let res;
  try {
    res = await fetch(url(path, params), {headers: headers()});
  } catch (e) {
    online(false);
    throw new ApiError(0, "the dashboard server does not answer (is `seetrain ui` still running?)");
  }
  online(true);
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new ApiError(res.status, `${res.status}: ${detail}`);
  }
  return res.json();
}

/** URLs longer than this go as a POST with a JSON body (servers refuse request lines past 8-16 KB). */
export const MAX_GET_URL = 6000;

/** A read that may name hundreds of runs (GET /series, GET /ui/compare): a GET while its URL is short,
 *  else the route's POST form with the same parameters as a JSON body. */
export async function query(path, params) {
  if (url(path, params).length <= MAX_GET_URL) return get(path, params);
  const body = {};
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== "") body[k] = v;
  online(true);
  return send("POST", path, body);
}

export async function getText(path, params) {
  const res = await fetch(url(path, params), {headers: headers()});
  if (!res.ok) throw new ApiError(res.status, `${res.status}: ${res.statusText}`);
  return res.text();
}

export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
  }
  const s = q.toString();
  return `${API}${path}${s ? "?" + s : ""}`;
}

/** Point an <img>/<audio>/<a> at a media blob. An element cannot send headers, so on a server
 *  with API keys the blob is fetched with the key and shown through an object URL. */
export function setMediaSrc(el, item, attr = "src") {
  if (!item.url) return el;
  if (!apiKey()) { el[attr] = item.url; return el; }
  fetch(item.url, {headers: headers()}).then((r) => r.blob()).then((b) => { el[attr] = URL.createObjectURL(b); });
  return el;
}

/** A link that downloads an API answer (with the key, on a server that needs one). */
export function downloadLink(label, path, params, filename) {
  const a = document.createElement("a");
  a.textContent = label;
  a.href = url(path, params);
  a.download = filename;
  if (apiKey()) {
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      const blob = await (await fetch(a.href, {headers: headers()})).blob();
      const obj = URL.createObjectURL(blob);
      const tmp = Object.assign(document.createElement("a"), {href: obj, download: filename});
      document.body.append(tmp); tmp.click(); tmp.remove();
      setTimeout(() => URL.revokeObjectURL(obj), 1000);
    });
  }
  return a;
}

/** A state-changing request with a JSON body (saved views ...); the answer's JSON, or an ApiError. */
export async function send(method, path, body) {
  let res;
  try {
    res = await fetch(url(path), {method, headers: {...headers(), "Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    online(false);
    throw new ApiError(0, "the dashboard server does not answer (is `seetrain ui` still running?)");
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, `${res.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return res.json();
}
