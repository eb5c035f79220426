"""Schedules and signal-to-noise: linear vs cosine β_t, ᾱ_t, log SNR and where SNR crosses 1."""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from ..diffusion import GaussianDiffusion
from ..schedules import SCHEDULES, make_betas
from .common import seeded_noise
from .forward import ScheduleValues, forward_view

MAX_T = 4000
"""The largest T the lesson draws (the forward process only: no network)."""


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


class ScheduleComparison(NamedTuple):
    """One digit at the paper's t under every schedule of :data:`ddpm.schedules.SCHEDULES`, same ε."""

    t: int
    T: int
    curves: list[ScheduleCurves]  # one per schedule, in the order of SCHEDULES
    x_t: list[torch.Tensor]  # x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε under each, [B, C, H, W]
    values: list[ScheduleValues]  # the schedule's values at t under each


def compare_schedules(x0: torch.Tensor, t: int, T: int, seed: int = 0) -> ScheduleComparison:
    """x_t of the digit x0 [B, C, H, W] under each schedule with T steps, ε from ``seed``.

    Raises:
        ValueError: naming T unless 2 ≤ T ≤ :data:`MAX_T`, or t unless 0 ≤ t ≤ T.
    """
    T, t = int(T), int(t)
    if not 2 <= T <= MAX_T:
        raise ValueError(f"T must be in [2, {MAX_T}], got {T}")
    if not 0 <= t <= T:
        raise ValueError(f"t must be in [0, T = {T}], got {t}")
    noise = seeded_noise(tuple(x0.shape), int(seed), x0.device)
    curves, diffusions = zip(*(_schedule(name, T) for name in SCHEDULES), strict=True)
    views = [forward_view(diffusion, x0, t, noise) for diffusion in diffusions]
    return ScheduleComparison(t, T, list(curves), [v.x_t for v in views], [v.values for v in views])


@functools.lru_cache(maxsize=16)
def _schedule(name: str, T: int) -> tuple[ScheduleCurves, GaussianDiffusion]:
    """A schedule's curves and its diffusion, built once per (schedule, T): a lesson's slider
    moves t far more often than T."""
    return schedule_curves(name, T), GaussianDiffusion.from_schedule(name, T)
