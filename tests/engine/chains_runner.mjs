// test_chains_js.py's JS side: the engine's loops, the reverse view's comparison and the many pasts
// with the fake network the test describes, the noise it drew; each loop's record of steps and its
// end, packed; the pasts' verdicts from the logits it gave.
import { engine, pack, payload, refusal, reply, unpack } from "./nodekit.mjs";

const { GaussianDiffusion } = await engine("diffusion.js");
const chains = await engine("chains.js");
const reverse = await engine("reverse.js");
const pasts = await engine("pasts.js");
const view_pasts = await engine("view_pasts.js");
const { Generator } = await engine("torch_random.js");

const f = Math.fround;
const input = payload();
const shared = new Map();
/** The typed array a case names ({ref}: packed once in input.arrays), or null. */
function array(value) {
  if (value === null || value === undefined) return null;
  if (!shared.has(value.ref)) shared.set(value.ref, unpack(input.arrays[value.ref]).data);
  return shared.get(value.ref);
}
const diffusion = new GaussianDiffusion(input.tables);
const p = Object.fromEntries(
  Object.entries(input.network).map(([k, v]) => [k, typeof v === "number" ? f(v) : array(v)]),
);
// (a Python float times a float32 tensor: torch rounds it to float32 first)

/** The test's fake network: a·x + u_t·v (+ c_y) on the first C channels, w_t·s after them when learned. */
function fake(config) {
  const learned = config.variance === "learned_range";
  const model = async (x, t, batch, labels = null) => {
    const per = x.length / batch;
    const per_out = (learned ? 2 : 1) * per;
    const out = new Float32Array(batch * per_out);
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < per; j++) {
        let o = f(f(p.a * x[b * per + j]) + f(p.u[t] * p.v[j]));
        if (labels !== null) o = f(o + p.c[labels[b]]);
        out[b * per_out + j] = o;
        if (learned) out[b * per_out + per + j] = f(p.w[t] * p.s[j]);
      }
    }
    return out;
  };
  model.config = config;
  return model;
}

/** randn(n) reading the test's draws in order, counting them. */
function replay(draws, size) {
  const all = array(draws);
  const randn = (n) => {
    if (n !== size) throw new Error(`draw ${randn.count + 1} of ${n} values; the core drew ${size}`);
    if ((randn.count + 1) * n > all.length) throw new Error(`draw ${randn.count + 1}: the core drew fewer`);
    return all.slice(randn.count * n, ++randn.count * n);
  };
  randn.count = 0;
  return randn;
}

async function record(steps) {
  const ts = [], t_prevs = [];
  let first = null, last = null;
  for await (const step of steps) {
    ts.push(step.t);
    t_prevs.push(step.t_prev);
    first ??= step;
    last = step;
  }
  const fields = ["pred_x0", "pred_noise", "mean", "variance"];
  return {
    ts, t_prevs, x0: pack(last.x_prev), first: Object.fromEntries(fields.map((k) => [k, pack(first[k])])),
  };
}

async function loop(c) {
  const model = fake(c.config);
  const shape = c.shape;
  const noise = array(c.noise);
  const o = { x_t: array(c.x_t), parameterization: c.config.parameterization, noise };
  if (c.loop === "ancestral") {
    return record(chains.p_sample_loop_progressive(diffusion, model, shape, { ...o, variance: c.config.variance }));
  }
  if (c.loop === "ddim") {
    return record(chains.ddim_sample_loop_progressive(diffusion, model, shape, { ...o, steps: c.steps, eta: c.eta }));
  }
  if (c.loop === "dpm-solver") {
    return record(chains.dpm_solver_sample_loop_progressive(diffusion, model, shape, { ...o, steps: c.steps }));
  }
  return record(chains.posterior_sample_loop_progressive(diffusion, array(c.x0), o.x_t, c.t_start, shape, { noise }));
}

async function generation(c) {
  const randn = replay(c.draws, c.n * c.config.image_size ** 2 * c.config.in_channels);
  const labels = c.labels === null ? null : Int32Array.from(c.labels);
  const steps = chains.sample_loop(fake(c.config), diffusion, c.n, {
    sampler: c.sampler, steps: c.steps, eta: c.eta, randn, labels, guidance: c.guidance,
  });
  return { ...(await record(steps)), draws: randn.count };
}

async function comparison(c) {
  const labels = c.labels === null ? null : Int32Array.from(c.labels);
  const steps = [];
  for await (const s of reverse.compare_reverse(diffusion, fake(c.config), array(c.x0), c.t, c.batch, {
    epsilon: array(c.epsilon), noise: array(c.noise), variance: c.config.variance,
    parameterization: c.config.parameterization, labels,
  })) steps.push(s);
  const last = steps.at(-1);
  return {
    t: steps.map((s) => s.t),
    metrics: ["kl_bpd", "mean_gap", "x0_error", "kl_sum_bpd"].map((k) => steps.map((s) => s[k])),
    conditioned: labels && ["kl_bpd", "mean_gap", "x0_error"].map((k) => steps.map((s) => s.conditioned[k])),
    exact: pack(last.exact.x_prev), learned: pack(last.learned.x_prev),
    learned_pred_x0: pack(steps[0].learned.pred_x0),
  };
}

/** many_pasts with the generators of the case's seed, as the page's task draws them. */
async function many(c) {
  const x0 = array(c.x0);
  const noise = new Generator(BigInt(c.seed) + 1n);
  const { x_t, steps } = pasts.many_pasts(diffusion, fake(c.config), x0, c.t, c.k, {
    epsilon: new Generator(BigInt(c.seed)).randn(x0.length), randn: (n) => noise.randn(n),
    parameterization: c.config.parameterization, variance: c.config.variance, label: c.label,
  });
  return { x_t: pack(x_t), pasts: pack(await chains.final_sample(steps)) };
}

function verdict(c) {
  const said = pasts.judge_pasts(unpack(c.logits).data, c.k, c.own_class);
  return { ...said, classes: Array.from(said.classes), summary: view_pasts.summary(c, { ...said, known: c.known }) };
}

const config = input.loops[0].config;
reply({
  loops: await Promise.all(input.loops.map(loop)),
  generations: await Promise.all(input.generations.map(generation)),
  comparisons: await Promise.all(input.comparisons.map(comparison)),
  pasts: await Promise.all(input.pasts.map(many)),
  verdicts: input.verdicts.map(verdict),
  percents: input.fractions.map(view_pasts.percent),
  ddim_timesteps: input.timesteps.map(([t_start, steps]) => chains.ddim_timesteps(t_start, steps)),
  dpm_solver_timesteps: input.timesteps.filter(([t, s]) => s <= t).map(([t, s]) => chains.dpm_solver_timesteps(t, s)),
  probabilities: input.logits.map((logits) => pack(reverse.class_probabilities(unpack(logits).data))),
  readings: input.logits.map((logits) => reverse.reading(reverse.class_probabilities(unpack(logits).data))),
  readout_due: input.readout_starts.map(
    (t_start) => Array.from({ length: t_start }, (_, k) => reverse.readout_due(k + 1, t_start)),
  ),
  constants: {
    SAMPLERS: chains.SAMPLERS, DEFAULT_SAMPLER: chains.DEFAULT_SAMPLER, DEFAULT_STEPS: chains.DEFAULT_STEPS,
    DEFAULT_ETA: chains.DEFAULT_ETA, READOUT_POINTS: reverse.READOUT_POINTS,
  },
  refusals: {
    ancestral_steps: refusal(() => chains.sample_loop(fake(config), diffusion, 1, { sampler: "ddpm", steps: 50 })),
    dpm_eta: refusal(() => chains.sample_loop(fake(config), diffusion, 1, { sampler: "dpm-solver", eta: 0.5 })),
    guidance_without_labels: refusal(() => chains.sample_loop(fake(config), diffusion, 1, { guidance: 2 })),
    sampler: refusal(() => chains.sample_loop(fake(config), diffusion, 1, { sampler: "euler" })),
    ddim_steps: refusal(() => chains.ddim_timesteps(99, 101)),
    pasts_k: refusal(() => pasts.many_pasts(diffusion, fake(config), new Float32Array(4), 5, 0, { epsilon: new Float32Array(4) })),
    pasts_t: refusal(() => pasts.many_pasts(diffusion, fake(config), new Float32Array(4), 0, 2, { epsilon: new Float32Array(4) })),
  },
});
