// Media: images per step with a step slider, audio players, text records, histograms over steps.
import {get, setMediaSrc, getText} from "./api.js";
import {h, clear, fmtNum} from "./util.js";

function stepsOf(items) { return [...new Set(items.map((i) => i.step))].sort((a, b) => a - b); }

function missing(item) {
  return h("div", {class: "warnbox"}, `${item.path}: file not available (it was not found in the run directory)`);
}

/** A slider over the steps of `items`; `render(itemsAtStep)` fills the body. */
function stepSlider(items, render) {
  const steps = stepsOf(items);
  const body = h("div", {});
  const label = h("span", {class: "steplabel"});
  const input = h("input", {type: "range", min: 0, max: steps.length - 1, value: steps.length - 1, step: 1,
    oninput: () => show()});
  function show() {
    const s = steps[+input.value];
    label.textContent = `step ${s} (${+input.value + 1} of ${steps.length})`;
    clear(body).append(render(items.filter((i) => i.step === s)));
  }
  show();
  return h("div", {}, h("div", {class: "slider"}, input, label), body);
}

/** Small images (32x32 samples) scaled up by a whole factor so pixels stay crisp. */
function imgSize(i) {
  if (!i.width || !i.height) return null;
  const k = Math.max(1, Math.floor(128 / Math.max(i.width, i.height)));
  const s = Math.min(1, 256 / Math.max(i.width * k, i.height * k));
  return `width:${Math.round(i.width * k * s)}px;height:${Math.round(i.height * k * s)}px`;
}

function images(items) {
  return stepSlider(items, (at) => h("div", {class: "media-grid"}, at.map((i) => i.url
    ? h("figure", {}, setMediaSrc(h("img", {alt: i.caption || i.key, style: imgSize(i)}), i),
      h("figcaption", {}, i.caption || `${i.width || "?"}×${i.height || "?"}`))
    : missing(i))));
}

function audios(items) {
  return stepSlider(items, (at) => h("div", {class: "media-grid"}, at.map((i) => i.url
    ? h("figure", {}, setMediaSrc(h("audio", {controls: true, preload: "none"}), i),
      h("figcaption", {}, [i.caption, i.duration != null ? `${fmtNum(i.duration)} s` : null, i.sample_rate ? `${i.sample_rate} Hz` : null].filter(Boolean).join(" · ")))
    : missing(i))));
}

function texts(items) {
  const rows = items.slice(-200).reverse().map((i) => {
    const cell = h("td", {class: "text"}, i.preview ?? "");
    if (i.url && (i.chars == null || i.chars > (i.preview || "").length)) {
      cell.append(" ", h("a", {href: "#", onclick: async (e) => {
        e.preventDefault(); cell.textContent = await getText(i.url.replace(/^\/api\/v1/, ""));
      }}, "full text"));
    }
    return h("tr", {}, h("td", {class: "num"}, i.step), h("td", {}, i.caption || ""), cell);
  });
  return h("table", {class: "grid"}, h("thead", {}, h("tr", {}, h("th", {}, "step"), h("th", {}, "caption"), h("th", {}, "text"))), h("tbody", {}, rows));
}

/** Histograms over steps: one row of the heatmap per step, darker = more counts. */
function histograms(items) {
  const ok = items.filter((i) => Array.isArray(i.bins) && Array.isArray(i.counts) && i.counts.length);
  if (!ok.length) return h("p", {class: "muted"}, "no histogram data");
  let lo = Infinity, hi = -Infinity;
  for (const i of ok) { lo = Math.min(lo, i.bins[0]); hi = Math.max(hi, i.bins[i.bins.length - 1]); }
  const W = 600, rowH = Math.max(2, Math.min(12, Math.floor(300 / ok.length))), H = rowH * ok.length;
  const cv = h("canvas", {width: W, height: H, class: "hist"});
  const ctx = cv.getContext("2d");
  const span = hi - lo || 1;
  ok.forEach((it, r) => {
    const max = Math.max(...it.counts) || 1;
    it.counts.forEach((c, b) => {
      const x0 = ((it.bins[b] - lo) / span) * W, x1 = ((it.bins[b + 1] - lo) / span) * W;
      ctx.fillStyle = `rgba(59,91,219,${(c / max).toFixed(3)})`;
      ctx.fillRect(x0, r * rowH, Math.max(1, x1 - x0), rowH);
    });
  });
  const bars = (at) => {
    const it = at[0];
    const c2 = h("canvas", {width: W, height: 120});
    const g = c2.getContext("2d"), max = Math.max(...it.counts) || 1;
    g.fillStyle = "#3b5bdb";
    it.counts.forEach((c, b) => {
      const x0 = ((it.bins[b] - lo) / span) * W, x1 = ((it.bins[b + 1] - lo) / span) * W, bh = (c / max) * 115;
      g.fillRect(x0, 120 - bh, Math.max(1, x1 - x0 - 0.5), bh);
    });
    return h("div", {}, c2, h("div", {class: "muted"}, `range ${fmtNum(it.bins[0])} … ${fmtNum(it.bins[it.bins.length - 1])}, ${it.counts.reduce((a, b) => a + b, 0)} values`));
  };
  return h("div", {}, h("div", {class: "muted"}, `steps ${ok[0].step} (top) … ${ok[ok.length - 1].step} (bottom); x from ${fmtNum(lo)} to ${fmtNum(hi)}`),
    cv, stepSlider(ok, bars));
}

const RENDER = {image: images, audio: audios, text: texts, histogram: histograms};

/** The media tab of one run. */
export class MediaPanel {
  constructor(uuid) { this.uuid = uuid; this.el = h("div", {}); this.seen = -1; }
  async poll() {
    const items = await get(`/runs/${this.uuid}/media`);
    if (items.length === this.seen) return;
    this.seen = items.length;
    clear(this.el);
    if (!items.length) { this.el.append(h("p", {class: "muted"}, "This run logged no media.")); return; }
    const byKey = new Map();
    for (const i of items) { if (!byKey.has(i.key)) byKey.set(i.key, []); byKey.get(i.key).push(i); }
    for (const [key, list] of byKey) {
      const type = list[0].type;
      const render = RENDER[type] || ((l) => h("ul", {}, l.map((i) => h("li", {}, `step ${i.step}: `, i.url ? setMediaSrc(h("a", {download: i.path.split("/").pop()}, i.path), i, "href") : i.path))));
      this.el.append(h("section", {class: "card media", dataset: {key, type}}, h("h3", {}, `${key} `, h("span", {class: "muted"}, `${type} · ${list.length}`)), render(list)));
    }
  }
}
