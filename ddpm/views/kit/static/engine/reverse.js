/**
 * What the reverse view shows, computed in the page: ddpm/teaching/reverse.py's `compare_reverse`
 * (the exact q(x_{t−1} | x_t, x_0) of Ho et al. 2020, eqs. 6–7, and the learned p_θ(x_{t−1} | x_t),
 * Algorithm 2, in lockstep from one x_t with the same z) with its per-step metrics, ddpm/teaching/
 * common.py's `rms`, and ddpm/teaching/readout.py's `class_probabilities` (from the classifier's
 * logits), `reading` and `readout_due`. Pinned to the core by tests/engine/test_chains_js.py. The
 * true reverse of a data set (the comparison's third chain) stays on the server.
 *
 * Layout, model and float32 rule as in diffusion.js and chains.js. Metrics are float32 as in the
 * core, their sums over pixels in double (torch sums in float32): they agree to about 1e-7, relative.
 */

import { noise_at } from "./chains.js";

const f = Math.fround;

/** About how many t of a chain the classifier reads (ddpm.teaching.readout.READOUT_POINTS). */
export const READOUT_POINTS = 200;

/** Root mean square of x − y (of x when y is null) over every value, rounded as torch's float32 mean. */
export function rms(x, y = null) {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const d = y === null ? x[i] : f(x[i] - y[i]);
    sum += f(d * d);
  }
  return f(Math.sqrt(f(f(sum) / x.length)));
}

/** Mean of a Float32Array [B] as torch's float32 mean, a number. */
function mean(values) {
  let sum = 0;
  for (const u of values) sum += u;
  return f(f(sum) / values.length);
}

/** The classifier's p(class | x) of one image from its logits [10]: torch.softmax, Float32Array [10]. */
export function class_probabilities(logits) {
  let top = -Infinity;
  for (const u of logits) top = Math.max(top, u);
  const e = Float32Array.from(logits, (u) => Math.exp(f(u - top)));
  let sum = 0;
  for (const u of e) sum += u;
  const inverse = f(1 / f(sum));
  return e.map((u) => u * inverse);
}

/** [the class a read-out p names (the first most probable), its probability]. */
export function reading(p) {
  let top = 0;
  for (let k = 1; k < p.length; k++) if (p[k] > p[top]) top = k;
  return [top, p[top]];
}

/** Whether a chain from the paper's t_start is read at its step from the paper's t ≥ 1: every
 * max(1, ⌊t_start / points⌋)-th t, and always at t = 1. */
export function readout_due(t, t_start, points = READOUT_POINTS) {
  return t % Math.max(1, Math.floor(t_start / points)) === 0 || t === 1;
}

function concat(parts) {
  const out = new (parts[0].constructor)(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function split(array, count) {
  const size = array.length / count;
  return Array.from({ length: count }, (_, k) => array.subarray(k * size, (k + 1) * size));
}

/**
 * q(x_{t−1} | x_t, x_0) and p_θ(x_{t−1} | x_t) side by side from one x_t, the same z at every step.
 *
 * x_t = q_sample(x_0, t − 1, epsilon) at the paper's t ∈ [1, T]; epsilon is the core's
 * seeded_noise(shape, seed) (torch_random.js: `new Generator(seed).randn(n)`) and `noise` the z of
 * each step, chain_noise(t, x0, seed) ([t·n] flat, `new Generator(seed + 1).randn(t * n)`, or t
 * arrays). One network call per step evaluates the model at both chains' x_t (batch 2B); with
 * `labels` (Int32Array [B]) the learned chain is told the class and the model is evaluated at the
 * exact chain's x_t without and with it (batch 3B, labels [∅; y; y]).
 *
 * Yields {t (the paper's), exact, learned (step records as chains.js's), kl_bpd, mean_gap,
 * x0_error, kl_sum_bpd, conditioned ({kl_bpd, mean_gap, x0_error} told the class, or null)} for
 * t, t − 1, …, 1: along the exact chain, KL(q ‖ p_θ) in bits/dim (the decoder's −log p_θ(x_0 | x_1)
 * at t = 1), the RMS of μ_θ − μ̃_t and of x̂_0 − x_0, and the running sum of kl_bpd. The exact
 * record's variance is per image [B] (the core broadcasts it beside a learned one's).
 */
export async function* compare_reverse(diffusion, model, x0, t, batch, { epsilon, noise,
  variance = "fixed_small", parameterization = "eps", labels = null } = {}) {
  if (!(Number.isInteger(t) && t >= 1 && t <= diffusion.num_timesteps)) {
    throw new Error(`t = ${t} is out of range [1, ${diffusion.num_timesteps}]`);
  }
  const n = x0.length;
  let null_labels = null;
  if (labels !== null) {
    const classes = model.config?.num_classes ?? 0;
    if (!classes) throw new Error("this model was trained without class labels: it cannot be asked for a digit");
    null_labels = new Int32Array(batch).fill(classes);
  }
  const options = { parameterization, variance };
  let x_q = diffusion.q_sample(x0, t - 1, epsilon, batch);
  let x_p = x_q;
  let kl_sum = 0;
  for (let k = 0; k < t; k++) {
    const index = t - 1 - k;
    const z = noise_at(noise, k, n);
    if (z.length !== n) throw new Error(`noise steps have ${z.length} values, the sample has ${n}`);
    const outputs = labels === null
      ? split(await model(concat([x_q, x_p]), index, 2 * batch), 2)
      : split(await model(concat([x_q, x_q, x_p]), index, 3 * batch, concat([null_labels, labels, labels])), 3);
    const out_p = outputs.pop();
    const exact = diffusion.q_posterior_sample(x0, x_q, index, batch, { z });
    const learned = diffusion.p_sample(out_p, x_p, index, batch, { ...options, z });
    const metrics = outputs.map((out_q) => {
      const p = diffusion.p_mean_variance(out_q, x_q, index, batch, options);
      const kl = diffusion.vb_terms_bpd(out_q, x0, x_q, index, batch, options);
      return { kl_bpd: mean(kl), mean_gap: rms(p.mean, exact.mean), x0_error: rms(p.pred_x0, x0) };
    });
    kl_sum += metrics[0].kl_bpd;
    const record = (x, out) => ({
      index: k, num_steps: t, t: index, t_prev: index - 1, x_t: x, x_prev: out.sample, pred_x0: out.pred_x0,
      pred_noise: out.pred_noise, mean: out.mean, variance: out.variance,
    });
    yield {
      t: index + 1, exact: record(x_q, exact), learned: record(x_p, learned), ...metrics[0],
      kl_sum_bpd: kl_sum, conditioned: metrics[1] ?? null,
    };
    x_q = exact.sample;
    x_p = learned.sample;
  }
}
