"""The three parameterizations: one network output read as ε, as x_0 and as v; σ² = β̃_t or β_t."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..choices import PARAMETERIZATIONS, Model, Parameterization, VarianceType
from ..diffusion import GaussianDiffusion, StepOutput
from ..sampling import chain_loop, final_sample
from .common import chain_noise, check_paper_t, paper_index, rms, seeded_noise, seeded_start


class Reading(NamedTuple):
    """What one network output implies if read as ``parameterization``: x̂_0, ε̂ and μ, [B, C, H, W]."""

    parameterization: str
    pred_x0: torch.Tensor
    pred_noise: torch.Tensor
    mean: torch.Tensor


class ParameterizationView(NamedTuple):
    """One network evaluation at the paper's t, read three ways, and one step with either σ²."""

    t: int
    x_t: torch.Tensor  # q_sample(x_0, t, ε_seed)
    output: torch.Tensor  # the network's output (its prediction; learned-σ channels left out)
    readings: dict[str, Reading]  # "eps", "x0", "v" (the model's own is the right one)
    step_small: torch.Tensor  # x_{t−1} = μ_θ + √β̃_t z
    step_large: torch.Tensor  # x_{t−1} = μ_θ + √β_t z, the same z


def parameterization_view(
    diffusion: GaussianDiffusion, model: Model, x0: torch.Tensor, t: int, seed: int = 0
) -> ParameterizationView:
    """Read the output of ``model`` at x_t = q_sample(x_0, t, ε_seed) as ε, as x_0 and as v.

    x̂_0 is not clipped here, so each reading shows the pure algebra of its formulas (Ho et al.
    2020, eq. 11 for ε; Salimans & Ho 2022 for v). The two one-step samples share z (seed + 1).
    """
    t = check_paper_t(diffusion, t, minimum=1)
    index = paper_index(t, x0.shape[0], x0.device)
    _, x_t = seeded_start(diffusion, x0, t, seed)
    with torch.no_grad():
        output, _ = diffusion.split_output(model(x_t, index), x_t)
    readings = {}
    for name in PARAMETERIZATIONS:
        p = diffusion.p_mean_variance(output, x_t, index, name, "fixed_small", clip_denoised=False)
        readings[name] = Reading(name, p.pred_x0, p.pred_noise, p.mean)
    own = getattr(getattr(model, "config", None), "parameterization", "eps")
    z = seeded_noise(tuple(x0.shape), seed + 1, x0.device)
    small, large = (
        diffusion.p_sample(output, x_t, index, own, variance, z=z)
        for variance in ("fixed_small", "fixed_large")
    )
    return ParameterizationView(t, x_t, output, readings, small.sample, large.sample)


def variance_chains(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    parameterization: Parameterization = "eps",
) -> dict[VarianceType, torch.Tensor]:
    """The learned chain from the same x_t down to x_0 with σ² = β̃_t and with σ² = β_t, same z.

    Returns {"fixed_small": x_0, "fixed_large": x_0}, each [B, C, H, W]. The two chains advance as
    one batch through :func:`ddpm.sampling.chain_loop`: one network call per step serves both.
    """
    t = check_paper_t(diffusion, t, minimum=1)
    batch = x0.shape[0]
    _, x_t = seeded_start(diffusion, x0, t, seed)
    z = chain_noise(t, x0, seed)
    variances: tuple[VarianceType, ...] = ("fixed_small", "fixed_large")

    def step(x: torch.Tensor, index: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        outputs = model(x, index).split(batch)
        steps = (
            diffusion.p_sample(out, x_v, index[:batch], parameterization, v, z=z_v)
            for out, x_v, z_v, v in zip(outputs, x.split(batch), z.split(batch), variances, strict=True)
        )
        return StepOutput(*(torch.cat(fields) for fields in zip(*steps, strict=True)))

    x = torch.cat([x_t, x_t])
    ends = final_sample(chain_loop(x, range(t - 1, -1, -1), step, torch.cat([z, z], dim=1))).split(batch)
    return dict(zip(variances, ends, strict=True))


class ParameterizationLesson(NamedTuple):
    """Everything the parameterizations lesson shows for one digit, t and seed."""

    view: ParameterizationView  # the one network evaluation, read three ways, and one step each σ²
    chains: dict[VarianceType, torch.Tensor]  # the whole learned chain's x_0 with each σ² [B, C, H, W]
    parameterization: str  # what the model was trained to predict: the reading that makes sense
    x0_errors: dict[str, float]  # RMS over pixels of x̂_0 − x_0 for each reading ("eps", "x0", "v")
    chain_gap: float  # RMS over pixels between the two chains' x_0 (σ² = β̃_t against β_t, same z)


def parameterization_lesson(
    diffusion: GaussianDiffusion, model: Model, x0: torch.Tensor, t: int, seed: int = 0
) -> ParameterizationLesson:
    """:func:`parameterization_view` and :func:`variance_chains` (read as the model's own
    parameterization) from the same x_t, and the RMS errors that compare them."""
    own = getattr(getattr(model, "config", None), "parameterization", "eps")
    view = parameterization_view(diffusion, model, x0, t, seed)
    chains = variance_chains(diffusion, model, x0, t, seed, own)
    errors = {name: rms(reading.pred_x0, x0) for name, reading in view.readings.items()}
    return ParameterizationLesson(
        view, chains, own, errors, rms(chains["fixed_small"], chains["fixed_large"])
    )
