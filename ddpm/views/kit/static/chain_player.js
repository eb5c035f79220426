// The chain player (ddpm.views.players.chain_player): a finished trajectory's frames, series side by
// side, scrubbed, stepped and played in the page. props.value: players.chain_value (or null: the hint);
// props.size: the frames' height on screen, in CSS pixels.

const root = element.querySelector(".ddpm-chain");
const strip = root.querySelector(".strip");
const scrubber = root.querySelector(".scrub input");
const time = root.querySelector(".time");
const speed = root.querySelector(".speed");
root.style.setProperty("--size", `${props.size}px`);
let chain = null; // {label, times, series: [{name, width, height, per_block, sheet: {grey, width}, canvas, image}]}
let frame = 0;
let loading = 0; // the newest value being decoded (an older one that finishes later is dropped)
let playing = null; // {last: the animation time of the last frame shown, carry: frames owed}

/** A sprite sheet (a PNG data URL) as its grey levels: {grey (Uint8Array), width}. */
async function decodeSheet(url) {
  const blob = new Blob([base64Bytes(url.slice(url.indexOf(",") + 1))], { type: "image/png" });
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const grey = new Uint8Array(bitmap.width * bitmap.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  bitmap.close();
  return { grey, width: canvas.width };
}

/** Decode the value's sprite sheets, then show its start frame. */
async function load(value) {
  const version = ++loading;
  stop();
  if (!value || !value.series || value.series.length === 0 || value.times.length === 0) {
    chain = null;
    strip.replaceChildren();
    root.classList.add("empty");
    root.dataset.frames = "0";
    return;
  }
  const series = await Promise.all(value.series.map(async (entry) => ({ ...entry, sheet: await decodeSheet(entry.sheet) })));
  if (version !== loading) return;
  strip.replaceChildren(...series.map((entry) => {
    const figure = document.createElement("figure");
    entry.canvas = document.createElement("canvas");
    entry.canvas.className = "pixels";
    entry.canvas.width = entry.width;
    entry.canvas.height = entry.height;
    entry.canvas.dataset.series = entry.name;
    const [low, high] = entry.range;
    entry.canvas.title = `${entry.name}: black = ${low}, white = ${high}`;
    entry.image = entry.canvas.getContext("2d").createImageData(entry.width, entry.height);
    entry.image.data.fill(255);
    const caption = document.createElement("figcaption");
    caption.textContent = entry.name;
    figure.append(entry.canvas, caption);
    return figure;
  }));
  chain = { label: value.label, times: value.times, series };
  scrubber.max = String(value.times.length - 1);
  root.querySelector(".scrub").classList.toggle("timestep", value.times.length > 1);
  root.classList.remove("empty");
  root.dataset.frames = String(value.times.length);
  frame = -1;
  show(value.start || 0);
}

/** Frame k of a series out of its sheet (players.sprite_sheet's layout), onto its canvas. */
function drawFrame({ sheet, width, height, per_block: perBlock, canvas, image }, k) {
  const rgba = image.data, grey = sheet.grey;
  const left = Math.floor(k / perBlock) * width, offset = k % perBlock;
  for (let i = 0, j = 0; i < height; i++) {
    const start = (i * perBlock + offset) * sheet.width + left;
    for (let x = 0; x < width; x++, j += 4) rgba[j] = rgba[j + 1] = rgba[j + 2] = grey[start + x];
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}

/** Show frame k (clamped) of every series. */
function show(k) {
  if (chain === null) return;
  const started = performance.now();
  k = Math.min(chain.times.length - 1, Math.max(0, Math.round(Number(k)) || 0));
  if (k === frame) return;
  frame = k;
  for (const entry of chain.series) drawFrame(entry, k);
  scrubber.value = String(k);
  time.textContent = `${chain.label} = ${chain.times[k]}`;
  root.dataset.frame = String(k);
  root.dataset.drawMs = (performance.now() - started).toFixed(3);
}

// -- play ----------------------------------------------------------------------------------------

function tick(now) {
  if (playing === null) return;
  const due = playing.carry + ((now - playing.last) * Number(speed.value)) / 1000;
  const steps = Math.floor(due);
  playing.carry = due - steps;
  playing.last = now;
  if (steps > 0) show(frame + steps);
  if (frame >= chain.times.length - 1) stop();
  else requestAnimationFrame(tick);
}

function play() {
  if (chain === null || playing !== null) return;
  if (frame >= chain.times.length - 1) show(0); // at the end: from the start again
  playing = { last: performance.now(), carry: 0 };
  root.classList.add("playing");
  requestAnimationFrame(tick);
}

function stop() {
  playing = null;
  root.classList.remove("playing");
}

// -- controls ------------------------------------------------------------------------------------

const actions = {
  first: () => show(0),
  prev: () => show(frame - 1),
  next: () => show(frame + 1),
  last: () => show(Infinity),
  play: () => (playing === null ? play() : stop()),
};

fullscreenButton(root.querySelector("button.fullscreen"), root);

root.querySelector(".controls").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  if (action !== "play") stop();
  actions[action]();
});

// The scrubber: dragged, or stepped by the page's ← / → (lecture.JS dispatches input on it).
scrubber.addEventListener("input", () => {
  stop();
  show(scrubber.value);
});

// ← / → (Shift: 10 frames) and space when the player has focus. The scrubber steps itself; from
// anywhere else in the player the keys stop here, so the page's handler does not step a slider too.
root.addEventListener("keydown", (event) => {
  if (chain === null || event.target === scrubber || event.target === speed) return;
  if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    stop();
    show(frame + (event.shiftKey ? 10 : 1) * (event.key === "ArrowRight" ? 1 : -1));
  } else if (event.key === " " && event.target === root) {
    actions.play();
  } else {
    return;
  }
  event.preventDefault();
  event.stopPropagation();
});
strip.addEventListener("pointerdown", () => root.focus());

root.show = show; // for tests and for other scripts: show frame k
watch("value", () => load(props.value));
// A chain computed in the page (kit/static/here.js) comes as an event with the same value.
root.addEventListener("ddpm-value", (event) => load(event.detail));
load(props.value);
