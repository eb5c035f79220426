/**
 * A chain's figures to download, made in the page as the server makes them, pinned by
 * tests/engine/test_files_js.py:
 *
 * - `gif_bytes`: grey frames as an animated GIF, ddpm/images.py's `save_gif` (Pillow's writer): one
 *   frame per frame, each `duration_ms`, the last held `hold_last_ms`, looping forever; a frame the
 *   same as the one before adds its time to it instead (as Pillow merges them). The palette is the
 *   256 greys, so every grey level is exact. The encoder is gifenc's `GIFEncoder` (vendored in
 *   ../vendor/gifenc/; the Worker imports it by the URL of its config and passes it in).
 * - `filmstrip`: kit/plots.py's `filmstrip`, the labelled grid of a chain's pictures (one row per
 *   chain, one column per time, the titles above the first row, the rows' names left of their first
 *   image), drawn on an OffscreenCanvas as a PNG; where each thing goes is `filmstrip_layout`'s, a
 *   pure function. `pick_columns` chooses the columns as kit/recording.py's `save_filmstrip` does.
 *
 * Images are {data: Uint8Array [H·W] of grey levels, height, width}, as frames.js makes them.
 */

import { bytes_data_url, canvas_png_data_url, upscale } from "./frames.js";
import { round_half_even } from "./images.js"; // Python's round() too: halves to the even integer

/** The 256 greys: palette index k is the grey level k. */
const GREYS = Array.from({ length: 256 }, (_, k) => [k, k, k]);

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Grey frames as the bytes of an animated GIF (images.save_gif): `encoder` is gifenc's
 * `GIFEncoder`. Delays are written in hundredths of a second, rounded down, as Pillow writes them.
 * Frames of different sizes are refused (a GIF's frames share its screen).
 */
export function gif_bytes(frames, { duration_ms = 80, hold_last_ms = 1500, encoder } = {}) {
  if (typeof encoder !== "function") throw new TypeError("gif_bytes needs gifenc's GIFEncoder as `encoder`");
  if (!frames.length) throw new RangeError("gif_bytes needs at least one frame");
  const { height, width } = frames[0];
  const kept = []; // [{frame, ms}]: a frame the same as the previous one adds its time to it
  frames.forEach((frame, k) => {
    if (frame.height !== height || frame.width !== width || frame.data.length !== height * width) {
      throw new RangeError(`the GIF's frames must share one size: frame ${k} is ${frame.height}×${frame.width}, ` +
        `frame 0 ${height}×${width}`);
    }
    const ms = k === frames.length - 1 ? hold_last_ms : duration_ms;
    if (kept.length && same(kept[kept.length - 1].frame.data, frame.data)) kept[kept.length - 1].ms += ms;
    else kept.push({ frame, ms });
  });
  const gif = encoder();
  kept.forEach(({ frame, ms }, k) => {
    gif.writeFrame(frame.data, width, height, {
      palette: k === 0 ? GREYS : null, // the global palette, once: later frames use it
      delay: 10 * Math.floor(ms / 10),
      repeat: 0, // loop forever
    });
  });
  gif.finish();
  return gif.bytes();
}

/** Grey frames as a `data:image/gif;base64,…` URL (gif_bytes' options). */
export function gif_data_url(frames, options) {
  return bytes_data_url(gif_bytes(frames, options), "image/gif");
}

/** The columns of `count` kept (indices) a filmstrip of at most `columns` shows, evenly spaced from
 * the first to the last (recording.save_filmstrip; null: all of them). */
export function pick_columns(count, columns = null) {
  const all = Array.from({ length: count }, (_, k) => k);
  if (columns === null || count <= columns) return all;
  if (columns < 2) throw new RangeError(`a filmstrip of ${count} columns picked from needs columns >= 2, got ${columns}`);
  return Array.from({ length: columns }, (_, i) => round_half_even((i * (count - 1)) / (columns - 1)));
}

/**
 * Where a filmstrip's parts go (pixels, from the top left), as plots.filmstrip lays them out: the
 * rows' names right-aligned left of their first image and centred on its row, one title above
 * each column of the first row, the images in rows (in `names`' order) and columns (in `titles`'),
 * each column as wide as its image or its widest title. `image`: {height, width} as drawn;
 * `name_width` and `title_width` the widest name and title as the font draws them; `title_px` and
 * `text_px` their lines' heights. Returns {width, height, images: [{row, column, x, y, width,
 * height}], titles: [{text, column, x, y, width, height}], names: [{text, row, x, y, width,
 * height}]}: each a box (a title centred at its box's bottom, a name right-aligned in its box).
 */
export function filmstrip_layout(names, titles, image, {
  name_width = 0, title_width = 0, title_px = 19, text_px = 18, pad = 6, gap = 10, label_pad = 11,
} = {}) {
  if (!names.length || !titles.length) throw new RangeError("a filmstrip needs at least one row and one column");
  const cell = Math.max(image.width, Math.ceil(title_width));
  const left = pad + Math.ceil(name_width) + label_pad;
  const top = pad + title_px + 4;
  const row_height = Math.max(image.height, text_px);
  const images = [];
  names.forEach((_, row) => titles.forEach((__, column) => {
    const x = left + column * (cell + gap) + Math.floor((cell - image.width) / 2);
    images.push({ row, column, x, y: top + row * (row_height + gap), width: image.width, height: image.height });
  }));
  return {
    width: left + titles.length * cell + (titles.length - 1) * gap + pad,
    height: top + names.length * row_height + (names.length - 1) * gap + pad,
    images,
    titles: titles.map((text, column) => (
      { text, column, x: left + column * (cell + gap), y: pad, width: cell, height: title_px })),
    names: names.map((text, row) => ({
      text, row, x: pad, y: top + row * (row_height + gap) + Math.floor((image.height - text_px) / 2),
      width: Math.ceil(name_width), height: text_px,
    })),
  };
}

/**
 * The filmstrip of `rows` ({name: [image per column]}, in the figure's order) under `titles`, as a
 * PNG data URL: each image drawn `zoom` times its size (nearest neighbour) in a thin black frame, on
 * white, the text in `font` at `title_px` and `text_px` pixels (matplotlib's, at the figure's DPI).
 * Needs an OffscreenCanvas (a Worker or a page; not Node).
 */
export async function filmstrip(rows, titles, { zoom = 2, title_px = 19, text_px = 18, font = "sans-serif" } = {}) {
  const names = Object.keys(rows);
  const images = Object.values(rows).flat();
  Object.entries(rows).forEach(([name, row]) => {
    if (row.length !== titles.length) throw new RangeError(`row ${name} has ${row.length} images, not one per title (${titles.length})`);
  });
  const { height, width } = images[0] ?? {};
  if (images.some((one) => one.height !== height || one.width !== width)) {
    throw new RangeError("a filmstrip's images must share one size");
  }
  const measure = new OffscreenCanvas(1, 1).getContext("2d");
  const widest = (texts, px) => {
    measure.font = `${px}px ${font}`;
    return Math.max(0, ...texts.map((text) => measure.measureText(text).width));
  };
  const layout = filmstrip_layout(names, titles, { height: height * zoom, width: width * zoom }, {
    name_width: widest(names, text_px), title_width: widest(titles, title_px), title_px, text_px,
  });
  const canvas = new OffscreenCanvas(layout.width, layout.height);
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, layout.width, layout.height);
  context.strokeStyle = context.fillStyle = "#000";
  context.lineWidth = 1;
  layout.images.forEach(({ row, column, x, y, width: w, height: h }) => {
    const grey = upscale(rows[names[row]][column], zoom);
    const pixels = context.createImageData(w, h);
    grey.data.forEach((level, i) => {
      pixels.data.set([level, level, level, 255], 4 * i);
    });
    context.putImageData(pixels, x, y);
    context.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
  });
  context.font = `${title_px}px ${font}`;
  context.textAlign = "center";
  context.textBaseline = "bottom";
  layout.titles.forEach(({ text, x, y, width: w, height: h }) => context.fillText(text, x + w / 2, y + h));
  context.font = `${text_px}px ${font}`;
  context.textAlign = "right";
  context.textBaseline = "middle";
  layout.names.forEach(({ text, x, y, width: w, height: h }) => context.fillText(text, x + w, y + h / 2));
  return canvas_png_data_url(canvas);
}
