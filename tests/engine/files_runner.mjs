// A chain's files as the page makes them (engine/files.js) of the test's frames: tests/engine/test_files_js.py.
import { engine, pack, payload, refusal, reply, unpack } from "./nodekit.mjs";

const files = await engine("files.js");
const { GIFEncoder } = await engine("../vendor/gifenc/gifenc.esm.js");
const p = payload();
const grey = (packed) => {
  const { data, shape } = unpack(packed);
  return { data, height: shape[0], width: shape[1] };
};
const out = {
  gifs: p.gifs.map(({ frames, options }) => {
    const bytes = files.gif_bytes(frames.map(grey), { ...options, encoder: GIFEncoder });
    return pack(bytes);
  }),
  refused: {
    sizes: refusal(() => files.gif_bytes(p.refused.map(grey), { encoder: GIFEncoder })),
    none: refusal(() => files.gif_bytes([], { encoder: GIFEncoder })),
    encoder: refusal(() => files.gif_bytes(p.refused.slice(0, 1).map(grey))),
  },
  url: files.gif_data_url(p.gifs[1].frames.map(grey), { encoder: GIFEncoder }),
  picks: p.picks.map(({ count, columns }) => files.pick_columns(count, columns)),
  layouts: p.layouts.map(({ names, titles, image, options }) => files.filmstrip_layout(names, titles, image, options)),
};
reply(out);
