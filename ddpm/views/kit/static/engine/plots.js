/**
 * A chain's curves drawn in the page, on a canvas: what ddpm/views/kit/plots.py's `ChainCurves`
 * (one log-scale panel per title, t from the chain's start down to 0, right to left) and
 * `class_probability_plot` (the classifier's ten class probabilities over t) draw on the server
 * with matplotlib. The numbers are the engine's; the colours, titles and sizes come from the view
 * (its in-page settings), so the page draws what the server draws, in the page's own pixels.
 *
 * A figure: {width, height (CSS pixels), font (px), panels: [{title, x: [from, to], log (a log
 * y-axis), y: [low, high] (null: from the data), y_label, series: [{name, colour, points:
 * [[x, y], …]}]}]}. A legend is drawn on a panel with more than one named series.
 */

const PAD = { left: 64, right: 14, top: 34, bottom: 44 };

/** About `count` round tick values in [low, high] (1, 2 or 5 times a power of ten apart). */
export function linear_ticks(low, high, count = 5) {
  const span = Math.abs(high - low) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const from = Math.ceil(Math.min(low, high) / step) * step;
  const ticks = [];
  for (let v = from; v <= Math.max(low, high) + 1e-9 * step; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** The powers of ten in [low, high] (at least the two around a range inside one decade). */
export function log_ticks(low, high) {
  const ticks = [];
  for (let k = Math.floor(Math.log10(low)); k <= Math.ceil(Math.log10(high)); k++) ticks.push(10 ** k);
  const inside = ticks.filter((v) => v >= low * 0.999 && v <= high * 1.001);
  return inside.length >= 2 ? inside : ticks;
}

/** A panel's y range: its given one, or the data's (log: ×/÷ 1.5 around the positive values, as
 * ChainCurves sets it; linear: the values' span). */
export function y_range(panel) {
  if (panel.y) return panel.y;
  const values = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => Number.isFinite(y) && (!panel.log || y > 0));
  if (!values.length) return panel.log ? [1e-3, 1] : [0, 1];
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (panel.log) return [low / 1.5, high * 1.5];
  return low === high ? [low - 1, high + 1] : [low, high];
}

function label(value, log) {
  if (log) {
    const k = Math.round(Math.log10(value));
    return k >= -3 && k <= 3 ? String(10 ** k >= 1 ? 10 ** k : Number((10 ** k).toFixed(-k))) : `1e${k}`;
  }
  return String(value);
}

/** Draw a figure on `canvas` (its pixels: the CSS size times the device's pixel ratio). */
export function draw_figure(canvas, { width, height, font = 16, panels }) {
  const ratio = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  if (canvas.style) canvas.style.width = `${width}px`; // its CSS size (a page's canvas; not an OffscreenCanvas)
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, width, height);
  const share = width / panels.length;
  panels.forEach((panel, i) => draw_panel(g, panel, i * share, share, height, font));
}

function draw_panel(g, panel, left, width, height, font) {
  const box = { x: left + PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  const [x0, x1] = panel.x;
  const [low, high] = y_range(panel);
  const fy = panel.log ? (v) => Math.log10(Math.max(v, 1e-12)) : (v) => v;
  const X = (x) => box.x + ((x - x0) / (x1 - x0 || 1)) * box.w;
  const Y = (y) => box.y + box.h - ((fy(y) - fy(low)) / (fy(high) - fy(low) || 1)) * box.h;
  g.font = `${font}px sans-serif`;
  g.fillStyle = "#222";
  g.strokeStyle = "#222";
  g.lineWidth = 1;
  // the grid and the ticks
  g.textAlign = "center";
  g.textBaseline = "top";
  for (const x of linear_ticks(x0, x1)) {
    g.strokeStyle = "rgba(0,0,0,0.12)";
    g.beginPath(); g.moveTo(X(x), box.y); g.lineTo(X(x), box.y + box.h); g.stroke();
    g.fillText(String(x), X(x), box.y + box.h + 4);
  }
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const y of panel.log ? log_ticks(low, high) : linear_ticks(low, high, 4)) {
    if (y < low * 0.999 || y > high * 1.001) continue;
    g.strokeStyle = "rgba(0,0,0,0.12)";
    g.beginPath(); g.moveTo(box.x, Y(y)); g.lineTo(box.x + box.w, Y(y)); g.stroke();
    g.fillText(label(y, panel.log), box.x - 5, Y(y));
  }
  g.strokeStyle = "#222";
  g.strokeRect(box.x, box.y, box.w, box.h);
  g.textAlign = "center";
  g.textBaseline = "alphabetic";
  g.fillText("t", box.x + box.w / 2, height - 6);
  g.font = `${font + 1}px sans-serif`;
  g.fillText(panel.title, left + width / 2, PAD.top - 10, width - 8);
  g.font = `${font}px sans-serif`;
  // the curves, clipped to the box
  g.save();
  g.beginPath(); g.rect(box.x, box.y, box.w, box.h); g.clip();
  g.lineWidth = 2;
  for (const series of panel.series) {
    g.strokeStyle = series.colour;
    g.beginPath();
    series.points.forEach(([x, y], k) => (k ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
  }
  g.restore();
  const named = panel.series.filter((s) => s.name);
  if (named.length > 1) legend(g, named, box, font);
}

function legend(g, series, box, font) {
  const line = font + 4;
  const columns = series.length > 5 ? 2 : 1;
  const rows = Math.ceil(series.length / columns);
  const cell = Math.max(...series.map((s) => g.measureText(s.name).width)) + 30;
  const w = columns * cell + 8;
  const h = rows * line + 6;
  const x = box.x + box.w - w - 6;
  const y = box.y + 6;
  g.fillStyle = "rgba(255,255,255,0.85)";
  g.fillRect(x, y, w, h);
  g.textAlign = "left";
  g.textBaseline = "middle";
  series.forEach((s, k) => {
    const cx = x + 4 + Math.floor(k / rows) * cell;
    const cy = y + 3 + (k % rows) * line + line / 2;
    g.strokeStyle = s.colour;
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(cx, cy); g.lineTo(cx + 20, cy); g.stroke();
    g.fillStyle = "#222";
    g.fillText(s.name, cx + 25, cy);
  });
}
