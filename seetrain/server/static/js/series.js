// Client-side series helpers: smoothing, x-axis modes, joining several runs onto one x.

export const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700",
  "#5c940d", "#862e9c", "#1864ab", "#d6336c", "#495057"];

function hex(hue, sat, light) {
  const a = sat * Math.min(light, 1 - light);
  const f = (n) => { const k = (n + hue / 30) % 12; const c = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c).toString(16).padStart(2, "0"); };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/** The colour of the i-th run: the palette first, then hues a golden angle apart over three
 *  lightness levels, so a compare of hundreds of runs never shows one colour twice. */
export function runColor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  const j = i - PALETTE.length;
  let c = hex((j * 137.508 + 17) % 360, 0.62 + 0.18 * ((j >> 1) % 2), [0.42, 0.55, 0.34][j % 3]);
  return PALETTE.includes(c) ? hex((j * 137.508 + 19) % 360, 0.7, 0.47) : c;
}

/** Exponential moving average with TensorBoard's debiasing; nulls stay null. */
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y == null || !Number.isFinite(y)) { out[i] = y; continue; }
    last = last * weight + (1 - weight) * y;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/** Values a log axis can show (non-positive ones are skipped; null, a NaN/Inf, stays a gap). */
export function positive(ys) { return ys.map((y) => (y == null ? y : y > 0 ? y : undefined)); }

/** Align several [xs, ...ys] tables on the union of their x values (uPlot's join). */
export function join(tables) {
  if (tables.length === 1) return tables[0];
  return uPlot.join(tables);
}

/** Where a run's x starts for the "relative time" axis. */
export function relOrigin(run, xs) {
  return run.start_time || (xs.length ? xs[0] : 0);
}
