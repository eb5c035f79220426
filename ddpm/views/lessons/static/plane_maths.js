// The 2-D world's maths (ddpm.views.lessons.plane_player): every density, score, posterior, reverse
// step, sampler step and network pass of ddpm.toy, in float64 from the core's float32 tables and
// weights, with the core's names. No drawing and no page: plane_draw.js, plane_panels.js and
// plane_controls.js, which follow this file in the player's script, draw with these functions and
// hand them to the browser tests (root.api), which pin each one to ddpm.toy.
// props.tables: the schedule (plane_player.plane_tables).

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

/** ½ ∫ |a − b| over the square of half-width `half` around `centre` (a 120 × 120 midpoint rule). */
function totalVariation(a, b, centre, half, n = 120) {
  const { xs, ys } = gridCentres(n, half, centre[0], centre[1]);
  const p = densityOnGrid(a, xs, ys), q = densityOnGrid(b, xs, ys), cell = (2 * half) / n;
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += Math.abs(p[i] - q[i]);
  return 0.5 * sum * cell * cell;
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

// -- the samplers' paths: a particle's steps on the exact or the learned field ---------------------

/** The field as ε̂(x, y, index): exact (ε̂* of the data) or learned (the MLP `net`); null without a network. */
function fieldOf(kind, data, net) {
  if (kind === "learned") return net ? (x, y, index) => mlpEps(net, x, y, index) : null;
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
