// Scatter of one value per run against another (a metric against a config key or a metric): hover
// names the run, a click opens it; either axis may be logarithmic (then only positive values show).
import {h, clear, fmtNum} from "./util.js";
import {colorOf} from "./parcoords.js";

const W = 640, H = 360, L = 64, R = 16, T = 12, B = 40, NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
  for (const c of kids) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function scale(vals, log, lo0, hi0) {
  const f = log ? Math.log10 : (v) => v;
  let lo = f(Math.min(...vals)), hi = f(Math.max(...vals));
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.04;
  lo -= pad; hi += pad;
  let ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => { const x = lo + t * (hi - lo); return log ? 10 ** x : x; });
  if (log) {  // powers of ten inside the range (every other one when there are many)
    const decades = [];
    for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) decades.push(e);
    const every = Math.ceil(decades.length / 6);
    if (decades.length >= 2) ticks = decades.filter((e, i) => i % every === 0).map((e) => 10 ** e);
  }
  return {f, lo, hi, px: (v) => lo0 + ((f(v) - lo) / (hi - lo)) * (hi0 - lo0), ticks};
}

/** points: [{uuid, name, x, y}] (numbers or null); opts: {xLabel, yLabel, logx, logy}. */
export function drawScatter(root, points, {xLabel, yLabel, logx, logy}) {
  clear(root);
  const ok = (v, log) => typeof v === "number" && Number.isFinite(v) && (!log || v > 0);
  const pts = points.filter((p) => ok(p.x, logx) && ok(p.y, logy));
  root.dataset.points = pts.length;
  root.dataset.left = points.length - pts.length;
  if (!pts.length) { root.append(h("p", {class: "muted"}, `No run has both ${xLabel} and ${yLabel}${logx || logy ? " (positive, for a log axis)" : ""}.`)); return; }
  const sx = scale(pts.map((p) => p.x), logx, L, W - R), sy = scale(pts.map((p) => p.y), logy, H - B, T);
  const ys = pts.map((p) => p.y), ylo = Math.min(...ys), yhi = Math.max(...ys);
  const tip = h("div", {class: "sc-tip", hidden: true});
  const plot = svg("svg", {class: "sc-plot", width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  plot.append(svg("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "sc-axis"}), svg("line", {x1: L, y1: T, x2: L, y2: H - B, class: "sc-axis"}));
  for (const v of sx.ticks) plot.append(svg("text", {x: sx.px(v), y: H - B + 16, "text-anchor": "middle", class: "sc-tick"}, fmtNum(v)));
  for (const v of sy.ticks) plot.append(svg("text", {x: L - 6, y: sy.px(v) + 4, "text-anchor": "end", class: "sc-tick"}, fmtNum(v)));
  plot.append(svg("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "sc-label"}, xLabel + (logx ? " (log)" : "")),
    svg("text", {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle", class: "sc-label"}, yLabel + (logy ? " (log)" : "")));
  for (const p of pts) {
    const c = svg("circle", {cx: sx.px(p.x).toFixed(2), cy: sy.px(p.y).toFixed(2), r: 4.5, class: "sc-pt",
      fill: colorOf(yhi > ylo ? (p.y - ylo) / (yhi - ylo) : 0.5), "data-uuid": p.uuid, "data-name": p.name,
      "data-x": p.x, "data-y": p.y}, svg("title", {}, p.name));
    c.addEventListener("mouseenter", () => {
      tip.hidden = false;
      tip.textContent = `${p.name}: ${xLabel} ${fmtNum(p.x)}, ${yLabel} ${fmtNum(p.y)}`;
      Object.assign(tip.style, {left: `${sx.px(p.x) + 10}px`, top: `${sy.px(p.y) - 10}px`});
    });
    c.addEventListener("mouseleave", () => { tip.hidden = true; });
    c.addEventListener("click", () => { location.hash = `#/run/${p.uuid}`; });
    plot.append(c);
  }
  root.append(h("div", {class: "sc-wrap"}, plot, tip));
}
