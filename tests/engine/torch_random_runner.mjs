// The port's side of test_torch_random.py: run each case's draws on one Generator, in order.
//
// payload: {cases: [{seed: "decimal", ops: [[name, ...args], ...]}], fma: {a, b, c} packed float32,
//           errors: [[name, ...args], ...]}
// reply:   {cases: [[result, ...], ...], fma: {fused, naive}, errors: [{name, message}, ...]}
// A result is a packed array, or null (labels_for's null label).
import { engine, pack, payload, reply, unpack } from "./nodekit.mjs";

const { Generator, fmaf } = await engine("torch_random.js");
const { labels_for, prior_labels } = await engine("labels.js");

function draw(generator, [name, ...args]) {
  if (name === "random") {
    const out = new Uint32Array(args[0]);
    for (let i = 0; i < out.length; i++) out[i] = generator.random();
    return pack(out);
  }
  if (name === "random64") {
    const out = new BigInt64Array(args[0]);
    for (let i = 0; i < out.length; i++) out[i] = BigInt.asIntN(64, generator.random64());
    return pack(out);
  }
  if (name === "prior_labels") return pack(prior_labels(args[0], args[1], generator));
  if (name === "labels_for") {
    const labels = labels_for(args[0], args[1], args[2], generator);
    return labels === null ? null : pack(labels);
  }
  if (name === "initial_seed") return String(generator.initial_seed());
  return pack(generator[name](args[0])); // rand, randn, randperm
}

function attempt([name, ...args]) {
  try {
    // the last argument of a labels call says whether to pass a generator ("gen") or none
    const generator = args.at(-1) === "none" ? undefined : new Generator(0);
    if (name === "Generator") new Generator(args[0] === "bigint" ? BigInt(args[1]) : args[1]);
    else if (name === "prior_labels") prior_labels(args[0], args[1], generator);
    else if (name === "labels_for") labels_for(args[0], args[1], args[2], generator);
    else generator[name](args[0]);
    return { name: "none", message: "" };
  } catch (error) {
    return { name: error.constructor.name, message: error.message };
  }
}

const data = payload();
const cases = data.cases.map(({ seed, ops }) => {
  const generator = new Generator(BigInt(seed));
  return ops.map((op) => draw(generator, op));
});
const [a, b, c] = ["a", "b", "c"].map((key) => unpack(data.fma[key]).data);
const fused = a.map((_, i) => fmaf(a[i], b[i], c[i]));
const naive = a.map((_, i) => Math.fround(a[i] * b[i] + c[i]));
reply({ cases, fma: { fused: pack(fused), naive: pack(naive) }, errors: data.errors.map(attempt) });
