/**
 * Generate's side of the in-page panel (here.js): what its chain costs, how its frames and its
 * result are drawn, and its files, named as views/generate.py names the server's.
 */

export const task = "generate";

/** The forward passes and the batch of a request (for the automatic choice of where to compute). */
export function cost(request, props) {
  const passes = request.sampler === "ddpm" ? props.T : Number(request.steps);
  const guided = request.digit !== props.settings.none && Number(request.guidance) > 0;
  return { passes, batch: Number(request.n) * (guided ? 2 : 1) };
}

/** A streamed frame (or the result) on the panel's canvases. */
export function draw(ui, frame) {
  ui.paint(ui.canvases.x_t, frame.x_t);
  ui.paint(ui.canvases.x0_hat, frame.x0_hat);
}

/** The file names' tag of a request, as views/generate.py's `describe` writes it. */
function tag({ digit, guidance }, { prior, all, none }) {
  const w = String(Number(guidance));
  if (digit === prior) return `_prior_w${w}`;
  if (digit === all) return `_all_w${w}`;
  if (digit === none) return "_none";
  return `_digit${digit}_w${w}`;
}

/** The finished chain: its status (before where it ran), the network that ran (in the server's
 * words) and its files [{name, text, url}], named as the server's: the final grids, the GIF and
 * the filmstrip. */
export function finish(ui, result, request, props) {
  draw(ui, result);
  const named = `seed${request.seed}${tag(request, props.settings)}`;
  const name = `generation_${named}`;
  return {
    status: `${request.n} digits, ${result.steps} steps in ${result.seconds.toFixed(1)} s`,
    network: props.settings.networks[result.told ? "told" : "untold"],
    files: [
      { name: `${name}_xt.png`, text: "xₜ", url: result.images.x_t },
      { name: `${name}_x0hat.png`, text: "x̂₀", url: result.images.x0_hat },
      { name: `${name}.gif`, text: "GIF", url: result.images.gif },
      { name: `filmstrip_${named}.png`, text: "filmstrip", url: result.images.filmstrip },
    ],
  };
}
