// The reverse view's in-page words and curves (view_compare.js) for test_view_compare_js.py.
import { engine, payload, reply } from "./nodekit.mjs";

const { curves, verdict, network } = await engine("view_compare.js");
const input = payload();

reply({
  curves: input.curves.map((steps) => curves(steps, input.settings)),
  verdicts: input.ends.map(({ ends, t }) => verdict(ends, t)),
  networks: input.results.map((result) => network(result, input.settings)),
});
