/**
 * The closed forms of the variational bound, ddpm/losses.py, on flat float32 batches (layout as in
 * diffusion.js), pinned to the core by tests/engine/test_diffusion_js.py through vb_terms_bpd:
 * `normal_kl` (the terms L_{t−1} of Ho et al. 2020, eq. 5), `approx_standard_normal_cdf` and
 * `discretized_gaussian_log_likelihood` (the decoder L_0, eq. 13), `mean_flat`. Values in nats.
 *
 * Float32 rule as in diffusion.js: every +, −, × and ÷ rounded with Math.fround in torch's order,
 * Python scalars as float32 operands; exp, log and tanh are the double results rounded (torch's
 * vectorised float32 versions differ by one ulp on about 1% of arguments). `mean_flat` sums in
 * double where torch sums in float32 in its own order: the means agree to about 1e-7, relative,
 * except where normal_kl's "− 1" cancels (a step whose KL is ~1e-3 bits/dim): there an ulp of
 * exp near 1 moves a pixel's term by 1.2e-7 nats, and the mean by up to ~1e-5 of itself.
 */

const f = Math.fround;

/** Nats per bit (ddpm.losses.LN2). */
export const LN2 = Math.LN2;

/** One value per image [B] or per pixel [n], read at flat index i. */
function broadcast(values, n, batch) {
  const per = n / batch;
  return values.length === n ? (i) => values[i] : (i) => values[(i / per) | 0];
}

/** Mean over every value of each image: [n] -> Float32Array [B]. */
export function mean_flat(x, batch) {
  const per = x.length / batch;
  const out = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    let sum = 0;
    for (let i = b * per; i < (b + 1) * per; i++) sum += x[i];
    out[b] = f(f(sum) / per);
  }
  return out;
}

/** KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) per pixel, in nats:
 * ½ (logvar2 − logvar1 + e^(logvar1 − logvar2) + (mean1 − mean2)² e^(−logvar2) − 1).
 * Means [n]; each log-variance per image [B] or per pixel [n]. */
export function normal_kl(mean1, logvar1, mean2, logvar2, batch) {
  const n = mean1.length;
  const lv1 = broadcast(logvar1, n, batch);
  const lv2 = broadcast(logvar2, n, batch);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = lv1(i), b = lv2(i);
    const d = f(mean1[i] - mean2[i]);
    const head = f(f(b - a) + f(Math.exp(f(a - b))));
    out[i] = f(0.5 * f(f(head + f(f(d * d) * f(Math.exp(-b)))) - 1));
  }
  return out;
}

/** Φ(x) through DDPM's tanh approximation: 0.5 (1 + tanh(√(2/π) (x + 0.044715 x³))). */
export function approx_standard_normal_cdf(x) {
  const inner = f(x + f(f(0.044715) * f(f(x * x) * x)));
  return f(0.5 * f(1 + f(Math.tanh(f(f(Math.sqrt(2 / Math.PI)) * inner)))));
}

/** log p(x) of 8-bit data (x in [−1, 1]) under Gaussians discretized to 256 bins, per pixel, ≤ 0;
 * the bins at −1 and +1 reach to ∓∞. Means [n]; log_scales (log std) per image [B] or per pixel [n]. */
export function discretized_gaussian_log_likelihood(x, means, log_scales, batch) {
  if (x.length !== means.length) throw new Error(`x has ${x.length} values but means has ${means.length}`);
  const scale = broadcast(log_scales, x.length, batch);
  const half_bin = f(1 / 255);
  const tiny = f(1e-12);
  const low = f(-0.999), high = f(0.999);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const centred = f(x[i] - means[i]);
    const inv_std = f(Math.exp(-scale(i)));
    const cdf_plus = approx_standard_normal_cdf(f(inv_std * f(centred + half_bin)));
    const cdf_min = approx_standard_normal_cdf(f(inv_std * f(centred - half_bin)));
    if (x[i] < low) out[i] = Math.log(Math.max(cdf_plus, tiny));
    else if (x[i] > high) out[i] = Math.log(Math.max(f(1 - cdf_min), tiny));
    else out[i] = Math.log(Math.max(f(cdf_plus - cdf_min), tiny));
  }
  return out;
}
