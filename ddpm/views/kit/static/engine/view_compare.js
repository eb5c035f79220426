/**
 * The reverse view's side of the in-page panel (here.js): a comparison's cost, its four images as
 * they come, its curves drawn on the panel's canvases (plots.js: what views/reverse_stream.py's
 * ComparisonPlots draws on the server), its status and verdict in the server's words
 * (views/reverse_stream.py: `Comparison.status`, `verdict`), and its files, named as the server
 * names them.
 */

import { draw_figure } from "./plots.js";

export const task = "compare";

const IMAGES = ["exact", "learned", "x0_hat", "eps_hat"]; // the canvases, in the player's series order
let shown = { steps: [], readout: [] }; // the running comparison's curves so far

/** Why a request runs on the server whatever was chosen: the true reverse of the training set
 * (60,000 digits) is the server's. */
export function server(request) {
  return request.truth ? "the true reverse of the training set runs there" : "";
}

/** The forward passes and the batch of a request: the chains from t, both in one pass (three
 * told the class: the exact chain's x_t without and with it). */
export function cost(request) {
  return { passes: Number(request.t), batch: request.told ? 3 : 2 };
}

export function clear(ui) {
  shown = { steps: [], readout: [] };
  for (const canvas of [...IMAGES.map((name) => ui.canvases[name]), ui.plots.filmstrip]) {
    canvas?.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
  plots(ui, ui.props.settings, Number(ui.request.t));
}

/** The panels of the comparison's curves (reverse.py's comparison_curves): KL per step for t ≥ 2,
 * the RMS gaps; one series each, or "without y" and "told y". */
export function curves(steps, settings) {
  const told = steps.length > 0 && steps[0].conditioned;
  const rows = told ? [["without y", (s) => s], ["told y", (s) => s.conditioned]] : [["", (s) => s]];
  // the names as the core's: "KL" or "KL without y" / "KL told y"; "RMS" or "without y" / "told y"
  const series = (key, prefix, only = () => true) => rows.map(([suffix, of], k) => ({
    name: (told ? `${prefix} ${suffix}` : prefix || "RMS").trim(), colour: settings.colours[k],
    points: steps.filter(only).map((s) => [s.t, of(s)[key]]),
  }));
  return {
    kl: series("kl_bpd", "KL", (s) => s.t > 1),
    mean_gap: series("mean_gap", ""),
    x0_error: series("x0_error", ""),
  };
}

function plots(ui, settings, t) {
  const c = curves(shown.steps, settings);
  const x = [Math.max(t, 1), 0];
  const size = settings.plot;
  const titles = settings.titles;
  const canvases = ui.plots;
  if (canvases.kl) {
    draw_figure(canvases.kl, { ...size.curves, panels: [{ title: titles.kl, x, log: true, series: c.kl }] });
  }
  if (canvases.gaps) {
    draw_figure(canvases.gaps, { ...size.curves, panels: [
      { title: titles.mean_gap, x, log: true, series: c.mean_gap },
      { title: titles.x0_error, x, log: true, series: c.x0_error },
    ] });
  }
  if (canvases.readout) {
    const ts = shown.readout.map(([time]) => time);
    const series = settings.class_colours.map((colour, k) => ({
      name: String(k), colour, points: shown.readout.map(([time, p]) => [time, p[k]]),
    }));
    draw_figure(canvases.readout, { ...size.readout, panels: [{
      title: titles.readout, x: [ts.length ? Math.max(...ts) : t, 0], log: false, y: [-0.03, 1.03], series,
    }] });
  }
}

function paintImages(ui, images, series) {
  IMAGES.forEach((name, k) => {
    const image = images[series ? series[k] : name];
    if (image && ui.canvases[name]) ui.paint(ui.canvases[name], image);
  });
}

/** A streamed frame: the four images, then the curves with the frame's new steps. */
export function draw(ui, frame) {
  paintImages(ui, frame.images, ui.props.settings.series);
  shown.steps.push(...frame.steps);
  shown.readout.push(...frame.readout);
  plots(ui, ui.props.settings, Number(ui.request.t));
}

function an(digit) {
  return `${Number(digit) === 8 ? "an" : "a"} ${digit}`;
}

function argmax(p) {
  let top = 0;
  for (let k = 1; k < p.length; k++) if (p[k] > p[top]) top = k;
  return top;
}

/** What the final status adds about where the chains ended (reverse_stream.py's `verdict`). */
export function verdict({ exact, learned, label }, t) {
  const exactClass = argmax(exact);
  const own = label ?? exactClass;
  const learnedClass = argmax(learned);
  let text = "";
  if (own !== learnedClass) {
    text += `\nThe learned chain ended on ${an(learnedClass)}, the exact chain on the ${own} it started from:` +
      ` expected from t = ${t} (see below).`;
  }
  if (label !== null && exactClass !== label) text += ` (The classifier reads this ${label} as ${an(exactClass)}.)`;
  return text;
}

/** The network that ran, in the server's words (views/reverse.py's `in_page_settings`). */
export function network(result, settings) {
  if (!result.told) return settings.networks.untold;
  return settings.networks.told[String(result.told_label)][result.known === null ? "reading" : "label"];
}

/** An image URL drawn on a canvas at its own size. */
async function show_image(canvas, url) {
  const image = new Image();
  image.src = url;
  await image.decode();
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  canvas.getContext("2d").drawImage(image, 0, 0);
}

async function png(ui, grey, scale) {
  const { upscale, png_data_url } = await ui.frames();
  return png_data_url(upscale(grey, scale));
}

/** The finished comparison: the chains' x_0, the curves to the end (the read-out down to t = 0),
 * the status line (the server's words, with the bound's sum and the verdict; {where}: where it
 * ran, in few words, which here.js fills) and the files the server path writes. */
export async function finish(ui, result, request, props) {
  const settings = props.settings;
  paintImages(ui, result.images, null);
  shown.steps.push(...result.steps);
  shown.readout.push(...result.readout);
  plots(ui, settings, result.t);
  const name = (field) => `${field}_t${result.t}_seed${request.seed}.png`;
  const files = [];
  for (const [field, text] of [["exact", "exact x₀"], ["learned", "learned x₀"], ["x0_hat", "x̂₀"], ["eps_hat", "ε̂"]]) {
    files.push({ name: name(field), text, url: await png(ui, result.images[field], settings.final_scale) });
  }
  for (const field of ["kl", "gaps", "readout"]) {
    if (ui.plots[field]) files.push({ name: name(field), text: field, url: ui.plots[field].toDataURL("image/png") });
  }
  files.push({ name: `filmstrip_t${result.t}_seed${request.seed}.png`, text: "filmstrip", url: result.images.filmstrip });
  if (ui.plots.filmstrip) await show_image(ui.plots.filmstrip, result.images.filmstrip);
  // as the server's final status (reverse_stream.py: Comparison.status), then where it ran
  return {
    line: `t = 0 · step ${result.t} of ${result.t} · ${result.seconds.toFixed(1)} s ({where}) · learned p_θ: ` +
      `${network(result, settings)} · done: along the exact chain, back at x₀, the bound's terms L_{t−1} (t ≥ 2)` +
      ` and L₀ = −log p_θ(x₀ | x₁) add up to ${result.kl_sum_bpd.toFixed(3)} bits/dim` +
      ` (L₀: ${result.kl_bpd.toFixed(3)}).${verdict(result.ends, result.t)}`,
    files,
  };
}
