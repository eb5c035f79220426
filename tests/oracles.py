"""Independent reference computations used by the tests (float64, no ddpm.diffusion code)."""

from __future__ import annotations

import torch

from ddpm.schedules import make_betas


def alphas_cumprod64(schedule: str, timesteps: int) -> torch.Tensor:
    """ᾱ_t for t = 1..T in float64, straight from the β schedule."""
    return torch.cumprod(1.0 - make_betas(schedule, timesteps), dim=0)


class GaussianDataEps:
    """Exact ε-prediction E[ε | x_t] when every pixel of x_0 is N(m, s²), independently.

    x_t = √a x_0 + √(1−a) ε is jointly Gaussian with ε, so
    E[ε | x_t] = √(1−a) (x_t − √a m) / (a s² + 1 − a).
    """

    def __init__(self, alphas_cumprod: torch.Tensor, m: float, s: float) -> None:
        self.a = alphas_cumprod
        self.m, self.s = m, s

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.a[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.s**2 + 1 - a)


class PointDataEps:
    """Exact ε-prediction when the data set is the single image ``point`` [1, C, H, W]."""

    def __init__(self, alphas_cumprod: torch.Tensor, point: torch.Tensor) -> None:
        self.a = alphas_cumprod
        self.point = point

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.a[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return (x - a.sqrt() * self.point) / (1 - a).sqrt()


def zero_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A model that always predicts ε = 0 (x̂_0 = x_t / √ᾱ_t)."""
    return torch.zeros_like(x)
