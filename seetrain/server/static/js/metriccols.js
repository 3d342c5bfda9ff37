// Which metric columns the runs table shows before the user picks: validation metrics first, then
// the last values most runs have (loss and accuracy before others), never system metrics.

const VALID = /(^|[\/_.\-])(val|valid|validation|eval|test|dev)([\/_.\-]|$)/i;
const USUAL = /(loss|acc|accuracy|f1|auc|bleu|rouge|ppl|perplexity|score|error|mae|mse|rmse)/i;

/** Up to `n` summary keys of `runs` worth a column, best first. */
export function defaultMetricCols(runs, n = 4) {
  const count = new Map();
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.summary || {})) {
      if (k.startsWith("sys/") || k.startsWith("_") || typeof v !== "number") continue;
      count.set(k, (count.get(k) || 0) + 1);
    }
  }
  const rank = (k) => [VALID.test(k) ? 0 : 1, -count.get(k), USUAL.test(k) ? 0 : 1, k.split("/").length, k];
  const cmp = (a, b) => { const x = rank(a), y = rank(b); for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1; return 0; };
  return [...count.keys()].sort(cmp).slice(0, n);
}
