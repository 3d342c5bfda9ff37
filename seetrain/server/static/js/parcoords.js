// Parallel coordinates: one vertical axis per chosen config key (and the metric last), one line per
// run coloured by the metric; drag along an axis to brush a range (a click clears it). Lines on a
// canvas (1,000 runs x 8 axes draw in a few ms), axes and brushes as elements.
import {h, clear, fmtNum} from "./util.js";

const HEIGHT = 300, TOP = 28, BOTTOM = 22, PAD = 60;
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];  // viridis

/** A colour for t in [0, 1] (null: grey). */
export function colorOf(t) {
  if (t == null || !Number.isFinite(t)) return "rgba(160,160,160,0.5)";
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
  const c = STOPS[i].map((a, j) => Math.round(a + (STOPS[i + 1][j] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);

/** The scale of one axis: numeric (linear, or log when all values are positive over 3+ decades)
 *  or categorical (the values' text, evenly spaced). */
export function axisScale(values, height) {
  const present = values.filter((v) => v != null);
  const inner = height - TOP - BOTTOM;
  if (present.length && present.every(isNum)) {
    let lo = Math.min(...present), hi = Math.max(...present);
    const log = lo > 0 && hi / lo >= 1000;
    const f = log ? Math.log10 : (v) => v;
    const a = f(lo), b = f(hi) === f(lo) ? f(lo) + 1 : f(hi);
    const y = (v) => (isNum(v) ? TOP + inner * (1 - (f(v) - a) / (b - a)) : null);
    const inv = (py) => { const t = a + (1 - (py - TOP) / inner) * (b - a); return log ? 10 ** t : t; };
    return {kind: "numeric", log, lo, hi, y, inv};
  }
  const cats = [...new Set(present.map(catText))].sort();
  const y = (v) => (v == null ? null : TOP + inner * (cats.length === 1 ? 0.5 : 1 - cats.indexOf(catText(v)) / (cats.length - 1)));
  return {kind: "categorical", cats, y};
}

/** A category's text: strings as they are, booleans true/false, other values as JSON. */
export function catText(v) { return typeof v === "string" ? v : JSON.stringify(v); }

/** Whether value v passes a brush ({lo, hi} or {cats}); a run without the value never does. */
export function inBrush(b, v) {
  if (v == null) return false;
  if (b.cats) return b.cats.includes(catText(v));
  return isNum(v) && v >= b.lo && v <= b.hi;
}

/**
 * Draw into `root`. runs: [{uuid, name, vals: {axisKey: value}, color: t in [0,1] or null}];
 * axes: [{key, label}]; brushes: {axisKey: {lo, hi} | {cats}}; onBrush(brushes) after a drag.
 */
export function drawParcoords(root, {runs, axes, brushes, onBrush}) {
  const t0 = performance.now();
  clear(root);
  const width = Math.max(400, root.clientWidth || 900);
  const dpr = window.devicePixelRatio || 1;
  const canvas = h("canvas", {class: "pc-lines", width: width * dpr, height: HEIGHT * dpr, style: `width:${width}px;height:${HEIGHT}px`});
  const wrap = h("div", {class: "pc-wrap", style: `height:${HEIGHT}px;width:${width}px`}, canvas);
  root.append(wrap);
  const step = axes.length > 1 ? (width - 2 * PAD) / (axes.length - 1) : 0;
  const xs = axes.map((_, i) => (axes.length > 1 ? PAD + i * step : width / 2));
  const scales = axes.map((a) => axisScale(runs.map((r) => r.vals[a.key]), HEIGHT));
  const inside = (r) => axes.every((a) => !brushes[a.key] || inBrush(brushes[a.key], r.vals[a.key]));
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.lineWidth = 1;
  const order = [...runs].sort((p, q) => inside(p) - inside(q));  // brushed-in lines on top
  let shown = 0;
  for (const r of order) {
    const inb = inside(r);
    shown += inb;
    ctx.strokeStyle = inb ? colorOf(r.color) : "rgba(200,200,200,0.35)";
    ctx.beginPath();
    let pen = false;
    axes.forEach((a, i) => {
      const y = scales[i].y(r.vals[a.key]);
      if (y == null) { pen = false; return; }
      if (pen) ctx.lineTo(xs[i], y); else ctx.moveTo(xs[i], y);
      pen = true;
    });
    ctx.stroke();
  }
  axes.forEach((a, i) => {
    const s = scales[i];
    const b = brushes[a.key];
    const ticks = s.kind === "numeric"
      ? [[s.hi, s.y(s.hi)], [s.lo, s.y(s.lo)]].map(([v, y]) => h("span", {class: "pc-tick", style: `top:${y - 7}px`}, fmtNum(v)))
      : s.cats.map((c) => h("span", {class: "pc-tick", style: `top:${s.y(c) - 7}px`}, c));
    const box = h("div", {class: "pc-brush", hidden: !b});
    const axis = h("div", {class: "pc-axis", style: `left:${xs[i] - 14}px;top:0;height:${HEIGHT}px`,
      dataset: {key: a.key, kind: s.kind, log: s.log ? "1" : ""}, title: `drag to brush ${a.label}; click to clear`},
      h("span", {class: "pc-label"}, a.label), h("div", {class: "pc-line", style: `top:${TOP}px;bottom:${BOTTOM}px`}), ticks, box);
    if (b) {
      if (b.cats) axis.dataset.cats = JSON.stringify(b.cats); else { axis.dataset.lo = String(b.lo); axis.dataset.hi = String(b.hi); }
      const ys = b.cats ? b.cats.map((c) => s.y(c)) : [s.y(b.hi), s.y(b.lo)];
      const y1 = Math.min(...ys) - (b.cats ? 6 : 0), y2 = Math.max(...ys) + (b.cats ? 6 : 0);
      Object.assign(box.style, {top: `${y1}px`, height: `${Math.max(2, y2 - y1)}px`});
    }
    axis.addEventListener("mousedown", (e) => {
      e.preventDefault();
      const top = axis.getBoundingClientRect().top, y0 = e.clientY - top;
      box.hidden = false;
      const move = (ev) => {
        const y = ev.clientY - top;
        Object.assign(box.style, {top: `${Math.min(y0, y)}px`, height: `${Math.abs(y - y0)}px`});
      };
      const up = (ev) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        const y1 = Math.min(y0, ev.clientY - top), y2 = Math.max(y0, ev.clientY - top);
        const next = {...brushes};
        if (y2 - y1 < 3) delete next[a.key];
        else if (s.kind === "numeric") {
          const lo = Math.max(s.lo, s.inv(y2)), hi = Math.min(s.hi, s.inv(y1));
          next[a.key] = {lo, hi};
        } else {
          const cats = s.cats.filter((c) => { const y = s.y(c); return y >= y1 && y <= y2; });
          if (cats.length) next[a.key] = {cats}; else delete next[a.key];
        }
        onBrush(next);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
    wrap.append(axis);
  });
  const ms = performance.now() - t0;
  Object.assign(root.dataset, {runs: runs.length, shown, ms: ms.toFixed(1)});
  return {shown, ms};
}
