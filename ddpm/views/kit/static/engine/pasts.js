/**
 * The many-pasts lesson's numbers, ddpm/teaching/pasts.py, pinned to the core by
 * tests/engine/test_chains_js.py: `many_pasts` (from one x_t = q_sample(x_0, t, ε), Ho et al. 2020
 * eq. 4, K learned reverse chains with different noise, Algorithm 2 from t) and `judge_pasts`
 * (what the classifier reads the pasts as: the class of each, their counts, the agreement with the
 * digit's own class, the distinct classes).
 *
 * Layout, model and float32 rule as in diffusion.js and chains.js; the classifier gives logits
 * [K, 10], which reverse.js's `class_probabilities` turns into torch.softmax's p(class | past).
 */

import { p_sample_loop_progressive } from "./chains.js";
import { conditioned } from "./guidance.js";
import { class_probabilities, reading } from "./reverse.js";

/** The most chains the core's many_pasts takes (ddpm.teaching.pasts.MAX_PASTS). */
export const MAX_PASTS = 256;
export const CLASSES = 10;

/**
 * K learned reverse chains from one x_t of the digit x0 (one image, [C, H, W] flat, in [−1, 1]).
 *
 * x_t = q_sample(x0, t − 1, epsilon) at the paper's t ∈ [1, T] (epsilon: the core's seeded_noise,
 * `new Generator(seed).randn(n)`); then p_sample_loop_progressive from t_start = t − 1 on x_t
 * repeated K times, its z drawn with `randn` (`new Generator(seed + 1)`, one K·n draw a step, as
 * the core draws them) or taken from the pre-drawn `noise`. With `label` a class-conditional model
 * is told that class in every chain, p_θ(x_{t−1} | x_t, y).
 *
 * Returns {x_t (Float32Array [n]), steps (the loop's step records, chains.js; the last one's
 * x_prev is the K pasts [K, C, H, W])}.
 */
export function many_pasts(diffusion, model, x0, t, k, { epsilon, randn = null, noise = null,
  parameterization = "eps", variance = "fixed_small", label = null } = {}) {
  if (!(Number.isInteger(t) && t >= 1 && t <= diffusion.num_timesteps)) {
    throw new Error(`t = ${t} is out of range [1, ${diffusion.num_timesteps}]`);
  }
  if (!(Number.isInteger(k) && k >= 1 && k <= MAX_PASTS)) {
    throw new Error(`the number of chains K must be in [1, ${MAX_PASTS}], got ${k}`);
  }
  if (epsilon.length !== x0.length) throw new Error(`epsilon has ${epsilon.length} values, x0 ${x0.length}`);
  const n = x0.length;
  const x_t = diffusion.q_sample(x0, t - 1, epsilon, 1);
  const repeated = new Float32Array(k * n);
  for (let i = 0; i < k; i++) repeated.set(x_t, i * n);
  if (label !== null) model = conditioned(model, new Int32Array(k).fill(label));
  const steps = p_sample_loop_progressive(diffusion, model, [k, n], {
    x_t: repeated, t_start: t - 1, parameterization, variance, randn, noise,
  });
  return { x_t, steps };
}

/** The class the classifier reads each of `k` images as, from its logits [k, 10] (the first most
 * probable of torch.softmax): an Int32Array [k]. */
export function classes_of(logits, k) {
  if (logits.length !== k * CLASSES) throw new Error(`logits hold ${logits.length} values, not ${k}·${CLASSES}`);
  return Int32Array.from({ length: k }, (_, i) =>
    reading(class_probabilities(logits.subarray(i * CLASSES, (i + 1) * CLASSES)))[0]);
}

/**
 * What the classifier says of K pasts (judge_pasts): from their `logits` [K, 10] and the digit's
 * class `own_class` (its label, or the classifier's reading of x_0), {classes (Int32Array [K]),
 * counts (how many were read as each class 0 … 9), own_class, agreement (the fraction read as
 * own_class, a float32 mean as torch's), distinct (how many different classes)}.
 */
export function judge_pasts(logits, k, own_class) {
  const classes = classes_of(logits, k);
  const counts = new Array(CLASSES).fill(0);
  for (const c of classes) counts[c] += 1;
  return {
    classes, counts, own_class,
    agreement: Math.fround(counts[own_class] / k),
    distinct: counts.filter((count) => count > 0).length,
  };
}
