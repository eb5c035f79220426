// The 2-D world's drawing (ddpm.views.lessons.plane_player.plane_player), first of three files: the
// state on screen, the drawing helpers, the main plane (q_t, its field, x_t and its pasts) and the
// reverse step beside its Gaussian, drawn with the maths of plane_maths.js (which comes first in the
// player's script). plane_panels.js draws the particles, the error curve and the training;
// plane_controls.js wires the pointer and the controls. Nothing per drag, click or frame reaches the
// server. props.slider: the elem_id of the gr.Slider of t; props.value: the data set and its network
// (plane_player.plane_value), or a drawn set's training.

const root = element.querySelector(".ddpm-plane");
fullscreenButton(root.querySelector("button.fullscreen"), root);

// -- state ---------------------------------------------------------------------------------------

const state = {
  t: 0, data: null, name: "", net: null, error: null, drawn: [], mode: "explore", arrows: "score", learned: false,
  delta: 1, eta: 0, xt: [0.6, 0.5], sim: null, animation: null, training: null, seed: 1,
  drawnWorld: null, // the network (and its error curve) last trained on the drawn points
};
const $ = (selector) => root.querySelector(selector);
const canvases = {};
for (const canvas of root.querySelectorAll("canvas[data-plot]")) canvases[canvas.dataset.plot] = canvas;

/** The data on screen: the value's set, or the drawn points (null when fewer than 2). */
function currentData() {
  if (state.name !== "drawn") return state.data;
  return state.drawn.length >= 2 ? pointSet(state.drawn) : null;
}

// -- drawing helpers ------------------------------------------------------------------------------

/** Size a canvas to its box × devicePixelRatio; returns its context with 1 unit = 1 CSS pixel. */
function context(canvas) {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth || 300, h = canvas.clientHeight || w;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w, h };
}

/** Plane ↔ canvas for a square view of half-width `extent` around (cx, cy). */
function view(w, h, extent = EXTENT, cx = 0, cy = 0) {
  const scale = Math.min(w, h) / (2 * extent);
  return {
    extent, cx, cy, scale,
    px: (x) => w / 2 + (x - cx) * scale,
    py: (y) => h / 2 - (y - cy) * scale,
    fromPx: (u, v) => [cx + (u - w / 2) / scale, cy - (v - h / 2) / scale],
  };
}

const COLORS = [[255, 255, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
/** A density value in [0, 1] as a blue ramp (white -> dark blue). */
function ramp(u) {
  const s = Math.min(1, Math.max(0, u)) * (COLORS.length - 1), i = Math.min(COLORS.length - 2, Math.floor(s)), f = s - i;
  return COLORS[i].map((c, j) => Math.round(c + f * (COLORS[i + 1][j] - c)));
}

/** Fill the canvas (a square view `v` of the plane) with a mixture's density on an n × n grid,
 * shaded by (density / max)^½; returns the grid's values. */
function heat(ctx, w, h, v, mix, n = 96) {
  const { xs, ys } = gridCentres(n, v.extent, v.cx, v.cy), values = densityOnGrid(mix, xs, ys);
  let top = 0;
  for (const value of values) if (value > top) top = value;
  const image = new ImageData(n, n);
  for (let p = 0; p < n * n; p++) {
    const [r, g, b] = ramp(top > 0 ? Math.sqrt(values[p] / top) : 0);
    image.data.set([r, g, b, 255], 4 * p);
  }
  const tile = document.createElement("canvas");
  tile.width = tile.height = n;
  tile.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(tile, 0, 0, w, h);
  return values;
}

function arrow(ctx, x0, y0, x1, y1, color, width = 1.4) {
  const dx = x1 - x0, dy = y1 - y0, length = Math.hypot(dx, dy);
  if (length < 0.5) return;
  const head = Math.min(6, 0.4 * length), ux = dx / length, uy = dy / length;
  ctx.strokeStyle = ctx.fillStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  ctx.beginPath(); ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - head * (ux - 0.5 * uy), y1 - head * (uy + 0.5 * ux));
  ctx.lineTo(x1 - head * (ux + 0.5 * uy), y1 - head * (uy - 0.5 * ux));
  ctx.fill();
}

function dot(ctx, x, y, radius, color) {
  ctx.fillStyle = color;
  ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.fill();
}

/** The canvases' text size in px: the page's (the large layout's is larger), at least 13. */
function textSize() {
  return Math.max(13, parseFloat(getComputedStyle(root).fontSize) || 13);
}

function label(ctx, text, x, y, color = "#222", align = "left") {
  ctx.font = `${textSize()}px sans-serif`;
  ctx.fillStyle = color; ctx.textAlign = align; ctx.textBaseline = "top";
  ctx.fillText(text, x, y);
}

/** The data's points (or the mixture's means) as small dots. */
function drawData(ctx, v, data, color = "rgba(200, 20, 20, 0.55)", radius = 1.8) {
  for (let k = 0; k < data.size; k++) {
    const r = data.points ? radius : Math.max(radius, 2 * Math.sqrt(Math.max(data.covs[4 * k], data.covs[4 * k + 3])) * v.scale);
    dot(ctx, v.px(data.means[2 * k]), v.py(data.means[2 * k + 1]), r, color); // a component: a disc of 2σ
  }
}

// -- the main plane: q_t, its field, x_t and its pasts ----------------------------------------------

const ARROWS = 15; // arrows per side
const EXACT_COLOR = "#111", LEARNED_COLOR = "#d95f02";

function drawPlane() {
  const { ctx, w, h } = context(canvases.plane), v = view(w, h), data = currentData(), t = state.t;
  ctx.clearRect(0, 0, w, h);
  if (data === null) {
    ctx.fillStyle = "#f6f7f9"; ctx.fillRect(0, 0, w, h);
    label(ctx, state.name === "drawn" ? "Click or drag to draw points (at least 2)." : "", 12, 12, "#555");
    for (const [x, y] of state.drawn) dot(ctx, v.px(x), v.py(y), 3, "#c81414");
    return;
  }
  const ab = alphaBar(t);
  if (t === 0) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (!data.points) heat(ctx, w, h, v, data);
    drawData(ctx, v, data, "#08306b", data.points ? 2.4 : 1.5);
  } else {
    const m = marginal(data, ab);
    heat(ctx, w, h, v, marginalMixture(data, ab));
    if (t < T / 5) drawData(ctx, v, data, "rgba(200, 20, 20, 0.35)", 1.3);
    if (state.arrows !== "none") {
      const cell = w / ARROWS, unit = 0.3 * cell, cap = 0.95 * cell;
      const sign = state.arrows === "eps" ? 1 : -1; // −ε̂ points up the density, along the score
      // |ε̂| = 1 is 0.3 of a cell; longer arrows (far from the data at small t) are capped at a cell
      const draw = (u, vv, e, color) => {
        const length = Math.hypot(e[0], e[1]), k = sign * Math.min(unit, cap / Math.max(length, 1e-12));
        arrow(ctx, u, vv, u + k * e[0], vv - k * e[1], color);
      };
      for (let i = 0; i < ARROWS; i++) {
        for (let j = 0; j < ARROWS; j++) {
          const u = (j + 0.5) * cell, vv = (i + 0.5) * cell, [x, y] = v.fromPx(u, vv);
          draw(u, vv, exactEps(m, ab, x, y), EXACT_COLOR);
          if (state.learned && state.net) draw(u, vv, mlpEps(state.net, x, y, t - 1), LEARNED_COLOR);
        }
      }
    }
  }
  if (state.mode === "explore" && t > 0) drawPasts(ctx, v, data, ab);
  if (state.mode === "draw") for (const [x, y] of state.drawn) dot(ctx, v.px(x), v.py(y), 2.6, "#c81414");
  if (state.sim && state.sim.kind === "launch") dot(ctx, v.px(state.sim.start[0]), v.py(state.sim.start[1]), 6, "#7b3294");
  label(ctx, `t = ${t}   ᾱₜ = ${ab.toFixed(4)}`, 8, 8);
}

/** Lines from x_t to the data that could be its past, as thick and dark as their posterior weight. */
function drawPasts(ctx, v, data, ab) {
  const [x, y] = state.xt, m = marginal(data, ab), r = evaluate(m, x, y, true).weights;
  const order = [...r.keys()].sort((a, b) => r[b] - r[a]).slice(0, 60);
  for (const k of order) {
    if (r[k] < 1e-4) break;
    ctx.strokeStyle = `rgba(200, 20, 20, ${Math.min(1, 0.3 + 0.7 * r[k] / r[order[0]])})`;
    ctx.lineWidth = 0.8 + 5 * Math.sqrt(r[k]);
    ctx.beginPath(); ctx.moveTo(v.px(x), v.py(y)); ctx.lineTo(v.px(data.means[2 * k]), v.py(data.means[2 * k + 1])); ctx.stroke();
  }
  dot(ctx, v.px(x), v.py(y), 7, "#c81414");
  dot(ctx, v.px(x), v.py(y), 3, "#fff");
  const effective = 1 / r.reduce((s, w) => s + w * w, 0);
  root.dataset.effectivePasts = effective.toFixed(2);
  $(".pasts-text").textContent = `xₜ = (${x.toFixed(2)}, ${y.toFixed(2)}): ${effective.toFixed(1)} effective pasts `
    + `(1 / Σ r²); the heaviest has r = ${r[order[0]].toFixed(3)}.`;
}

// -- the reverse step beside its Gaussian -----------------------------------------------------------

function drawStep() {
  const data = currentData(), t = state.t, s = Math.max(0, t - state.delta);
  const text = $(".step-text");
  for (const name of ["step", "gauss"]) {
    const { ctx, w, h } = context(canvases[name]);
    ctx.fillStyle = "#f6f7f9"; ctx.fillRect(0, 0, w, h);
  }
  if (data === null || t === 0) {
    text.textContent = "Move t above 0 and drag xₜ on the plane.";
    return;
  }
  const step = reverseStep(data, alphaBar(t), alphaBar(s), state.xt[0], state.xt[1]);
  const { mean, cov } = moments(step);
  const spread = Math.sqrt(Math.max(cov[0], cov[2], 1e-8));
  const half = Math.min(EXTENT, Math.max(0.05, 3.5 * spread));
  const gauss = { weights: new Float64Array([1]), means: new Float64Array(mean), covs: new Float64Array([cov[0], cov[1], cov[1], cov[2]]), size: 1 };
  let tv = null;
  for (const [name, mix] of [["step", step], ["gauss", gauss]]) {
    const { ctx, w, h } = context(canvases[name]), v = view(w, h, half, mean[0], mean[1]);
    if (name === "step" && s === 0 && data.points) { // point masses on the data
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
      for (let k = 0; k < step.size; k++) {
        if (step.weights[k] > 1e-4) dot(ctx, v.px(step.means[2 * k]), v.py(step.means[2 * k + 1]), 2 + 10 * Math.sqrt(step.weights[k]), "#08306b");
      }
    } else {
      heat(ctx, w, h, v, mix, 80);
    }
    dot(ctx, v.px(mean[0]), v.py(mean[1]), 3.5, "#c81414");
    label(ctx, `±${formatWidth(half)}`, 6, h - 6 - textSize(), "#444"); // the window around the mean
  }
  if (!(s === 0 && data.points)) tv = totalVariation(step, gauss, mean, half);
  root.dataset.stepTv = tv === null ? "" : tv.toFixed(4);
  const modes = step.weights.filter((w) => w > 0.05).length;
  text.textContent = `q(x${sub(s)} | x${sub(t)}), Δ = ${t - s}: ` + (tv === null
    ? `a choice among the data points (${modes} with weight > 5%); no Gaussian can be it.`
    : `½∫|q − N| = ${tv.toFixed(3)} against the Gaussian with its mean and covariance`
      + (tv < 0.02 ? " — a Gaussian step is right." : " — no Gaussian step can be right."));
}

function formatWidth(x) {
  return x >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}

function sub(n) {
  return String(n).replace(/\d/g, (d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]);
}
