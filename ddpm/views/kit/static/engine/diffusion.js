/**
 * The step rules of `ddpm.diffusion.GaussianDiffusion` (ddpm/diffusion.py) on flat float32 arrays,
 * operation by operation, pinned to the core by tests/engine/test_diffusion_js.py.
 *
 * Ported: `q_sample` (Ho et al. 2020, eq. 4); `q_posterior_mean_variance` (eqs. 6–7); the
 * parameterizations ε, x_0 and v (`predict_start_from_noise`, `predict_noise_from_start`,
 * `predict_start_from_v`, `predict_noise_from_v`, `predictions` with its clipping of x̂_0);
 * `split_output` and `learned_log_variance` (Nichol & Dhariwal 2021, eq. 15); `p_mean_variance`
 * (μ_θ = μ̃_t(x̂_0, x_t): eq. 11 for an unclipped ε); `p_sample` (Algorithm 2, no noise at index 0);
 * `q_posterior_sample`; `ddim_step` (Song et al. 2021, eq. 12); `dpm_solver_step` (DPM-Solver++(2M),
 * Lu et al. 2022, Algorithm 2); `vb_terms_bpd` (eq. 5, with losses.js).
 *
 * Layout: a batch [B, C, H, W] is one Float32Array of B·C·H·W values (row-major) with B passed
 * beside it; a per-image quantity ([B, 1, 1, 1] in the core) is a Float32Array [B]. A timestep is the
 * core's 0-based index (index 0 is the paper's t = 1): one number for the batch, or one per image.
 * The tables are the core's float32 numbers (`GaussianDiffusion.step_tables()`), never recomputed.
 *
 * Float32 rule: torch rounds the result of every tensor operation to float32, so each +, −, ×, ÷
 * and √ here is computed in double and rounded with Math.fround, in torch's order (`a * x + b * y`
 * is three roundings, never fused; a Python scalar is rounded to a float32 operand first;
 * `extract(table, t)` reads a float32 value). For +, −, × and ÷ that is torch's result bit for bit
 * (double rounding is exact for them on float32 operands). √, exp and log are the correctly
 * rounded results; torch's float32 versions are not always (measured with torch 2.14 on a CPU:
 * its √ rounds down the 0.6% of arguments whose root lies within 0.05 ulp of a rounding midpoint,
 * its exp misses by one ulp on about 1%), so a value that passes through them may differ by one
 * ulp, ~6e-8 relative. dpm_solver_step works in float64, as the core does, and rounds its sample
 * once (Math.log and Math.expm1 may differ from torch's in a double's last bit, far below float32).
 */

import { discretized_gaussian_log_likelihood, mean_flat, normal_kl } from "./losses.js";

const f = Math.fround;

export const STEP_TABLES = [
  "alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
  "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
  "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
  "large_variance", "large_log_variance", "log_betas",
]; // ddpm.diffusion.STEP_TABLES
export const PARAMETERIZATIONS = ["eps", "x0", "v"];
export const VARIANCES = ["fixed_small", "fixed_large", "learned_range"];

/** ddpm.choices.check_choice: an Error naming the value and the allowed ones. */
export function check_choice(what, value, allowed) {
  if (!allowed.includes(value)) {
    throw new Error(`unknown ${what} ${JSON.stringify(value)}; allowed: ${allowed.join(", ")}`);
  }
}

/** A table as a Float32Array: from a list of numbers, a typed array, or base64 of little-endian
 * float32 (what ddpm.views.kit.inpage.base64_array writes). */
export function float32_table(value) {
  if (typeof value === "string") {
    const binary = atob(value);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  return Float32Array.from(value);
}

/** One value per image, broadcast against a flat batch of `n` values: per-image [B] or per-pixel [n]. */
function broadcast(values, n, batch) {
  const per = n / batch;
  return values.length === n ? (i) => values[i] : (i) => values[(i / per) | 0];
}

/** The elementwise map `out[i] = fn(i, image)` over a flat batch of n values, B images. */
function map(n, batch, fn) {
  const per = n / batch;
  const out = new Float32Array(n);
  for (let b = 0, i = 0; b < batch; b++) for (let j = 0; j < per; j++, i++) out[i] = fn(i, b);
  return out;
}

export class GaussianDiffusion {
  /** `tables`: the core's `GaussianDiffusion.step_tables()` (lists, typed arrays or base64). */
  constructor(tables) {
    for (const name of STEP_TABLES) {
      if (!(name in tables)) throw new Error(`the tables lack ${name}: give GaussianDiffusion.step_tables()`);
      this[name] = float32_table(tables[name]);
    }
    this.num_timesteps = this.alphas_cumprod.length;
    for (const name of STEP_TABLES) {
      if (this[name].length !== this.num_timesteps) {
        throw new Error(`table ${name} has ${this[name].length} values, alphas_cumprod ${this.num_timesteps}`);
      }
    }
  }

  /** check_t: the indices of a batch as an Int32Array [B] (a number is broadcast), each in [0, T − 1]. */
  check_t(t, batch) {
    const given = typeof t === "number" ? new Array(batch).fill(t) : Array.from(t);
    if (given.length !== batch) throw new Error(`t has ${given.length} entries but the batch has ${batch} images`);
    for (const index of given) {
      if (!Number.isInteger(index) || index < 0 || index >= this.num_timesteps) {
        throw new Error(`timestep index ${index} is out of range [0, ${this.num_timesteps - 1}] ` +
          "(0-based: index 0 is the paper's t = 1)");
      }
    }
    return Int32Array.from(given);
  }

  /** extract(table, t): table[t] per image, Float32Array [B]. */
  extract(table, t, batch) {
    const rows = this.check_t(t, batch);
    return Float32Array.from(rows, (index) => table[index]);
  }

  // -- forward process q ------------------------------------------------------------------------

  /** x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4). */
  q_sample(x0, t, noise, batch) {
    same_length({ x0, noise });
    const a = this.extract(this.sqrt_alphas_cumprod, t, batch);
    const s = this.extract(this.sqrt_one_minus_alphas_cumprod, t, batch);
    return map(x0.length, batch, (i, b) => f(f(a[b] * x0[i]) + f(s[b] * noise[i])));
  }

  /** q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) (eqs. 6–7): {mean [n], variance [B], log_variance [B]}. */
  q_posterior_mean_variance(x0, x_t, t, batch) {
    same_length({ x0, x_t });
    const c1 = this.extract(this.posterior_mean_coef1, t, batch);
    const c2 = this.extract(this.posterior_mean_coef2, t, batch);
    return {
      mean: map(x_t.length, batch, (i, b) => f(f(c1[b] * x0[i]) + f(c2[b] * x_t[i]))),
      variance: this.extract(this.posterior_variance, t, batch),
      log_variance: this.extract(this.posterior_log_variance_clipped, t, batch),
    };
  }

  // -- parameterizations: ε, x_0 and v ----------------------------------------------------------

  /** x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t, as √(1/ᾱ_t) x_t − √(1/ᾱ_t − 1) ε. */
  predict_start_from_noise(x_t, t, noise, batch) {
    const a = this.extract(this.sqrt_recip_alphas_cumprod, t, batch);
    const m = this.extract(this.sqrt_recipm1_alphas_cumprod, t, batch);
    return map(x_t.length, batch, (i, b) => f(f(a[b] * x_t[i]) - f(m[b] * noise[i])));
  }

  /** ε̂ = (√(1/ᾱ_t) x_t − x_0) / √(1/ᾱ_t − 1). */
  predict_noise_from_start(x_t, t, x0, batch) {
    const a = this.extract(this.sqrt_recip_alphas_cumprod, t, batch);
    const m = this.extract(this.sqrt_recipm1_alphas_cumprod, t, batch);
    return map(x_t.length, batch, (i, b) => f(f(f(a[b] * x_t[i]) - x0[i]) / m[b]));
  }

  /** x̂_0 = √ᾱ_t x_t − √(1 − ᾱ_t) v (Salimans & Ho 2022). */
  predict_start_from_v(x_t, t, v, batch) {
    const a = this.extract(this.sqrt_alphas_cumprod, t, batch);
    const s = this.extract(this.sqrt_one_minus_alphas_cumprod, t, batch);
    return map(x_t.length, batch, (i, b) => f(f(a[b] * x_t[i]) - f(s[b] * v[i])));
  }

  /** ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v. */
  predict_noise_from_v(x_t, t, v, batch) {
    const a = this.extract(this.sqrt_alphas_cumprod, t, batch);
    const s = this.extract(this.sqrt_one_minus_alphas_cumprod, t, batch);
    return map(x_t.length, batch, (i, b) => f(f(s[b] * x_t[i]) + f(a[b] * v[i])));
  }

  /** {pred_x0, pred_noise} implied by a model output; x̂_0 clipped to [−1, 1] when `clip_denoised`. */
  predictions(model_output, x_t, t, batch, parameterization = "eps", clip_denoised = true) {
    check_choice("parameterization", parameterization, PARAMETERIZATIONS);
    same_length({ x_t, model_output });
    let pred_x0, pred_noise;
    if (parameterization === "eps") {
      pred_noise = model_output;
      pred_x0 = this.predict_start_from_noise(x_t, t, model_output, batch);
    } else if (parameterization === "x0") {
      pred_x0 = model_output;
      pred_noise = this.predict_noise_from_start(x_t, t, model_output, batch);
    } else {
      pred_x0 = this.predict_start_from_v(x_t, t, model_output, batch);
      pred_noise = this.predict_noise_from_v(x_t, t, model_output, batch);
    }
    if (clip_denoised) pred_x0 = pred_x0.map((u) => Math.min(Math.max(u, -1), 1));
    return { pred_x0, pred_noise };
  }

  // -- learned reverse process p_θ --------------------------------------------------------------

  /** {prediction, values}: a 2C-channel output split per image, the prediction first; values only
   * for "learned_range" (else null: a fixed σ² ignores them). */
  static split_output(model_output, x_t, batch, variance = "fixed_small") {
    check_choice("variance", variance, VARIANCES);
    const carries_values = model_output.length === 2 * x_t.length;
    if (variance === "learned_range" && !carries_values) {
      throw new Error(`variance 'learned_range' needs a model output of 2C channels (prediction and ` +
        `variance): ${2 * x_t.length} values, got ${model_output.length}`);
    }
    if (!carries_values) return { prediction: model_output, values: null };
    const per = x_t.length / batch;
    const prediction = new Float32Array(x_t.length);
    const values = new Float32Array(x_t.length);
    for (let b = 0; b < batch; b++) {
      prediction.set(model_output.subarray(2 * b * per, (2 * b + 1) * per), b * per);
      values.set(model_output.subarray((2 * b + 1) * per, (2 * b + 2) * per), b * per);
    }
    return { prediction, values: variance === "learned_range" ? values : null };
  }

  /** log σ_t² = ((1 + v)/2) log β_t + ((1 − v)/2) log β̃_t (Nichol & Dhariwal 2021, eq. 15), per pixel. */
  learned_log_variance(values, t, batch) {
    const log_beta = this.extract(this.log_betas, t, batch);
    const log_tilde = this.extract(this.posterior_log_variance_clipped, t, batch);
    return map(values.length, batch, (i, b) => {
      const frac = f(f(values[i] + 1) / 2);
      return f(f(frac * log_beta[b]) + f(f(1 - frac) * log_tilde[b]));
    });
  }

  /** p_θ(x_{t−1} | x_t) = N(μ_θ, σ_t² I): {mean, variance, log_variance, pred_x0, pred_noise};
   * the variances are per image [B] (fixed) or per pixel [n] ("learned_range"). */
  p_mean_variance(model_output, x_t, t, batch, { parameterization = "eps", variance = "fixed_small",
    clip_denoised = true } = {}) {
    const { prediction, values } = GaussianDiffusion.split_output(model_output, x_t, batch, variance);
    const { pred_x0, pred_noise } = this.predictions(prediction, x_t, t, batch, parameterization, clip_denoised);
    const mean = this.q_posterior_mean_variance(pred_x0, x_t, t, batch).mean;
    if (values !== null) {
      const log_variance = this.learned_log_variance(values, t, batch);
      return { mean, variance: log_variance.map(Math.exp), log_variance, pred_x0, pred_noise };
    }
    const [v, log_v] = variance === "fixed_small"
      ? [this.posterior_variance, this.posterior_log_variance_clipped]
      : [this.large_variance, this.large_log_variance];
    return {
      mean, variance: this.extract(v, t, batch), log_variance: this.extract(log_v, t, batch), pred_x0, pred_noise,
    };
  }

  /** mean + std · z, with no noise for the images at index t = 0; z is drawn with `randn(n)` only
   * if none is given and some image needs it (the core's _add_noise). */
  static _add_noise(mean, std, t, batch, z, randn) {
    const nonzero = Float32Array.from(t, (index) => (index !== 0 ? 1 : 0));
    if (z === null || z === undefined) {
      if (!nonzero.some((u) => u)) return mean;
      if (!randn) throw new Error("this step adds noise: give z or randn");
      z = randn(mean.length);
    }
    if (z.length !== mean.length) throw new Error(`z has ${z.length} values but the sample has ${mean.length}`);
    const s = broadcast(std, mean.length, batch);
    return map(mean.length, batch, (i, b) => f(mean[i] + f(f(nonzero[b] * s(i)) * z[i])));
  }

  /** One ancestral step x_{t−1} = μ_θ + σ_t z (Algorithm 2); no noise at index 0.
   * Returns the core's StepOutput {sample, mean, variance, pred_x0, pred_noise}. */
  p_sample(model_output, x_t, t, batch, { parameterization = "eps", variance = "fixed_small",
    clip_denoised = true, z = null, randn = null } = {}) {
    const rows = this.check_t(t, batch);
    const out = this.p_mean_variance(model_output, x_t, rows, batch, { parameterization, variance, clip_denoised });
    const std = out.variance.map(Math.sqrt);
    const sample = GaussianDiffusion._add_noise(out.mean, std, rows, batch, z, randn);
    return { sample, mean: out.mean, variance: out.variance, pred_x0: out.pred_x0, pred_noise: out.pred_noise };
  }

  /** One exact reverse step x_{t−1} = μ̃_t + √β̃_t z, which knows x_0; pred_noise is the true ε. */
  q_posterior_sample(x0, x_t, t, batch, { z = null, randn = null } = {}) {
    const rows = this.check_t(t, batch);
    const post = this.q_posterior_mean_variance(x0, x_t, rows, batch);
    const sample = GaussianDiffusion._add_noise(post.mean, post.variance.map(Math.sqrt), rows, batch, z, randn);
    return {
      sample, mean: post.mean, variance: post.variance, pred_x0: x0,
      pred_noise: this.predict_noise_from_start(x_t, rows, x0, batch),
    };
  }

  /** (t, t_prev) as Int32Arrays [B] for a jump to an earlier t_prev ≥ −1. */
  _check_jump(t, t_prev, batch) {
    const rows = this.check_t(t, batch);
    const prev = typeof t_prev === "number" ? new Int32Array(batch).fill(t_prev) : Int32Array.from(t_prev);
    if (prev.length !== batch || prev.some((p, b) => p >= rows[b] || p < -1)) {
      throw new Error(`t_prev must satisfy -1 ≤ t_prev < t, got t_prev=${[...prev]}, t=${[...rows]}`);
    }
    return [rows, prev];
  }

  /** One DDIM step from index t to an earlier t_prev (Song et al. 2021, eq. 12):
   * x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z, σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev);
   * t_prev = −1 is x_0. ε̂ from the clipped x̂_0; a learned variance's channels are ignored. */
  ddim_step(model_output, x_t, t, t_prev, batch, { eta = 0, parameterization = "eps", clip_denoised = true,
    z = null, randn = null } = {}) {
    const { prediction } = GaussianDiffusion.split_output(model_output, x_t, batch);
    if (!(eta >= 0 && eta <= 1)) throw new Error(`eta must be in [0, 1], got ${eta}`);
    const [rows, prev] = this._check_jump(t, t_prev, batch);
    const { pred_x0 } = this.predictions(prediction, x_t, rows, batch, parameterization, clip_denoised);
    const pred_noise = this.predict_noise_from_start(x_t, rows, pred_x0, batch);
    const sigma = new Float32Array(batch);
    const root_prev = new Float32Array(batch);
    const root_rest = new Float32Array(batch);
    for (let b = 0; b < batch; b++) {
      const a_t = this.alphas_cumprod[rows[b]];
      const a_prev = prev[b] >= 0 ? this.alphas_cumprod[prev[b]] : 1;
      const ratio = f(f(1 - a_prev) / f(1 - a_t));
      sigma[b] = f(f(eta) * f(Math.sqrt(f(ratio * f(1 - f(a_t / a_prev))))));
      root_prev[b] = f(Math.sqrt(a_prev));
      root_rest[b] = f(Math.sqrt(Math.max(f(f(1 - a_prev) - f(sigma[b] * sigma[b])), 0)));
    }
    const mean = map(x_t.length, batch, (i, b) => f(f(root_prev[b] * pred_x0[i]) + f(root_rest[b] * pred_noise[i])));
    const sample = eta === 0
      ? mean
      : GaussianDiffusion._add_noise(mean, sigma, prev.map((p) => p + 1), batch, z, randn);
    return { sample, mean, variance: sigma.map((s) => s * s), pred_x0, pred_noise };
  }

  /** One DPM-Solver++(2M) step from index t to an earlier t_prev (Lu et al. 2022, Algorithm 2), in
   * float64: with α = √ᾱ, σ = √(1 − ᾱ), λ = log(α/σ), h = λ_prev − λ_t,
   * x_prev = (σ_prev/σ_t) x_t + α_prev (1 − e^{−h}) D; D = x̂_0(t), or with `previous` = {pred_x0, t}
   * of the step before (at s > t) D = (1 + 1/(2r)) x̂_0(t) − 1/(2r) x̂_0(s), r = (λ_t − λ_s)/h.
   * Into x_0 (t_prev = −1) x_prev = x̂_0(t). Deterministic: variance 0. */
  dpm_solver_step(model_output, x_t, t, t_prev, batch, { previous = null, parameterization = "eps",
    clip_denoised = true } = {}) {
    const { prediction } = GaussianDiffusion.split_output(model_output, x_t, batch);
    const [rows, prev] = this._check_jump(t, t_prev, batch);
    const { pred_x0 } = this.predictions(prediction, x_t, rows, batch, parameterization, clip_denoised);
    const pred_noise = this.predict_noise_from_start(x_t, rows, pred_x0, batch);
    const lambda = (a) => 0.5 * (Math.log(a) - Math.log(1 - a));
    let s = null;
    if (previous !== null) {
      s = this.check_t(previous.t, batch);
      if (s.some((index, b) => index <= rows[b])) {
        throw new Error(`the previous step's index must be above t, got ${[...s]} and ${[...rows]}`);
      }
    }
    const terms = Array.from(rows, (index, b) => {
      const a_t = this.alphas_cumprod[index];
      const a_prev = this.alphas_cumprod[Math.max(prev[b], 0)];
      const lam_t = lambda(a_t);
      const h = lambda(a_prev) - lam_t;
      const r = s === null ? null : (lam_t - lambda(this.alphas_cumprod[s[b]])) / h;
      return {
        ratio: Math.sqrt((1 - a_prev) / (1 - a_t)), scale: Math.sqrt(a_prev) * -Math.expm1(-h),
        now: r === null ? 1 : 1 + 0.5 / r, before: r === null ? 0 : 0.5 / r, to_x0: prev[b] < 0,
      };
    });
    const sample = map(x_t.length, batch, (i, b) => {
      const k = terms[b];
      if (k.to_x0) return pred_x0[i];
      const data = s === null ? pred_x0[i] : k.now * pred_x0[i] - k.before * previous.pred_x0[i];
      return k.ratio * x_t[i] + k.scale * data;
    });
    return { sample, mean: sample, variance: new Float32Array(batch), pred_x0, pred_noise };
  }

  // -- the variational bound --------------------------------------------------------------------

  /** One term of the bound (eq. 5) per image in bits/dim, Float32Array [B]: index t > 0 the KL of the
   * posterior to p_θ, index 0 the decoder's −log p_θ(x_0 | x_1) (losses.js). */
  vb_terms_bpd(model_output, x0, x_t, t, batch, { parameterization = "eps", variance = "fixed_small",
    clip_denoised = true } = {}) {
    const rows = this.check_t(t, batch);
    const q = this.q_posterior_mean_variance(x0, x_t, rows, batch);
    const p = this.p_mean_variance(model_output, x_t, rows, batch, { parameterization, variance, clip_denoised });
    const ln2 = f(Math.LN2);
    const kl = mean_flat(normal_kl(q.mean, q.log_variance, p.mean, p.log_variance, batch), batch);
    const log_scales = p.log_variance.map((u) => 0.5 * u);
    const ll = mean_flat(discretized_gaussian_log_likelihood(x0, p.mean, log_scales, batch), batch);
    return Float32Array.from(rows, (index, b) => (index === 0 ? f(-ll[b] / ln2) : f(kl[b] / ln2)));
  }
}

/** Same number of values in every named array (the core's _check_same_shape on flat arrays). */
function same_length(arrays) {
  const [[first, a], ...rest] = Object.entries(arrays);
  for (const [name, x] of rest) {
    if (x.length !== a.length) throw new Error(`${name} has ${x.length} values but ${first} has ${a.length}`);
  }
}
