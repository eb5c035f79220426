/**
 * torch's CPU random generator in JavaScript, bit for bit: the numbers of
 * `torch.Generator().manual_seed(seed)` (ddpm/seeding.py) for `torch.rand`, `torch.randn` (float32)
 * and `torch.randperm`, so that a chain computed in the page is the server's chain for the same seed.
 *
 * Ported from PyTorch's sources (ATen) and checked against torch 2.14.1 (tests/engine/):
 * - aten/src/ATen/core/MT19937RNGEngine.h: the Mersenne Twister (mt19937) and its seeding
 *   `init_with_uint32`, which keeps only `seed & 0xffffffff` in the state. A seed ≥ 2³² therefore
 *   draws the numbers of `seed mod 2³²` (torch does that too: `manual_seed(2**32 + 5)` draws what
 *   `manual_seed(5)` draws), while `initial_seed()` remembers all 64 bits.
 * - aten/src/ATen/CPUGeneratorImpl.cpp: `random()` (one engine output), `random64()` (two, the
 *   first as the high word), and the generator's state beside the engine: the cached second normal
 *   of the scalar Box–Muller (`next_double_normal_sample`), reset by `manual_seed`.
 * - aten/src/ATen/core/TransformationHelper.h and DistributionsHelper.h: `uniform_real` (float:
 *   the low 24 bits of `random()` times 2⁻²⁴; double: the low 53 bits of `random64()` times 2⁻⁵³)
 *   and `normal_distribution<double>` (Box–Muller in double with `log1p`, `sin`, `cos`, caching
 *   r·sin θ for the next call).
 * - aten/src/ATen/native/cpu/DistributionTemplates.h: `uniform_kernel` (`rand`: one uniform_real
 *   per element, in order) and `normal_kernel`: a float32 contiguous tensor of n ≥ 16 elements
 *   takes `normal_fill_AVX2`, n uniforms first, then Box–Muller in place on each block of 16
 *   (u1 = 1 − data[j], u2 = data[j + 8], j < 8); when 16 does not divide n the last 16 values are
 *   redrawn (16 more uniforms) and transformed again. Fewer than 16 elements take
 *   `normal_distribution<double>` one value at a time, through the cache above, which no other
 *   draw reads or clears.
 * - aten/src/ATen/native/cpu/avx_mathfun.h: `log256_ps` and `sincos256_ps`, the Cephes float
 *   polynomials (Pommier's sse_mathfun on 8 lanes) that `normal_fill_16_AVX2` calls. Each lane is
 *   emulated in float32: every operation rounded by `Math.fround`, the constants rounded to float
 *   as the C initialisers do, exponent and mantissa taken apart through a shared Float32Array /
 *   Int32Array view, `_mm256_cvttps_epi32` as `Math.trunc`, `_mm256_sqrt_ps` as
 *   `fround(Math.sqrt(x))` (correctly rounded: a double holds more than 2·24 + 2 bits).
 * - aten/src/ATen/native/TensorFactories.cpp: `randperm_cpu` for n < 2³²/20: the identity, then
 *   for i < n − 1 a swap of i with i + random() % (n − i).
 *
 * Which code torch runs on x86 (and so which this file follows): the AVX2 build of
 * DistributionKernels.cpp, with `normal_fill_AVX2`. On an AVX-512 CPU torch runs that same AVX2
 * kernel, because aten/src/ATen/native/DispatchStub.h registers `REGISTER_DISPATCH` kernels as
 * nullptr for AVX-512 and the dispatcher falls back to AVX2. The AVX2 build is compiled by GCC with
 * `-mfma` and FMA contraction on (`-ffp-contract=fast`, GCC's default), so a `_mm256_mul_ps`
 * whose only use is a `_mm256_add_ps`/`_mm256_sub_ps` becomes one fused multiply-add; where both
 * operands of an add are products, the first product in source order is fused. Those are the
 * `fmaf` calls below, and they are load-bearing (measured against torch on 2·10⁶ normals): plain
 * mul-then-add everywhere changes 1% of the values in the last bits, fusing the other product of
 * log's y·z + e·q1 changes 0.02%, leaving cos's y·z − z·0.5 unfused 0.1%. `fmaf` is a correctly
 * rounded float fused multiply-add: the product of two floats is exact in a double, but
 * `fround(a * b + c)` rounds twice, and is wrong when the double sum lands exactly halfway between
 * two floats while the exact sum needs more than a double's 53 bits (terms far apart in size, as
 * x ≈ 0.8 and y·DP3 ≈ 10⁻⁷ in sincos's Cody–Waite reduction); `fmaf` detects that case with the
 * sum's rounding error (TwoSum) and rounds toward it. (Over every input normal_fill can give log256_ps and sincos256_ps, 2²⁴
 * each, the twice-rounded sum happens to give the same floats; `fmaf` does not rely on that.)
 *
 * Where torch itself would differ, by ulps, from these numbers (and from its own on this CPU):
 * - an x86 CPU without AVX2, or `ATEN_CPU_CAPABILITY=default`, and every aarch64 (ARM, Apple
 *   silicon) build: `randn` for n ≥ 16 runs `normal_fill` with libm's float `logf`, `cosf`, `sinf`
 *   instead of the Cephes polynomials: about 60% of the values agree bit for bit, the rest differ
 *   in the last bits (by many ulps where cos θ or sin θ crosses zero, under 2·10⁻⁶ absolute);
 * - a build without FMA contraction (clang's default `-ffp-contract=on` does not fuse across the
 *   intrinsics): the last bit of a fraction of a percent of the values;
 * - `randn` of fewer than 16 values computes in double with libm's `log1p`, `sin`, `cos`; V8's
 *   (fdlibm) and glibc's may differ in a double's last bit, which survives the cast to float about
 *   once in 10⁸ values.
 * `rand`, `randperm`, `random` and `random64` are integer arithmetic and the same everywhere.
 *
 * Runs in a module Worker and in Node.js ≥ 20; no dependencies.
 */

const STATE_N = 624;
const STATE_M = 397;
const MATRIX_A = 0x9908b0df;
const UMASK = 0x80000000;
const LMASK = 0x7fffffff;
/** The seed of a `torch.Generator()` that was never seeded (c10's default_rng_seed_val). */
export const DEFAULT_SEED = 67280421310721n;
const TWO_POW_64 = 1n << 64n;
const FLOAT_STEP = 2 ** -24; // uniform_real<float>: 24 bits
const DOUBLE_STEP = 2 ** -53; // uniform_real<double>: 53 bits
const fround = Math.fround;

/** A CPU `torch.Generator` seeded with `seed` (Number or BigInt, 0 ≤ seed < 2⁶⁴; default: an
 * unseeded `torch.Generator()`'s seed). */
export class Generator {
  constructor(seed = DEFAULT_SEED) {
    this.state = new Uint32Array(STATE_N);
    this.manual_seed(seed);
  }

  /** Reseed as `torch.Generator.manual_seed`: the engine restarts and the cached normal is
   * dropped. Returns the generator. */
  manual_seed(seed) {
    const value = checkSeed(seed);
    this.seed = value;
    const state = this.state;
    state[0] = Number(value & 0xffffffffn); // MT19937RNGEngine.h keeps the low 32 bits only
    for (let j = 1; j < STATE_N; j++) {
      const prev = state[j - 1] ^ (state[j - 1] >>> 30);
      state[j] = Math.imul(1812433253, prev) + j;
    }
    this.left = 1;
    this.next = 0;
    this.nextDoubleNormal = null; // CPUGeneratorImpl::next_double_normal_sample_
    return this;
  }

  /** The seed as given (all 64 bits, as `torch.Generator.initial_seed()`), a BigInt. */
  initial_seed() {
    return this.seed;
  }

  /** One 32-bit output of the engine (`CPUGeneratorImpl::random`), 0 ≤ r < 2³². */
  random() {
    if (--this.left === 0) this.nextState();
    let y = this.state[this.next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Two outputs as one 64-bit BigInt, the first in the high word (`CPUGeneratorImpl::random64`). */
  random64() {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** `torch.rand(n, generator=g)` (float32): n values in [0, 1), each 24 random bits. */
  rand(n) {
    const out = new Float32Array(checkCount(n, "rand"));
    for (let i = 0; i < out.length; i++) out[i] = (this.random() & 0xffffff) * FLOAT_STEP;
    return out;
  }

  /** `torch.randn(n, generator=g)` (float32, any shape of n elements: a contiguous tensor). */
  randn(n) {
    const size = checkCount(n, "randn");
    const out = new Float32Array(size);
    if (size < 16) {
      // normal_kernel's serial path: normal_distribution<double>, then a cast to float.
      // transformation::normal is v·1 + 0, which turns −0 into +0 before the cast.
      for (let i = 0; i < size; i++) out[i] = this.normalDouble() + 0;
      return out;
    }
    for (let i = 0; i < size; i++) out[i] = (this.random() & 0xffffff) * FLOAT_STEP;
    for (let i = 0; i < size - 15; i += 16) normalFill16(out, i);
    if (size % 16 !== 0) {
      const start = size - 16; // redraw and transform the last 16 values, as torch does
      for (let i = start; i < size; i++) out[i] = (this.random() & 0xffffff) * FLOAT_STEP;
      normalFill16(out, start);
    }
    return out;
  }

  /** `torch.randperm(n, generator=g)` on the CPU for n < 2³²/20, as an Int32Array. */
  randperm(n) {
    const size = checkCount(n, "randperm");
    if (size >= 0xffffffff / 20) throw new RangeError(`randperm: n must be below 2^32/20, got ${n}`);
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) out[i] = i;
    for (let i = 0; i < size - 1; i++) {
      const z = this.random() % (size - i);
      const save = out[i];
      out[i] = out[z + i];
      out[z + i] = save;
    }
    return out;
  }

  /** One normal_distribution<double> draw (DistributionsHelper.h), through the cached value. */
  normalDouble() {
    if (this.nextDoubleNormal !== null) {
      const cached = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2.0 * Math.log1p(-u2));
    const theta = 2.0 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** uniform_real<double>(0, 1): the low 53 bits of random64() times 2⁻⁵³. */
  uniformDouble() {
    const hi = this.random() & 0x1fffff;
    const lo = this.random();
    return (hi * 4294967296 + lo) * DOUBLE_STEP;
  }

  /** mt19937_engine::next_state: regenerate all 624 words. */
  nextState() {
    const s = this.state;
    this.left = STATE_N;
    this.next = 0;
    let k = 0;
    for (; k < STATE_N - STATE_M; k++) s[k] = s[k + STATE_M] ^ twist(s[k], s[k + 1]);
    for (; k < STATE_N - 1; k++) s[k] = s[k + STATE_M - STATE_N] ^ twist(s[k], s[k + 1]);
    s[k] = s[k + STATE_M - STATE_N] ^ twist(s[k], s[0]);
  }
}

function twist(u, v) {
  return (((u & UMASK) | (v & LMASK)) >>> 1) ^ (v & 1 ? MATRIX_A : 0);
}

function checkSeed(seed) {
  let value;
  if (typeof seed === "bigint") {
    value = seed;
  } else if (typeof seed === "number" && Number.isInteger(seed)) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`seed ${seed} is above 2^53 as a Number: pass it as a BigInt`);
    }
    value = BigInt(seed);
  } else {
    throw new TypeError(`seed must be a whole number (Number or BigInt), got ${String(seed)}`);
  }
  if (value < 0n || value >= TWO_POW_64) {
    throw new RangeError(`seed must be in 0 … 2^64 − 1, got ${value}`);
  }
  return value;
}

function checkCount(n, name) {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${name}: n must be a whole number ≥ 0, got ${String(n)}`);
  }
  return n;
}

// ---------------------------------------------------------------- float32 arithmetic

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

/** fmaf(a, b, c): a·b + c rounded once to float32 (a, b, c float32 values, results in the normal
 * range), as `vfmadd` does. a·b is exact in a double (24 + 24 bits); the double sum s = fl(a·b + c)
 * rounds once more, and rounding s to float gives the right float unless s is exactly halfway
 * between two floats while the sum was inexact: then the exact value lies on the side of the
 * rounding error. */
export function fmaf(a, b, c) {
  const p = a * b;
  const s = p + c;
  const r = fround(s);
  const other = s + (s - r); // the float across s from r if s is a midpoint (exact in double)
  if (r === s || fround(other) !== other) return r;
  const v = s - p; // TwoSum: err = (p + c) − s exactly
  const err = p - (s - v) + (c - v);
  if (err === 0) return r; // a true tie: s was exact, and fround rounded it to even
  return err > 0 === other > r ? other : r;
}

// ---------------------------------------------------------------- avx_mathfun.h, one lane

const ONE = 1;
const HALF = 0.5;
const MIN_NORM_POS = 2 ** -126;
const SQRTHF = fround(0.707106781186547524);
const LOG_P0 = fround(7.0376836292e-2);
const LOG_P1 = fround(-1.151461031e-1);
const LOG_P2 = fround(1.167699874e-1);
const LOG_P3 = fround(-1.2420140846e-1);
const LOG_P4 = fround(1.4249322787e-1);
const LOG_P5 = fround(-1.6668057665e-1);
const LOG_P6 = fround(2.0000714765e-1);
const LOG_P7 = fround(-2.4999993993e-1);
const LOG_P8 = fround(3.3333331174e-1);
const LOG_Q1 = fround(-2.12194440e-4);
const LOG_Q2 = fround(0.693359375);
const MINUS_DP1 = fround(-0.78515625);
const MINUS_DP2 = fround(-2.4187564849853515625e-4);
const MINUS_DP3 = fround(-3.77489497744594108e-8);
const SINCOF_P0 = fround(-1.9515295891e-4);
const SINCOF_P1 = fround(8.3321608736e-3);
const SINCOF_P2 = fround(-1.6666654611e-1);
const COSCOF_P0 = fround(2.443315711809948e-5);
const COSCOF_P1 = fround(-1.388731625493765e-3);
const COSCOF_P2 = fround(4.166664568298827e-2);
const FOPI = fround(1.27323954473516); // 4 / π
const TWO_PI = fround(2 * Math.PI); // _mm256_set1_ps(2.0f * c10::pi<double>)
const MINUS_TWO = -2;

/** log256_ps on one lane, for x in (0, 1] (normal_fill's u1: its NaN mask never applies). */
function log256(x) {
  x = Math.max(x, MIN_NORM_POS);
  F32[0] = x;
  const bits = I32[0];
  I32[0] = (bits & ~0x7f800000) | 0x3f000000; // keep the mantissa, exponent of 0.5
  x = F32[0];
  let e = fround((bits >>> 23) - 0x7f + ONE);
  const below = x < SQRTHF; // x in [0.5, √½): e −= 1, x = 2x − 1; else x = x − 1
  const tmp = below ? x : 0;
  x = fround(x - ONE);
  e = fround(e - (below ? ONE : 0));
  x = fround(x + tmp);
  const z = fround(x * x);
  let y = fmaf(LOG_P0, x, LOG_P1);
  y = fmaf(y, x, LOG_P2);
  y = fmaf(y, x, LOG_P3);
  y = fmaf(y, x, LOG_P4);
  y = fmaf(y, x, LOG_P5);
  y = fmaf(y, x, LOG_P6);
  y = fmaf(y, x, LOG_P7);
  y = fmaf(y, x, LOG_P8);
  y = fround(y * x);
  y = fmaf(y, z, fround(e * LOG_Q1)); // y·z + e·q1: the first product is the fused one
  y = fround(y - z * HALF); // z·0.5 is exact: fused or not, the same
  x = fround(x + y);
  return fround(x + e * LOG_Q2); // e·q2 is exact (q2 has 9 bits, |e| < 2⁸)
}

let SIN = 0;
let COS = 0;

/** sincos256_ps on one lane for x ≥ 0 (normal_fill's θ = 2π·u2: the sign bit of x, which the
 * vector code takes off and puts back on the sine, is never set): sets SIN and COS. */
function sincos256(x) {
  let j = Math.trunc(fround(x * FOPI)); // _mm256_cvttps_epi32
  j = (j + 1) & ~1;
  const y = j; // _mm256_cvtepi32_ps: exact
  const signSin = (j & 4) !== 0;
  const polySin = (j & 2) === 0; // the sine polynomial gives sin (else cos), and vice versa
  const signCos = ((j - 2) & 4) === 0;
  x = fmaf(y, MINUS_DP1, x); // "extended precision modular arithmetic", fused by the compiler
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);
  const z = fround(x * x);
  let c = fmaf(COSCOF_P0, z, COSCOF_P1);
  c = fmaf(c, z, COSCOF_P2);
  c = fround(c * z);
  c = fmaf(c, z, -fround(z * HALF)); // c·z − z·0.5: the first product is the fused one
  c = fround(c + ONE);
  let s = fmaf(SINCOF_P0, z, SINCOF_P1);
  s = fmaf(s, z, SINCOF_P2);
  s = fround(s * z);
  s = fmaf(s, x, x);
  // The blend adds +0 to the chosen polynomial (as the and/andnot/add/sub sequence does).
  const sinValue = polySin ? 0 + s : c + 0;
  const cosValue = polySin ? c + 0 : 0 + s;
  SIN = signSin ? -sinValue : sinValue;
  COS = signCos ? -cosValue : cosValue;
}

/** normal_fill_16_AVX2 with mean 0 and std 1: Box–Muller in place on data[start … start + 16). */
function normalFill16(data, start) {
  for (let j = start; j < start + 8; j++) {
    const u1 = fround(ONE - data[j]);
    const u2 = data[j + 8];
    const radius = fround(Math.sqrt(fround(MINUS_TWO * log256(u1))));
    sincos256(fround(TWO_PI * u2));
    // _mm256_fmadd_ps(n, std = 1, mean = 0) is n + 0 exactly (−0 becomes +0).
    data[j] = fround(radius * COS) + 0;
    data[j + 8] = fround(radius * SIN) + 0;
  }
}
