// Helpers shared by the players (ddpm.views.kit.inpage.player_script puts this file before each
// player's own files). A player's script is the body of gr.HTML's js_on_load: `element`, `props` and
// `watch` are in scope.

const f32 = Math.fround;

/** The bytes of a base64 string. */
function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** base64 of little-endian float32 (inpage.base64_array(array, "<f4")) as a Float32Array. */
function float32s(text) {
  return new Float32Array(base64Bytes(text).buffer);
}

/** base64 of little-endian float64 ("<f8") as a Float64Array. */
function float64s(text) {
  return new Float64Array(base64Bytes(text).buffer);
}

/** torch.round: to the nearest integer, halves to the even one. */
function roundHalfEven(u) {
  const floor = Math.floor(u);
  const rest = u - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * A grey-level mapper: ddpm.images.to_display(x, low, high) for one float32 value, operation by
 * operation in float32 as torch computes it (Python scalars become float32 operands):
 * y = (x − low)·(2/(high − low)) − 1, then to_uint8: NaN -> −1, ±inf -> ±1,
 * round(clamp((y + 1)·127.5, 0, 255)) with halves to even.
 */
function displayMap(low, high) {
  const scale = f32(2.0 / (high - low));
  const lo = f32(low);
  return (x) => {
    let y = f32(f32(f32(x - lo) * scale) - 1);
    if (Number.isNaN(y)) y = -1;
    else if (y === Infinity) y = 1;
    else if (y === -Infinity) y = -1;
    const u = f32(f32(y + 1) * 127.5);
    return roundHalfEven(Math.min(255, Math.max(0, u)));
  };
}

/** Draw grey levels (any array of 0…255, length width·height) on a canvas of that size. */
function putGrey(canvas, grey, width, height) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const rgba = image.data;
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    rgba[j] = rgba[j + 1] = rgba[j + 2] = grey[i];
    rgba[j + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

/** Make `button` show `target` fullscreen, or leave fullscreen (as the page's image panels do). */
function fullscreenButton(button, target) {
  button.addEventListener("click", () => {
    if (document.fullscreenElement === target) document.exitFullscreen();
    else target.requestFullscreen?.();
  });
}

/**
 * Call then(element) once find() returns it, trying once per animation frame for 300 frames (then
 * then(null)). A player's slider may be mounted after the player: waiting for it rather than
 * showing t = 0 beside a slider at another t, which no later event would correct.
 */
function whenMounted(find, then) {
  (function first(frames) {
    const found = find();
    if (found || frames > 300) then(found ?? null);
    else requestAnimationFrame(() => first(frames + 1));
  })(0);
}
