// The in-page result (ddpm.views.kit.here.in_page_panel): a view's chain computed on this device by
// the engine (static/engine/), drawn here as it runs, then handed to the view's chain player, with
// its files to download. props: client, worker, config (the engine's URLs; config null: this server
// cannot give the page its networks), load (the server's load), reason (why not, when config is
// null), server_run (the id of the button that runs the chain on the server), player (the id of the
// view's chain player), settings (the view's constants: widths, frames, series names), T.
//
// `ddpmRun(request)` on the panel's element decides where the chain runs (client.js: choose) and runs it; the view's
// Run button calls it. `ddpmStop()` ends the Worker at once.

const root = element.querySelector(".ddpm-here");
const status = root.querySelector(".here-status");
const why = element.querySelector(".here-why");
const files = root.querySelector(".here-files");
const canvases = { x_t: root.querySelector('[data-image="x_t"]'), x0_hat: root.querySelector('[data-image="x0_hat"]') };
const column = element.closest(".result") ?? element.parentElement;
const host = element.closest(`#${CSS.escape(props.panel)}`) ?? element; // what the view's buttons find by id
let engine = null;
let running = 0; // the newest run (a stopped or older one that ends later is ignored)

const client = () => import(props.client);

async function theEngine() {
  if (!engine) {
    const { Engine } = await client();
    engine = new Engine({ worker: props.worker, config: props.config });
  }
  return engine;
}

let draw = null; // engine/frames.js's paint, once client.js has loaded

function bar(done, total, width = 24) {
  const filled = Math.round((width * done) / total);
  return `${"█".repeat(filled)}${"░".repeat(width - filled)} ${String(Math.floor((100 * done) / total)).padStart(3)}%`;
}

function here(on) {
  column.classList.toggle("computing-here", on);
}

/** The file names' tag of a request, as views/generate.py's `describe` writes it. */
function tag({ digit, guidance }) {
  const w = String(Number(guidance));
  const { prior, all, none } = props.settings;
  if (digit === prior) return `_prior_w${w}`;
  if (digit === all) return `_all_w${w}`;
  if (digit === none) return "_none";
  return `_digit${digit}_w${w}`;
}

function link(name, text, url) {
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
  try {
    const { choose, paint } = await client();
    draw = paint;
    const passes = request.sampler === "ddpm" ? props.T : request.steps;
    const guided = request.digit !== props.settings.none && Number(request.guidance) > 0;
    choice = await choose(request.compute, await theEngine(), { passes, batch: request.n * (guided ? 2 : 1), loadUrl: props.load });
  } catch (error) {
    choice = { device: false, why: `computed on the server: the engine could not start (${error.message})` };
  }
  if (mine !== running) return;
  if (!choice.device) return onServer(request.compute === "server" ? "" : choice.why); // as chosen: nothing to say
  here(true);
  why.textContent = "";
  const player = document.querySelector(`#${props.player} .ddpm-chain`);
  player?.dispatchEvent(new CustomEvent("ddpm-value", { detail: null })); // the last chain out: this one's frames show
  files.replaceChildren();
  status.textContent = "Starting the engine on this device…";
  const started = performance.now();
  try {
    const result = await engine.generate({ ...request, settings: props.settings }, (frame) => {
      if (mine !== running) return;
      draw(canvases.x_t, frame.x_t);
      draw(canvases.x0_hat, frame.x0_hat);
      const left = (frame.seconds / frame.done) * (frame.total - frame.done);
      status.textContent = `${bar(frame.done, frame.total)} step ${frame.done} / ${frame.total} (t = ${frame.t}) · ` +
        `${frame.seconds.toFixed(1)} s on this device · about ${Math.ceil(left)} s left`;
    });
    if (mine !== running) return;
    running = 0;
    draw(canvases.x_t, result.x_t);
    draw(canvases.x0_hat, result.x0_hat);
    const total = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = `done: ${request.n} digits, ${result.steps} steps in ${result.seconds.toFixed(1)} s ` +
      `(${total} s with the engine's start), ${choice.why}`;
    player?.dispatchEvent(new CustomEvent("ddpm-value", { detail: result.player }));
    const name = `generation_seed${request.seed}${tag(request)}`;
    files.replaceChildren("· download ", link(`${name}_xt.png`, "xₜ", result.images.x_t), " ",
      link(`${name}_x0hat.png`, "x̂₀", result.images.x0_hat));
  } catch (error) {
    if (mine !== running) return; // stopped: the Worker was ended on purpose
    running = 0;
    status.textContent = `The engine stopped with an error (${error.message}); this run goes to the server.`;
    engine?.stop();
    onServer(`computed on the server: the engine failed (${error.message})`);
  }
};
