// The 2-D world's side panels (after plane_draw.js, whose state, canvases and helpers they use): one
// start point's ODE and SDE paths and a cloud of particles, the learned field's error over t, and a
// drawn set's training.

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
