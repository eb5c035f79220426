"""Why small steps matter, on 1-D data: the true reverse step against the best Gaussian (:mod:`ddpm.toy`).

The same noise path (the cosine schedule, ᾱ_T ≈ 0) cut into T steps: with few large steps the
true reverse q(x_{t−1} | x_t) is multimodal and no Gaussian fits it; with many small ones it is
nearly Gaussian (Sohl-Dickstein et al. 2015; Ho et al. 2020, §2).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from .. import toy
from ..toy import Mixture1D

T_CHOICES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""The numbers of steps the lesson compares."""


class ReverseStep(NamedTuple):
    """The true reverse step at the paper's step t of T, at three values of x_t (arrays [3] / [3, G])."""

    t: int
    T: int
    x_t: np.ndarray  # below the data, at its mean, above it, each scaled by √ᾱ_t
    grid: np.ndarray  # x_{t−1} values, one grid per x_t
    true_density: np.ndarray  # q(x_{t−1} | x_t) by Bayes' rule
    gaussian_density: np.ndarray  # the best Gaussian N(E[x_{t−1} | x_t], Var[x_{t−1} | x_t]) there
    beta: float  # β_t of the T-step schedule


def reverse_step(data: Mixture1D, T: int, t: int) -> ReverseStep:
    """The true reverse density and its moment-matched Gaussian at step t of the T-step schedule."""
    betas, alpha_bar = toy.toy_schedule(T)
    if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= T:
        raise ValueError(f"step t must be in [1, T = {T}], got {t!r}")
    w, m, _ = data.arrays()
    x_t = np.sqrt(alpha_bar[t - 1]) * np.array([m.min() - 0.1, float(np.dot(w, m)), m.max() + 0.1])
    exact = toy.reverse_density(data, T, t, x_t)
    fit = toy.reverse_moments(data, T, t, x_t)
    gaussian = toy.normal_pdf(exact.grid, fit.mean[:, None], fit.variance[:, None])
    return ReverseStep(t, T, x_t, exact.grid, exact.density, gaussian, float(betas[t - 1]))


@functools.lru_cache(maxsize=16)
def kl_curve(data: Mixture1D) -> tuple[float, ...]:
    """Σ_t E KL(true ‖ best Gaussian) in nats for every T in :data:`T_CHOICES` (cached per data set)."""
    return tuple(toy.chain_kl(data, T, max_steps=20, points=48) for T in T_CHOICES)


@functools.lru_cache(maxsize=32)
def gaussian_chain_samples(data: Mixture1D, T: int, seed: int, n: int = 4000) -> np.ndarray:
    """n samples of x_0 through T best-Gaussian reverse steps from x_T ~ N(0, 1), float64 [n]."""
    return toy.sample_gaussian_reverse(data, T, n, torch.Generator().manual_seed(int(seed)))
