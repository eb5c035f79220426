// The 2-D world (ddpm.views.lessons.plane_player.plane_player): every density, score, posterior,
// reverse step, sampler step and network pass of ddpm.toy computed in the page, in float64 from the
// core's float32 tables and weights. Nothing per drag, click or frame reaches the server.
// props.tables: the schedule (plane_player.plane_tables); props.slider: the elem_id of the gr.Slider
// of t; props.value: the data set and its network (plane_player.plane_value), or a drawn set's training.

const root = element.querySelector(".ddpm-plane");
fullscreenButton(root.querySelector("button.fullscreen"), root);
const tables = props.tables;
const T = tables.T;
const EXTENT = tables.extent;
const alphasCumprod = float32s(tables.alphas_cumprod); // index t − 1 for the paper's t
const sqrtRecip = float32s(tables.sqrt_recip_alphas_cumprod);
const sqrtRecipm1 = float32s(tables.sqrt_recipm1_alphas_cumprod);
const coef1 = float32s(tables.posterior_mean_coef1);
const coef2 = float32s(tables.posterior_mean_coef2);
const posteriorVariance = float32s(tables.posterior_variance);
const LOG_2PI = Math.log(2 * Math.PI);

// -- data: a mixture Σ w_k N(m_k, S_k); points have S_k = 0 ---------------------------------------

/** {weights, means [K·2], covs [K·4], size, points} from the value's base64 arrays. */
function mixture(value) {
  const weights = float64s(value.weights), means = float64s(value.means), covs = float64s(value.covs);
  let points = true;
  for (const c of covs) if (c !== 0) points = false;
  return { weights, means, covs, size: weights.length, points };
}

/** Equal-weight points from [[x, y], …]. */
function pointSet(list) {
  const n = list.length;
  const means = new Float64Array(2 * n);
  list.forEach(([x, y], i) => { means[2 * i] = x; means[2 * i + 1] = y; });
  return { weights: new Float64Array(n).fill(1 / n), means, covs: new Float64Array(4 * n), size: n, points: true };
}

/** ᾱ_t of the paper's t ∈ [0, T] (ᾱ_0 = 1), from the core's table. */
function alphaBar(t) {
  return t === 0 ? 1 : alphasCumprod[t - 1];
}

/** q_t's components ready for evaluate(): the means and inverse covariances of marginalMixture,
 * with log(w_k / (2π √det C_k)): {K, mx, my, i00, i01, i11, logw} arrays [K]. */
function marginal(data, ab) {
  const q = marginalMixture(data, ab), K = q.size;
  const out = { K, mx: new Float64Array(K), my: new Float64Array(K), i00: new Float64Array(K),
                i01: new Float64Array(K), i11: new Float64Array(K), logw: new Float64Array(K) };
  for (let k = 0; k < K; k++) {
    out.mx[k] = q.means[2 * k];
    out.my[k] = q.means[2 * k + 1];
    const c00 = q.covs[4 * k], c01 = q.covs[4 * k + 1], c11 = q.covs[4 * k + 3], det = c00 * c11 - c01 * c01;
    out.i00[k] = c11 / det; out.i01[k] = -c01 / det; out.i11[k] = c00 / det;
    out.logw[k] = Math.log(q.weights[k]) - 0.5 * Math.log(det) - LOG_2PI;
  }
  return out;
}

const scratch = { log: new Float64Array(0) };
function logScratch(K) {
  if (scratch.log.length < K) scratch.log = new Float64Array(K);
  return scratch.log;
}

/** At one point: {logDensity, weights (the posterior r_k, or null), sx, sy (the score)}. */
function evaluate(m, x, y, wantWeights = false) {
  const log = logScratch(m.K);
  let top = -Infinity;
  for (let k = 0; k < m.K; k++) {
    const dx = x - m.mx[k], dy = y - m.my[k];
    const v = m.logw[k] - 0.5 * (dx * (m.i00[k] * dx + m.i01[k] * dy) + dy * (m.i01[k] * dx + m.i11[k] * dy));
    log[k] = v;
    if (v > top) top = v;
  }
  let total = 0, sx = 0, sy = 0;
  const weights = wantWeights ? new Float64Array(m.K) : null;
  for (let k = 0; k < m.K; k++) {
    const e = Math.exp(log[k] - top);
    total += e;
    const dx = x - m.mx[k], dy = y - m.my[k];
    sx -= e * (m.i00[k] * dx + m.i01[k] * dy);
    sy -= e * (m.i01[k] * dx + m.i11[k] * dy);
    if (weights) weights[k] = e;
  }
  if (weights) for (let k = 0; k < m.K; k++) weights[k] /= total;
  return { logDensity: top + Math.log(total), weights, sx: sx / total, sy: sy / total };
}

/** The ideal ε̂*(x, t) = −√(1 − ᾱ_t) ∇ log q_t (plane.eps), for the paper's t ≥ 1. */
function exactEps(m, ab, x, y) {
  const e = evaluate(m, x, y), s = -Math.sqrt(1 - ab);
  return [s * e.sx, s * e.sy];
}

// -- the true reverse step over a stride (plane.reverse_step) -------------------------------------

/** q(x_s | x_t) for one x_t: {weights, means [K·2], covs [K·4]}, by the Kalman form. */
function reverseStep(data, abT, abS, x, y) {
  const a = Math.sqrt(abT / abS), b = 1 - abT / abS, prior = marginalMixture(data, abS); // q_s
  const K = data.size, logRho = new Float64Array(K), means = new Float64Array(2 * K), covs = new Float64Array(4 * K);
  let top = -Infinity;
  for (let k = 0; k < K; k++) {
    const mx = prior.means[2 * k], my = prior.means[2 * k + 1];
    const c00 = prior.covs[4 * k], c01 = prior.covs[4 * k + 1], c11 = prior.covs[4 * k + 3];
    const e00 = a * a * c00 + b, e01 = a * a * c01, e11 = a * a * c11 + b; // a² C + b I
    const det = e00 * e11 - e01 * e01, j00 = e11 / det, j01 = -e01 / det, j11 = e00 / det;
    const dx = x - a * mx, dy = y - a * my;
    const ux = j00 * dx + j01 * dy, uy = j01 * dx + j11 * dy; // (a² C + b I)⁻¹ (x_t − a μ)
    logRho[k] = Math.log(data.weights[k]) - 0.5 * (dx * ux + dy * uy) - 0.5 * Math.log(det) - LOG_2PI;
    if (logRho[k] > top) top = logRho[k];
    means[2 * k] = mx + a * (c00 * ux + c01 * uy);
    means[2 * k + 1] = my + a * (c01 * ux + c11 * uy);
    // C − a² C (a² C + b I)⁻¹ C
    const p00 = c00 * j00 + c01 * j01, p01 = c00 * j01 + c01 * j11, p10 = c01 * j00 + c11 * j01, p11 = c01 * j01 + c11 * j11;
    covs[4 * k] = c00 - a * a * (p00 * c00 + p01 * c01);
    const off = c01 - a * a * (p00 * c01 + p01 * c11), off2 = c01 - a * a * (p10 * c00 + p11 * c01);
    covs[4 * k + 1] = covs[4 * k + 2] = 0.5 * (off + off2);
    covs[4 * k + 3] = c11 - a * a * (p10 * c01 + p11 * c11);
  }
  let total = 0;
  const weights = new Float64Array(K);
  for (let k = 0; k < K; k++) total += (weights[k] = Math.exp(logRho[k] - top));
  for (let k = 0; k < K; k++) weights[k] /= total;
  return { weights, means, covs, size: K };
}

/** The mixture's mean [2] and covariance [c00, c01, c11]: the Gaussian with the same moments. */
function moments(step) {
  let mx = 0, my = 0, s00 = 0, s01 = 0, s11 = 0;
  for (let k = 0; k < step.size; k++) {
    const w = step.weights[k], x = step.means[2 * k], y = step.means[2 * k + 1];
    mx += w * x; my += w * y;
    s00 += w * (step.covs[4 * k] + x * x); s01 += w * (step.covs[4 * k + 1] + x * y); s11 += w * (step.covs[4 * k + 3] + y * y);
  }
  return { mean: [mx, my], cov: [s00 - mx * mx, s01 - mx * my, s11 - my * my] };
}

/** q_t as a mixture {weights, means, covs, size} (plane.marginal): means √ᾱ m_k, covariances
 * ᾱ S_k + (1 − ᾱ) I. */
function marginalMixture(data, ab) {
  const r = Math.sqrt(ab), means = data.means.map((m) => r * m), covs = new Float64Array(4 * data.size);
  for (let k = 0; k < data.size; k++) {
    for (let e = 0; e < 4; e++) covs[4 * k + e] = ab * data.covs[4 * k + e] + (e === 0 || e === 3 ? 1 - ab : 0);
  }
  return { weights: data.weights, means, covs, size: data.size };
}

/**
 * A mixture's density at every (xs[j], ys[i]): Float64Array [ys.length · xs.length], row i first.
 * Components of weight below 1e-12 are skipped; an isotropic component, N(μ, σ² I), factorises as
 * N(x; μx, σ²) N(y; μy, σ²), so the grid costs K·(nx + ny) exponentials and K·nx·ny
 * multiply-adds instead of K·nx·ny exponentials (a 96 × 96 grid of 400 points: 25 times fewer).
 */
function densityOnGrid(mix, xs, ys) {
  const nx = xs.length, ny = ys.length, out = new Float64Array(nx * ny);
  const fx = new Float64Array(nx), fy = new Float64Array(ny);
  for (let k = 0; k < mix.size; k++) {
    const w = mix.weights[k], c00 = mix.covs[4 * k], c01 = mix.covs[4 * k + 1], c11 = mix.covs[4 * k + 3];
    const det = c00 * c11 - c01 * c01, mx = mix.means[2 * k], my = mix.means[2 * k + 1];
    if (w < 1e-12 || !(det > 1e-300)) continue;
    if (c01 === 0 && c00 === c11) {
      const scale = w / (2 * Math.PI * c00);
      for (let j = 0; j < nx; j++) fx[j] = Math.exp(-0.5 * (xs[j] - mx) ** 2 / c00);
      for (let i = 0; i < ny; i++) fy[i] = scale * Math.exp(-0.5 * (ys[i] - my) ** 2 / c00);
      for (let i = 0; i < ny; i++) {
        const a = fy[i];
        if (a === 0) continue;
        const row = i * nx;
        for (let j = 0; j < nx; j++) out[row + j] += a * fx[j];
      }
    } else {
      const scale = w / (2 * Math.PI * Math.sqrt(det));
      for (let i = 0; i < ny; i++) {
        for (let j = 0; j < nx; j++) {
          const dx = xs[j] - mx, dy = ys[i] - my;
          out[i * nx + j] += scale * Math.exp(-0.5 * (c11 * dx * dx - 2 * c01 * dx * dy + c00 * dy * dy) / det);
        }
      }
    }
  }
  return out;
}

/** Cell centres of an n × n grid over the square of half-width `half` around (cx, cy), as
 * plane.density_grid lays it out: xs left to right, ys top row first. */
function gridCentres(n, half = EXTENT, cx = 0, cy = 0) {
  const xs = new Float64Array(n), ys = new Float64Array(n);
  for (let j = 0; j < n; j++) xs[j] = cx - half + ((j + 0.5) * 2 * half) / n;
  for (let i = 0; i < n; i++) ys[i] = cy + half - ((i + 0.5) * 2 * half) / n;
  return { xs, ys };
}

// -- the learned field: the MLP (ddpm.toy.mlp.ToyMLP) ----------------------------------------------

/** {layers: [{w Float32Array [out·in], b, rows, cols}], freqs, scale} from the value's network. */
function network(value) {
  if (!value) return null;
  return {
    freqs: float32s(value.freqs), scale: value.scale,
    layers: value.layers.map((l) => ({ w: float32s(l.w), b: float32s(l.b), rows: l.rows, cols: l.cols })),
  };
}

/** ε̂_θ(x, t) for the 0-based index t: [x, y, sin(f t'), cos(f t')] through Linear → SiLU layers. */
function mlpEps(net, x, y, index) {
  const half = net.freqs.length, tScaled = f32(index * net.scale);
  let h = new Float64Array(2 + 2 * half);
  h[0] = f32(x); h[1] = f32(y);
  for (let j = 0; j < half; j++) {
    const arg = f32(tScaled * net.freqs[j]);
    h[2 + j] = Math.sin(arg);
    h[2 + half + j] = Math.cos(arg);
  }
  const last = net.layers.length - 1;
  net.layers.forEach((layer, i) => {
    const out = new Float64Array(layer.rows);
    for (let r = 0; r < layer.rows; r++) {
      let s = layer.b[r];
      const row = r * layer.cols;
      for (let c = 0; c < layer.cols; c++) s += layer.w[row + c] * h[c];
      out[r] = i < last ? s / (1 + Math.exp(-s)) : s;
    }
    h = out;
  });
  return [h[0], h[1]];
}

// -- the samplers' steps (GaussianDiffusion.ddim_step and p_sample, ε-parameterisation, no clip) ---

/** One DDIM step from index t to tPrev (−1: x_0) with η, for a particle (x, y), its ε̂ and z. The
 * coefficients are float32 as torch computes them from the float32 tables; x̂_0 and the rest float64. */
function ddimStep(x, y, eps, t, tPrev, eta, z) {
  const at = alphasCumprod[t], ap = tPrev >= 0 ? alphasCumprod[tPrev] : 1;
  const x0 = [sqrtRecip[t] * x - sqrtRecipm1[t] * eps[0], sqrtRecip[t] * y - sqrtRecipm1[t] * eps[1]];
  const noise = [(sqrtRecip[t] * x - x0[0]) / sqrtRecipm1[t], (sqrtRecip[t] * y - x0[1]) / sqrtRecipm1[t]];
  const sigma = f32(f32(eta) * f32(Math.sqrt(f32(f32(f32(1 - ap) / f32(1 - at)) * f32(1 - f32(at / ap))))));
  const c = f32(Math.sqrt(Math.max(0, f32(f32(1 - ap) - f32(sigma * sigma)))));
  const root = f32(Math.sqrt(ap));
  let nx = root * x0[0] + c * noise[0], ny = root * x0[1] + c * noise[1];
  if (eta !== 0 && tPrev + 1 !== 0) { nx += sigma * z[0]; ny += sigma * z[1]; }
  return [nx, ny];
}

/** One ancestral step x_{t−1} = μ_θ + √β̃_t z from index t (Algorithm 2, σ² = β̃_t). */
function ancestralStep(x, y, eps, t, z) {
  const x0 = [sqrtRecip[t] * x - sqrtRecipm1[t] * eps[0], sqrtRecip[t] * y - sqrtRecipm1[t] * eps[1]];
  let nx = coef1[t] * x0[0] + coef2[t] * x, ny = coef1[t] * x0[1] + coef2[t] * y;
  if (t !== 0) {
    const std = f32(Math.sqrt(posteriorVariance[t]));
    nx += std * z[0]; ny += std * z[1];
  }
  return [nx, ny];
}

/** ddpm.sampling.ddim_timesteps: `steps` indices from tStart down to 0 (torch.linspace, rounded
 * half to even). */
function ddimTimesteps(tStart, steps) {
  if (steps === 1) return [tStart];
  const step = (0 - tStart) / (steps - 1), half = Math.floor(steps / 2), out = [];
  for (let i = 0; i < steps; i++) {
    const v = i < half ? tStart + step * i : 0 - step * (steps - 1 - i);
    out.push(roundHalfEven(v));
  }
  return out;
}

/** A seeded N(0, 1) stream (mulberry32 and Box–Muller): the page's own noise for SDE draws. */
function normals(seed) {
  let a = seed >>> 0, spare = null;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    const u = 1 - uniform(), v = uniform(), radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

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

/** ½ ∫ |a − b| over the square of half-width `half` around `centre` (a 120 × 120 midpoint rule). */
function totalVariation(a, b, centre, half, n = 120) {
  const { xs, ys } = gridCentres(n, half, centre[0], centre[1]);
  const p = densityOnGrid(a, xs, ys), q = densityOnGrid(b, xs, ys), cell = (2 * half) / n;
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += Math.abs(p[i] - q[i]);
  return 0.5 * sum * cell * cell;
}

// -- particles: one start point's ODE and SDE paths, and a cloud ------------------------------------

const SDE_DRAWS = 5, CLOUD = 500, CLOUD_STEPS = 100, ODE_STEPS = 100, TRAIL = 60;

/** The field as ε̂(x, y, index): exact (ε̂*) or learned (the MLP); null without a network. */
function fieldOf(kind, data) {
  if (kind === "learned") return state.net ? (x, y, index) => mlpEps(state.net, x, y, index) : null;
  const cache = new Map();
  return (x, y, index) => {
    let m = cache.get(index);
    if (!m) { m = marginal(data, alphasCumprod[index]); cache.set(index, m); }
    return exactEps(m, alphasCumprod[index], x, y);
  };
}

/** A sampler's timesteps from index tStart: every one (ancestral) or `steps` of DDIM. */
function schedule(tStart, sampler, steps) {
  return sampler === "ancestral" ? ddimTimesteps(tStart, tStart + 1) : ddimTimesteps(tStart, Math.min(steps, tStart + 1));
}

/** Step k of a sampler along `times` for a particle (x, y): the next [x, y]. */
function advance(field, x, y, times, k, sampler, eta, normal) {
  const t = times[k], tPrev = k + 1 < times.length ? times[k + 1] : -1;
  const eps = field(x, y, t), z = [normal(), normal()];
  return sampler === "ancestral" ? ancestralStep(x, y, eps, t, z) : ddimStep(x, y, eps, t, tPrev, eta, z);
}

/** A whole path [[x, y], …] from (x, y) at index tStart. */
function path(field, x, y, tStart, sampler, eta, steps, normal) {
  const times = schedule(tStart, sampler, steps), points = [[x, y]];
  for (let k = 0; k < times.length; k++) points.push([x, y] = advance(field, x, y, times, k, sampler, eta, normal));
  return points;
}

/** Click: from (x, y) at the slider's t, the ODE path and SDE_DRAWS ancestral paths on each field
 * (computed at once: a few thousand steps), then played over two seconds. */
function launch(x, y) {
  const data = currentData();
  if (data === null || state.t === 0) return;
  const tStart = state.t - 1, seed = state.seed++;
  const runs = {};
  for (const kind of ["exact", "learned"]) {
    const field = fieldOf(kind, data), normal = normals(seed); // the same draws on both fields
    runs[kind] = field && {
      ode: path(field, x, y, tStart, "ddim", 0, ODE_STEPS, normal),
      sde: Array.from({ length: SDE_DRAWS }, () => path(field, x, y, tStart, "ancestral", 1, 0, normal)),
    };
  }
  play({ kind: "launch", start: [x, y], t: state.t, runs, progress: 0 });
}

/** A cloud of CLOUD particles from N(0, I) at T, DDIM with the η slider's value in CLOUD_STEPS
 * steps on each field, integrated a few steps per animation frame (the page stays responsive). */
function releaseCloud() {
  const data = currentData();
  if (data === null) return;
  const seed = state.seed++, start = normals(seed), times = schedule(T - 1, "ddim", CLOUD_STEPS);
  const particles = Array.from({ length: CLOUD }, () => [start(), start()]);
  const runs = {};
  for (const kind of ["exact", "learned"]) {
    const field = fieldOf(kind, data);
    runs[kind] = field && { field, normal: normals(seed + 1), paths: particles.map((p) => [p]) };
  }
  play({ kind: "cloud", eta: state.eta, times, runs, step: 0 });
}

/** Animate a launch (played over 2 s) or a cloud (integrated as it plays), one frame at a time. */
function play(sim) {
  cancelAnimationFrame(state.animation);
  state.sim = sim;
  const begin = performance.now();
  const frame = (now) => {
    if (state.sim !== sim) return;
    let more;
    if (sim.kind === "launch") {
      sim.progress = Math.min(1, Math.max(0, (now - begin) / 2000)); // a frame's time may precede begin
      more = sim.progress < 1;
    } else {
      const until = Math.min(sim.times.length, sim.step + 2); // two steps of every particle a frame
      for (; sim.step < until; sim.step++) {
        for (const run of Object.values(sim.runs)) {
          if (!run) continue;
          for (const p of run.paths) {
            const [x, y] = p.at(-1);
            p.push(advance(run.field, x, y, sim.times, sim.step, "ddim", sim.eta, run.normal));
          }
        }
      }
      more = sim.step < sim.times.length;
    }
    drawParticles();
    root.dataset.particles = more ? "running" : "done";
    if (more) state.animation = requestAnimationFrame(frame);
  };
  root.dataset.particles = "running";
  state.animation = requestAnimationFrame(frame);
}

function drawParticles() {
  const data = currentData(), sim = state.sim;
  for (const kind of ["exact", "learned"]) {
    const { ctx, w, h } = context(canvases[kind]), v = view(w, h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (data) drawData(ctx, v, data, "rgba(8, 48, 107, 0.35)", 1.4);
    label(ctx, kind === "exact" ? "exact field ε̂*" : "learned field ε̂θ", 8, 8);
    if (kind === "learned" && !state.net) {
      label(ctx, "No network yet:", 8, 12 + textSize(), "#555");
      label(ctx, "train one on the points.", 8, 16 + 2 * textSize(), "#555");
      continue;
    }
    const run = sim && sim.runs[kind];
    if (!run) continue;
    const line = (points, n, color, width) => {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
      ctx.moveTo(v.px(points[0][0]), v.py(points[0][1]));
      for (let i = 1; i <= n; i++) ctx.lineTo(v.px(points[i][0]), v.py(points[i][1]));
      ctx.stroke();
      return points[n];
    };
    if (sim.kind === "launch") {
      for (const p of run.sde) {
        const end = line(p, Math.round(sim.progress * (p.length - 1)), "rgba(217, 95, 2, 0.75)", 1.1);
        dot(ctx, v.px(end[0]), v.py(end[1]), 3, "#d95f02");
      }
      const end = line(run.ode, Math.round(sim.progress * (run.ode.length - 1)), "#1b1b1b", 2.4);
      dot(ctx, v.px(end[0]), v.py(end[1]), 4, "#1b1b1b");
      dot(ctx, v.px(sim.start[0]), v.py(sim.start[1]), 5, "#7b3294");
    } else {
      for (const p of run.paths.slice(0, TRAIL)) line(p, p.length - 1, "rgba(120, 120, 120, 0.25)", 0.7);
      for (const p of run.paths) { const [x, y] = p.at(-1); dot(ctx, v.px(x), v.py(y), 1.6, "#d95f02"); }
    }
  }
  const caption = $(".particles-text");
  if (sim && sim.kind === "launch") {
    caption.textContent = `From the purple point at t = ${sim.t}: the ODE (DDIM, η = 0, ${ODE_STEPS} steps at most, black) and ${SDE_DRAWS} SDE draws (ancestral, every step, orange).`;
  } else if (sim) {
    caption.textContent = `${CLOUD} particles from N(0, I): DDIM with η = ${sim.eta.toFixed(2)}, step ${sim.step} of ${sim.times.length}; grey: ${TRAIL} of their paths.`;
  } else {
    caption.textContent = "Pick “launch particles” and click the plane, or release a cloud.";
  }
}

// -- the learned field's error over t, and the training ----------------------------------------------

function drawError() {
  const { ctx, w, h } = context(canvases.error);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  const error = state.error;
  if (!error) { label(ctx, "E‖ε̂θ − ε̂*‖² over t: no network yet.", 8, 8, "#555"); return; }
  const ts = error.ts, values = error.values.map((e) => Math.log10(Math.max(e, 1e-6)));
  const low = Math.floor(Math.min(...values)), high = Math.ceil(Math.max(...values));
  const size = textSize(), left = 3.6 * size, bottom = h - 8, top = 1.6 * size, right = w - 8;
  const px = (t) => left + ((right - left) * t) / T, py = (u) => bottom - ((bottom - top) * (u - low)) / Math.max(1, high - low);
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1; ctx.strokeRect(left, top, right - left, bottom - top);
  for (let u = low; u <= high; u++) label(ctx, `1e${u}`, left - 4, py(u) - size / 2, "#444", "right");
  ctx.strokeStyle = LEARNED_COLOR; ctx.lineWidth = 2; ctx.beginPath();
  ts.forEach((t, i) => (i ? ctx.lineTo(px(t), py(values[i])) : ctx.moveTo(px(t), py(values[i]))));
  ctx.stroke();
  ctx.strokeStyle = "#c81414"; ctx.beginPath(); ctx.moveTo(px(state.t), top); ctx.lineTo(px(state.t), bottom); ctx.stroke();
  label(ctx, "E‖ε̂θ − ε̂*‖² where the data are, over t (0 … T)", left, 4);
}

function drawTraining() {
  const box = $(".training"), training = state.training;
  box.hidden = !training;
  if (!training) return;
  $(".training progress").max = training.total;
  $(".training progress").value = training.step;
  $(".training-text").textContent = training.step < training.total && !training.done
    ? `Training: step ${training.step} of ${training.total}, loss ${training.losses.at(-1)?.toFixed(4) ?? "…"}`
    : `Trained: ${training.step} steps in ${training.seconds.toFixed(1)} s, final loss ${training.losses.at(-1)?.toFixed(4)}.`;
  const { ctx, w, h } = context(canvases.loss);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  const losses = training.losses;
  if (losses.length < 2) return;
  const high = Math.max(...losses), low = Math.min(...losses), span = Math.max(1e-9, high - low);
  ctx.strokeStyle = "#1f4e9c"; ctx.lineWidth = 2; ctx.beginPath();
  losses.forEach((l, i) => {
    const x = 64 + ((w - 72) * i) / Math.max(1, training.total / training.every - 1), y = h - 20 - ((h - 40) * (l - low)) / span;
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
  label(ctx, high.toFixed(3), 58, 10, "#444", "right");
  label(ctx, low.toFixed(3), 58, h - 12 - textSize(), "#444", "right");
}

// -- everything -----------------------------------------------------------------------------------

function redraw() {
  drawPlane();
  drawStep();
  drawError();
  drawParticles();
  root.dataset.t = String(state.t);
}

/** Same points, in the same order? */
function samePoints(a, b) {
  return a.length === b.length && a.every((p, i) => p[0] === b[i][0] && p[1] === b[i][1]);
}

/**
 * A new value: a preset (its data, network and error curve), "drawn" (the page's own points, with
 * the network last trained on them, if any), or a training's report on drawn points. A report is
 * for the points it was asked for: if the student has drawn since, its network is not used (the
 * page's points are never replaced by the server's, except on a page that has none yet); one that
 * arrives while a preset is on screen does not switch the view back.
 */
function load(value) {
  if (!value) return;
  if (value.training && state.name && state.name !== "drawn") {
    // a training's late report while a preset is on screen: keep its network for the drawn points,
    // leave the view alone
    if (value.network && value.points && samePoints(value.points, state.drawn)) {
      state.drawnWorld = { net: network(value.network), error: value.error ?? null };
    }
    return;
  }
  state.name = value.name;
  state.data = value.name === "drawn" ? null : mixture(value);
  if (value.name === "drawn") {
    if (value.points && state.drawn.length === 0) state.drawn = value.points.map((p) => [p[0], p[1]]);
    const current = !value.points || samePoints(value.points, state.drawn);
    if (value.network && current) state.drawnWorld = { net: network(value.network), error: value.error ?? null };
    state.net = state.drawnWorld ? state.drawnWorld.net : null;
    state.error = state.drawnWorld ? state.drawnWorld.error : null;
    state.training = current ? value.training ?? null : null;
  } else {
    state.net = network(value.network);
    state.error = value.error ?? null;
    state.training = null;
  }
  cancelAnimationFrame(state.animation);
  state.sim = null;
  root.classList.toggle("drawn", value.name === "drawn");
  root.dataset.data = value.name;
  drawTraining();
  redraw();
}

function setT(value) {
  const t = Math.min(T, Math.max(0, Math.round(Number(value))));
  if (!Number.isFinite(t) || t === state.t) return;
  state.t = t;
  drawPlane();
  drawStep();
  drawError();
  root.dataset.t = String(t);
}

// pointer on the plane: drag x_t, launch, or draw
function planePoint(event) {
  const rect = canvases.plane.getBoundingClientRect(), v = view(rect.width, rect.height);
  const [x, y] = v.fromPx(event.clientX - rect.left, event.clientY - rect.top);
  return [Math.max(-EXTENT, Math.min(EXTENT, x)), Math.max(-EXTENT, Math.min(EXTENT, y))];
}
let dragging = false;
canvases.plane.addEventListener("pointerdown", (event) => {
  const p = planePoint(event);
  canvases.plane.setPointerCapture(event.pointerId);
  dragging = true;
  if (state.mode === "explore") { state.xt = p; drawPlane(); drawStep(); }
  else if (state.mode === "launch") launch(...p);
  else if (state.mode === "draw") addPoint(p, 0);
});
canvases.plane.addEventListener("pointermove", (event) => {
  if (!dragging) return;
  const p = planePoint(event);
  if (state.mode === "explore") { state.xt = p; drawPlane(); drawStep(); }
  else if (state.mode === "draw") addPoint(p, 0.08);
});
canvases.plane.addEventListener("pointerup", () => { dragging = false; });

function addPoint(p, spacing) {
  if (state.name !== "drawn") return;
  const last = state.drawn.at(-1);
  if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < spacing) return;
  if (state.drawn.length >= tables.max_points) return;
  state.drawn.push(p);
  forgetNetwork();
}

for (const input of root.querySelectorAll("input[name=mode]")) input.addEventListener("change", () => { state.mode = input.value; drawPlane(); });
for (const input of root.querySelectorAll("input[name=arrows]")) input.addEventListener("change", () => { state.arrows = input.value; drawPlane(); });
$("input.learned").addEventListener("change", (event) => { state.learned = event.target.checked; drawPlane(); });
$("input.delta").addEventListener("input", (event) => {
  state.delta = Number(event.target.value);
  $(".delta-value").textContent = String(state.delta);
  drawStep();
});
$("input.eta").addEventListener("input", (event) => {
  state.eta = Number(event.target.value);
  $(".eta-value").textContent = state.eta.toFixed(2);
});
$("button.cloud").addEventListener("click", releaseCloud);
$("button.clear").addEventListener("click", () => { state.drawn = []; forgetNetwork(); });

/** New drawn points: the network (trained on the old ones) and running particles no longer apply. */
function forgetNetwork() {
  state.drawnWorld = null;
  state.net = null;
  state.error = null;
  state.training = null;
  cancelAnimationFrame(state.animation);
  state.sim = null;
  drawTraining();
  redraw();
}

function slider() {
  return document.querySelector(`#${props.slider} input[type=range]`);
}
function onInput(event) {
  if (!root.isConnected) { document.removeEventListener("input", onInput, true); return; }
  if (event.target !== slider()) return;
  setT(event.target.value);
}
document.addEventListener("input", onInput, true);
new ResizeObserver(() => redraw()).observe(canvases.plane);

// for the slider's change listener (a link), the Train button (the drawn points) and the browser test
root.show = setT;
root.points = () => state.drawn.map(([x, y]) => [x, y]);
root.api = { alphaBar, marginal, marginalMixture, densityOnGrid, gridCentres, totalVariation, evaluate, exactEps, reverseStep, moments, network, mlpEps, ddimStep,
             ancestralStep, ddimTimesteps, mixture, pointSet, launch, releaseCloud, load, state };
watch("value", () => load(props.value));
load(props.value);
whenMounted(slider, (s) => setT(s?.value ?? 0));
