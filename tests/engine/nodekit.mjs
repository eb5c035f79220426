// The JS side of nodekit.py: read the payload, unpack and pack arrays, import an engine module.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, uint32: Uint32Array,
  uint8: Uint8Array, int64: BigInt64Array,
};

/** The payload the test wrote (its path is the runner's argument). */
export function payload() {
  return JSON.parse(readFileSync(process.argv[2], "utf8"));
}

/** An engine module by file name, e.g. `await engine("torch_random.js")`. */
export function engine(name) {
  return import(pathToFileURL(join(process.env.ENGINE, name)).href);
}

/** A typed array from `{dtype, shape, b64}` (the shape is returned beside it). */
export function unpack(packed) {
  const bytes = Buffer.from(packed.b64, "base64");
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return { data: new ARRAYS[packed.dtype](copy.buffer), shape: packed.shape };
}

/** `{dtype, shape, b64}` of a typed array. */
export function pack(array, shape = [array.length]) {
  const dtype = Object.keys(ARRAYS).find((k) => array instanceof ARRAYS[k]);
  const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  return { dtype, shape, b64: bytes.toString("base64") };
}

/** Print the result as the last line of stdout (what nodekit.run_node reads). */
export function reply(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

/** The message of what `fn` throws (null if it returns): a runner's report of a refused input. */
export function refusal(fn) {
  try {
    fn();
    return null;
  } catch (err) {
    return err.message;
  }
}
