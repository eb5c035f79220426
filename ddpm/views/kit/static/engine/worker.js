/**
 * The page's engine: a module Worker that runs the app's chains on the student's own device with
 * onnxruntime-web (WebAssembly, one thread), the same digits as the server for the same seed.
 *
 * What runs is the core's, ported and pinned by tests/engine/: the generator (torch_random.js),
 * the labels (labels.js), the loops and steps (chains.js, diffusion.js, guidance.js) and the
 * pictures (frames.js); the networks are the shipped checkpoints exported to ONNX
 * (each checkpoint's model.onnx, scripts/export_onnx.py). Everything it needs comes in `init`'s
 * config, which the server writes (ddpm/views/kit/engine.py): the files' versioned URLs, the
 * networks' manifests, the diffusion's tables and the views' settings. Nothing is asked of the
 * server but static files.
 *
 * Messages in: {type: "init", config}, {type: "bench", passes}, {type: "generate", id, request}.
 * Out: {type: "ready", seconds}, {type: "bench", ms}, {type: "frame", id, done, total, t, x_t,
 * x0_hat}, {type: "done", id, ...}, {type: "error", id, message}. Stop is the page ending the
 * Worker (`terminate`): a chain ends at once, wherever it is.
 */

import { sample_loop } from "./chains.js";
import { GaussianDiffusion } from "./diffusion.js";
import { Recording, png_data_url, show_grid } from "./frames.js";
import { labels_for } from "./labels.js";
import { Generator } from "./torch_random.js";

let config = null;
let ort = null;
let diffusion = null;
const networks = new Map(); // name -> Promise of the network function

async function bytes(url, gzipped = false) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const body = gzipped ? response.body.pipeThrough(new DecompressionStream("gzip")) : response.body;
  return new Response(body).arrayBuffer();
}

async function init(given) {
  const start = performance.now();
  config = given;
  const [module, wasm] = await Promise.all([import(config.runtime.module), bytes(config.runtime.wasm, true)]);
  ort = module;
  ort.env.wasm.wasmBinary = wasm;
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a Space's iframe lacks
  ort.env.wasm.proxy = false; // this is the worker already
  diffusion = new GaussianDiffusion(config.tables);
  return (performance.now() - start) / 1000;
}

/** The network `name` of config.models as the samplers' model: `(x, t, batch, labels) -> output`. */
function network(name) {
  if (!networks.has(name)) {
    const entry = config.models[name];
    if (!entry) throw new Error(`no network ${name}; the page knows ${Object.keys(config.models)}`);
    networks.set(name, (async () => {
      const session = await ort.InferenceSession.create(await bytes(entry.url), {
        executionProviders: ["wasm"], graphOptimizationLevel: "all",
      });
      const manifest = entry.manifest;
      const inputs = new Set(manifest.inputs.map((input) => input.name));
      const output = manifest.outputs[0].name;
      const { in_channels: channels, image_size: size, num_classes: classes } = manifest.config;
      const model = async (x, t, batch, labels = null) => {
        const feeds = { x: new ort.Tensor("float32", x, [batch, channels, size, size]) };
        if (inputs.has("t")) feeds.t = new ort.Tensor("int64", new BigInt64Array(batch).fill(BigInt(t)), [batch]);
        if (inputs.has("y")) {
          const y = new BigInt64Array(batch).fill(BigInt(classes)); // the null label
          if (labels) labels.forEach((label, i) => { y[i] = BigInt(label); });
          feeds.y = new ort.Tensor("int64", y, [batch]);
        }
        const result = await session.run(feeds);
        return result[output].data;
      };
      model.config = manifest.config;
      return model;
    })());
  }
  return networks.get(name);
}

/** Median milliseconds of a forward pass of the told network at `batch` (after one to warm up). */
async function bench(batch, passes) {
  const model = await network("told");
  const x = new Float32Array(batch * model.config.in_channels * model.config.image_size ** 2);
  await model(x, diffusion.num_timesteps - 1, batch);
  const times = [];
  for (let k = 0; k < passes; k++) {
    const start = performance.now();
    await model(x, diffusion.num_timesteps - 1, batch);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** A generation as views/generate.py streams it: labels, then the noise, from one generator seeded
 * with the seed; frames every `frame_seconds`; the player's frames and the GIF's at fixed steps. */
async function generate(id, request) {
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
    }
    const now = performance.now();
    if (now - shown >= settings.frame_seconds * 1000 && done < step.num_steps) {
      shown = now;
      const x_t = grid(step.x_prev, settings.stream_width);
      const x0_hat = grid(step.pred_x0, settings.stream_width);
      postMessage({ type: "frame", id, done, total: step.num_steps, t: step.t + 1,
        seconds: (now - start) / 1000, x_t, x0_hat }, [x_t.data.buffer, x0_hat.data.buffer]);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const x_t = grid(last.x_prev, settings.final_width);
  const x0_hat = grid(last.pred_x0, settings.final_width);
  postMessage({
    type: "done", id, seconds, steps: last.num_steps, labels: labels ? Array.from(labels) : null,
    x_t, x0_hat, gif, player: await recording.value(png_data_url),
    images: { x_t: await png_data_url(x_t), x0_hat: await png_data_url(x0_hat) },
  });
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "init") postMessage({ type: "ready", id: data.id, seconds: await init(data.config) });
    else if (data.type === "bench") postMessage({ type: "bench", id: data.id, ms: await bench(data.batch ?? 1, data.passes ?? 3) });
    else if (data.type === "generate") await generate(data.id, data.request);
    else throw new Error(`unknown message ${data.type}`);
  } catch (error) {
    postMessage({ type: "error", id: data.id ?? null, message: String(error?.message ?? error) });
  }
};
