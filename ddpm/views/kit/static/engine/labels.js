/**
 * Class labels for a conditional model, as ddpm/guidance.py gives them: `prior_labels` and
 * `labels_for` for the requests "prior", "all", "none" and a single digit, drawing from a
 * torch_random.js `Generator` the numbers torch draws, so a seed gives the server's labels.
 *
 * Labels are Int32Array (torch's are int64; the values are digits 0 … num_classes − 1).
 * Errors name the value: TypeError for a value of the wrong kind (a fraction, a boolean, an
 * object, a missing generator), RangeError for a number or word out of range.
 *
 * Runs in a module Worker and in Node.js ≥ 20.
 */
import { Generator } from "./torch_random.js";

export const PRIOR = "prior";
export const ALL = "all";
export const NONE = "none";

/** n labels from the uniform class prior, stratified (guidance.prior_labels): every class
 * ⌊n / num_classes⌋ times, then n mod num_classes distinct classes (the first of a
 * randperm(num_classes)), shuffled by a randperm(n). Both permutations are always drawn. */
export function prior_labels(n, num_classes = 10, generator) {
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(num_classes) || n < 1 || num_classes < 1) {
    throw new RangeError(
      `n and num_classes must be whole numbers ≥ 1, got n=${n}, num_classes=${num_classes}`,
    );
  }
  requireGenerator(generator);
  const rounds = Math.floor(n / num_classes);
  const rest = n % num_classes;
  const extra = generator.randperm(num_classes);
  const pool = new Int32Array(n);
  for (let i = 0; i < rounds * num_classes; i++) pool[i] = i % num_classes; // arange(C).repeat(rounds)
  pool.set(extra.subarray(0, rest), rounds * num_classes);
  const order = generator.randperm(n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = pool[order[i]];
  return labels;
}

/** Labels Int32Array [n] for a request, or null for the null label (guidance.labels_for).
 *
 * `digit`: "prior" (drawn with `generator`, see prior_labels), "all" (the classes in order, in
 * blocks as equal as n allows: label i is ⌊i · num_classes / n⌋), "none" or null (the null label),
 * or one digit for every sample (a whole number, or a string of one, surrounding spaces ignored).
 * `num_classes` = 0 is a model trained without labels: "prior" and "none" give null, a digit is
 * refused. */
export function labels_for(digit, n, num_classes = 10, generator = undefined) {
  if (typeof digit === "string") digit = digit.trim();
  if (digit === null || digit === undefined || digit === NONE) return null;
  if (!Number.isSafeInteger(num_classes) || num_classes < 0) {
    throw new RangeError(`num_classes must be a whole number ≥ 0, got ${num_classes}`);
  }
  if (!num_classes) {
    if (digit === PRIOR) return null;
    throw new RangeError(
      `this model was trained without class labels: it cannot be asked for digit ${show(digit)}`,
    );
  }
  if (digit === PRIOR) return prior_labels(n, num_classes, generator);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n must be a whole number ≥ 0, got ${n}`);
  if (digit === ALL) {
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = Math.floor((i * num_classes) / n);
    return labels;
  }
  if (typeof digit === "string") {
    if (!/^[0-9]+$/.test(digit)) {
      throw new RangeError(
        `digit must be 0 … ${num_classes - 1}, "${PRIOR}", "${ALL}" or "${NONE}", got ${show(digit)}`,
      );
    }
    digit = Number(digit);
  } else if (typeof digit !== "number" || !Number.isInteger(digit)) {
    throw new TypeError(`digit must be a whole number 0 … ${num_classes - 1}, got ${show(digit)}`);
  }
  if (digit < 0 || digit >= num_classes) {
    throw new RangeError(`digit ${digit} is not a class of this model (0 … ${num_classes - 1})`);
  }
  return new Int32Array(n).fill(digit);
}

function requireGenerator(generator) {
  if (!(generator instanceof Generator)) {
    throw new TypeError(`prior labels are drawn with a torch_random.js Generator, got ${show(generator)}`);
  }
}

function show(value) {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
