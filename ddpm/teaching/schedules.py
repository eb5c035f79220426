"""Schedules and signal-to-noise: linear vs cosine β_t, ᾱ_t, log SNR and where SNR crosses 1."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..schedules import make_betas


class ScheduleCurves(NamedTuple):
    """One schedule's tables over the paper's t = 1 … T (float64 [T]) and where SNR crosses 1."""

    name: str
    betas: torch.Tensor  # β_t
    alphas_cumprod: torch.Tensor  # ᾱ_t
    log_snr: torch.Tensor  # log(ᾱ_t / (1 − ᾱ_t))
    snr_one_t: int  # the first t with SNR ≤ 1: from here on x_t holds more noise than signal


def schedule_curves(name: str, T: int) -> ScheduleCurves:
    """β_t, ᾱ_t and log SNR of schedule ``name`` with T steps, in float64 (:mod:`ddpm.schedules`)."""
    betas = make_betas(name, T).double()
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    log_snr = torch.log(alphas_cumprod) - torch.log1p(-alphas_cumprod)
    below = torch.nonzero(log_snr <= 0)
    return ScheduleCurves(name, betas, alphas_cumprod, log_snr, int(below[0]) + 1 if len(below) else T)
