"""The page engine's generator (``engine/torch_random.js``, ``engine/labels.js``) against torch.

torch draws here (``ddpm.seeding.generator``, ``ddpm.guidance``), the port draws in Node
(``torch_random_runner.mjs``, one run for the whole file), and the two are compared exactly:
integers and uniforms everywhere; normals bit for bit where torch runs its AVX2 kernel (x86 with
AVX2 or AVX-512, the kernel the port emulates). On another CPU torch's own ``randn`` of 16 values or
more uses libm's ``logf``/``cosf``/``sinf``: it then differs from the AVX2 numbers (and the port)
by many ulps where a value crosses zero (r·cos θ with cos θ ≈ 0), so an ulp bound cannot hold there
and those values are held to an absolute bound instead, 32 float ulps of max(|x|, 1)
(libm against AVX2 measures 15).
"""

from __future__ import annotations

import platform
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ddpm.guidance import labels_for, prior_labels
from ddpm.seeding import generator, randn
from tests.engine.nodekit import pack, requires_node, run_node, unpack

RUNNER = Path(__file__).with_name("torch_random_runner.mjs")
SEEDS = (0, 1, 2**31, 2**32 + 5, 2**63 + 7, 2**64 - 1)
"""Seeds across the range: torch seeds the engine with the low 32 bits only (2³² + 5 draws as 5)."""
PERM_SIZES = (1, 2, 10, 16, 17, 64, 1000)
NORMAL_SIZES = (1, 3, 15, 16, 17, 31, 784, 784 * 16, 784 * 64)
"""Below 16: the scalar double path with its cached normal; 16 and up: blocks of 16, and a redrawn
last block when 16 does not divide n."""
NORMAL_SEEDS = (0, 1, 2**32 + 5, 2**63 + 7)
PRIOR_SIZES = (1, 7, 10, 16, 64)
PRIOR_SEEDS = (0, 1, 123, 2**32 + 5)
ALL_SIZES = (1, 10, 16, 100)
AVX2_KERNEL = platform.machine().lower() in ("x86_64", "amd64") and (
    torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
)
"""torch runs normal_fill_AVX2 (an AVX-512 CPU falls back to the AVX2 kernel)."""


def draw(g: torch.Generator, op: list[Any]) -> Any:
    """torch's side of one of the runner's draws."""
    name, *args = op
    if name == "random":  # random64() = random() << 32 | random(), split back into its two words
        words = torch.empty(args[0] // 2, dtype=torch.int64).random_(-(2**63), None, generator=g)
        unsigned = words.numpy().view(np.uint64)
        return np.stack([unsigned >> 32, unsigned & 0xFFFFFFFF], axis=1).reshape(-1).astype(np.uint32)
    if name == "random64":
        return torch.empty(args[0], dtype=torch.int64).random_(-(2**63), None, generator=g).numpy()
    if name == "initial_seed":
        return str(g.initial_seed())
    if name == "rand":
        return torch.rand(args[0], generator=g).numpy()
    if name == "randn":
        return torch.randn(args[0], generator=g).numpy()
    if name == "randn_images":  # the app's shape; the port draws the same count flat
        return randn((args[0], 1, 28, 28), g).reshape(-1).numpy()
    if name == "randperm":
        return torch.randperm(args[0], generator=g).numpy()
    if name == "prior_labels":
        return prior_labels(args[0], args[1], g).numpy()
    if name == "labels_for":
        labels = labels_for(args[0], args[1], args[2], generator=g)
        return None if labels is None else labels.numpy()
    raise ValueError(f"unknown draw {name!r}")


def port_op(op: list[Any]) -> list[Any]:
    """The runner's name for a draw (it draws images flat)."""
    return ["randn", op[1] * 784] if op[0] == "randn_images" else op


RANDOM_OPS = [["random", 2000], ["random64", 500], ["rand", 1000], ["initial_seed"]]
RANDOM_CASES = [(seed, RANDOM_OPS) for seed in SEEDS]
PERM_CASES = [(seed, [["randperm", n] for n in PERM_SIZES]) for seed in (0, 7, 2**32 + 5)]
NORMAL_CASES = [(seed, [["randn", n]]) for seed in NORMAL_SEEDS for n in NORMAL_SIZES]
MIXED_CASES = [
    # generate(n=7)'s order: "prior" labels (randperm(10), randperm(7)), x_T, then a noise per step
    (2024, [["labels_for", "prior", 7, 10], ["randn_images", 7], ["randn_images", 7], ["randn_images", 7]]),
    # the cached normal of the scalar path: randn(1) leaves one, randn(3) starts with it; rand,
    # randperm and randn(≥ 16) neither use nor clear it
    (5, [["randn", 1], ["rand", 5], ["randn", 17], ["randperm", 10], ["randn", 3], ["randn", 16],
         ["randn", 5]]),
    (2**63 + 7, [["randn", 15], ["random", 4], ["randn", 1], ["randn", 31], ["randn", 2], ["rand", 3]]),
]  # fmt: skip
PRIOR_CASES = [(seed, [["prior_labels", n, 10]]) for seed in PRIOR_SEEDS for n in PRIOR_SIZES]
LABEL_CASES = [(0, [["labels_for", "all", n, 10] for n in ALL_SIZES])]
LABEL_CASES += [(0, [["labels_for", "3", 5, 10], ["labels_for", " 7 ", 4, 10], ["labels_for", 4, 3, 10]])]
LABEL_CASES += [(0, [["labels_for", "none", 5, 10], ["labels_for", None, 5, 10]])]
LABEL_CASES += [(0, [["labels_for", "prior", 5, 0]])]  # a model without labels
GROUPS = {
    "random": RANDOM_CASES, "randperm": PERM_CASES, "randn": NORMAL_CASES, "mixed": MIXED_CASES,
    "prior": PRIOR_CASES, "labels": LABEL_CASES,
}  # fmt: skip

ERRORS = [
    # (the call, the error the port throws, what its message must name)
    (["Generator", "number", -1], "RangeError", "-1"),
    (["Generator", "bigint", str(2**64)], "RangeError", str(2**64)),
    (["Generator", "number", 1.5], "TypeError", "1.5"),
    (["Generator", "number", 2**60], "RangeError", "BigInt"),
    (["Generator", "bigint", str(2**64 - 1)], "none", ""),
    (["randn", -1], "RangeError", "-1"),
    (["labels_for", "12", 4, 10, "gen"], "RangeError", "12"),
    (["labels_for", "cat", 4, 10, "gen"], "RangeError", '"cat"'),
    (["labels_for", 2.5, 4, 10, "gen"], "TypeError", "2.5"),
    (["labels_for", True, 4, 10, "gen"], "TypeError", "true"),
    (["labels_for", -1, 4, 10, "gen"], "RangeError", "-1"),
    (["labels_for", "3", 4, 0, "gen"], "RangeError", "3"),
    (["prior_labels", 0, 10, "gen"], "RangeError", "n=0"),
    (["prior_labels", 5, 10, "none"], "TypeError", "undefined"),
]


def fma_operands() -> dict[str, np.ndarray]:
    """Float triples for fmaf: random ones over many exponents, and ones where a·b is exactly
    halfway between two floats and c is far smaller (a double sum loses c, then rounds the tie)."""
    rng = np.random.default_rng(0)
    size = 3000
    a, b, c = (rng.standard_normal(size) * 2.0 ** rng.integers(-40, 40, size) for _ in range(3))
    tie = np.float32(1 + 2**-12)  # tie² = 1 + 2⁻¹¹ + 2⁻²⁴: the midpoint of two floats
    tiny = [2.0**-60, -(2.0**-60), 2.0**-100, -(2.0**-100), 2.0**-30, 0.0]
    a = np.concatenate([a, [tie] * 6, [-tie] * 6])
    b = np.concatenate([b, [tie] * 12])
    c = np.concatenate([c, tiny, tiny])
    return {name: v.astype(np.float32) for name, v in zip("abc", (a, b, c), strict=True)}


def round_to_float32(x: Fraction) -> np.float32:
    """The float32 nearest to x, ties to even (the guess through a double is off by at most one)."""
    guess = np.float32(float(x))
    near = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    return min(near, key=lambda f: (abs(Fraction(float(f)) - x), int(np.array(f).view(np.int32)) & 1))


def ulps(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How many float32 steps apart (±0 count as one value)."""

    def order(v: np.ndarray) -> np.ndarray:
        bits = v.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    return np.abs(order(x) - order(y))


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The runner's results: per group, per case, per draw."""
    group_cases = [case for group in GROUPS.values() for case in group]
    cases = [{"seed": str(seed), "ops": [port_op(op) for op in ops]} for seed, ops in group_cases]
    payload = {"cases": cases, "fma": {k: pack(v) for k, v in fma_operands().items()}}
    payload["errors"] = [call for call, _, _ in ERRORS]
    out = run_node(RUNNER, payload, tmp_path_factory.mktemp("torch_random"))
    results, start = {}, 0
    for name, group in GROUPS.items():
        results[name] = out["cases"][start : start + len(group)]
        start += len(group)
    results["fma"], results["errors"] = out["fma"], out["errors"]
    return results


def compared(port: dict[str, Any], name: str) -> Any:
    """((seed, draws), the port's results, torch's results) for each case of a group."""
    group = GROUPS[name]
    theirs = []
    for seed, ops in group:
        g = generator(seed)
        theirs.append([draw(g, op) for op in ops])
    return zip(group, port[name], theirs, strict=True)


def check_normals(ours: np.ndarray, theirs: np.ndarray, what: str) -> tuple[float, int]:
    """Bitwise on torch's AVX2 kernel; elsewhere (libm) within 32 ulps of max(|x|, 1)."""
    assert ours.shape == theirs.shape, what
    equal = float((ours.view(np.int32) == theirs.view(np.int32)).mean())
    worst = int(ulps(ours, theirs).max())
    if AVX2_KERNEL or len(ours) < 16:  # below 16 torch computes in double on every CPU
        assert equal == 1.0, f"{what}: {equal:.6f} bitwise equal, {worst} ulps at most"
    else:
        scale = np.maximum(np.abs(theirs.astype(np.float64)), 1.0)
        assert np.all(np.abs(ours.astype(np.float64) - theirs) <= 32 * 2.0**-23 * scale), what
    return equal, worst


@requires_node
def test_random_random64_and_rand_are_torchs_for_seeds_across_the_range(port):
    for (seed, ops), ours, theirs in compared(port, "random"):
        for op, mine, torchs in zip(ops, ours, theirs, strict=True):
            if op[0] == "initial_seed":
                assert mine == torchs == str(seed)
                continue
            got = unpack(mine)
            assert got.dtype == torchs.dtype and got.shape == torchs.shape, (seed, op)
            assert np.array_equal(got.view(np.uint8), torchs.view(np.uint8)), (seed, op)


@requires_node
def test_a_seed_above_2_32_draws_as_its_low_32_bits_in_torch_and_the_port(port):
    by_seed = dict(zip(SEEDS, port["random"], strict=True))
    assert np.array_equal(unpack(by_seed[2**32 + 5][0]), draw(generator(5), ["random", 2000]))


@requires_node
def test_randperm_is_torchs(port):
    for (seed, ops), ours, theirs in compared(port, "randperm"):
        for op, mine, torchs in zip(ops, ours, theirs, strict=True):
            assert np.array_equal(unpack(mine), torchs), (seed, op)


@requires_node
def test_randn_is_torchs_bit_for_bit_on_the_avx2_kernel(port):
    report = {}
    for (seed, ops), ours, theirs in compared(port, "randn"):
        n = ops[0][1]
        equal, worst = check_normals(unpack(ours[0]), theirs[0], f"seed {seed}, randn({n})")
        report.setdefault(n, []).append((equal, worst))
    kernel = "AVX2 kernel" if AVX2_KERNEL else f"{torch.backends.cpu.get_cpu_capability()} (libm)"
    for n, rows in report.items():
        fraction, worst = np.mean([equal for equal, _ in rows]), max(worst for _, worst in rows)
        print(f"randn({n}) on torch's {kernel}: {fraction:.6f} bitwise equal, max {worst} ulps")


@requires_node
def test_a_mixed_sequence_on_one_generator_is_torchs(port):
    for (seed, ops), ours, theirs in compared(port, "mixed"):
        for op, mine, torchs in zip(ops, ours, theirs, strict=True):
            got = unpack(mine)
            if op[0] in ("randn", "randn_images"):
                check_normals(got, torchs, f"seed {seed}, {op}")
            else:
                assert np.array_equal(got, torchs), (seed, op)


@requires_node
def test_prior_labels_are_guidance_prior_labels(port):
    for (seed, ops), ours, theirs in compared(port, "prior"):
        got = unpack(ours[0])
        assert got.dtype == np.int32 and np.array_equal(got, theirs[0]), (seed, ops)
        n = ops[0][1]
        counts = np.bincount(got, minlength=10)
        assert counts.max() - counts.min() <= 1 and counts.sum() == n


@requires_node
def test_labels_for_all_a_digit_and_none_are_guidance_labels_for(port):
    for (seed, ops), ours, theirs in compared(port, "labels"):
        for op, mine, torchs in zip(ops, ours, theirs, strict=True):
            if torchs is None:
                assert mine is None, op
            else:
                assert np.array_equal(unpack(mine), torchs), (seed, op)


@requires_node
def test_bad_seeds_requests_and_sizes_are_refused_naming_the_value(port):
    for (call, kind, named), got in zip(ERRORS, port["errors"], strict=True):
        assert got["name"] == kind, (call, got)
        assert named in got["message"], (call, got)
    # the labels' refusals are guidance's too
    for call, kind, _ in ERRORS:
        if call[0] == "labels_for" and kind != "none":
            with pytest.raises(ValueError):
                labels_for(call[1], call[2], call[3], generator=generator(0))
    with pytest.raises(ValueError):
        prior_labels(0, 10, generator(0))


@requires_node
def test_fmaf_rounds_once_where_a_double_sum_rounds_twice(port):
    operands = fma_operands()
    exact = np.array(
        [
            round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))
            for a, b, c in zip(operands["a"], operands["b"], operands["c"], strict=True)
        ],
        dtype=np.float32,
    )
    fused, naive = unpack(port["fma"]["fused"]), unpack(port["fma"]["naive"])
    assert np.array_equal(fused.view(np.int32), exact.view(np.int32))
    ties = slice(-12, None)  # the double-rounding cases: fround(a·b + c) gets c's side wrong
    assert not np.array_equal(naive[ties].view(np.int32), exact[ties].view(np.int32))
