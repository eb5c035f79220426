"""The variational bound of one digit, term by term in bits/dim, beside images it should find unlikely."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..choices import Model, Parameterization, VarianceType
from ..diffusion import GaussianDiffusion
from ..guidance import Conditioned
from ..images import to_model_range, to_uint8
from ..likelihood import BitsPerDim, calc_bpd_loop, calc_bpd_loops
from ..seeding import generator as seeded_generator


def contrast_images(x0: torch.Tensor, seed: int = 0, noise_std: float = 0.25) -> dict[str, torch.Tensor]:
    """The digit, the digit with Gaussian pixel noise (std ``noise_std``), and uniform random pixels,
    each [B, C, H, W] on the 8-bit grid of [−1, 1] (what the discretized decoder scores)."""
    g = seeded_generator(seed)
    noisy = x0 + noise_std * torch.randn(x0.shape, generator=g).to(x0.device)
    random = torch.randint(0, 256, x0.shape, generator=g).to(x0.device, torch.uint8)
    # to_uint8 then back: the nearest 8-bit level of each pixel, clipped to [−1, 1]
    return {
        "digit": to_model_range(to_uint8(x0)),
        "noisy digit": to_model_range(to_uint8(noisy)),
        "random pixels": to_model_range(random),
    }


def bound_terms(
    diffusion: GaussianDiffusion,
    model: Model,
    images: torch.Tensor,
    seed: int = 0,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
) -> BitsPerDim:
    """The variational bound of each image term by term over all T steps, in bits/dim.

    ``terms[:, t − 1]`` is L_{t−1}: the decoder −log p_θ(x_0 | x_1) at t = 1 and
    KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)) above; ``prior`` is L_T; ``total`` their sum
    (:func:`ddpm.likelihood.calc_bpd_loop`, exact over t, one x_t per step drawn with ``seed``);
    ``decoder`` and ``steps`` split it. ``variance`` is σ² of p_θ: a learned-variance model's bound
    can be taken with its learned σ² or with a fixed one (the same x_t, the same means).
    """
    return calc_bpd_loop(
        diffusion,
        model,
        images,
        parameterization=parameterization,
        variance=variance,
        generator=seeded_generator(seed),
    )


class BoundLesson(NamedTuple):
    """The bound of a digit and its two contrasts, term by term (see :func:`bound_terms`)."""

    images: dict[str, torch.Tensor]  # "digit", "noisy digit", "random pixels": each [1, C, H, W]
    bound: BitsPerDim  # with the model's own σ² (rows in the order of ``images``)
    fixed: BitsPerDim | None  # a learned-σ² model's bound with σ² = β̃_t instead (same x_t); else None


def bound_lesson(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    seed: int = 0,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
    label: int | None = None,
) -> BoundLesson:
    """:func:`bound_terms` of x0 [1, C, H, W] and its :func:`contrast_images`. A model that learned
    its variance is scored with it and, beside that, with σ² fixed at β̃_t: the same network's
    means and the same x_t, so the gap is what learning σ² buys (both from one network call per t,
    :func:`ddpm.likelihood.calc_bpd_loops`). With ``label`` a class-conditional model is told that
    class for every image: the bound is then of −log p_θ(x_0 | y)."""
    images = contrast_images(x0, int(seed))
    batch = torch.cat(list(images.values()))
    if label is not None:
        model = Conditioned(model, torch.full((batch.shape[0],), int(label), device=batch.device))
    learned = variance == "learned_range"
    bounds = calc_bpd_loops(
        diffusion, model, batch, variances=(variance, "fixed_small") if learned else (variance,),
        parameterization=parameterization, generator=seeded_generator(int(seed)),
    )  # fmt: skip
    return BoundLesson(images, bounds[0], bounds[1] if learned else None)
