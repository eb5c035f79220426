/**
 * The page's side of the engine: whether this browser can run it, the Worker (worker.js) that runs
 * a chain, and the choice of where to compute (this device or the server).
 *
 * Loaded on demand (the first in-page run, or the automatic choice), never before the page's first
 * paint: `import(url)` of this module starts nothing; `Engine.start` downloads the runtime and the
 * networks (once: they are served immutable, under their content hash) and starts the Worker.
 */

export { paint, png_data_url, upscale } from "./frames.js"; // the page draws the Worker's frames as the Worker does

/** A WebAssembly module using a SIMD instruction (i8x16.popcnt of a splat): valid only where the
 * browser has WASM SIMD, which onnxruntime-web's build needs. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10,
  1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** {ok, reason}: whether this browser can run the engine, and if not, what it lacks. */
export function capability() {
  const lacks = [];
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") lacks.push("WebAssembly");
  else if (!WebAssembly.validate(SIMD_PROBE)) lacks.push("WebAssembly SIMD");
  if (typeof Worker !== "function") lacks.push("Web Workers");
  if (typeof DecompressionStream !== "function") lacks.push("DecompressionStream");
  if (typeof OffscreenCanvas !== "function") lacks.push("OffscreenCanvas");
  return lacks.length ? { ok: false, reason: `this browser lacks ${lacks.join(", ")}` } : { ok: true, reason: "" };
}

/** One Worker and what it has measured. A stopped chain ends the Worker; the next run starts
 * another (its files come from the browser's cache). */
export class Engine {
  constructor({ worker, config }) {
    this.urls = { worker, config };
    this.worker = null;
    this.ready = null;
    this.startSeconds = null; // the first start: downloads, the runtime's start-up
    this.passMs = new Map(); // batch -> milliseconds of a forward pass, measured
    this.next = 1;
  }

  /** Start the Worker (and fetch its config) unless it runs; resolves once it is ready. */
  start() {
    if (this.ready) return this.ready;
    const started = performance.now();
    this.ready = (async () => {
      const config = await (await fetch(this.urls.config)).json();
      const worker = new Worker(this.urls.worker, { type: "module", name: "ddpm-engine" });
      this.worker = worker;
      await this.#ask({ type: "init", config }, "ready");
      if (this.startSeconds === null) this.startSeconds = (performance.now() - started) / 1000;
      return this;
    })();
    this.ready.catch(() => this.stop());
    return this.ready;
  }

  /** End the Worker at once (a running chain with it). */
  stop() {
    this.worker?.terminate();
    this.worker = null;
    this.ready = null;
  }

  /** Milliseconds of a forward pass at `batch` (median of `passes`), measured once per batch. */
  async bench(batch = 1, passes = 3) {
    if (!this.passMs.has(batch)) {
      await this.start();
      this.passMs.set(batch, (await this.#ask({ type: "bench", batch, passes }, "bench")).ms);
    }
    return this.passMs.get(batch);
  }

  /** Run the Worker's task `task` (worker.js: TASKS) on `request`; `onFrame(message)` gets its
   * frames as they come; resolves with "done"'s message. */
  async run(task, request, onFrame) {
    await this.start();
    return this.#ask({ type: "run", task, request }, "done", onFrame);
  }

  #ask(message, answer, onFrame = null) {
    const id = this.next++;
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      const listen = ({ data }) => {
        if (data.type === "error" && (data.id === id || data.id === null)) {
          worker.removeEventListener("message", listen);
          reject(new Error(data.message));
        } else if (data.type === "frame" && data.id === id) {
          onFrame?.(data);
        } else if (data.type === answer && (data.id === undefined || data.id === id)) {
          worker.removeEventListener("message", listen);
          resolve(data);
        }
      };
      worker.addEventListener("message", listen);
      worker.addEventListener("error", (event) => reject(new Error(event.message || "the engine failed to start")), { once: true });
      worker.postMessage({ ...message, id });
    });
  }
}

/**
 * Where to compute a chain of `passes` forward passes at batch `batch`, as {device, why}:
 * `choice` "server" or "device" as asked (the device only where the browser can); "auto": the
 * server while it is idle (no chain running there); when it is busy, the faster of its measured
 * time per forward pass (its tick, shared by every running chain, plus the line before it) and
 * this device's, measured by a few passes of the engine.
 */
export async function choose(choice, engine, { passes, batch, loadUrl }) {
  const can = capability();
  if (choice === "server") return { device: false, why: "computed on the server, as chosen" };
  if (!can.ok) return { device: false, why: `computed on the server: ${can.reason}` };
  if (choice === "device") return { device: true, why: "computed on this device, as chosen" };
  const load = await (await fetch(loadUrl, { cache: "no-store" })).json();
  if (!load.running || !load.tick_seconds) return { device: false, why: "computed on the server: it is idle" };
  const rounds = 1 + Math.ceil(load.waiting / Math.max(1, load.running));
  const server = passes * load.tick_seconds * rounds;
  const here = (passes * (await engine.bench(batch))) / 1000;
  const figures = `about ${here.toFixed(1)} s here against ${server.toFixed(1)} s on the server, where ${load.running} chain${load.running === 1 ? "" : "s"} run`;
  return here < server
    ? { device: true, why: `computed on this device: ${figures}` }
    : { device: false, why: `computed on the server: ${figures}` };
}
