/**
 * The reverse-process loops of ddpm/sampling.py as async generators, and ddpm/inference.py's
 * `sample_loop` (which loop a generation runs), pinned to the core by tests/engine/test_chains_js.py.
 *
 * Ported: `chain_loop` (the one driver), `p_sample_loop_progressive` (ancestral sampling, Ho et al.
 * 2020, Algorithm 2), `posterior_sample_loop_progressive` (the exact q(x_{t−1} | x_t, x_0), eqs. 6–7),
 * `ddim_sample_loop_progressive` (Song et al. 2021, eq. 12) on `ddim_timesteps`,
 * `dpm_solver_sample_loop_progressive` (DPM-Solver++(2M), Lu et al. 2022) on `dpm_solver_timesteps`,
 * `split_step`, `final_sample`, and inference's `network_steps` and `sample_loop`. The step rules
 * are diffusion.js's; layout and float32 rule as there (the loops add no arithmetic of their own).
 *
 * A network is `model(x, t, batch) -> Promise<Float32Array>` (x [B, C, H, W] flat, t the 0-based
 * index of the whole batch); `model.config` ({in_channels, image_size, parameterization, variance,
 * num_classes}) is read by sample_loop only. A step record has the core's SampleStep fields
 * {index, num_steps, t, t_prev, x_t, x_prev, pred_x0, pred_noise, mean, variance}; `variance` is per
 * image [B], or per pixel [n] for a learned σ².
 *
 * Matched noise, as in the core: every loop takes exactly one z of the sample's size per step that
 * adds noise (none for the step into x_0, none in DPM-Solver or DDIM with η = 0), after x_T when it
 * starts from pure noise, drawn with `randn(n) -> Float32Array` (the page's torch_random.js
 * generator) in the core's order; or step k takes `noise[k]`, as the core's pre-drawn `noise`
 * (draw_noise: an array of per-step arrays, or one flat Float32Array [S·n]).
 */

import { check_choice } from "./diffusion.js";
import { classifier_free_guidance, conditioned } from "./guidance.js";
import { round_half_even } from "./images.js"; // torch.round: halves to the even integer

export const SAMPLERS = ["ddpm", "ddim", "dpm-solver"]; // ddpm.choices
export const DEFAULT_SAMPLER = "dpm-solver";
export const DEFAULT_STEPS = 10;
export const DEFAULT_ETA = 0;

/** Step k's z of pre-drawn noise: an array of per-step Float32Arrays [n] or one flat Float32Array [S·n]. */
export function noise_at(noise, k, n) {
  return noise instanceof Float32Array ? noise.subarray(k * n, (k + 1) * n) : noise[k];
}

function noise_steps(noise, n) {
  return noise instanceof Float32Array ? noise.length / n : noise.length;
}

/** torch.linspace(start, end, steps) in float64, as torch's scalar loop computes it: from start
 * up to the middle, from end after it. */
function linspace(start, end, steps) {
  if (steps === 1) return [start];
  const step = (end - start) / (steps - 1);
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < halfway ? start + step * i : end - step * (steps - i - 1)));
}

/** `steps` indices evenly spaced from t_start down to 0 (both included), descending. */
export function ddim_timesteps(t_start, steps) {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= t_start + 1)) {
    throw new Error(`steps must be in [1, ${t_start + 1}], got ${steps}`);
  }
  if (steps === 1) return [t_start];
  return linspace(t_start, 0, steps).map(round_half_even);
}

/** `steps` indices evenly spaced from t_start down to, not including, 0 (descending). */
export function dpm_solver_timesteps(t_start, steps) {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= t_start)) {
    throw new Error(`steps must be in [1, ${t_start}], got ${steps}`);
  }
  return linspace(t_start, 0, steps + 1).map(round_half_even).slice(0, -1);
}

/** Run a reverse chain from x (B images) along `timesteps` (0-based, descending), one record per
 * step: step k awaits `step(x, t, t_prev, z)` (t_prev −1 after the last, z = noise[k] or null) and
 * feeds its `sample` to the next step. */
export async function* chain_loop(x, timesteps, batch, step, noise = null) {
  if (noise !== null) {
    const steps = noise_steps(noise, x.length);
    if (steps < timesteps.length) throw new Error(`noise has ${steps} steps but the loop takes ${timesteps.length}`);
    if (noise_at(noise, 0, x.length).length !== x.length) {
      throw new Error(`noise steps have ${noise_at(noise, 0, x.length).length} values, the sample has ${x.length}`);
    }
  }
  for (let index = 0; index < timesteps.length; index++) {
    const t = timesteps[index];
    const t_prev = index + 1 < timesteps.length ? timesteps[index + 1] : -1;
    const z = noise === null ? null : noise_at(noise, index, x.length);
    const out = await step(x, t, t_prev, z);
    yield {
      index, num_steps: timesteps.length, t, t_prev, x_t: x, x_prev: out.sample,
      pred_x0: out.pred_x0, pred_noise: out.pred_noise, mean: out.mean, variance: out.variance,
    };
    x = out.sample;
  }
}

/** The chain's first x and its index: x_t at t_start (default T − 1), or x_T ~ N(0, I) from randn. */
function start(diffusion, shape, x_t, t_start, randn) {
  const T = diffusion.num_timesteps;
  const n = shape.reduce((a, b) => a * b, 1);
  if (x_t === null || x_t === undefined) {
    if (t_start !== null && t_start !== undefined && t_start !== T - 1) {
      throw new Error(`starting from pure noise means t_start = ${T - 1}; got ${t_start} without x_t`);
    }
    if (!randn) throw new Error("give either randn (to start from pure noise) or x_t");
    return [randn(n), T - 1];
  }
  if (x_t.length !== n) throw new Error(`shape [${shape}] does not match x_t's ${x_t.length} values`);
  t_start = t_start ?? T - 1;
  diffusion.check_t(t_start, 1);
  return [x_t, t_start];
}

/** Ancestral sampling with p_θ from t_start (default T − 1; from x_T ~ N(0, I) without x_t) to x_0.
 * `shape` [B, C, H, W]. */
export async function* p_sample_loop_progressive(diffusion, model, shape, { x_t = null, t_start = null,
  parameterization = "eps", variance = "fixed_small", clip_denoised = true, randn = null, noise = null } = {}) {
  const batch = shape[0];
  const [x, first] = start(diffusion, shape, x_t, t_start, randn);
  const step = async (x, t, t_prev, z) => diffusion.p_sample(
    await model(x, t, batch), x, t, batch, { parameterization, variance, clip_denoised, z, randn });
  yield* chain_loop(x, range_down(first), batch, step, noise);
}

/** The exact reverse chain x_{s−1} ~ q(x_{s−1} | x_s, x_0) from x_t at index t (default T − 1) to x_0;
 * pred_x0 is x_0 and pred_noise the true ε. */
export async function* posterior_sample_loop_progressive(diffusion, x0, x_t, t, shape, { randn = null,
  noise = null } = {}) {
  if (x0.length !== x_t.length) throw new Error(`x0 has ${x0.length} values but x_t has ${x_t.length}`);
  const batch = shape[0];
  const [x, first] = start(diffusion, shape, x_t, t, randn);
  const step = async (x, s, s_prev, z) => diffusion.q_posterior_sample(x0, x, s, batch, { z, randn });
  yield* chain_loop(x, range_down(first), batch, step, noise);
}

/** DDIM on `steps` evenly spaced timesteps, then into x_0; η = 0 is deterministic. */
export async function* ddim_sample_loop_progressive(diffusion, model, shape, { steps = 50, eta = 0, x_t = null,
  t_start = null, parameterization = "eps", clip_denoised = true, randn = null, noise = null } = {}) {
  const batch = shape[0];
  const [x, first] = start(diffusion, shape, x_t, t_start, randn);
  const step = async (x, t, t_prev, z) => diffusion.ddim_step(
    await model(x, t, batch), x, t, t_prev, batch, { eta, parameterization, clip_denoised, z, randn });
  yield* chain_loop(x, ddim_timesteps(first, steps), batch, step, noise);
}

/** DPM-Solver++(2M) with `steps` network evaluations: second order from the second step on (the
 * last step's x̂_0 is kept), first order into x_0. The only draw is x_T, without x_t. */
export async function* dpm_solver_sample_loop_progressive(diffusion, model, shape, { steps = 20, x_t = null,
  t_start = null, parameterization = "eps", clip_denoised = true, randn = null } = {}) {
  const batch = shape[0];
  const [x, first] = start(diffusion, shape, x_t, t_start, randn);
  let previous = null; // {pred_x0, t} of the last step
  const step = async (x, t, t_prev) => {
    const out = diffusion.dpm_solver_step(
      await model(x, t, batch), x, t, t_prev, batch, { previous, parameterization, clip_denoised });
    previous = { pred_x0: out.pred_x0, t };
    return out;
  };
  yield* chain_loop(x, dpm_solver_timesteps(first, steps), batch, step);
}

function range_down(first) {
  return Array.from({ length: first + 1 }, (_, k) => first - k);
}

/** One record per batch of a chain run on concatenated batches of `sizes` images (total B). A
 * per-image variance [B] is cut by images, a per-pixel one by values. */
export function split_step(record, sizes) {
  const total = sizes.reduce((a, b) => a + b, 0);
  const cut = (array) => {
    const per = array.length / total;
    let at = 0;
    return sizes.map((size) => array.subarray(at * per, (at += size) * per));
  };
  const fields = ["x_t", "x_prev", "pred_x0", "pred_noise", "mean", "variance"];
  const parts = Object.fromEntries(fields.map((name) => [name, cut(record[name])]));
  return sizes.map((_, k) => ({ ...record, ...Object.fromEntries(fields.map((name) => [name, parts[name][k]])) }));
}

/** Run a progressive loop to the end and return its last x_prev (the sample x_0). */
export async function final_sample(steps) {
  let last = null;
  for await (const step of steps) last = step;
  if (last === null) throw new Error("the loop yielded no step");
  return last.x_prev;
}

/** The network evaluations of a chain of `sampler` asked for `steps` (null: the default). */
export function network_steps(sampler, steps, T) {
  check_choice("sampler", sampler, SAMPLERS);
  if (sampler === "ddpm") return T;
  return steps ?? DEFAULT_STEPS;
}

/** The progressive loop that generates n digits from pure noise (inference.sample_loop): "ddpm" all
 * T steps, "ddim" `steps` with η, "dpm-solver" `steps` (η must be 0); shape, parameterization and
 * the default variance from `model.config`; with `labels` (Int32Array [n]) a class-conditional
 * model is guided with weight `guidance` (0: told the class only). */
export function sample_loop(model, diffusion, n, { sampler = DEFAULT_SAMPLER, steps = null, eta = DEFAULT_ETA,
  randn = null, variance = null, labels = null, guidance = 0 } = {}) {
  check_choice("sampler", sampler, SAMPLERS);
  const config = model.config;
  variance = variance ?? config.variance ?? "fixed_small";
  if (labels !== null) {
    model = guidance ? classifier_free_guidance(model, labels, guidance) : conditioned(model, labels);
  } else if (guidance) {
    throw new Error(`guidance w = ${guidance} needs a digit to guide towards`);
  }
  const T = diffusion.num_timesteps;
  const shape = [n, config.in_channels, config.image_size, config.image_size];
  const parameterization = config.parameterization;
  if (sampler === "ddpm") {
    if (steps !== null && steps !== T) {
      throw new Error(`ancestral (ddpm) sampling takes all T = ${T} steps, got steps=${steps}; use ddim`);
    }
    return p_sample_loop_progressive(diffusion, model, shape, { parameterization, variance, randn });
  }
  if (sampler === "dpm-solver") {
    if (eta) throw new Error(`DPM-Solver is deterministic: η must be 0, got ${eta}`);
    return dpm_solver_sample_loop_progressive(diffusion, model, shape, {
      steps: network_steps(sampler, steps, T), parameterization, randn,
    });
  }
  return ddim_sample_loop_progressive(diffusion, model, shape, {
    steps: network_steps(sampler, steps, T), eta, parameterization, randn,
  });
}
