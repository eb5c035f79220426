// test_diffusion_js.py's JS side: the engine's step rules on the core's inputs, each case's outputs packed.
import { engine, pack, payload, refusal, reply, unpack } from "./nodekit.mjs";

const { GaussianDiffusion, STEP_TABLES, PARAMETERIZATIONS, VARIANCES } = await engine("diffusion.js");
const { guide } = await engine("guidance.js");
const { to_model_range, to_uint8 } = await engine("images.js");

const input = payload();
const diffusions = Object.fromEntries(
  Object.entries(input.tables).map(([name, tables]) => [name, new GaussianDiffusion(tables)]),
);
const array = (packed) => (packed === null ? null : unpack(packed).data);
const packAll = (out) => Object.fromEntries(Object.entries(out).map(([k, v]) => [k, pack(v)]));

function step(c) {
  const d = diffusions[c.diffusion];
  const [x0, x_t, eps, out, z] = [c.x0, c.x_t, c.eps, c.model_output, c.z].map(array);
  const options = { parameterization: c.parameterization, variance: c.variance };
  return {
    q_sample: pack(d.q_sample(x0, c.t, eps, c.batch)),
    p_mean_variance: packAll(d.p_mean_variance(out, x_t, c.t, c.batch, options)),
    p_sample: packAll(d.p_sample(out, x_t, c.t, c.batch, { ...options, z })),
    q_posterior_sample: packAll(d.q_posterior_sample(x0, x_t, c.t, c.batch, { z })),
    vb_terms_bpd: pack(d.vb_terms_bpd(out, x0, x_t, c.t, c.batch, options)),
  };
}

function jump(c) {
  const d = diffusions[c.diffusion];
  const [x_t, out, z, before] = [c.x_t, c.model_output, c.z, c.before].map(array);
  const options = { parameterization: c.parameterization };
  const previous = before === null ? null : { pred_x0: before, t: c.s };
  return {
    ddim: input.etas.map((eta) => packAll(d.ddim_step(out, x_t, c.t, c.t_prev, c.batch, { ...options, eta, z }))),
    dpm_first: packAll(d.dpm_solver_step(out, x_t, c.t, c.t_prev, c.batch, options)),
    dpm_second: previous && packAll(d.dpm_solver_step(out, x_t, c.t, c.t_prev, c.batch, { ...options, previous })),
  };
}

function refusals() {
  const d = diffusions.shipped;
  const x = new Float32Array(8);
  return {
    parameterization: refusal(() => d.predictions(x, x, 0, 2, "mean")),
    variance: refusal(() => d.p_mean_variance(x, x, 0, 2, { variance: "learned" })),
    learned_without_values: refusal(() => d.p_mean_variance(x, x, 0, 2, { variance: "learned_range" })),
    t_high: refusal(() => d.p_sample(x, x, d.num_timesteps, 2)),
    t_fraction: refusal(() => d.p_sample(x, x, 1.5, 2)),
    t_prev: refusal(() => d.ddim_step(x, x, 5, 5, 2)),
    eta: refusal(() => d.ddim_step(x, x, 5, 4, 2, { eta: 1.5 })),
    noise_needed: refusal(() => d.p_sample(x, x, 5, 2)),
    no_noise_at_zero: refusal(() => d.p_sample(x, x, 0, 2)),
  };
}

reply({
  tables: Object.fromEntries(
    Object.entries(diffusions).map(([name, d]) => [name, Object.fromEntries(STEP_TABLES.map((k) => [k, pack(d[k])]))]),
  ),
  names: { STEP_TABLES, PARAMETERIZATIONS, VARIANCES },
  steps: input.steps.map(step),
  jumps: input.jumps.map(jump),
  guided: input.guided.map((c) => pack(guide(array(c.both), c.x_length, c.batch, c.scale))),
  uint8: pack(to_uint8(array(input.uint8))),
  model_range: pack(to_model_range(Uint8Array.from({ length: 256 }, (_, p) => p))),
  refusals: refusals(),
});
