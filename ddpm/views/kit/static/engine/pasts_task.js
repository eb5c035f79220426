/**
 * The page's Many pasts (views/lessons/many_pasts.py's `pasts`) as a task of the engine's Worker
 * (worker.js): from one x_t of the chosen digit, K learned reverse chains (pasts.js: many_pasts,
 * the network of the server's rule: told the class or not), then the classifier's verdict on them
 * (judge_pasts), frames as it runs and the same pictures and counts as the server's at the end.
 */

import { final_sample } from "./chains.js";
import { png_data_url, show_grid, to_display, upscale } from "./frames.js";
import { to_model_range } from "./images.js";
import { judge_pasts, many_pasts } from "./pasts.js";
import { class_probabilities, reading } from "./reverse.js";
import { Generator } from "./torch_random.js";

/** uint8 pixels of base64 (views/digits.py: digit_data). */
function decode(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Many pasts as the server computes them (ddpm.teaching.pasts.pasts_lesson). `request`: t, k,
 * seed, told, the digit's `pixels` (base64 of uint8 [28, 28]) and `label` ("" or null: no bundled
 * label, the classifier reads the digit), and the view's `settings`. */
export async function pasts({ network, diffusion, config, frame }, request) {
  const { seed, pixels, settings } = request;
  const t = Number(request.t);
  const k = Number(request.k);
  const told = Boolean(request.told);
  if (told && !config.models.told.manifest.config.num_classes) {
    throw new Error("told the class: this server's model takes no class labels; it cannot be told the digit");
  }
  const [model, classifier] = await Promise.all([network(told ? "told" : "untold"), network("classifier")]);
  const { image_size: size } = model.config;
  const x0 = to_model_range(decode(pixels));
  const known = ["", null, undefined].includes(request.label) ? null : Number(request.label);
  const own = known ?? reading(class_probabilities(await classifier(x0, 0, 1)))[0];
  const noise = new Generator(BigInt(seed) + 1n);
  const { x_t, steps } = many_pasts(diffusion, model, x0, t, k, {
    epsilon: new Generator(BigInt(seed)).randn(x0.length), randn: (n) => noise.randn(n),
    parameterization: model.config.parameterization ?? "eps", variance: model.config.variance ?? "fixed_small",
    label: told ? own : null,
  });
  const image = (x) => upscale({ data: to_display(x), height: size, width: size }, settings.scale);
  const grid = (x, width) => show_grid(x, k, size, size, { max_width: width });
  const start = performance.now();
  let shown = -Infinity;
  const chain = (async function* () {
    for await (const step of steps) {
      const done = step.index + 1;
      const now = performance.now();
      if ((step.index === 0 || now - shown >= settings.frame_seconds * 1000) && done < step.num_steps) {
        shown = now;
        const message = { done, total: step.num_steps, t: step.t + 1, seconds: (now - start) / 1000,
          pasts: grid(step.x_prev, settings.stream_width) };
        if (step.index === 0) Object.assign(message, { x_t: image(x_t), x0: image(x0) });
        frame(message, [message.pasts.data.buffer]);
      }
      yield step;
    }
  })();
  const past = await final_sample(chain);
  const seconds = (performance.now() - start) / 1000;
  const verdict = judge_pasts(await classifier(past, 0, k), k, own);
  const pictures = { x_t: image(x_t), pasts: grid(past, settings.grid_width), x0: image(x0) };
  const images = {};
  for (const [name, picture] of Object.entries(pictures)) images[name] = await png_data_url(picture);
  return {
    ...pictures, images, seconds, steps: t, told, label: told ? own : null, known: known !== null,
    counts: verdict.counts, own_class: verdict.own_class, agreement: verdict.agreement, distinct: verdict.distinct,
  };
}
