// The 2-D world's drawing (ddpm.views.lessons.plane_player.plane_player): the state on screen, the
// canvases, the pointer and the controls, drawn with the maths of plane_maths.js (which comes first
// in the player's script). Nothing per drag, click or frame reaches the server.
// props.slider: the elem_id of the gr.Slider of t; props.value: the data set and its network
// (plane_player.plane_value), or a drawn set's training.

const root = element.querySelector(".ddpm-plane");
fullscreenButton(root.querySelector("button.fullscreen"), root);

// -- state ---------------------------------------------------------------------------------------

const state = {
  t: 0, data: null, name: "", net: null, error: null, drawn: [], mode: "explore", arrows: "score", learned: false,
  delta: 1, eta: 0, xt: [0.6, 0.5], sim: null, animation: null, training: null, seed: 1,
  drawnWorld: null, // the network (and its error curve) last trained on the drawn points
};
const $ = (selector) => root.querySelector(selector);
const canvases = {};
for (const canvas of root.querySelectorAll("canvas[data-plot]")) canvases[canvas.dataset.plot] = canvas;

/** The data on screen: the value's set, or the drawn points (null when fewer than 2). */
function currentData() {
  if (state.name !== "drawn") return state.data;
  return state.drawn.length >= 2 ? pointSet(state.drawn) : null;
}

// -- drawing helpers ------------------------------------------------------------------------------

/** Size a canvas to its box × devicePixelRatio; returns its context with 1 unit = 1 CSS pixel. */
function context(canvas) {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth || 300, h = canvas.clientHeight || w;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w, h };
}

/** Plane ↔ canvas for a square view of half-width `extent` around (cx, cy). */
function view(w, h, extent = EXTENT, cx = 0, cy = 0) {
  const scale = Math.min(w, h) / (2 * extent);
  return {
    extent, cx, cy, scale,
    px: (x) => w / 2 + (x - cx) * scale,
    py: (y) => h / 2 - (y - cy) * scale,
    fromPx: (u, v) => [cx + (u - w / 2) / scale, cy - (v - h / 2) / scale],
  };
}

const COLORS = [[255, 255, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
/** A density value in [0, 1] as a blue ramp (white -> dark blue). */
function ramp(u) {
  const s = Math.min(1, Math.max(0, u)) * (COLORS.length - 1), i = Math.min(COLORS.length - 2, Math.floor(s)), f = s - i;
  return COLORS[i].map((c, j) => Math.round(c + f * (COLORS[i + 1][j] - c)));
}

/** Fill the canvas (a square view `v` of the plane) with a mixture's density on an n × n grid,
 * shaded by (density / max)^½; returns the grid's values. */
function heat(ctx, w, h, v, mix, n = 96) {
  const { xs, ys } = gridCentres(n, v.extent, v.cx, v.cy), values = densityOnGrid(mix, xs, ys);
  let top = 0;
  for (const value of values) if (value > top) top = value;
  const image = new ImageData(n, n);
  for (let p = 0; p < n * n; p++) {
    const [r, g, b] = ramp(top > 0 ? Math.sqrt(values[p] / top) : 0);
    image.data.set([r, g, b, 255], 4 * p);
  }
  const tile = document.createElement("canvas");
  tile.width = tile.height = n;
  tile.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(tile, 0, 0, w, h);
  return values;
}

function arrow(ctx, x0, y0, x1, y1, color, width = 1.4) {
  const dx = x1 - x0, dy = y1 - y0, length = Math.hypot(dx, dy);
  if (length < 0.5) return;
  const head = Math.min(6, 0.4 * length), ux = dx / length, uy = dy / length;
  ctx.strokeStyle = ctx.fillStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  ctx.beginPath(); ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - head * (ux - 0.5 * uy), y1 - head * (uy + 0.5 * ux));
  ctx.lineTo(x1 - head * (ux + 0.5 * uy), y1 - head * (uy - 0.5 * ux));
  ctx.fill();
}

function dot(ctx, x, y, radius, color) {
  ctx.fillStyle = color;
  ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.fill();
}

/** The canvases' text size in px: the page's (the large layout's is larger), at least 13. */
function textSize() {
  return Math.max(13, parseFloat(getComputedStyle(root).fontSize) || 13);
}

function label(ctx, text, x, y, color = "#222", align = "left") {
  ctx.font = `${textSize()}px sans-serif`;
  ctx.fillStyle = color; ctx.textAlign = align; ctx.textBaseline = "top";
  ctx.fillText(text, x, y);
}

/** The data's points (or the mixture's means) as small dots. */
function drawData(ctx, v, data, color = "rgba(200, 20, 20, 0.55)", radius = 1.8) {
  for (let k = 0; k < data.size; k++) {
    const r = data.points ? radius : Math.max(radius, 2 * Math.sqrt(Math.max(data.covs[4 * k], data.covs[4 * k + 3])) * v.scale);
    dot(ctx, v.px(data.means[2 * k]), v.py(data.means[2 * k + 1]), r, color); // a component: a disc of 2σ
  }
}

// -- the main plane: q_t, its field, x_t and its pasts ----------------------------------------------

const ARROWS = 15; // arrows per side
const EXACT_COLOR = "#111", LEARNED_COLOR = "#d95f02";

function drawPlane() {
  const { ctx, w, h } = context(canvases.plane), v = view(w, h), data = currentData(), t = state.t;
  ctx.clearRect(0, 0, w, h);
  if (data === null) {
    ctx.fillStyle = "#f6f7f9"; ctx.fillRect(0, 0, w, h);
    label(ctx, state.name === "drawn" ? "Click or drag to draw points (at least 2)." : "", 12, 12, "#555");
    for (const [x, y] of state.drawn) dot(ctx, v.px(x), v.py(y), 3, "#c81414");
    return;
  }
  const ab = alphaBar(t);
  if (t === 0) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (!data.points) heat(ctx, w, h, v, data);
    drawData(ctx, v, data, "#08306b", data.points ? 2.4 : 1.5);
  } else {
    const m = marginal(data, ab);
    heat(ctx, w, h, v, marginalMixture(data, ab));
    if (t < T / 5) drawData(ctx, v, data, "rgba(200, 20, 20, 0.35)", 1.3);
    if (state.arrows !== "none") {
      const cell = w / ARROWS, unit = 0.3 * cell, cap = 0.95 * cell;
      const sign = state.arrows === "eps" ? 1 : -1; // −ε̂ points up the density, along the score
      // |ε̂| = 1 is 0.3 of a cell; longer arrows (far from the data at small t) are capped at a cell
      const draw = (u, vv, e, color) => {
        const length = Math.hypot(e[0], e[1]), k = sign * Math.min(unit, cap / Math.max(length, 1e-12));
        arrow(ctx, u, vv, u + k * e[0], vv - k * e[1], color);
      };
      for (let i = 0; i < ARROWS; i++) {
        for (let j = 0; j < ARROWS; j++) {
          const u = (j + 0.5) * cell, vv = (i + 0.5) * cell, [x, y] = v.fromPx(u, vv);
          draw(u, vv, exactEps(m, ab, x, y), EXACT_COLOR);
          if (state.learned && state.net) draw(u, vv, mlpEps(state.net, x, y, t - 1), LEARNED_COLOR);
        }
      }
    }
  }
  if (state.mode === "explore" && t > 0) drawPasts(ctx, v, data, ab);
  if (state.mode === "draw") for (const [x, y] of state.drawn) dot(ctx, v.px(x), v.py(y), 2.6, "#c81414");
  if (state.sim && state.sim.kind === "launch") dot(ctx, v.px(state.sim.start[0]), v.py(state.sim.start[1]), 6, "#7b3294");
  label(ctx, `t = ${t}   ᾱₜ = ${ab.toFixed(4)}`, 8, 8);
}

/** Lines from x_t to the data that could be its past, as thick and dark as their posterior weight. */
function drawPasts(ctx, v, data, ab) {
  const [x, y] = state.xt, m = marginal(data, ab), r = evaluate(m, x, y, true).weights;
  const order = [...r.keys()].sort((a, b) => r[b] - r[a]).slice(0, 60);
  for (const k of order) {
    if (r[k] < 1e-4) break;
    ctx.strokeStyle = `rgba(200, 20, 20, ${Math.min(1, 0.3 + 0.7 * r[k] / r[order[0]])})`;
    ctx.lineWidth = 0.8 + 5 * Math.sqrt(r[k]);
    ctx.beginPath(); ctx.moveTo(v.px(x), v.py(y)); ctx.lineTo(v.px(data.means[2 * k]), v.py(data.means[2 * k + 1])); ctx.stroke();
  }
  dot(ctx, v.px(x), v.py(y), 7, "#c81414");
  dot(ctx, v.px(x), v.py(y), 3, "#fff");
  const effective = 1 / r.reduce((s, w) => s + w * w, 0);
  root.dataset.effectivePasts = effective.toFixed(2);
  $(".pasts-text").textContent = `xₜ = (${x.toFixed(2)}, ${y.toFixed(2)}): ${effective.toFixed(1)} effective pasts `
    + `(1 / Σ r²); the heaviest has r = ${r[order[0]].toFixed(3)}.`;
}

// -- the reverse step beside its Gaussian -----------------------------------------------------------

function drawStep() {
  const data = currentData(), t = state.t, s = Math.max(0, t - state.delta);
  const text = $(".step-text");
  for (const name of ["step", "gauss"]) {
    const { ctx, w, h } = context(canvases[name]);
    ctx.fillStyle = "#f6f7f9"; ctx.fillRect(0, 0, w, h);
  }
  if (data === null || t === 0) {
    text.textContent = "Move t above 0 and drag xₜ on the plane.";
    return;
  }
  const step = reverseStep(data, alphaBar(t), alphaBar(s), state.xt[0], state.xt[1]);
  const { mean, cov } = moments(step);
  const spread = Math.sqrt(Math.max(cov[0], cov[2], 1e-8));
  const half = Math.min(EXTENT, Math.max(0.05, 3.5 * spread));
  const gauss = { weights: new Float64Array([1]), means: new Float64Array(mean), covs: new Float64Array([cov[0], cov[1], cov[1], cov[2]]), size: 1 };
  let tv = null;
  for (const [name, mix] of [["step", step], ["gauss", gauss]]) {
    const { ctx, w, h } = context(canvases[name]), v = view(w, h, half, mean[0], mean[1]);
    if (name === "step" && s === 0 && data.points) { // point masses on the data
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
      for (let k = 0; k < step.size; k++) {
        if (step.weights[k] > 1e-4) dot(ctx, v.px(step.means[2 * k]), v.py(step.means[2 * k + 1]), 2 + 10 * Math.sqrt(step.weights[k]), "#08306b");
      }
    } else {
      heat(ctx, w, h, v, mix, 80);
    }
    dot(ctx, v.px(mean[0]), v.py(mean[1]), 3.5, "#c81414");
    label(ctx, `±${formatWidth(half)}`, 6, h - 6 - textSize(), "#444"); // the window around the mean
  }
  if (!(s === 0 && data.points)) tv = totalVariation(step, gauss, mean, half);
  root.dataset.stepTv = tv === null ? "" : tv.toFixed(4);
  const modes = step.weights.filter((w) => w > 0.05).length;
  text.textContent = `q(x${sub(s)} | x${sub(t)}), Δ = ${t - s}: ` + (tv === null
    ? `a choice among the data points (${modes} with weight > 5%); no Gaussian can be it.`
    : `½∫|q − N| = ${tv.toFixed(3)} against the Gaussian with its mean and covariance`
      + (tv < 0.02 ? " — a Gaussian step is right." : " — no Gaussian step can be right."));
}

function formatWidth(x) {
  return x >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}

function sub(n) {
  return String(n).replace(/\d/g, (d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]);
}

// -- particles: one start point's ODE and SDE paths, and a cloud ------------------------------------

const SDE_DRAWS = 5, CLOUD = 500, CLOUD_STEPS = 100, ODE_STEPS = 100, TRAIL = 60;

/** Click: from (x, y) at the slider's t, the ODE path and SDE_DRAWS ancestral paths on each field
 * (computed at once: a few thousand steps), then played over two seconds. */
function launch(x, y) {
  const data = currentData();
  if (data === null || state.t === 0) return;
  const tStart = state.t - 1, seed = state.seed++;
  const runs = {};
  for (const kind of ["exact", "learned"]) {
    const field = fieldOf(kind, data, state.net), normal = normals(seed); // the same draws on both fields
    runs[kind] = field && {
      ode: path(field, x, y, tStart, "ddim", 0, ODE_STEPS, normal),
      sde: Array.from({ length: SDE_DRAWS }, () => path(field, x, y, tStart, "ancestral", 1, 0, normal)),
    };
  }
  play({ kind: "launch", start: [x, y], t: state.t, runs, progress: 0 });
}

/** A cloud of CLOUD particles from N(0, I) at T, DDIM with the η slider's value in CLOUD_STEPS
 * steps on each field, integrated a few steps per animation frame (the page stays responsive). */
function releaseCloud() {
  const data = currentData();
  if (data === null) return;
  const seed = state.seed++, start = normals(seed), times = schedule(T - 1, "ddim", CLOUD_STEPS);
  const particles = Array.from({ length: CLOUD }, () => [start(), start()]);
  const runs = {};
  for (const kind of ["exact", "learned"]) {
    const field = fieldOf(kind, data, state.net);
    runs[kind] = field && { field, normal: normals(seed + 1), paths: particles.map((p) => [p]) };
  }
  play({ kind: "cloud", eta: state.eta, times, runs, step: 0 });
}

/** Animate a launch (played over 2 s) or a cloud (integrated as it plays), one frame at a time. */
function play(sim) {
  cancelAnimationFrame(state.animation);
  state.sim = sim;
  const begin = performance.now();
  const frame = (now) => {
    if (state.sim !== sim) return;
    let more;
    if (sim.kind === "launch") {
      sim.progress = Math.min(1, Math.max(0, (now - begin) / 2000)); // a frame's time may precede begin
      more = sim.progress < 1;
    } else {
      const until = Math.min(sim.times.length, sim.step + 2); // two steps of every particle a frame
      for (; sim.step < until; sim.step++) {
        for (const run of Object.values(sim.runs)) {
          if (!run) continue;
          for (const p of run.paths) {
            const [x, y] = p.at(-1);
            p.push(advance(run.field, x, y, sim.times, sim.step, "ddim", sim.eta, run.normal));
          }
        }
      }
      more = sim.step < sim.times.length;
    }
    drawParticles();
    root.dataset.particles = more ? "running" : "done";
    if (more) state.animation = requestAnimationFrame(frame);
  };
  root.dataset.particles = "running";
  state.animation = requestAnimationFrame(frame);
}

function drawParticles() {
  const data = currentData(), sim = state.sim;
  for (const kind of ["exact", "learned"]) {
    const { ctx, w, h } = context(canvases[kind]), v = view(w, h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (data) drawData(ctx, v, data, "rgba(8, 48, 107, 0.35)", 1.4);
    label(ctx, kind === "exact" ? "exact field ε̂*" : "learned field ε̂θ", 8, 8);
    if (kind === "learned" && !state.net) {
      label(ctx, "No network yet:", 8, 12 + textSize(), "#555");
      label(ctx, "train one on the points.", 8, 16 + 2 * textSize(), "#555");
      continue;
    }
    const run = sim && sim.runs[kind];
    if (!run) continue;
    const line = (points, n, color, width) => {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
      ctx.moveTo(v.px(points[0][0]), v.py(points[0][1]));
      for (let i = 1; i <= n; i++) ctx.lineTo(v.px(points[i][0]), v.py(points[i][1]));
      ctx.stroke();
      return points[n];
    };
    if (sim.kind === "launch") {
      for (const p of run.sde) {
        const end = line(p, Math.round(sim.progress * (p.length - 1)), "rgba(217, 95, 2, 0.75)", 1.1);
        dot(ctx, v.px(end[0]), v.py(end[1]), 3, "#d95f02");
      }
      const end = line(run.ode, Math.round(sim.progress * (run.ode.length - 1)), "#1b1b1b", 2.4);
      dot(ctx, v.px(end[0]), v.py(end[1]), 4, "#1b1b1b");
      dot(ctx, v.px(sim.start[0]), v.py(sim.start[1]), 5, "#7b3294");
    } else {
      for (const p of run.paths.slice(0, TRAIL)) line(p, p.length - 1, "rgba(120, 120, 120, 0.25)", 0.7);
      for (const p of run.paths) { const [x, y] = p.at(-1); dot(ctx, v.px(x), v.py(y), 1.6, "#d95f02"); }
    }
  }
  const caption = $(".particles-text");
  if (sim && sim.kind === "launch") {
    caption.textContent = `From the purple point at t = ${sim.t}: the ODE (DDIM, η = 0, ${ODE_STEPS} steps at most, black) and ${SDE_DRAWS} SDE draws (ancestral, every step, orange).`;
  } else if (sim) {
    caption.textContent = `${CLOUD} particles from N(0, I): DDIM with η = ${sim.eta.toFixed(2)}, step ${sim.step} of ${sim.times.length}; grey: ${TRAIL} of their paths.`;
  } else {
    caption.textContent = "Pick “launch particles” and click the plane, or release a cloud.";
  }
}

// -- the learned field's error over t, and the training ----------------------------------------------

function drawError() {
  const { ctx, w, h } = context(canvases.error);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  const error = state.error;
  if (!error) { label(ctx, "E‖ε̂θ − ε̂*‖² over t: no network yet.", 8, 8, "#555"); return; }
  const ts = error.ts, values = error.values.map((e) => Math.log10(Math.max(e, 1e-6)));
  const low = Math.floor(Math.min(...values)), high = Math.ceil(Math.max(...values));
  const size = textSize(), left = 3.6 * size, bottom = h - 8, top = 1.6 * size, right = w - 8;
  const px = (t) => left + ((right - left) * t) / T, py = (u) => bottom - ((bottom - top) * (u - low)) / Math.max(1, high - low);
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1; ctx.strokeRect(left, top, right - left, bottom - top);
  for (let u = low; u <= high; u++) label(ctx, `1e${u}`, left - 4, py(u) - size / 2, "#444", "right");
  ctx.strokeStyle = LEARNED_COLOR; ctx.lineWidth = 2; ctx.beginPath();
  ts.forEach((t, i) => (i ? ctx.lineTo(px(t), py(values[i])) : ctx.moveTo(px(t), py(values[i]))));
  ctx.stroke();
  ctx.strokeStyle = "#c81414"; ctx.beginPath(); ctx.moveTo(px(state.t), top); ctx.lineTo(px(state.t), bottom); ctx.stroke();
  label(ctx, "E‖ε̂θ − ε̂*‖² where the data are, over t (0 … T)", left, 4);
}

function drawTraining() {
  const box = $(".training"), training = state.training;
  box.hidden = !training;
  if (!training) return;
  $(".training progress").max = training.total;
  $(".training progress").value = training.step;
  $(".training-text").textContent = training.step < training.total && !training.done
    ? `Training: step ${training.step} of ${training.total}, loss ${training.losses.at(-1)?.toFixed(4) ?? "…"}`
    : `Trained: ${training.step} steps in ${training.seconds.toFixed(1)} s, final loss ${training.losses.at(-1)?.toFixed(4)}.`;
  const { ctx, w, h } = context(canvases.loss);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  const losses = training.losses;
  if (losses.length < 2) return;
  const high = Math.max(...losses), low = Math.min(...losses), span = Math.max(1e-9, high - low);
  ctx.strokeStyle = "#1f4e9c"; ctx.lineWidth = 2; ctx.beginPath();
  losses.forEach((l, i) => {
    const x = 64 + ((w - 72) * i) / Math.max(1, training.total / training.every - 1), y = h - 20 - ((h - 40) * (l - low)) / span;
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
  label(ctx, high.toFixed(3), 58, 10, "#444", "right");
  label(ctx, low.toFixed(3), 58, h - 12 - textSize(), "#444", "right");
}

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
