// The in-page result (ddpm.views.kit.here.in_page_panel): a view's chain computed on this device by
// the engine (static/engine/), drawn here as it runs, then handed to the view's chain player, with
// its files to download. props: client, worker, config (the engine's URLs; config null: this server
// cannot give the page its networks), view (the view's module: engine/view_<name>.js), plots (the
// id of the view's in-page plots, kit.here.in_page_plots, or ""), load (the server's load), reason
// (why not, when config is null), server_run (the id of the button that runs the chain on the
// server), player (the id of the view's chain player; empty: a view without one), settings (the
// view's constants: widths, frames, series names), T. The view module draws on the canvases by
// name: `ui.canvases`, the panel's images, and `ui.plots`, those of the view's in-page plots
// (where the view shows the server's plots).
//
// `ddpmRun(request)` on the panel's element decides where the chain runs (client.js: choose) and
// runs it; the view's Run button calls it. `ddpmStop()` ends the Worker at once. What is the view's
// own (its task, its cost, how its frames are drawn, its files) is the view module's.

const root = element.querySelector(".ddpm-here");
const status = root.querySelector(".here-status");
const why = element.querySelector(".here-why");
const files = root.querySelector(".here-files");
const column = element.closest(".result") ?? element.parentElement;
const scope = element.closest(".tabitem") ?? column; // the view: its server outputs hide while the page computes
const byName = (list, key) => Object.fromEntries([...list].map((c) => [c.dataset[key], c]));
const canvases = () => byName(root.querySelectorAll("canvas[data-image]"), "image");
const plotCanvases = () => byName(document.getElementById(props.plots)?.querySelectorAll("canvas[data-plot]") ?? [], "plot");
const host = element.closest(`#${CSS.escape(props.panel)}`) ?? element; // what the view's buttons find by id
let engine = null;
let running = 0; // the newest run (a stopped or older one that ends later is ignored)

const client = () => import(props.client);
const view = () => import(props.view);

async function theEngine() {
  if (!engine) {
    const { Engine } = await client();
    engine = new Engine({ worker: props.worker, config: props.config });
  }
  return engine;
}

function bar(done, total, width = 24) {
  const filled = Math.round((width * done) / total);
  return `${"█".repeat(filled)}${"░".repeat(width - filled)} ${String(Math.floor((100 * done) / total)).padStart(3)}%`;
}

function here(on) {
  scope.classList.toggle("computing-here", on);
}

function link({ name, text, url }) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.textContent = text;
  a.title = name;
  return a;
}

function onServer(reason) {
  here(false);
  why.textContent = reason;
  document.getElementById(props.server_run)?.click();
}

host.ddpmStop = () => {
  if (!running) return;
  running = 0;
  engine?.stop();
  status.textContent = "Stopped.";
};

host.ddpmRun = async (request) => {
  const mine = ++running;
  if (!props.config) return onServer(`computed on the server: ${props.reason}`);
  let choice;
  let mod;
  let ui;
  try {
    const [{ choose, paint }, viewModule] = await Promise.all([client(), view()]);
    mod = viewModule;
    ui = { canvases: canvases(), plots: plotCanvases(), paint, root, element, props, request, frames: client };
    const only = mod.server?.(request, props); // what this request asks of the server alone
    const { passes, batch } = mod.cost(request, props);
    choice = only && request.compute !== "server"
      ? { device: false, why: `computed on the server: ${only}` }
      : await choose(request.compute, await theEngine(), { passes, batch, loadUrl: props.load });
  } catch (error) {
    choice = { device: false, why: `computed on the server: the engine could not start (${error.message})` };
  }
  if (mine !== running) return;
  if (!choice.device) return onServer(request.compute === "server" ? "" : choice.why); // as chosen: nothing to say
  here(true);
  why.textContent = "";
  const player = props.player ? document.querySelector(`#${CSS.escape(props.player)} .ddpm-chain`) : null;
  player?.dispatchEvent(new CustomEvent("ddpm-value", { detail: null })); // the last chain out: this one's frames show
  files.replaceChildren();
  mod.clear?.(ui);
  status.textContent = "Starting the engine on this device…";
  const started = performance.now();
  try {
    const result = await engine.run(mod.task, { ...request, settings: props.settings }, (frame) => {
      if (mine !== running) return;
      mod.draw(ui, frame);
      const left = (frame.seconds / frame.done) * (frame.total - frame.done);
      const progress = document.createElement("code");
      progress.textContent = bar(frame.done, frame.total);
      status.replaceChildren(progress, ` step ${frame.done} / ${frame.total} (t = ${frame.t}) · ` +
        `${frame.seconds.toFixed(1)} s on this device · about ${Math.ceil(left)} s left`);
    });
    if (mine !== running) return;
    running = 0;
    const total = ((performance.now() - started) / 1000).toFixed(1);
    const done = await mod.finish(ui, result, request, props);
    const where = `${total} s with the engine's start, ${choice.why}`;
    // a view's own line says where it ran in few words: "on this device", or Auto's reasons
    const here = request.compute === "device" ? "on this device" : choice.why;
    // a view's own line names where it ran ({where}); else: done, what ran, where, the network
    status.textContent = done.line ? done.line.replace("{where}", here)
      : `done: ${done.status} (${where})` + (done.network ? ` · p_θ: ${done.network}.` : "");
    player?.dispatchEvent(new CustomEvent("ddpm-value", { detail: result.player }));
    if (done.files.length) {  // folded: the links take one word of the line until opened
      const fold = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = `${done.files.length} files`;
      summary.title = "download the result's files";
      fold.append(summary, ...done.files.flatMap((file) => [link(file), " "]));
      files.replaceChildren(fold);
    }
  } catch (error) {
    if (mine !== running) return; // stopped: the Worker was ended on purpose
    running = 0;
    status.textContent = `The engine stopped with an error (${error.message}); this run goes to the server.`;
    engine?.stop();
    onServer(`computed on the server: the engine failed (${error.message})`);
  }
};
