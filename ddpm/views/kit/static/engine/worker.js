/**
 * The page's engine: a module Worker that runs the app's chains on the student's own device with
 * onnxruntime-web (WebAssembly, one thread), the same digits as the server for the same seed.
 *
 * What runs is the core's, ported and pinned by tests/engine/: the generator (torch_random.js),
 * the labels (labels.js), the loops and steps (chains.js, diffusion.js, guidance.js) and the
 * pictures and files (frames.js, files.js; the GIF encoded by the vendored gifenc); the networks are the shipped checkpoints exported to ONNX
 * (each checkpoint's model.onnx, scripts/export_onnx.py). Everything it needs comes in `init`'s
 * config, which the server writes (ddpm/serve/engine.py): the files' versioned URLs, the
 * networks' manifests, the diffusion's tables and the views' settings. Nothing is asked of the
 * server but static files.
 *
 * Messages in: {type: "init", config}, {type: "bench", passes}, {type: "run", id, task, request}
 * (a task of TASKS, each in its own module: generate_task.js, pasts_task.js). Out: {type: "ready", seconds},
 * {type: "bench", ms}, {type: "frame", id, ...} (the task's frames), {type: "done", id, ...},
 * {type: "error", id, message}. Stop is the page ending the Worker (`terminate`): a chain ends at
 * once, wherever it is.
 */

import { GaussianDiffusion } from "./diffusion.js";
import { compare } from "./compare_task.js";
import { generate } from "./generate_task.js";
import { pasts } from "./pasts_task.js";

/** The chains a page can ask for, by name: `task(engine, request)` resolves with "done"'s message;
 * `engine` is {network, diffusion, config, frame(message, transfer), gifenc} (gifenc: the vendored
 * GIF encoder's module, for a task's GIF). */
const TASKS = { generate, compare, pasts };

let config = null;
let ort = null;
let gifenc = null;
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
  const [module, wasm, gif] = await Promise.all([
    import(config.runtime.module), bytes(config.runtime.wasm, true), import(config.runtime.gif),
  ]);
  ort = module;
  gifenc = gif;
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

/** Run task `name` for message `id`: its frames as they come, then its result. */
async function run(id, name, request) {
  const task = TASKS[name];
  if (!task) throw new Error(`no task ${name}; the engine runs ${Object.keys(TASKS)}`);
  const frame = (message, transfer = []) => postMessage({ ...message, type: "frame", id }, transfer);
  const result = await task({ network, diffusion, config, frame, gifenc }, request);
  postMessage({ ...result, type: "done", id });
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "init") postMessage({ type: "ready", id: data.id, seconds: await init(data.config) });
    else if (data.type === "bench") postMessage({ type: "bench", id: data.id, ms: await bench(data.batch ?? 1, data.passes ?? 3) });
    else if (data.type === "run") await run(data.id, data.task, data.request);
    else throw new Error(`unknown message ${data.type}`);
  } catch (error) {
    postMessage({ type: "error", id: data.id ?? null, message: String(error?.message ?? error) });
  }
};
