// Run page panels: console, events, config and environment.
import {get} from "./api.js";
import {h, clear, fmtTime, flatten, fmtNum, fmtBytes, fmtDuration} from "./util.js";

/** Console lines, fetched by seq cursor (only new lines on each poll). */
export class ConsolePanel {
  constructor(uuid) {
    this.uuid = uuid;
    this.after = -1;
    this.pre = h("pre", {class: "console"});
    this.el = h("div", {}, this.pre);
  }
  async poll() {
    for (;;) {
      const lines = await get(`/runs/${this.uuid}/console`, {after_seq: this.after, limit: 1000});
      if (!lines.length) break;
      const stick = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
      const frag = document.createDocumentFragment();
      for (const l of lines) frag.append(h("span", {class: l.stream}, l.line + "\n"));
      this.pre.append(frag);
      this.after = lines[lines.length - 1].seq;
      if (stick) this.pre.scrollTop = this.pre.scrollHeight;
      if (lines.length < 1000) break;
    }
    if (!this.pre.firstChild) this.pre.textContent = "";
    this.el.dataset.lines = this.pre.childElementCount;
  }
}

function eventRow(ev) {
  const kind = ev.event;
  let body;
  if (kind === "exception") body = h("div", {}, h("b", {}, `${ev.exc_type}: ${ev.message}`), ev.traceback ? h("pre", {class: "tb"}, ev.traceback) : null);
  else if (kind === "lost") body = `${ev.count} records lost (seq ${ev.first_seq}–${ev.last_seq}): ${ev.reason || "write error"}`;
  else if (kind === "alert") body = h("span", {}, h("b", {}, `[${ev.level}] ${ev.title}`), ev.text ? ` ${ev.text}` : "");
  else if (kind === "warning") body = (ev.key ? `[${ev.key}] ` : "") + (ev.message || "");
  else if (kind === "finish") body = `status ${ev.status}` + (ev.exit_code != null ? `, exit code ${ev.exit_code}` : "");
  else if (kind === "start" || kind === "resume") body = `pid ${ev.pid} on ${ev.host}` + (ev.from_seq != null ? ` from seq ${ev.from_seq}` : "");
  else body = JSON.stringify(Object.fromEntries(Object.entries(ev).filter(([k]) => !["seq", "time", "type", "event"].includes(k))));
  return h("tr", {class: `ev-${kind}`}, h("td", {}, fmtTime(ev.time)), h("td", {}, kind), h("td", {}, body));
}

/** Events (warnings, exceptions with traceback, lost-record notices, start/finish), by seq cursor. */
export class EventsPanel {
  constructor(uuid, onEvent) {
    this.uuid = uuid;
    this.after = -1;
    this.onEvent = onEvent;
    this.tbody = h("tbody");
    this.el = h("div", {}, h("table", {class: "grid events"}, h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "event"), h("th", {}, "details"))), this.tbody));
  }
  async poll() {
    const evs = await get(`/runs/${this.uuid}/events`, {after_seq: this.after});
    for (const ev of evs) { this.tbody.append(eventRow(ev)); this.onEvent?.(ev); }
    if (evs.length) this.after = evs[evs.length - 1].seq;
  }
}

function shortValue(v) {
  if (typeof v === "number" || (v && typeof v === "object" && v._type)) return fmtNum(v);
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 300 ? s.slice(0, 300) + "…" : s;
}

/** An environment value with its unit, from the key's name: bytes as GiB/MiB, seconds as a
 *  duration, Unix times as dates; anything else as it is. */
export function envValue(key, v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return shortValue(v);
  const leaf = key.split(".").pop();
  if (/(^|_)(memory|mem|bytes|size)(_total|_bytes|_available|_free)?$|_bytes$|^memory_/.test(leaf)) return fmtBytes(v);
  if (/(^|_)(duration|elapsed|uptime)(_s)?$|_seconds$/.test(leaf)) return fmtDuration(v);
  if (/(^|_)(time|heartbeat)$/.test(leaf) && v > 1e9) return fmtTime(v);
  return shortValue(v);
}

function kvTable(obj, cls, format = (k, v) => shortValue(v)) {
  const flat = flatten(obj);
  const keys = Object.keys(flat).sort();
  if (!keys.length) return h("p", {class: "muted"}, "none");
  return h("table", {class: `kv ${cls || ""}`}, h("tbody", {}, keys.map((k) =>
    h("tr", {}, h("td", {}, k), h("td", {title: typeof flat[k] === "number" ? String(flat[k]) : null}, format(k, flat[k]))))));
}

/** Config, then environment: git, Python, packages, host, command and the rest of run.json. */
export function configPanel(run) {
  const env = Object.assign({}, run.environment || {});
  const packages = env.packages; delete env.packages;
  const parts = [h("h3", {}, "Config"), kvTable(run.config, "config")];
  if (run.description) parts.unshift(h("p", {}, run.description));
  parts.push(h("h3", {}, "Environment"), kvTable(env, "env", envValue));
  if (packages) {
    const list = Array.isArray(packages) ? packages.map(String) : Object.entries(packages).map(([k, v]) => `${k}==${v}`);
    parts.push(h("details", {}, h("summary", {}, `packages (${list.length})`), h("pre", {}, list.join("\n"))));
  }
  parts.push(h("h3", {}, "Summary"), kvTable(run.summary, "summary"));
  return h("div", {class: "card"}, parts);
}

export function emptyNote(el, text) { clear(el).append(h("p", {class: "muted"}, text)); }
