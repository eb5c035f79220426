/**
 * The reverse view's comparison (views/reverse_stream.py's `shared_compare`) as a task of the
 * engine's Worker (worker.js): reverse.js's `compare_reverse` from the chosen digit's x_t, the
 * exact q(x_{t−1} | x_t, x_0) beside the learned p_θ(x_{t−1} | x_t) with the same z (Ho et al.
 * 2020, eqs. 6–7 and Algorithm 2), recorded as the server's `Comparison` records it: each step's
 * KL and RMS gaps, the classifier's read-out of the learned x̂_0 (reverse.js's `readout_due`), the
 * filmstrip's columns at `filmstrip_times`, the player's four series, and the classifier's reading
 * of both chains' x_0 at the end. The true reverse of the training set stays on the server.
 *
 * request: {pixels (base64 of the digit's uint8 [28, 28]), label (its label, or null), t (the
 * paper's start, 1 … T), seed, variance, told (tell the model the digit's class), settings}.
 * settings (views/reverse_page.py's `in_page_settings`): series (the player's names), ranges (their
 * grey scales), strip_times, strip_rows, strip_scale and film (the filmstrip's text sizes),
 * frame_seconds.
 */

import { filmstrip } from "./files.js";
import { to_model_range } from "./images.js";
import { Recording, png_data_url, to_display, upscale } from "./frames.js";
import { class_probabilities, compare_reverse, reading, readout_due } from "./reverse.js";
import { Generator } from "./torch_random.js";

/** The bytes of a base64 string. */
export function from_base64(text) {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** A model-space image [H, W] as grey levels (to_display with the series' range), 1 pixel a pixel. */
function grey(x, [low, high], size, scale = 1) {
  return upscale({ data: to_display(x, low, high), height: size, width: size }, scale);
}

export async function compare({ network, diffusion, frame }, request) {
  const { pixels, label, seed, variance, told, settings } = request;
  const t = Number(request.t);
  const model = await network(told ? "told" : "untold");
  const classifier = await network("classifier");
  const { image_size: size, parameterization } = model.config;
  if (variance === "learned_range" && model.config.out_channels !== 2 * model.config.in_channels) {
    throw new Error(`σ² learned: the network ${told ? "told" : "not told"} the digit's class has a fixed σ²`);
  }
  const read = async (x) => class_probabilities(await classifier(x, 0, 1));
  const x0 = to_model_range(from_base64(pixels));
  const known = label === null || label === undefined || label === "" ? null : Number(label);
  let labels = null;
  if (told) labels = Int32Array.of(known ?? reading(await read(x0))[0]);
  const n = x0.length;
  const epsilon = new Generator(BigInt(seed)).randn(n); // seeded_start's ε
  const noise = new Generator(BigInt(seed) + 1n).randn(t * n); // chain_noise: the z of every step
  const [exactName, learnedName, x0Name, epsName] = settings.series;
  const range = (name) => settings.ranges[name] ?? [-1, 1];
  const recording = new Recording("t", settings.ranges);
  const strip = new Set([...settings.strip_times, t]);
  const film = { titles: [], columns: [] };
  const column = (exact, learned) => ({
    [settings.strip_rows[0]]: grey(exact, [-1, 1], size, settings.strip_scale),
    [settings.strip_rows[1]]: grey(learned, [-1, 1], size, settings.strip_scale),
  });
  const steps = [];
  const readout = [];
  const start = performance.now();
  let shown = 0;
  let sent = 0; // steps and read-out points already posted
  let sentReadout = 0;
  let last = null;
  const loop = compare_reverse(diffusion, model, x0, t, 1, { epsilon, noise, variance, parameterization, labels });
  for await (const step of loop) {
    last = step;
    steps.push({ t: step.t, kl_bpd: step.kl_bpd, mean_gap: step.mean_gap, x0_error: step.x0_error,
      conditioned: step.conditioned });
    if (readout_due(step.t, t)) readout.push([step.t, Array.from(await read(step.learned.pred_x0))]);
    if (strip.has(step.t)) {
      film.titles.push(`t=${step.t}`);
      film.columns.push(column(step.exact.x_t, step.learned.x_t));
    }
    const images = [step.exact.x_t, step.learned.x_t, step.learned.pred_x0, step.learned.pred_noise];
    const frames = Object.fromEntries(settings.series.map((name, k) => [name, grey(images[k], range(name), size)]));
    recording.keep(step.t, frames);
    const now = performance.now();
    if (now - shown >= settings.frame_seconds * 1000 && step.t > 1) {
      shown = now;
      frame({ done: t - step.t + 1, total: t, t: step.t, seconds: (now - start) / 1000, images: frames,
        steps: steps.slice(sent), readout: readout.slice(sentReadout) });
      sent = steps.length;
      sentReadout = readout.length;
    }
  }
  // the chains' end: the classifier's reading of both x_0 (x̂_0, ε̂ keep t = 1's, the network's last word)
  const ends = { exact: Array.from(await read(last.exact.x_prev)), learned: Array.from(await read(last.learned.x_prev)),
    label: known };
  film.titles.push("t=0");
  film.columns.push(column(last.exact.x_prev, last.learned.x_prev));
  recording.keep(0, { [exactName]: grey(last.exact.x_prev, [-1, 1], size), [learnedName]: grey(last.learned.x_prev, [-1, 1], size) });
  const seconds = (performance.now() - start) / 1000;
  const final = {
    exact: grey(last.exact.x_prev, [-1, 1], size), learned: grey(last.learned.x_prev, [-1, 1], size),
    x0_hat: grey(last.learned.pred_x0, range(x0Name), size), eps_hat: grey(last.learned.pred_noise, range(epsName), size),
  };
  const rows = Object.fromEntries(settings.strip_rows.map((row) => [row, film.columns.map((c) => c[row])]));
  final.filmstrip = await filmstrip(rows, film.titles, { title_px: settings.film.title_px, text_px: settings.film.text_px });
  return {
    seconds, t, told: labels !== null, told_label: labels === null ? null : labels[0], known,
    steps: steps.slice(sent), readout: [...readout.slice(sentReadout), [0, ends.learned]], ends,
    kl_sum_bpd: last.kl_sum_bpd, kl_bpd: last.kl_bpd, images: final,
    player: await recording.value(png_data_url),
  };
}
