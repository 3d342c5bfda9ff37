// Client-side series helpers: smoothing, x-axis modes, joining several runs onto one x.

export const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700",
  "#5c940d", "#862e9c", "#1864ab", "#d6336c", "#495057"];

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

/** Values a log axis can show (non-positive ones become gaps). */
export function positive(ys) { return ys.map((y) => (y != null && y > 0 ? y : null)); }

/** Align several [xs, ...ys] tables on the union of their x values (uPlot's join). */
export function join(tables) {
  if (tables.length === 1) return tables[0];
  return uPlot.join(tables);
}

/** Where a run's x starts for the "relative time" axis. */
export function relOrigin(run, xs) {
  return run.start_time || (xs.length ? xs[0] : 0);
}
