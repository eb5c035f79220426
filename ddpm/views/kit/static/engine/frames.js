/**
 * A chain's pictures as the page draws them, pinned to the core by tests/engine/test_frames_js.py:
 * ddpm/images.py's `to_display`, `make_grid` and `upscale`, ddpm/views/kit/widgets.py's
 * `show_grid`, and ddpm/views/kit/players.py's `sprite_sheet` and `chain_value` (the player's value,
 * documented in docs/library.md, "A chain's recording: the player's value"). A chain computed in
 * the page fills the same value as one computed on the server, and the same player draws it.
 *
 * Images are flat typed arrays: a batch [N, H, W] (one channel) of float32 model values, or uint8
 * grey levels (0 black, 255 white). Float32 rule as in diffusion.js: each operation rounded with
 * Math.fround, in torch's order.
 */

import { to_uint8 } from "./images.js";

const f = Math.fround;

/** Grey levels of float32 values: `low` → 0, `high` → 255, clipped (images.to_display). */
export function to_display(x, low = -1, high = 1) {
  if (!(high > low)) throw new RangeError(`need high > low, got low=${low}, high=${high}`);
  const scale = f(2 / (high - low));
  const moved = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) moved[i] = f(f(f(x[i] - low) * scale) - 1);
  return to_uint8(moved);
}

/** Tiles of a uint8 batch [n, height, width] in one grid, row-major (images.make_grid): returns
 * {data: Uint8Array [rows·(H + p) + p, cols·(W + p) + p], height, width}. */
export function make_grid(stack, n, height, width, nrow = 8, padding = 2, pad_value = 128) {
  if (!Number.isInteger(nrow) || nrow < 1) throw new RangeError(`nrow must be an integer >= 1, got ${nrow}`);
  if (stack.length !== n * height * width) {
    throw new RangeError(`the batch holds ${stack.length} pixels, not n·H·W = ${n * height * width}`);
  }
  const cols = Math.min(nrow, n);
  const rows = Math.ceil(n / cols);
  const gridHeight = rows * (height + padding) + padding;
  const gridWidth = cols * (width + padding) + padding;
  const data = new Uint8Array(gridHeight * gridWidth).fill(pad_value);
  for (let i = 0; i < n; i++) {
    const top = padding + Math.floor(i / cols) * (height + padding);
    const left = padding + (i % cols) * (width + padding);
    for (let r = 0; r < height; r++) {
      const from = (i * height + r) * width;
      data.set(stack.subarray(from, from + width), (top + r) * gridWidth + left);
    }
  }
  return { data, height: gridHeight, width: gridWidth };
}

/** Nearest-neighbour upscaling of a grey image by an integer factor (images.upscale). */
export function upscale({ data, height, width }, factor) {
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`factor must be an integer >= 1, got ${factor}`);
  if (factor === 1) return { data, height, width };
  const out = new Uint8Array(height * factor * width * factor);
  const row = new Uint8Array(width * factor);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width * factor; j++) row[j] = data[i * width + Math.floor(j / factor)];
    for (let k = 0; k < factor; k++) out.set(row, (i * factor + k) * width * factor);
  }
  return { data: out, height: height * factor, width: width * factor };
}

/** A batch [n, 1, H, W] of float32 model values as one grid about `max_width` pixels wide
 * (widgets.show_grid: ⌈√n⌉ a row, 2 pixels of grey 96 between; 0: one pixel per pixel). */
export function show_grid(x, n, height, width, { low = -1, high = 1, max_width = 640 } = {}) {
  const nrow = Math.ceil(Math.sqrt(n));
  const grid = make_grid(to_display(x, low, high), n, height, width, nrow, 2, 96);
  return upscale(grid, Math.max(1, Math.floor(max_width / grid.width)));
}

/** Frames uint8 [N, H, W] as one sheet [H·F, ⌈N / F⌉·W], F frames a block (players.sprite_sheet):
 * frame k's row i is the sheet's row i·F + k mod F, in the block ⌊k / F⌋; empty places are 0. */
export function sprite_sheet(frames, n, height, width) {
  const perBlock = Math.max(1, Math.min(n, Math.ceil(Math.sqrt((n * width) / height))));
  const blocks = Math.ceil(n / perBlock);
  const sheetWidth = blocks * width;
  const data = new Uint8Array(height * perBlock * sheetWidth);
  for (let k = 0; k < n; k++) {
    const left = Math.floor(k / perBlock) * width;
    for (let i = 0; i < height; i++) {
      const from = (k * height + i) * width;
      data.set(frames.subarray(from, from + width), (i * perBlock + (k % perBlock)) * sheetWidth + left);
    }
  }
  return { data, height: height * perBlock, width: sheetWidth, per_block: perBlock };
}

/** Paint a grey image on a canvas (a page's or an OffscreenCanvas), which takes its size. */
export function paint(canvas, { data, height, width }) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < data.length; i++) {
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = data[i];
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

/** Bytes as a data URL of the MIME type `type` (base64). */
export function bytes_data_url(bytes, type) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:${type};base64,${btoa(binary)}`;
}

/** A canvas (an OffscreenCanvas) as a PNG data URL. */
export async function canvas_png_data_url(canvas) {
  const blob = await canvas.convertToBlob({ type: "image/png" });
  return bytes_data_url(new Uint8Array(await blob.arrayBuffer()), "image/png");
}

/** A grey image as a PNG data URL (OffscreenCanvas: in a Worker or a page; not in Node). */
export async function png_data_url(grey) {
  const canvas = new OffscreenCanvas(grey.width, grey.height);
  paint(canvas, grey);
  return canvas_png_data_url(canvas);
}

/**
 * The frames a chain keeps for its player, one per step (kit.recording.Recording's `keep` and
 * `value`): `keep(t, {name: {data, height, width}})`; a series left out keeps its previous frame.
 * `value(encode)` is the player's value, each sheet made an image URL by `encode` (png_data_url).
 */
export class Recording {
  constructor(label = "t", ranges = {}) {
    this.label = label;
    this.ranges = ranges;
    this.times = [];
    this.frames = null; // name -> [{data, height, width}] per step
  }

  keep(t, frames) {
    if (this.frames === null) {
      if (!Object.keys(frames).length) throw new RangeError("the player's first frame needs at least one series");
      this.frames = Object.fromEntries(Object.keys(frames).map((name) => [name, []]));
    } else {
      const unknown = Object.keys(frames).filter((name) => !(name in this.frames));
      if (unknown.length) throw new RangeError(`series ${unknown} are not the player's: ${Object.keys(this.frames)}`);
    }
    for (const [name, kept] of Object.entries(this.frames)) kept.push(frames[name] ?? kept[kept.length - 1]);
    this.times.push(t);
  }

  /** The sheets before encoding: [{name, height, width, range, per_block, sheet: {data, height, width}}]. */
  sheets() {
    return Object.entries(this.frames ?? {}).map(([name, kept]) => {
      const { height, width } = kept[0];
      const stack = new Uint8Array(kept.length * height * width);
      kept.forEach((frame, k) => {
        if (frame.height !== height || frame.width !== width) {
          throw new RangeError(`series ${name}'s frames must share one size, got ${frame.height}×${frame.width}`);
        }
        stack.set(frame.data, k * height * width);
      });
      const sheet = sprite_sheet(stack, kept.length, height, width);
      const range = (this.ranges[name] ?? [-1, 1]).map(Number);
      return { name, height, width, range, per_block: sheet.per_block, sheet };
    });
  }

  /** The player's value (docs/library.md), its start the last step (where the chain ended). */
  async value(encode = png_data_url) {
    const series = [];
    for (const { sheet, ...entry } of this.sheets()) series.push({ ...entry, sheet: await encode(sheet) });
    return { label: this.label, times: [...this.times], start: Math.max(0, this.times.length - 1), series };
  }
}
