"""The page engine's loops (``static/engine/chains.js``), the reverse view's comparison
(``reverse.js``) and the many pasts (``pasts.js``, ``view_pasts.js``'s sentence) against the core,
one Node run for the whole file (``chains_runner.mjs``).

Both sides run the same fake network, out = a·x + u_t·v (+ c_y for a label y; w_t·s after the
first C channels for a learned variance), elementwise in float32, on the shipped models' schedule
(T = 1000), and the same noise: pre-drawn (:func:`ddpm.sampling.draw_noise`, :func:`ddpm.teaching.
common.chain_noise`), or drawn as the core draws it from a generator and replayed to the engine's
``randn`` in order, which counts the draws.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nodekit import pack, requires_node, run_node, unpack

from ddpm import checkpoint
from ddpm.choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from ddpm.data import bundled_digits
from ddpm.diffusion import DiffusionConfig
from ddpm.images import to_model_range, to_uint8
from ddpm.inference import sample_loop
from ddpm.sampling import (
    ddim_sample_loop_progressive,
    ddim_timesteps,
    dpm_solver_sample_loop_progressive,
    dpm_solver_timesteps,
    draw_noise,
    p_sample_loop_progressive,
    posterior_sample_loop_progressive,
)
from ddpm.teaching.common import chain_noise, seeded_noise
from ddpm.teaching.pasts import judge_pasts, many_pasts
from ddpm.teaching.readout import READOUT_POINTS, class_probabilities, reading, readout_due
from ddpm.teaching.reverse import compare_reverse
from ddpm.views.lessons.many_pasts import summary

pytestmark = requires_node
RUNNER = Path(__file__).with_name("chains_runner.mjs")
SHAPE = (2, 1, 28, 28)
SAMPLE_TOLERANCE = 1e-5  # max |engine − core| of a chain's x_0
METRIC_TOLERANCE = 1e-5  # relative, for the comparison's per-step quantities
KL_FLOOR = 1e-7  # bits/dim: below float32's resolution at 1 (1.2e-7 nats), where normal_kl's "− 1" cancels
CLASSES = 10


class FakeNet:
    """The test's network, which the runner implements alike: elementwise in float32, so both
    sides compute the same numbers for the same x_t."""

    def __init__(self, net: dict, parameterization: str, variance: str) -> None:
        self.net = net
        self.config = SimpleNamespace(in_channels=1, image_size=28, parameterization=parameterization,
                                      variance=variance, num_classes=CLASSES)  # fmt: skip

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        n = self.net
        out = n["a"] * x + n["u"][t].view(-1, 1, 1, 1) * n["v"]
        if y is not None:
            out = out + n["c"][y].view(-1, 1, 1, 1)
        if self.config.variance == "learned_range":
            out = torch.cat([out, n["w"][t].view(-1, 1, 1, 1) * n["s"]], dim=1)
        return out


def fake_network(T: int, g: torch.Generator) -> dict:
    return {
        "a": 0.9, "u": torch.randn(T, generator=g) * 0.5, "v": torch.randn(SHAPE[1:], generator=g),
        "w": torch.rand(T, generator=g) * 2 - 1, "s": torch.rand(SHAPE[1:], generator=g) * 2 - 1,
        "c": torch.randn(CLASSES + 1, generator=g) * 0.3,
    }  # fmt: skip


def last(steps) -> dict:
    """The core's record of a loop: its t and t_prev, the first step's fields and the sample x_0."""
    records = list(steps)
    first = records[0]
    fields = ("pred_x0", "pred_noise", "mean", "variance")
    return {"ts": [s.t for s in records], "t_prevs": [s.t_prev for s in records], "x0": records[-1].x_prev,
            "first": {k: getattr(first, k) for k in fields}}  # fmt: skip


def loop_cases(d, net: dict, g: torch.Generator) -> list[tuple[dict, dict]]:
    """(what the engine runs, the core's record) for every sampler from one x_T and one noise."""
    T = d.num_timesteps
    x_T = torch.randn(SHAPE, generator=g)
    noise = draw_noise(T, SHAPE, g)
    x0 = to_model_range(bundled_digits().images[:2]).reshape(SHAPE)
    cases = []

    def add(loop: str, param: str, variance: str, steps, **extra) -> None:
        model = FakeNet(net, param, variance)
        case = {"loop": loop, "config": vars(model.config), "shape": list(SHAPE), "x_t": x_T, "noise": noise}
        case |= extra
        common = {"x_t": case["x_t"], "parameterization": param}
        if loop == "ancestral":
            core = p_sample_loop_progressive(d, model, variance=variance, noise=noise, **common)
        elif loop == "ddim":
            eta = extra["eta"]
            core = ddim_sample_loop_progressive(d, model, steps=steps, eta=eta, noise=noise, **common)
        elif loop == "dpm-solver":
            core = dpm_solver_sample_loop_progressive(d, model, steps=steps, **common)
        else:
            x0, t_start = extra["x0"], extra["t_start"]
            core = posterior_sample_loop_progressive(d, x0, case["x_t"], t_start, noise=noise)
        cases.append(({**case, "steps": steps}, last(core)))

    add("ancestral", "eps", "fixed_small", None)
    add("ancestral", "v", "learned_range", None)
    add("ancestral", "x0", "fixed_large", None)
    add("ddim", "eps", "fixed_small", 50, eta=0.0)
    add("ddim", "v", "learned_range", 50, eta=0.5)
    add("dpm-solver", "v", "learned_range", 20)
    add("dpm-solver", "eps", "fixed_small", 1)
    add("posterior", "eps", "fixed_small", None, x0=x0, x_t=d.q_sample(x0, T - 1, x_T), t_start=T - 1)
    return cases


class Recorder:
    """A generator's draws, recorded: the same numbers the core draws with an identically seeded one."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.draws: list[torch.Tensor] = []


def generation_cases(d, net: dict) -> list[tuple[dict, dict]]:
    """inference.sample_loop with a generator: each sampler, with and without guided labels."""
    cases = []
    for seed, (sampler, steps, eta, labels, guidance) in enumerate([
        ("ddpm", None, 0.0, [3], 2.0), ("ddim", 10, 0.5, None, 0.0), ("ddim", 10, 0.0, [1, 1], 0.0),
        ("dpm-solver", None, 0.0, [0, 9], 3.0),
    ]):  # fmt: skip
        model = FakeNet(net, "v", "learned_range")
        n = 2 if labels is None else len(labels)
        y = None if labels is None else torch.tensor(labels)
        generator = torch.Generator().manual_seed(seed)
        core = last(sample_loop(model, d, n, sampler, steps, eta, generator, labels=y, guidance=guidance))
        replay = torch.Generator().manual_seed(seed)  # the core's draws: x_T, then z per noisy step
        noisy = {"ddpm": d.num_timesteps - 1, "ddim": (steps - 1) if eta else 0, "dpm-solver": 0}[sampler]
        draws = torch.stack([torch.randn((n, *SHAPE[1:]), generator=replay) for _ in range(1 + noisy)])
        case = {"config": vars(model.config), "n": n, "sampler": sampler, "steps": steps, "eta": eta,
                "labels": labels, "guidance": guidance, "draws": draws}  # fmt: skip
        cases.append((case, core))
    return cases


def comparison_cases(d, net: dict) -> list[tuple[dict, list]]:
    images = to_model_range(bundled_digits().images[:2]).reshape(SHAPE)
    cases = []
    for t, batch, param, variance, labels, seed in [
        (300, 2, "eps", "fixed_small", None, 0), (d.num_timesteps, 1, "v", "learned_range", None, 1),
        (40, 1, "v", "learned_range", [7], 2), (25, 2, "x0", "fixed_large", None, 3),
        (1, 1, "eps", "fixed_small", None, 4),
    ]:  # fmt: skip
        model = FakeNet(net, param, variance)
        x0 = images[:batch]
        y = None if labels is None else torch.tensor(labels)
        core = list(compare_reverse(d, model, x0, t, seed, variance, param, y))
        case = {"config": vars(model.config), "x0": x0, "t": t, "batch": batch, "labels": labels,
                "epsilon": seeded_noise(tuple(x0.shape), seed),
                "noise": chain_noise(t, x0, seed)}  # fmt: skip
        cases.append((case, core))
    return cases


class Logits(torch.nn.Module):
    """A classifier whose logits are given: ``features`` returns them, ``head`` passes them on."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits[None], requires_grad=False)
        self.head = torch.nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def pasts_cases(d, net: dict) -> list[tuple[dict, tuple]]:
    """many_pasts from one bundled digit: (what the engine runs, the core's (x_t, pasts))."""
    x0 = to_model_range(bundled_digits().images[:1]).reshape(1, 1, 28, 28)
    cases = []
    for t, k, seed, param, variance, label in [
        (30, 3, 4, "eps", "fixed_small", None), (25, 2, 7, "v", "learned_range", 5),
        (1, 1, 0, "x0", "fixed_large", None),
    ]:  # fmt: skip
        model = FakeNet(net, param, variance)
        core = many_pasts(d, model, x0, t, k, seed, param, variance, label)
        case = {"config": vars(model.config), "x0": x0, "t": t, "k": k, "seed": seed, "label": label}
        cases.append((case, core))
    return cases


class PerImage(torch.nn.Module):
    """A classifier whose logits [K, 10] are given, one row a past."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)
        self.head = torch.nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(x)]


def verdict_cases(g: torch.Generator) -> list[tuple[dict, object]]:
    """judge_pasts of given logits against a class (the first past's: at least one agrees); the first
    case's 8 pasts are read as 0 … 7, so 1 of 8 agree: 12.5%, which rounds to the even 12%."""
    cases = []
    for t, k, scale, known in [
        (500, 8, 0.1, True), (100, 3, 0.5, False), (12, 1, 5.0, True), (900, 64, 1.0, False),
    ]:  # fmt: skip
        logits = torch.randn(k, 10, generator=g) * scale
        if k == 8:
            logits += torch.eye(8, 10) * 4
        own = int(logits[0].argmax())
        core = judge_pasts(PerImage(logits), torch.zeros(1, 1, 28, 28), torch.zeros(k, 1, 28, 28), own)
        cases.append(({"t": t, "k": k, "logits": pack(logits), "own_class": own, "known": known}, core))
    return cases


FRACTIONS = [0.0, 1.0, 0.125, 0.375, 0.625, 0.875, 1 / 3, 2 / 3, 0.005, 0.015, 0.5]


class Arrays:
    """The payload's arrays, each packed once however many cases use it (the noise of a chain of
    T steps is 6 MB): a case names its arrays by ``{"ref": key}``."""

    def __init__(self) -> None:
        self.packed: dict[str, dict] = {}
        self.keys: dict[int, str] = {}

    def __call__(self, value):
        """``value`` with its tensors (at any depth of dicts) replaced by references."""
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if not isinstance(value, torch.Tensor):
            return value
        if id(value) not in self.keys:
            self.keys[id(value)] = key = str(len(self.keys))
            self.packed[key] = pack(value)
        return {"ref": self.keys[id(value)]}


READOUT_STARTS = [1, 50, 199, 200, 999, 1000]
TIMESTEPS = [(t_start, steps) for t_start in (999, 998, 499, 99, 49, 1) for steps in range(1, t_start + 2)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    d = DiffusionConfig(**checkpoint.read_config(checkpoint.DEFAULT)["diffusion"]).build()
    net = fake_network(d.num_timesteps, g)
    loops = loop_cases(d, net, g)
    generations, comparisons = generation_cases(d, net), comparison_cases(d, net)
    pasts, verdicts = pasts_cases(d, net), verdict_cases(g)
    logits = [torch.randn(10, generator=g) * scale for scale in (0.1, 1, 5, 20, 60)]
    logits.append(torch.randn(10, generator=g) + 120)  # exp(120) is beyond float32: the max comes off first
    arrays = Arrays()
    payload = {
        "tables": d.step_tables(), "network": arrays(net), "loops": [arrays(c) for c, _ in loops],
        "generations": [arrays(c) for c, _ in generations],
        "comparisons": [arrays(c) for c, _ in comparisons],
        "timesteps": TIMESTEPS, "logits": [pack(x) for x in logits], "readout_starts": READOUT_STARTS,
        "pasts": [arrays(c) for c, _ in pasts], "verdicts": [c for c, _ in verdicts], "fractions": FRACTIONS,
    }  # fmt: skip
    payload["arrays"] = arrays.packed
    reply = run_node(RUNNER, payload, tmp_path_factory.mktemp("chains"))
    cases = {"loops": loops, "generations": generations, "comparisons": comparisons, "logits": logits,
             "pasts": pasts, "verdicts": verdicts}  # fmt: skip
    return cases, reply


def check_loop(engine: dict, core: dict) -> tuple[float, int]:
    """A loop's record and sample against the core's; returns (max |x_0 gap|, uint8 pixels that differ)."""
    assert engine["ts"] == core["ts"] and engine["t_prevs"] == core["t_prevs"]
    for field, value in core["first"].items():
        gap = np.abs(unpack(engine["first"][field]) - value.numpy().reshape(-1))
        assert gap.max() <= 1e-6 * max(1.0, float(value.abs().max())), field
    x0 = unpack(engine["x0"]).reshape(core["x0"].shape)
    gap = float(np.abs(x0 - core["x0"].numpy()).max())
    pixels = (to_uint8(torch.from_numpy(x0)).int() - to_uint8(core["x0"]).int()).abs()
    assert gap <= SAMPLE_TOLERANCE, gap
    assert pixels.max() <= 1 and int((pixels > 0).sum()) <= 0.001 * pixels.numel(), int((pixels > 0).sum())
    return gap, int((pixels > 0).sum())


def test_every_sampler_from_pre_drawn_noise(run):
    cases, reply = run
    for (_, core), engine in zip(cases["loops"], reply["loops"], strict=True):
        check_loop(engine, core)


def test_generations_draw_as_the_core_draws(run):
    """sample_loop's choice of loop, guidance and one randn(n) per step that adds noise, after x_T."""
    cases, reply = run
    for (case, core), engine in zip(cases["generations"], reply["generations"], strict=True):
        assert engine["draws"] == len(case["draws"]), case["sampler"]
        check_loop(engine, core)


def relative_gap(engine, core, floor: float = 0.0) -> float:
    """max |engine − core| / |core|, counting as 0 a gap within ``floor``."""
    engine, core = np.asarray(engine, dtype=np.float64), np.asarray(core, dtype=np.float64)
    gap = np.abs(engine - core)
    return float(np.where(gap <= floor, 0.0, gap / np.maximum(np.abs(core), 1e-30)).max())


def test_the_reverse_comparison(run):
    cases, reply = run
    for (case, core), engine in zip(cases["comparisons"], reply["comparisons"], strict=True):
        assert engine["t"] == [s.t for s in core]
        names = ("kl_bpd", "mean_gap", "x0_error", "kl_sum_bpd")
        floors = (KL_FLOOR, 0.0, 0.0, 0.0)  # a step's KL, tiny in the middle of a learned chain
        for name, floor, values in zip(names, floors, engine["metrics"], strict=True):
            gap = relative_gap(values, [getattr(s, name) for s in core], floor)
            assert gap <= METRIC_TOLERANCE, (case["t"], name, gap)
        if case["labels"] is not None:
            for name, floor, values in zip(names, floors, engine["conditioned"], strict=False):
                gap = relative_gap(values, [getattr(s.conditioned, name) for s in core], floor)
                assert gap <= METRIC_TOLERANCE, (case["t"], name, gap)
        exact = unpack(engine["exact"])  # the exact chain ends on x_0
        assert np.array_equal(exact, core[-1].exact.x_prev.numpy().reshape(-1))
        assert np.array_equal(exact, case["x0"].numpy().reshape(-1))
        learned = unpack(engine["learned"]) - core[-1].learned.x_prev.numpy().reshape(-1)
        assert np.abs(learned).max() <= SAMPLE_TOLERANCE
        first = unpack(engine["learned_pred_x0"]) - core[0].learned.pred_x0.numpy().reshape(-1)
        assert np.abs(first).max() <= 1e-6


def test_timesteps_of_ddim_and_dpm_solver(run):
    _, reply = run
    assert reply["ddim_timesteps"] == [ddim_timesteps(t, s) for t, s in TIMESTEPS]
    assert reply["dpm_solver_timesteps"] == [dpm_solver_timesteps(t, s) for t, s in TIMESTEPS if s <= t]


def test_the_classifier_read_out(run):
    cases, reply = run
    for logits, engine, said in zip(cases["logits"], reply["probabilities"], reply["readings"], strict=True):
        core = class_probabilities(Logits(logits), torch.zeros(1, 1, 28, 28))
        assert np.abs(unpack(engine) - core.numpy()).max() <= 1e-6
        top, p = reading(core)
        assert said[0] == top and abs(said[1] - p) <= 1e-6
    for t_start, due in zip(READOUT_STARTS, reply["readout_due"], strict=True):
        assert due == [readout_due(t, t_start) for t in range(1, t_start + 1)]


def test_the_engine_keeps_the_cores_defaults_and_refusals(run):
    said = run[1]
    assert said["constants"] == {"SAMPLERS": list(SAMPLERS), "DEFAULT_SAMPLER": DEFAULT_SAMPLER,
                                 "DEFAULT_STEPS": DEFAULT_STEPS, "DEFAULT_ETA": DEFAULT_ETA,
                                 "READOUT_POINTS": READOUT_POINTS}  # fmt: skip
    refused = said["refusals"]
    assert "steps=50" in refused["ancestral_steps"] and "0.5" in refused["dpm_eta"]
    assert "guidance" in refused["guidance_without_labels"] and "euler" in refused["sampler"]
    assert "101" in refused["ddim_steps"]


def test_many_pasts_from_one_x_t(run):
    """The shared x_t and the K pasts of the core's many_pasts, drawn from the same seeds."""
    cases, reply = run
    for (case, (x_t, pasts)), engine in zip(cases["pasts"], reply["pasts"], strict=True):
        assert np.abs(unpack(engine["x_t"]) - x_t.numpy().reshape(-1)).max() <= 1e-6, case["t"]
        engine_pasts = unpack(engine["pasts"]).reshape(pasts.shape)
        assert np.abs(engine_pasts - pasts.numpy()).max() <= SAMPLE_TOLERANCE, case["t"]


def test_the_pasts_verdict_and_its_words(run):
    """judge_pasts' classes, counts, agreement and distinct classes, and the status' sentence."""
    cases, reply = run
    for (case, core), engine in zip(cases["verdicts"], reply["verdicts"], strict=True):
        assert engine["classes"] == core.probabilities.argmax(1).tolist()
        assert engine["counts"] == core.counts and engine["own_class"] == core.own_class
        assert engine["agreement"] == core.agreement and engine["distinct"] == core.distinct
        assert engine["summary"] == summary(case["t"], case["k"], core, case["known"])
    assert reply["percents"] == [f"{x:.0%}" for x in FRACTIONS]
    refused = reply["refusals"]
    assert "got 0" in refused["pasts_k"] and "t = 0" in refused["pasts_t"]
