"""The forward process q(x_t | x_0) at the paper's t, term by term, and the schedule's values there."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..diffusion import GaussianDiffusion
from .common import check_paper_t


class ScheduleValues(NamedTuple):
    """The schedule at the paper's t (t = 0: no noise yet, SNR infinite)."""

    t: int
    beta: float  # β_t
    alpha: float  # α_t = 1 − β_t
    alpha_bar: float  # ᾱ_t
    sqrt_alpha_bar: float  # √ᾱ_t, the weight of x_0 in x_t
    sqrt_one_minus_alpha_bar: float  # √(1 − ᾱ_t), the weight of ε
    snr: float  # ᾱ_t / (1 − ᾱ_t)
    log_snr: float  # natural log of the SNR


def schedule_values(diffusion: GaussianDiffusion, t: int) -> ScheduleValues:
    """β_t, α_t, ᾱ_t, √ᾱ_t, √(1 − ᾱ_t) and SNR at the paper's t ∈ [0, T], from the core's tables."""
    t = check_paper_t(diffusion, t)
    if t == 0:
        return ScheduleValues(0, 0.0, 1.0, 1.0, 1.0, 0.0, math.inf, math.inf)
    i = t - 1
    ab = float(diffusion.alphas_cumprod[i])
    return ScheduleValues(
        t, float(diffusion.betas[i]), float(diffusion.alphas[i]), ab, math.sqrt(ab), math.sqrt(1 - ab),
        float(diffusion.snr[i]), float(diffusion.log_snr[i]),
    )  # fmt: skip


class ForwardView(NamedTuple):
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, term by term; each tensor [B, C, H, W]."""

    x0: torch.Tensor
    noise: torch.Tensor  # ε ~ N(0, I)
    signal: torch.Tensor  # √ᾱ_t x_0
    scaled_noise: torch.Tensor  # √(1 − ᾱ_t) ε
    x_t: torch.Tensor  # their sum (x_0 itself at t = 0)
    values: ScheduleValues


def forward_view(diffusion: GaussianDiffusion, x0: torch.Tensor, t: int, noise: torch.Tensor) -> ForwardView:
    """The forward marginal q(x_t | x_0) at the paper's t ∈ [0, T] with a given ε (Ho et al. 2020, eq. 4)."""
    values = schedule_values(diffusion, t)
    signal = values.sqrt_alpha_bar * x0
    scaled_noise = values.sqrt_one_minus_alpha_bar * noise
    x_t = x0 if t == 0 else diffusion.q_sample(x0, t - 1, noise)
    return ForwardView(x0, noise, signal, scaled_noise, x_t, values)
