// The 2-D world's controls (after plane_draw.js and plane_panels.js, whose drawings they call): a
// new value or t, the pointer on the plane, the inputs and buttons, the slider of t, and what the
// page and the browser tests call (root.show, root.points, root.api).

// -- everything -----------------------------------------------------------------------------------

function redraw() {
  drawPlane();
  drawStep();
  drawError();
  drawParticles();
  root.dataset.t = String(state.t);
}

/** Same points, in the same order? */
function samePoints(a, b) {
  return a.length === b.length && a.every((p, i) => p[0] === b[i][0] && p[1] === b[i][1]);
}

/**
 * A new value: a preset (its data, network and error curve), "drawn" (the page's own points, with
 * the network last trained on them, if any), or a training's report on drawn points. A report is
 * for the points it was asked for: if the student has drawn since, its network is not used (the
 * page's points are never replaced by the server's, except on a page that has none yet); one that
 * arrives while a preset is on screen does not switch the view back.
 */
function load(value) {
  if (!value) return;
  if (value.training && state.name && state.name !== "drawn") {
    // a training's late report while a preset is on screen: keep its network for the drawn points,
    // leave the view alone
    if (value.network && value.points && samePoints(value.points, state.drawn)) {
      state.drawnWorld = { net: network(value.network), error: value.error ?? null };
    }
    return;
  }
  state.name = value.name;
  state.data = value.name === "drawn" ? null : mixture(value);
  if (value.name === "drawn") {
    if (value.points && state.drawn.length === 0) state.drawn = value.points.map((p) => [p[0], p[1]]);
    const current = !value.points || samePoints(value.points, state.drawn);
    if (value.network && current) state.drawnWorld = { net: network(value.network), error: value.error ?? null };
    state.net = state.drawnWorld ? state.drawnWorld.net : null;
    state.error = state.drawnWorld ? state.drawnWorld.error : null;
    state.training = current ? value.training ?? null : null;
  } else {
    state.net = network(value.network);
    state.error = value.error ?? null;
    state.training = null;
  }
  cancelAnimationFrame(state.animation);
  state.sim = null;
  root.classList.toggle("drawn", value.name === "drawn");
  root.dataset.data = value.name;
  drawTraining();
  redraw();
}

function setT(value) {
  const t = Math.min(T, Math.max(0, Math.round(Number(value))));
  if (!Number.isFinite(t) || t === state.t) return;
  state.t = t;
  drawPlane();
  drawStep();
  drawError();
  root.dataset.t = String(t);
}

// pointer on the plane: drag x_t, launch, or draw
function planePoint(event) {
  const rect = canvases.plane.getBoundingClientRect(), v = view(rect.width, rect.height);
  const [x, y] = v.fromPx(event.clientX - rect.left, event.clientY - rect.top);
  return [Math.max(-EXTENT, Math.min(EXTENT, x)), Math.max(-EXTENT, Math.min(EXTENT, y))];
}
let dragging = false;
canvases.plane.addEventListener("pointerdown", (event) => {
  const p = planePoint(event);
  canvases.plane.setPointerCapture(event.pointerId);
  dragging = true;
  if (state.mode === "explore") { state.xt = p; drawPlane(); drawStep(); }
  else if (state.mode === "launch") launch(...p);
  else if (state.mode === "draw") addPoint(p, 0);
});
canvases.plane.addEventListener("pointermove", (event) => {
  if (!dragging) return;
  const p = planePoint(event);
  if (state.mode === "explore") { state.xt = p; drawPlane(); drawStep(); }
  else if (state.mode === "draw") addPoint(p, 0.08);
});
canvases.plane.addEventListener("pointerup", () => { dragging = false; });

function addPoint(p, spacing) {
  if (state.name !== "drawn") return;
  const last = state.drawn.at(-1);
  if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < spacing) return;
  if (state.drawn.length >= tables.max_points) return;
  state.drawn.push(p);
  forgetNetwork();
}

for (const input of root.querySelectorAll("input[name=mode]")) input.addEventListener("change", () => { state.mode = input.value; drawPlane(); });
for (const input of root.querySelectorAll("input[name=arrows]")) input.addEventListener("change", () => { state.arrows = input.value; drawPlane(); });
$("input.learned").addEventListener("change", (event) => { state.learned = event.target.checked; drawPlane(); });
$("input.delta").addEventListener("input", (event) => {
  state.delta = Number(event.target.value);
  $(".delta-value").textContent = String(state.delta);
  drawStep();
});
$("input.eta").addEventListener("input", (event) => {
  state.eta = Number(event.target.value);
  $(".eta-value").textContent = state.eta.toFixed(2);
});
$("button.cloud").addEventListener("click", releaseCloud);
$("button.clear").addEventListener("click", () => { state.drawn = []; forgetNetwork(); });

/** New drawn points: the network (trained on the old ones) and running particles no longer apply. */
function forgetNetwork() {
  state.drawnWorld = null;
  state.net = null;
  state.error = null;
  state.training = null;
  cancelAnimationFrame(state.animation);
  state.sim = null;
  drawTraining();
  redraw();
}

function slider() {
  return document.querySelector(`#${props.slider} input[type=range]`);
}
function onInput(event) {
  if (!root.isConnected) { document.removeEventListener("input", onInput, true); return; }
  if (event.target !== slider()) return;
  setT(event.target.value);
}
document.addEventListener("input", onInput, true);
new ResizeObserver(() => redraw()).observe(canvases.plane);

// for the slider's change listener (a link), the Train button (the drawn points) and the browser test
root.show = setT;
root.points = () => state.drawn.map(([x, y]) => [x, y]);
root.api = { alphaBar, marginal, marginalMixture, densityOnGrid, gridCentres, totalVariation, evaluate, exactEps, reverseStep, moments, network, mlpEps, ddimStep,
             ancestralStep, ddimTimesteps, mixture, pointSet, launch, releaseCloud, load, state };
watch("value", () => load(props.value));
load(props.value);
whenMounted(slider, (s) => setT(s?.value ?? 0));
