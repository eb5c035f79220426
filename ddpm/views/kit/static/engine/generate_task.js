/**
 * The page's Generate (views/generate.py's `shared_generate`) as a task of the engine's Worker
 * (worker.js): the labels, then the noise, from one generator seeded with the seed, the chain of
 * chains.js's `sample_loop`, frames as it runs and the player's value at the end, the same digits
 * and pictures as the server's for the same request, and its files: the final grids, the animated
 * GIF of the trajectory and the filmstrip of the first digit.
 */

import { sample_loop } from "./chains.js";
import { filmstrip, gif_data_url, pick_columns } from "./files.js";
import { Recording, png_data_url, show_grid, to_display, upscale } from "./frames.js";
import { labels_for } from "./labels.js";
import { Generator } from "./torch_random.js";

/** A generation as views/generate.py streams it: labels, then the noise, from one generator seeded
 * with the seed; frames every `frame_seconds`; the player's frames, the GIF's and the filmstrip's
 * at fixed steps. The result's `images` are data URLs: the final grids (PNG), the GIF and the
 * filmstrip (PNG). */
export async function generate({ network, diffusion, config, frame, gifenc }, request) {
  const { n, sampler, steps, eta, seed, digit, guidance, settings } = request;
  const told = String(digit).trim() !== settings.none && config.models.told.manifest.config.num_classes > 0;
  const model = await network(told ? "told" : "untold");
  const generator = new Generator(BigInt(seed));
  const labels = labels_for(digit, n, model.config.num_classes, generator);
  if (!labels && Number(guidance)) {  // as ddpm.inference.generation_labels refuses it
    throw new Error(`guidance w = ${Number(guidance)} needs digits to guide towards, not '${digit}'`);
  }
  const loop = sample_loop(model, diffusion, n, {
    sampler, steps: sampler === "ddpm" ? null : steps, eta: sampler === "ddim" ? eta : 0,
    randn: (count) => generator.randn(count), labels, guidance: Number(guidance),
  });
  const { image_size: size } = model.config;
  const grid = (x, width) => show_grid(x, n, size, size, { max_width: width });
  const recording = new Recording("t");
  const gif = [];
  const film = []; // {title, image}: the first digit at the GIF's steps
  const start = performance.now();
  let shown = 0;
  let last = null;
  for await (const step of loop) {
    last = step;
    const done = step.index + 1;
    if (step.index === 0 || done % Math.max(1, Math.floor(step.num_steps / settings.gif_frames)) === 0
        || done === step.num_steps) {
      recording.keep(step.t_prev + 1, { [settings.series[0]]: grid(step.x_prev, 0), [settings.series[1]]: grid(step.pred_x0, 0) });
      gif.push(grid(step.x_prev, settings.gif_width));
      const first = to_display(step.x_prev.subarray(0, size * size));
      film.push({ title: `t=${step.t_prev + 1}`, image: upscale({ data: first, height: size, width: size }, settings.film.scale) });
    }
    const now = performance.now();
    if (now - shown >= settings.frame_seconds * 1000 && done < step.num_steps) {
      shown = now;
      const x_t = grid(step.x_prev, settings.stream_width);
      const x0_hat = grid(step.pred_x0, settings.stream_width);
      frame({ done, total: step.num_steps, t: step.t + 1, seconds: (now - start) / 1000, x_t, x0_hat },
        [x_t.data.buffer, x0_hat.data.buffer]);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const x_t = grid(last.x_prev, settings.final_width);
  const x0_hat = grid(last.pred_x0, settings.final_width);
  const columns = pick_columns(film.length, settings.film.columns);
  return {
    seconds, steps: last.num_steps, told, labels: labels ? Array.from(labels) : null,
    x_t, x0_hat, player: await recording.value(png_data_url),
    images: {
      x_t: await png_data_url(x_t), x0_hat: await png_data_url(x0_hat),
      gif: gif_data_url(gif, { encoder: gifenc.GIFEncoder }),
      filmstrip: await filmstrip({ [settings.film.row]: columns.map((k) => film[k].image) },
        columns.map((k) => film[k].title), { title_px: settings.film.title_px, text_px: settings.film.text_px }),
    },
  };
}
