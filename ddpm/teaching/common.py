"""Helpers every lesson shares: the paper's t and the core's index, seeded noise, and RMS.

A lesson takes the paper's t (1 … T for a noisy x_t, 0 for the clean digit); the core takes the
0-based index t − 1 (:mod:`ddpm.diffusion`). :func:`paper_index` is the only place that converts.
Noise is drawn from seeds, so the same (digit, t, seed) shows the same x_t in every view.
"""

from __future__ import annotations

import torch

from ..diffusion import GaussianDiffusion
from ..sampling import draw_noise
from ..seeding import generator, randn


def check_paper_t(diffusion: GaussianDiffusion, t: int, minimum: int = 0) -> int:
    """Validate a paper timestep t ∈ [minimum, T]; returns it as an int.

    Raises:
        ValueError: naming ``t`` when it is not a whole number or is out of range.
    """
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t != int(t):
        raise ValueError(f"t must be a whole number, got {t!r}")
    t = int(t)
    if not minimum <= t <= diffusion.num_timesteps:
        raise ValueError(f"t = {t} is out of range [{minimum}, {diffusion.num_timesteps}]")
    return t


def paper_index(t: int, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The core's 0-based index of the paper's t ≥ 1 for a batch: LongTensor [batch] of t − 1."""
    return torch.full((batch,), int(t) - 1, dtype=torch.long, device=device)


def seeded_noise(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """ε ~ N(0, I) of ``shape`` from a CPU generator seeded with ``seed`` (the same on every device)."""
    return randn(shape, generator(seed), device)


def seeded_start(
    diffusion: GaussianDiffusion, x0: torch.Tensor, t: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε, x_t): ε from ``seed`` and x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε at the paper's t ≥ 1 (eq. 4).

    Both [B, C, H, W]. Every view that starts from a noisy digit uses this, so the same
    (digit, t, seed) shows the same x_t in the forward view, the comparison, the inspector and
    the lessons.
    """
    epsilon = seeded_noise(tuple(x0.shape), seed, x0.device)
    return epsilon, diffusion.q_sample(x0, t - 1, epsilon)


def chain_noise(num_steps: int, x0: torch.Tensor, seed: int) -> torch.Tensor:
    """The z of each step of a chain started with ``seed``: [num_steps, B, C, H, W], from seed + 1."""
    return draw_noise(num_steps, x0.shape, generator(int(seed) + 1), x0.device)


def rms(x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Root mean square over every element of x − y (of x when y is None): √(mean((x − y)²))."""
    difference = x if y is None else x - y
    return float(difference.pow(2).mean().sqrt())
