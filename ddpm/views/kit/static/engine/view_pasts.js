/**
 * Many pasts' side of the in-page panel (here.js): what its chains cost, how its frames and its
 * result are drawn (the class histogram on a canvas, as kit.plots.class_histogram draws it), its
 * status in the server's words (views/lessons/many_pasts.py: `pasts`) and its files.
 */

import { round_half_even } from "./images.js";

export const task = "pasts";

/** The forward passes and the batch of a request: t steps of K chains. */
export function cost(request) {
  return { passes: Number(request.t), batch: Number(request.k) };
}

/** Empty the histogram: the last run's counts do not stand beside this run's first frames. */
export function clear(ui) {
  const canvas = ui.plots?.histogram;
  canvas?.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

/** A streamed frame (or the result) on the panel's canvases. */
export function draw(ui, frame) {
  for (const name of ["x_t", "pasts", "x0"]) if (frame[name]) ui.paint(ui.canvases[name], frame[name]);
}

/** Python's format(x, ".0%"): x·100 in double, rounded to a whole number, halves to the even one. */
export function percent(x) {
  return `${round_half_even(x * 100)}%`;
}

/** The sentence of the server's status, without its network (here.js adds it after "p_θ:"). */
export function summary({ t, k }, { distinct, agreement, own_class, known }) {
  const whose = known ? "its label" : "the classifier's reading: this digit has no label";
  return `From t = ${Number(t)}: ${distinct} different classes among ${Number(k)} pasts; ` +
    `${percent(agreement)} are read as your digit's class, ${own_class} (${whose})`;
}

/** How many pasts were read as each class 0 … 9, as bars in the classes' colours (settings.colours),
 * with the plot's title and axes' words (settings.histogram). */
export function histogram(canvas, counts, { colours, histogram: words }) {
  const width = 640;
  const height = 280;
  canvas.width = width;
  canvas.height = height;
  const c = canvas.getContext("2d");
  c.fillStyle = "#ffffff";
  c.fillRect(0, 0, width, height);
  const left = 64, right = 16, top = 40, bottom = 62;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const most = Math.max(1, ...counts);
  const y = (count) => top + plotHeight * (1 - count / (most * 1.05));
  const slot = plotWidth / counts.length;
  c.fillStyle = "#000000";
  c.font = "18px sans-serif";
  c.textAlign = "center";
  c.textBaseline = "middle";
  c.fillText(words.title, left + plotWidth / 2, top / 2);
  const step = Math.max(1, Math.ceil(most / 5));
  c.strokeStyle = "#000000";
  c.lineWidth = 1;
  c.textAlign = "right";
  for (let tick = 0; tick <= most; tick += step) {
    c.fillText(String(tick), left - 8, y(tick));
    c.beginPath();
    c.moveTo(left - 4, y(tick));
    c.lineTo(left, y(tick));
    c.stroke();
  }
  c.textAlign = "center";
  counts.forEach((count, k) => {
    c.fillStyle = colours[k];
    c.fillRect(left + slot * (k + 0.1), y(count), slot * 0.8, top + plotHeight - y(count));
    c.fillStyle = "#000000";
    c.fillText(String(k), left + slot * (k + 0.5), top + plotHeight + 14);
  });
  c.strokeRect(left, top, plotWidth, plotHeight);
  c.fillText(words.x, left + plotWidth / 2, height - 16);
  c.save();
  c.translate(18, top + plotHeight / 2);
  c.rotate(-Math.PI / 2);
  c.fillText(words.y, 0, 0);
  c.restore();
}

/** The finished pasts: their status (before where they ran), the network that ran (in the server's
 * words, settings.networks) and their files [{name, text, url}]. */
export function finish(ui, result, request, props) {
  const { settings } = props;
  draw(ui, result);
  if (ui.plots?.histogram) histogram(ui.plots.histogram, result.counts, settings);
  const [t, k] = [Number(request.t), Number(request.k)];
  const name = `many_pasts_t${t}_k${k}_seed${request.seed}${result.told ? "_told" : ""}`;
  return {
    status: `${summary(request, result)}, ${result.steps} steps of ${k} chains in ${result.seconds.toFixed(1)} s`,
    network: result.told ? settings.networks.told[result.label] : settings.networks.untold,
    files: [
      { name: `${name}_xt.png`, text: "xₜ", url: result.images.x_t },
      { name: `${name}_pasts.png`, text: "pasts", url: result.images.pasts },
      { name: `${name}_x0.png`, text: "x₀", url: result.images.x0 },
    ],
  };
}
