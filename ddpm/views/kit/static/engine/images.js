/**
 * Pixels and model-space images, ddpm/images.py's `to_model_range` and `to_uint8`, pinned to the
 * core by tests/engine/test_diffusion_js.py. Float32 rule as in diffusion.js: each operation is
 * rounded with Math.fround.
 */

const f = Math.fround;

/** torch.round: to the nearest integer, halves to the even one. */
export function round_half_even(u) {
  const floor = Math.floor(u);
  const rest = u - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Float32 model values of uint8 pixels (0 background), any layout: p / 127.5 − 1, in [−1, 1]. */
export function to_model_range(pixels) {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = f(f(pixels[i] / 127.5) - 1);
  return out;
}

/** uint8 pixels of float32 values: round(clamp((x + 1) · 127.5, 0, 255)), halves to even as
 * torch.round does; NaN becomes background (−1) and ±inf the nearest end. Values nominally in
 * [−1, 1], any layout: a Uint8Array of the same length. */
export function to_uint8(x) {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let u = x[i];
    if (Number.isNaN(u)) u = -1;
    else if (!Number.isFinite(u)) u = Math.sign(u);
    out[i] = round_half_even(Math.min(Math.max(f(f(u + 1) * 127.5), 0), 255));
  }
  return out;
}
