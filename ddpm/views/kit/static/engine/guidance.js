/**
 * Classifier-free guidance (Ho & Salimans 2022), ddpm/guidance.py, pinned to the core by
 * tests/engine/test_diffusion_js.py: `guide` is ClassifierFreeGuidance's combination
 * ε̃ = (1 + w) ε_θ(x_t, t, y) − w ε_θ(x_t, t, ∅) on the first C channels (the image's), the rest (a
 * learned variance) from the conditional half, as in GLIDE; `classifier_free_guidance` and
 * `conditioned` wrap a class-conditional network as the samplers' model, like the core's
 * ClassifierFreeGuidance (both halves in one call of batch 2B) and Conditioned.
 *
 * A network is `model(x, t, batch, labels) -> Promise<Float32Array>` (x [B, C, H, W] flat, t the
 * 0-based index of the whole batch, labels an Int32Array [B] or null for the null label) with
 * `model.config.num_classes`; the null label is num_classes itself.
 *
 * Float32 rule as in diffusion.js: (1 + w) and w are float32 operands, each product and the
 * difference rounded with Math.fround.
 */

const f = Math.fround;

/** The guided output [B, C_out, H, W] from `both` = [conditional; unconditional] outputs [2B, C_out, H, W]
 * of a batch x of `x_length` = B·C·H·W values, with weight `scale` = w. */
export function guide(both, x_length, batch, scale) {
  const per_x = x_length / batch;
  const per = both.length / (2 * batch);
  const up = f(1 + scale), down = f(scale);
  const out = both.slice(0, batch * per);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < per_x; j++) {
      const i = b * per + j;
      out[i] = f(f(up * both[i]) - f(down * both[(batch + b) * per + j]));
    }
  }
  return out;
}

function require_labels(model) {
  const classes = model.config?.num_classes ?? 0;
  if (!classes) throw new Error("this model was trained without class labels: it cannot be asked for a digit");
  return classes;
}

/** ClassifierFreeGuidance(model, labels, scale): a samplers' model `(x, t, batch)` guided towards `labels`. */
export function classifier_free_guidance(model, labels, scale) {
  const classes = require_labels(model);
  if (!(Number.isFinite(scale) && scale >= 0)) {
    throw new Error(`guidance weight w must be a finite number ≥ 0, got ${scale}`);
  }
  const guided = async (x, t, batch) => {
    const both_x = new Float32Array(2 * x.length);
    both_x.set(x);
    both_x.set(x, x.length);
    const both_labels = new Int32Array(2 * batch).fill(classes);
    both_labels.set(labels);
    return guide(await model(both_x, t, 2 * batch, both_labels), x.length, batch, scale);
  };
  guided.config = model.config;
  return guided;
}

/** Conditioned(model, labels): `model(x, t, batch, labels)` as a samplers' model (labels null: the null label). */
export function conditioned(model, labels) {
  require_labels(model);
  const wrapped = (x, t, batch) => model(x, t, batch, labels);
  wrapped.config = model.config;
  return wrapped;
}
