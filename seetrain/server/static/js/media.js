// Media: images per step with a step slider (click one to see it full size), audio players, text
// records shown whole with their whitespace, histograms over steps with axes and hover.
import {get, setMediaSrc, getText} from "./api.js";
import {h, clear, fmtNum, fmtTicks} from "./util.js";

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

/** The image full size over the page (Esc, a click or the close button closes it). */
function lightbox(item) {
  const close = () => { box.remove(); document.removeEventListener("keydown", onKey); };
  const onKey = (e) => { if (e.key === "Escape") close(); };
  const k = item.width && item.height ? Math.max(1, Math.floor(Math.min(innerWidth * 0.9 / item.width, innerHeight * 0.8 / item.height))) : 1;
  const img = setMediaSrc(h("img", {alt: item.caption || item.key, style: item.width ? `width:${item.width * k}px` : null}), item);
  const box = h("div", {class: "lightbox", role: "dialog", "aria-label": item.caption || item.key, onclick: close},
    h("figure", {}, img, h("figcaption", {}, [item.caption, item.width ? `${item.width}×${item.height}` : null, `step ${item.step}`, k > 1 ? `shown ×${k}` : null].filter(Boolean).join(" · "))),
    h("button", {type: "button", class: "close", "aria-label": "close"}, "✕"));
  document.addEventListener("keydown", onKey);
  document.body.append(box);
}

function images(items) {
  return stepSlider(items, (at) => h("div", {class: "media-grid"}, at.map((i) => i.url
    ? h("figure", {}, setMediaSrc(h("img", {alt: i.caption || i.key, style: imgSize(i), title: "click to enlarge", tabindex: 0,
      onclick: () => lightbox(i), onkeydown: (e) => { if (e.key === "Enter") lightbox(i); }}), i),
      h("figcaption", {}, i.caption || `${i.width || "?"}×${i.height || "?"}`))
    : missing(i))));
}

function audios(items) {
  return stepSlider(items, (at) => h("div", {class: "media-grid"}, at.map((i) => i.url
    ? h("figure", {}, setMediaSrc(h("audio", {controls: true, preload: "none"}), i),
      h("figcaption", {}, [i.caption, i.duration != null ? `${fmtNum(i.duration)} s` : null, i.sample_rate ? `${i.sample_rate} Hz` : null].filter(Boolean).join(" · ")))
    : missing(i))));
}

const FULL_TEXTS = 20;  // the newest texts load whole by themselves; older ones on a click

function texts(items) {
  const rows = items.slice(-200).reverse().map((i, n) => {
    const pre = h("pre", {class: "mtext", tabindex: 0}, i.preview ?? "");
    const cell = h("td", {class: "text"}, pre);
    if (i.url && (i.chars == null || i.chars > (i.preview || "").length)) {
      const load = async () => { pre.textContent = await getText(i.url.replace(/^\/api\/v1/, "")); more.remove(); };
      const more = h("button", {type: "button", onclick: load}, `full text${i.chars ? ` (${i.chars} characters)` : ""}`);
      cell.append(more);
      if (n < FULL_TEXTS) load().catch(() => {});
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
  const ticks = fmtTicks(Array.from({length: 5}, (_, i) => lo + (span * i) / 4));
  const axis = () => h("div", {class: "hist-axis", style: `width:${W}px`}, ticks.map((t) => h("span", {}, t)));
  const bars = (at) => {
    const it = at[0];
    const c2 = h("canvas", {width: W, height: 120, class: "bars"});
    const g = c2.getContext("2d"), max = Math.max(...it.counts) || 1;
    g.fillStyle = "#3b5bdb";
    it.counts.forEach((c, b) => {
      const x0 = ((it.bins[b] - lo) / span) * W, x1 = ((it.bins[b + 1] - lo) / span) * W, bh = (c / max) * 115;
      g.fillRect(x0, 120 - bh, Math.max(1, x1 - x0 - 0.5), bh);
    });
    const readout = h("div", {class: "hist-readout muted"}, "hover the bars for a bin's range and count");
    c2.addEventListener("mousemove", (e) => {
      const x = lo + ((e.offsetX / c2.clientWidth) * span);
      const b = it.bins.findIndex((edge, k) => k < it.counts.length && x >= edge && x < it.bins[k + 1]);
      readout.textContent = b < 0 ? "" : `[${fmtNum(it.bins[b])}, ${fmtNum(it.bins[b + 1])}): count ${it.counts[b]}`;
    });
    return h("div", {}, h("div", {class: "hist-y muted"}, `count (max ${max})`), c2, axis(), readout,
      h("div", {class: "muted"}, `range ${fmtNum(it.bins[0])} … ${fmtNum(it.bins[it.bins.length - 1])}, ${it.counts.reduce((a, b) => a + b, 0)} values`));
  };
  return h("div", {}, h("div", {class: "muted"}, `steps ${ok[0].step} (top) … ${ok[ok.length - 1].step} (bottom); x from ${fmtNum(lo)} to ${fmtNum(hi)}`),
    cv, axis(), stepSlider(ok, bars));
}

/** A cell of a logged table: an image (a thumbnail that enlarges), a number or text. */
function tableCell(cell, item) {
  if (cell && typeof cell === "object" && cell._type === "image") {
    const url = (item.file_urls || {})[cell.path];
    if (!url) return h("td", {class: "missing"}, "image not stored");
    const img = {...cell, url, key: item.key, step: item.step};
    const k = cell.width && cell.height ? Math.max(1, Math.floor(64 / Math.max(cell.width, cell.height))) : 1;
    const size = cell.width ? `width:${Math.min(96, cell.width * k)}px` : "max-width:96px";
    return h("td", {class: "img"}, setMediaSrc(h("img", {class: "thumb", alt: cell.caption || cell.path, style: size, tabindex: 0,
      title: "click to enlarge", onclick: () => lightbox(img), onkeydown: (e) => { if (e.key === "Enter") lightbox(img); }}), img));
  }
  if (typeof cell === "number") return h("td", {class: "num"}, fmtNum(cell));
  return h("td", {class: "text"}, cell == null ? "" : String(cell));
}

/** Sort value of a cell: numbers (and NaN/Inf tags) as numbers, text as text, images by caption. */
function sortValue(cell) {
  if (cell && typeof cell === "object") return cell.caption || "";
  if (cell === "NaN") return NaN;
  if (cell === "Infinity") return Infinity;
  if (cell === "-Infinity") return -Infinity;
  return cell == null ? "" : cell;
}

function compareCells(a, b) {
  const x = sortValue(a), y = sortValue(b);
  if (typeof x === "number" && typeof y === "number") {
    if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
    if (Number.isNaN(y)) return -1;
    return x - y;
  }
  if (typeof x === "number") return -1;
  if (typeof y === "number") return 1;
  return String(x).localeCompare(String(y));
}

/** One logged table: its header sorts by a column (click or Enter; again reverses), images as thumbnails. */
function tableView(item) {
  const box = h("div", {class: "mtable", dataset: {step: item.step}}, h("p", {class: "muted"}, "loading the table…"));
  if (!item.url) { clear(box).append(missing(item)); return box; }
  getText(item.url.replace(/^\/api\/v1/, "")).then((text) => {
    const t = JSON.parse(text);
    let sortCol = -1, desc = false;
    const body = h("tbody", {});
    const heads = t.columns.map((c, j) => h("th", {tabindex: 0, role: "button", "aria-sort": "none", dataset: {col: c},
      onclick: () => sortBy(j), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(j); } }}, c));
    const draw = () => {
      const rows = t.data.map((r, i) => [r, i]);
      if (sortCol >= 0) rows.sort((a, b) => (desc ? -1 : 1) * compareCells(a[0][sortCol], b[0][sortCol]) || a[1] - b[1]);
      clear(body).append(...rows.map(([r, i]) => h("tr", {dataset: {row: i}}, r.map((c) => tableCell(c, item)))));
      heads.forEach((th, j) => th.setAttribute("aria-sort", j !== sortCol ? "none" : desc ? "descending" : "ascending"));
    };
    const sortBy = (j) => { desc = sortCol === j ? !desc : false; sortCol = j; draw(); };
    draw();
    clear(box).append(h("div", {class: "tablewrap"}, h("table", {class: "grid media-table"}, h("thead", {}, h("tr", {}, heads)), body)),
      h("p", {class: "muted"}, `${t.data.length} rows${item.caption ? " · " + item.caption : ""}`));
    box.dataset.rows = t.data.length;
  }).catch((e) => { clear(box).append(h("div", {class: "warnbox"}, `the table could not be read: ${e.message}`)); });
  return box;
}

function tables(items) {
  return stepSlider(items, (at) => h("div", {}, at.map(tableView)));
}

const RENDER = {image: images, audio: audios, text: texts, histogram: histograms, table: tables};

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
