"""Noise schedules β_1 … β_T of the forward process.

Notation (Ho et al. 2020, used everywhere in this package): β_t is the variance added at step t,
α_t = 1 − β_t, and ᾱ_t = ∏_{s≤t} α_s. Some texts write α_t for what we call ᾱ_t; we never do.

A schedule is returned as a float64 tensor of shape [T] whose entry ``i`` is β at the paper's
t = i + 1 (see :mod:`ddpm.diffusion` for the index convention).
"""

from __future__ import annotations

import math

import torch

from .choices import check_choice

SCHEDULES = ("linear", "cosine")
"""Names accepted by :func:`make_betas`."""

COSINE_OFFSET = 0.008
"""The small offset s of the cosine schedule (Nichol & Dhariwal 2021, eq. 17)."""

MAX_BETA = 0.999
"""Cosine β are clipped here so that the last steps stay finite (Nichol & Dhariwal 2021)."""


def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al. 2020: β rising linearly from 1e-4 to 0.02 at T = 1000.

    For other T both ends are scaled by 1000 / T, as in improved-diffusion, so that the total
    amount of noise (and ᾱ_T) stays about the same.

    Returns:
        float64 tensor [T], strictly increasing, in (0, 1).
    """
    scale = 1000.0 / timesteps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    if betas[-1] >= 1.0:
        raise ValueError(
            f"timesteps={timesteps} is too small for the linear schedule: β_T = {betas[-1]:.3f} ≥ 1; "
            "use timesteps ≥ 21"
        )
    return betas


def cosine_alphas_cumprod(t: torch.Tensor, timesteps: int, s: float = COSINE_OFFSET) -> torch.Tensor:
    """The closed form ᾱ(t) = f(t) / f(0), f(t) = cos²((t/T + s) / (1 + s) · π/2).

    Args:
        t: float tensor of paper times in [0, T] (0 gives ᾱ = 1).
        timesteps: T.
        s: the offset that keeps β small near t = 0.

    Returns:
        float64 tensor of the same shape, in (0, 1].
    """
    t = t.to(torch.float64)

    def f(u: torch.Tensor) -> torch.Tensor:
        return torch.cos((u / timesteps + s) / (1 + s) * math.pi / 2) ** 2

    return f(t) / f(torch.zeros((), dtype=torch.float64))


def cosine_betas(timesteps: int) -> torch.Tensor:
    """Nichol & Dhariwal 2021: β_t = 1 − ᾱ(t) / ᾱ(t − 1) with the cosine ᾱ, clipped at 0.999.

    Returns:
        float64 tensor [T], in (0, 0.999].
    """
    t = torch.arange(timesteps + 1, dtype=torch.float64)
    alphas_cumprod = cosine_alphas_cumprod(t, timesteps)
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(max=MAX_BETA)


def make_betas(name: str, timesteps: int) -> torch.Tensor:
    """The β schedule called ``name`` with ``timesteps`` steps.

    Args:
        name: one of :data:`SCHEDULES` (``"linear"`` or ``"cosine"``).
        timesteps: T ≥ 1, the number of diffusion steps.

    Returns:
        float64 tensor [T]; entry i is β at the paper's t = i + 1; every value is in (0, 1).

    Raises:
        ValueError: for an unknown name (the message lists the allowed ones) or a bad T.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive int, got {timesteps!r}")
    check_choice("schedule", name, SCHEDULES)
    return linear_betas(timesteps) if name == "linear" else cosine_betas(timesteps)
