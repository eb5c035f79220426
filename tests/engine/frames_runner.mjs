// The page's pictures (engine/frames.js) of the test's arrays: tests/engine/test_frames_js.py.
import { engine, pack, payload, reply, unpack } from "./nodekit.mjs";

const frames = await engine("frames.js");
const p = payload();
const out = { display: [], grids: [], shown: [], sheets: [], recording: null };
for (const { x, low, high } of p.display) out.display.push(pack(frames.to_display(unpack(x).data, low, high)));
for (const { stack, n, height, width, nrow } of p.grids) {
  const grid = frames.make_grid(unpack(stack).data, n, height, width, nrow, 2, 96);
  out.grids.push(pack(grid.data, [grid.height, grid.width]));
}
for (const { x, n, max_width } of p.shown) {
  const grid = frames.show_grid(unpack(x).data, n, 28, 28, { max_width });
  out.shown.push(pack(grid.data, [grid.height, grid.width]));
}
for (const { stack, n, height, width } of p.sheets) {
  const sheet = frames.sprite_sheet(unpack(stack).data, n, height, width);
  out.sheets.push({ sheet: pack(sheet.data, [sheet.height, sheet.width]), per_block: sheet.per_block });
}
const recording = new frames.Recording("t", p.recording.ranges);
for (const { t, frames: kept } of p.recording.steps) {
  recording.keep(t, Object.fromEntries(Object.entries(kept).map(([name, image]) => {
    const { data, shape } = unpack(image);
    return [name, { data, height: shape[0], width: shape[1] }];
  })));
}
const value = await recording.value(async (sheet) => pack(sheet.data, [sheet.height, sheet.width]));
out.recording = value;
reply(out);
