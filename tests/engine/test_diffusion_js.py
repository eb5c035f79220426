"""The page engine's step rules (``static/engine/diffusion.js``, ``losses.js``, ``guidance.js``,
``images.js``) against the core, one Node run for the whole file (``diffusion_runner.mjs``).

The core computes every step rule of :class:`ddpm.diffusion.GaussianDiffusion` on inputs drawn here
(the network's output and the noise injected), on the shipped models' schedule and on a cosine
schedule, at t = 0, 1, the middle and T − 1 (and one t per image), for batches of 1 and 3 images of
two channels (so a learned variance's 2C channels are split per image), every parameterization and
variance; the engine computes the same from the core's tables and the same inputs.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from nodekit import pack, requires_node, run_node, unpack

from ddpm import checkpoint
from ddpm.choices import PARAMETERIZATIONS, VARIANCES
from ddpm.diffusion import STEP_TABLES, DiffusionConfig, GaussianDiffusion
from ddpm.guidance import ClassifierFreeGuidance
from ddpm.images import to_model_range, to_uint8

pytestmark = requires_node
RUNNER = Path(__file__).with_name("diffusion_runner.mjs")
SHAPE = (2, 6, 6)  # C, H, W
STEP_TOLERANCE = 1e-6  # max |engine − core| of every step output, times max(1, |core|)
BOUND_TOLERANCE = 1e-5  # relative, for the bound's terms (means over pixels, summed in another order)
BOUND_FLOOR = 1e-7  # bits/dim: below float32's resolution at 1 (1.2e-7 nats), where normal_kl's "− 1" cancels
ETAS = (0.0, 0.5, 1.0)


def diffusions() -> dict[str, GaussianDiffusion]:
    shipped = DiffusionConfig(**checkpoint.read_config(checkpoint.DEFAULT)["diffusion"]).build()
    return {"shipped": shipped, "cosine": GaussianDiffusion.from_schedule("cosine", 50)}


def times(T: int, batch: int) -> list[int | list[int]]:
    """t = 0, 1, the middle and T − 1 for the whole batch, and for 3 images one t each."""
    return [0, 1, T // 2, T - 1, *([[0, T // 2, T - 1]] if batch == 3 else [])]


def digits(batch: int, g: torch.Generator) -> torch.Tensor:
    """8-bit images in [−1, 1], half of the pixels background (−1) and some at +1."""
    levels = torch.randint(0, 256, (batch, *SHAPE), generator=g)
    levels[torch.rand(levels.shape, generator=g) < 0.5] = 0
    levels[torch.rand(levels.shape, generator=g) < 0.1] = 255
    return levels.float() / 127.5 - 1


def network_output(parameterization: str, variance: str, batch: int, g: torch.Generator) -> torch.Tensor:
    """ε̂ or v̂ ~ N(0, 1), or x̂_0 in ±1.5 (so clipping acts); then v ∈ [−1, 1] for a learned σ²."""
    if parameterization == "x0":
        out = torch.rand((batch, *SHAPE), generator=g) * 3 - 1.5
    else:
        out = torch.randn((batch, *SHAPE), generator=g)
    if variance == "learned_range":
        out = torch.cat([out, torch.rand((batch, *SHAPE), generator=g) * 2 - 1], dim=1)
    return out


def close(engine: np.ndarray, core: torch.Tensor, tolerance: float = STEP_TOLERANCE) -> float:
    """max |engine − core| (shapes flattened; a per-image [B] beside the core's [B, 1, 1, 1]), asserted
    ≤ tolerance · max(1, |core|)."""
    core = core.detach().numpy().astype(np.float64).reshape(-1)
    engine = np.asarray(engine, dtype=np.float64).reshape(-1)
    assert engine.shape == core.shape, (engine.shape, core.shape)
    gap = np.abs(engine - core)
    assert (gap <= tolerance * np.maximum(1.0, np.abs(core))).all(), f"max gap {gap.max():.3g}"
    return float(gap.max())


def step_cases(ds: dict[str, GaussianDiffusion], g: torch.Generator) -> list[dict]:
    cases = []
    for name, d in ds.items():
        for batch in (1, 3):
            for t in times(d.num_timesteps, batch):
                for parameterization in PARAMETERIZATIONS:
                    for variance in VARIANCES:
                        x0 = digits(batch, g)
                        eps = torch.randn(x0.shape, generator=g)
                        x_t = d.q_sample(x0, torch.tensor(t), eps)
                        cases.append(
                            {"diffusion": name, "batch": batch, "t": t, "parameterization": parameterization,
                             "variance": variance, "x0": x0, "eps": eps, "x_t": x_t,
                             "model_output": network_output(parameterization, variance, batch, g),
                             "z": torch.randn(x0.shape, generator=g)}
                        )  # fmt: skip
    return cases


def jump_cases(ds: dict[str, GaussianDiffusion], g: torch.Generator) -> list[dict]:
    """DDIM and DPM-Solver steps from t to the next index, halfway down, and x_0 (−1); with a
    previous x̂_0 at s > t for the second-order DPM-Solver step."""
    cases = []
    for name, d in ds.items():
        T = d.num_timesteps
        for batch in (1, 3):
            for t in (0, 1, T // 2, T - 1):
                for t_prev in sorted({t - 1, t // 2 - 1 if t > 1 else -1, -1}):
                    for parameterization in PARAMETERIZATIONS:
                        variance = "learned_range" if parameterization == "v" else "fixed_small"
                        x_t = torch.randn((batch, *SHAPE), generator=g)
                        s = min(T - 1, t + 1 + T // 10) if t < T - 1 else None
                        cases.append(
                            {"diffusion": name, "batch": batch, "t": t, "t_prev": t_prev, "s": s,
                             "parameterization": parameterization, "x_t": x_t,
                             "model_output": network_output(parameterization, variance, batch, g),
                             "z": torch.randn(x_t.shape, generator=g),
                             "before": None if s is None else torch.rand(x_t.shape, generator=g) * 2 - 1}
                        )  # fmt: skip
    return cases


def guidance_cases(g: torch.Generator) -> list[dict]:
    """Both halves of a guided call (conditional first), fixed and learned σ², w from 0 to 7.5."""
    cases = []
    for channels in (SHAPE[0], 2 * SHAPE[0]):
        for scale in (0.0, 0.3, 2.0, 7.5):
            both = torch.randn((6, channels, *SHAPE[1:]), generator=g)
            cases.append({"both": both, "x_length": 3 * int(np.prod(SHAPE)), "batch": 3, "scale": scale})
    return cases


def uint8_values() -> np.ndarray:
    """A dense float32 grid over [−1.1, 1.1] (every pixel level and the halves between them), and
    NaN and ±inf."""
    grid = np.linspace(-1.1, 1.1, 200_001, dtype=np.float32)
    halves = ((np.arange(256, dtype=np.float32) + 0.5) / np.float32(127.5) - 1).astype(np.float32)
    return np.concatenate([grid, halves, np.array([np.nan, np.inf, -np.inf], dtype=np.float32)])


def packed(case: dict) -> dict:
    return {k: pack(v) if isinstance(v, torch.Tensor) else v for k, v in case.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(the core's diffusions, the inputs, the engine's reply)."""
    g = torch.Generator().manual_seed(0)
    ds = diffusions()
    steps, jumps, guided = step_cases(ds, g), jump_cases(ds, g), guidance_cases(g)
    tables = {"shipped": ds["shipped"].step_tables()}  # lists, as the core gives them
    tables["cosine"] = {k: pack(getattr(ds["cosine"], k))["b64"] for k in STEP_TABLES}  # or base64
    payload = {
        "tables": tables, "steps": [packed(c) for c in steps], "jumps": [packed(c) for c in jumps],
        "guided": [packed(c) for c in guided], "uint8": pack(uint8_values()), "etas": ETAS,
    }  # fmt: skip
    reply = run_node(RUNNER, payload, tmp_path_factory.mktemp("diffusion"))
    return ds, {"steps": steps, "jumps": jumps, "guided": guided}, reply


def test_the_engine_reads_the_core_tables_bit_for_bit(run):
    ds, _, reply = run
    for name, d in ds.items():
        for table in STEP_TABLES:
            assert np.array_equal(unpack(reply["tables"][name][table]), getattr(d, table).numpy()), table


def test_the_engine_names_the_core_choices_and_tables(run):
    names = run[2]["names"]
    assert tuple(names["STEP_TABLES"]) == STEP_TABLES
    assert tuple(names["PARAMETERIZATIONS"]) == PARAMETERIZATIONS
    assert tuple(names["VARIANCES"]) == VARIANCES


def test_q_sample_p_mean_variance_p_sample_and_the_posterior_step(run):
    ds, cases, reply = run
    for case, out in zip(cases["steps"], reply["steps"], strict=True):
        d, t = ds[case["diffusion"]], torch.tensor(case["t"])
        x0, x_t, model_output, z = case["x0"], case["x_t"], case["model_output"], case["z"]
        options = {"parameterization": case["parameterization"], "variance": case["variance"]}
        close(unpack(out["q_sample"]), x_t)
        core = d.p_mean_variance(model_output, x_t, t, **options)
        for field in core._fields:
            close(unpack(out["p_mean_variance"][field]), getattr(core, field))
        step = d.p_sample(model_output, x_t, t, **options, z=z)
        for field in step._fields:
            close(unpack(out["p_sample"][field]), getattr(step, field))
        exact = d.q_posterior_sample(x0, x_t, t, z=z)
        for field in exact._fields:
            close(unpack(out["q_posterior_sample"][field]), getattr(exact, field))


def test_the_bound_terms(run):
    ds, cases, reply = run
    for case, out in zip(cases["steps"], reply["steps"], strict=True):
        d, t = ds[case["diffusion"]], torch.tensor(case["t"])
        core = d.vb_terms_bpd(case["model_output"], case["x0"], case["x_t"], t,
                              case["parameterization"], case["variance"])  # fmt: skip
        engine = unpack(out["vb_terms_bpd"])
        within = np.allclose(engine, core.numpy(), rtol=BOUND_TOLERANCE, atol=BOUND_FLOOR)
        assert within, (case["diffusion"], case["t"], case["variance"], engine, core)


def test_ddim_and_dpm_solver_steps(run):
    ds, cases, reply = run
    for case, out in zip(cases["jumps"], reply["jumps"], strict=True):
        d = ds[case["diffusion"]]
        args = (case["model_output"], case["x_t"], case["t"], case["t_prev"])
        param = case["parameterization"]
        for eta, engine in zip(ETAS, out["ddim"], strict=True):
            core = d.ddim_step(*args, eta, param, z=case["z"])
            for field in core._fields:
                close(unpack(engine[field]), getattr(core, field))
        core = d.dpm_solver_step(*args, None, param)
        for field in core._fields:
            close(unpack(out["dpm_first"][field]), getattr(core, field))
        if case["before"] is not None:
            core = d.dpm_solver_step(*args, (case["before"], case["s"]), param)
            for field in core._fields:
                close(unpack(out["dpm_second"][field]), getattr(core, field))


def test_classifier_free_guidance_combines_as_the_core(run):
    _, cases, reply = run
    for case, engine in zip(cases["guided"], reply["guided"], strict=True):
        guidance = ClassifierFreeGuidance(_Replay(case["both"]), torch.arange(3), case["scale"])
        guided = guidance(torch.zeros((3, *SHAPE)), torch.zeros(3).long())
        assert np.array_equal(unpack(engine), guided.numpy().reshape(-1)), case["scale"]


class _Replay:
    """A conditional network that returns ``both`` whatever it is asked (its batch must be 2B)."""

    config = type("Config", (), {"num_classes": 10})

    def __init__(self, both: torch.Tensor) -> None:
        self.both = both

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert x.shape[0] == self.both.shape[0] and (y[3:] == 10).all()
        return self.both


def test_to_uint8_is_the_cores(run):
    engine = unpack(run[2]["uint8"])
    assert np.array_equal(engine, to_uint8(uint8_values()).numpy())


def test_to_model_range_is_the_cores_for_every_pixel_value(run):
    engine = unpack(run[2]["model_range"])
    core = to_model_range(np.arange(256, dtype=np.uint8)).numpy()
    assert engine.dtype == np.float32 and np.array_equal(engine, core)


def test_bad_inputs_are_refused_naming_them(run):
    said = run[2]["refusals"]
    assert "mean" in said["parameterization"] and "eps" in said["parameterization"]
    assert "learned" in said["variance"] and "fixed_small" in said["variance"]
    assert "learned_range" in said["learned_without_values"]
    assert "1000" in said["t_high"] and "1.5" in said["t_fraction"]
    assert "t_prev" in said["t_prev"] and "1.5" in said["eta"]
    assert "noise" in said["noise_needed"] and said["no_noise_at_zero"] is None
