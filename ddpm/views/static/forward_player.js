// The forward player (ddpm.views.forward_player.forward_player): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, term
// by term, the schedule's values and a plot of ᾱ_t and log SNR, at the slider's t, drawn in the page.
// props.value: x_0 and ε (forward_player.forward_value); props.tables: the schedule
// (forward_player.schedule_tables); props.slider: the elem_id of the gr.Slider that sets t.

const root = element.querySelector(".ddpm-forward");
fullscreenButton(root.querySelector("button.fullscreen"), root);
const tables = props.tables;
const T = tables.T;
const sqrtAlphasCumprod = float32s(tables.sqrt_alphas_cumprod); // q_sample's tables, index t − 1
const sqrtOneMinusAlphasCumprod = float32s(tables.sqrt_one_minus_alphas_cumprod);
const values = {}; // schedule_values at the paper's t = 0 … T
for (const name of ["beta", "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar", "snr", "log_snr"]) {
  values[name] = float64s(tables[name]);
}
const canvases = {};
for (const canvas of root.querySelectorAll("canvas[data-image]")) canvases[canvas.dataset.image] = canvas;
const modelGrey = displayMap(-1, 1); // to_display's default: x in [−1, 1]
const noiseGrey = displayMap(-3, 3); // show_noise: ε in [−3, 3]
let data = null; // {x0, eps, width, height} of the digit on screen
let drawn = { t: null, data: null };

// -- the schedule's values as forward.values_markdown writes them (Python's format specs) --------

function stripZeros(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** Python's format(x, ".{p}g"). */
function formatG(x, p) {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const [mantissa, exponentText] = x.toExponential(p - 1).split("e");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= p) {
    const digits = String(Math.abs(exponent)).padStart(2, "0");
    return `${stripZeros(mantissa)}e${exponent < 0 ? "-" : "+"}${digits}`;
  }
  return stripZeros(x.toFixed(p - 1 - exponent));
}

/** The readout at the paper's t: cell texts by field name (null at t = 0: the clean digit). */
function readout(t) {
  if (t === 0) return null;
  const v = (name) => values[name][t];
  const logSnr = v("log_snr");
  return {
    beta: v("beta").toFixed(5),
    alpha_bar: v("alpha_bar").toFixed(5),
    sqrt_alpha_bar: v("sqrt_alpha_bar").toFixed(4),
    sqrt_one_minus_alpha_bar: v("sqrt_one_minus_alpha_bar").toFixed(4),
    snr: formatG(v("snr"), 4),
    log_snr: (logSnr >= 0 ? "+" : "") + logSnr.toFixed(2),
  };
}

function showReadout(t) {
  root.querySelector(".readout-t").textContent = `t = ${t}`;
  const cells = readout(t);
  root.classList.toggle("at-zero", cells === null);
  if (cells === null) return;
  for (const cell of root.querySelectorAll("td[data-value]")) cell.textContent = cells[cell.dataset.value];
  root.querySelector('[data-weight="signal"]').textContent = `(${cells.sqrt_alpha_bar})`;
  root.querySelector('[data-weight="scaled"]').textContent = `(${cells.sqrt_one_minus_alpha_bar})`;
}

// -- the images ----------------------------------------------------------------------------------

function load(value) {
  data = value && value.x0 ? { x0: float32s(value.x0), eps: float32s(value.eps), width: value.width,
                               height: value.height } : null;
  root.classList.toggle("empty", data === null);
  if (data === null) return;
  putGrey(canvases.x0, data.x0.map(modelGrey), data.width, data.height);
  putGrey(canvases.eps, data.eps.map(noiseGrey), data.width, data.height);
}

/** √ᾱ_t x_0, √(1 − ᾱ_t) ε and x_t at the paper's t, as forward_view computes them (float32). */
function drawImages(t) {
  const { x0, eps, width, height } = data;
  const n = x0.length;
  const signal = new Uint8ClampedArray(n), scaled = new Uint8ClampedArray(n), xt = new Uint8ClampedArray(n);
  const a = f32(values.sqrt_alpha_bar[t]), b = f32(values.sqrt_one_minus_alpha_bar[t]);
  const qa = t > 0 ? sqrtAlphasCumprod[t - 1] : 1, qb = t > 0 ? sqrtOneMinusAlphasCumprod[t - 1] : 0;
  for (let i = 0; i < n; i++) {
    signal[i] = modelGrey(f32(a * x0[i]));
    scaled[i] = modelGrey(f32(b * eps[i]));
    // q_sample: extract(√ᾱ) · x0 + extract(√(1 − ᾱ)) · ε in float32; x_0 itself at t = 0
    xt[i] = modelGrey(t > 0 ? f32(f32(qa * x0[i]) + f32(qb * eps[i])) : x0[i]);
  }
  putGrey(canvases.signal, signal, width, height);
  putGrey(canvases.scaled, scaled, width, height);
  putGrey(canvases.xt, xt, width, height);
}

// -- the schedule plot ---------------------------------------------------------------------------

const plot = root.querySelector("canvas.plot");
const BLUE = "#1f4e9c", ORANGE = "#b3590e", RED = "#c81414", INK = "#222", GRID = "#e3e6eb";
const MARGIN = { left: 4.9, right: 5.5, top: 2.6, bottom: 3.5 }; // in units of the text size

/** The plot's text size in px: the page's (the large layout's is larger), at least 13. The large
 * layout also gives the plot another height, so the ResizeObserver below draws the axes again. */
function textSize() {
  return Math.max(13, parseFloat(getComputedStyle(root).fontSize) || 13);
}
let base = null; // the axes and curves at the canvas' current size (drawn once per size)
let frame = null; // {x(t), yAlpha(a), ySnr(s), ...} of the base

function niceStep(span, count) {
  const raw = span / count, power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

function ticks(low, high, count) {
  const step = niceStep(high - low, count);
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function curve(context, x, y, table) {
  context.beginPath();
  for (let t = 1; t <= T; t++) context[t === 1 ? "moveTo" : "lineTo"](x(t), y(table[t]));
  context.stroke();
}

function drawBase() {
  const width = plot.clientWidth, height = plot.clientHeight, ratio = window.devicePixelRatio || 1;
  if (!width || !height) return false;
  plot.width = Math.round(width * ratio);
  plot.height = Math.round(height * ratio);
  base = document.createElement("canvas");
  base.width = plot.width;
  base.height = plot.height;
  const c = base.getContext("2d");
  c.scale(ratio, ratio);
  const font = getComputedStyle(root).fontFamily, em = textSize();
  const left = MARGIN.left * em, right = width - MARGIN.right * em, top = MARGIN.top * em;
  const bottom = height - MARGIN.bottom * em;
  const logSnr = values.log_snr.subarray(1);
  let lo = Math.min(...logSnr), hi = Math.max(...logSnr);
  const pad = 0.04 * (hi - lo);
  lo -= pad;
  hi += pad;
  const x = (t) => left + ((right - left) * t) / T;
  const yAlpha = (a) => bottom - ((bottom - top) * (a + 0.03)) / 1.06;
  const ySnr = (s) => bottom - ((bottom - top) * (s - lo)) / (hi - lo);
  frame = { x, yAlpha, ySnr, top, bottom, left, right, ratio, font, em };
  plot.dataset.textPx = String(em); // its smallest text (a browser test reads it)

  c.fillStyle = "#fff";
  c.fillRect(0, 0, width, height);
  c.lineWidth = 1;
  c.font = `${em}px ${font}`;
  c.textBaseline = "middle";
  for (const a of [0, 0.25, 0.5, 0.75, 1]) { // the ᾱ grid and its ticks, left
    c.strokeStyle = GRID;
    c.beginPath(); c.moveTo(left, yAlpha(a)); c.lineTo(right, yAlpha(a)); c.stroke();
    c.fillStyle = BLUE;
    c.textAlign = "right";
    c.fillText(a.toFixed(2), left - 7, yAlpha(a));
  }
  c.fillStyle = ORANGE; // log SNR ticks, right
  c.textAlign = "left";
  for (const s of ticks(lo, hi, 5)) {
    c.fillRect(right, ySnr(s) - 0.5, 5, 1);
    c.fillText(String(s).replace("-", "−"), right + 8, ySnr(s));
  }
  c.fillStyle = INK; // t ticks, below
  c.textAlign = "center";
  c.textBaseline = "top";
  for (const t of ticks(0, T, 5)) {
    c.fillRect(x(t) - 0.5, bottom, 1, 5);
    c.fillText(String(t), x(t), bottom + 0.6 * em);
  }
  c.font = `italic ${em + 1}px ${font}`;
  c.fillText("t", (left + right) / 2, bottom + 1.95 * em);
  c.strokeStyle = "#9aa1ab";
  c.strokeRect(left + 0.5, top + 0.5, right - left - 1, bottom - top - 1);
  c.save(); // axis titles, turned
  c.font = `600 ${em + 2}px ${font}`;
  c.textBaseline = "middle";
  c.translate(1.2 * em, (top + bottom) / 2); c.rotate(-Math.PI / 2);
  c.fillStyle = BLUE; c.fillText("ᾱₜ", 0, 0);
  c.restore();
  c.save();
  c.font = `600 ${em + 2}px ${font}`;
  c.textBaseline = "middle";
  c.translate(width - 1.1 * em, (top + bottom) / 2); c.rotate(Math.PI / 2);
  c.fillStyle = ORANGE; c.fillText("log SNR", 0, 0);
  c.restore();

  c.save(); // the curves, clipped to the axes
  c.beginPath(); c.rect(left, top, right - left, bottom - top); c.clip();
  if (lo < 0 && hi > 0) {
    c.strokeStyle = ORANGE; c.lineWidth = 1; c.setLineDash([2, 3]);
    c.beginPath(); c.moveTo(left, ySnr(0)); c.lineTo(right, ySnr(0)); c.stroke();
  }
  c.lineWidth = 2.5;
  c.setLineDash([8, 5]);
  c.strokeStyle = ORANGE;
  curve(c, x, ySnr, values.log_snr);
  c.setLineDash([]);
  c.strokeStyle = BLUE;
  curve(c, x, yAlpha, values.alpha_bar);
  c.restore();

  legend(c, [[BLUE, [], "ᾱₜ"], [ORANGE, [8, 5], "log SNR"], [RED, [], "current t"]], right, top - 1.3 * em, font, em);
  return true;
}

/** Line samples and names, in a row ending at x (right-aligned). */
function legend(c, entries, x, y, font, em) {
  c.font = `${em}px ${font}`;
  c.textAlign = "left";
  c.textBaseline = "middle";
  const widths = entries.map(([, , text]) => 44 + c.measureText(text).width);
  x -= widths.reduce((a, b) => a + b, 0) - 12;
  entries.forEach(([colour, dash, text], i) => {
    c.strokeStyle = colour; c.lineWidth = 2.5; c.setLineDash(dash);
    c.beginPath(); c.moveTo(x, y); c.lineTo(x + 26, y); c.stroke();
    c.setLineDash([]);
    c.fillStyle = INK;
    c.fillText(text, x + 32, y);
    x += widths[i];
  });
}

function drawPlot(t) {
  if (!base && !drawBase()) return;
  const c = plot.getContext("2d");
  const { x, yAlpha, ySnr, top, bottom, left, right, ratio, font, em } = frame;
  c.setTransform(1, 0, 0, 1, 0, 0);
  c.drawImage(base, 0, 0);
  c.setTransform(ratio, 0, 0, ratio, 0, 0);
  const at = x(t);
  c.strokeStyle = RED; c.lineWidth = 2;
  c.beginPath(); c.moveTo(at, top); c.lineTo(at, bottom); c.stroke();
  if (t > 0) {
    for (const [y, colour] of [[yAlpha(values.alpha_bar[t]), BLUE], [ySnr(values.log_snr[t]), ORANGE]]) {
      c.fillStyle = colour; c.strokeStyle = "#fff"; c.lineWidth = 1.5;
      c.beginPath(); c.arc(at, y, 5, 0, 2 * Math.PI); c.fill(); c.stroke();
    }
  }
  c.font = `bold ${em}px ${font}`; // the value of t, inside the axes beside the line
  const label = `t = ${t}`, labelWidth = c.measureText(label).width + 10;
  const boxLeft = at + 6 + labelWidth <= right ? at + 6 : at - 6 - labelWidth;
  c.fillStyle = "rgba(255, 255, 255, 0.85)";
  c.fillRect(boxLeft, top + 4, labelWidth, 1.5 * em);
  c.fillStyle = RED;
  c.textAlign = "left";
  c.textBaseline = "middle";
  c.fillText(label, boxLeft + 5, top + 4 + 0.75 * em);
}

new ResizeObserver(() => { // a new size (or the tab shown): draw the axes again
  const ratio = window.devicePixelRatio || 1;
  const same = Math.round(plot.clientWidth * ratio) === plot.width && Math.round(plot.clientHeight * ratio) === plot.height;
  if (base && same) return;
  base = null;
  if (drawn.t !== null) drawPlot(drawn.t);
}).observe(plot);

// -- t from the slider ---------------------------------------------------------------------------

/** Show the paper's t (a number or a numeric string), clamped to [0, T]; skips what is on screen. */
function show(value) {
  const t = Math.min(T, Math.max(0, Math.round(Number(value))));
  if (!Number.isFinite(t) || (t === drawn.t && data === drawn.data)) return;
  if (data !== null) drawImages(t);
  showReadout(t);
  drawPlot(t);
  drawn = { t, data };
  root.dataset.t = String(t);
}

function slider() {
  return document.querySelector(`#${props.slider} input[type=range]`);
}

// Drags and keys: the slider's input events, caught before Gradio's own handler sees them, so the
// frame is drawn within the event; its latency (event -> drawn) is kept for the browser test.
function onInput(event) {
  if (!root.isConnected) {
    document.removeEventListener("input", onInput, true);
    return;
  }
  if (event.target !== slider()) return;
  show(event.target.value);
  root.dataset.drawMs = (performance.now() - event.timeStamp).toFixed(3);
}
document.addEventListener("input", onInput, true);

root.show = show; // for the slider's change listener (forward_player): t set without an input event
root.readout = readout; // for the browser test, which compares every t with values_markdown
watch("value", () => {
  load(props.value);
  show(slider()?.value ?? drawn.t ?? 0);
});
load(props.value);
whenMounted(slider, (s) => show(s?.value ?? 0));
