"""Why small steps matter, in 1-D: the true reverse step against the best Gaussian (:mod:`ddpm.toy.line`).

The same noise path (the cosine schedule, ᾱ_T ≈ 0) cut into T steps: with few large steps the
true reverse q(x_{t−1} | x_t) is multimodal and no Gaussian fits it; with many small ones it is
nearly Gaussian (Sohl-Dickstein et al. 2015; Ho et al. 2020, §2).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..seeding import generator as seeded_generator
from ..toy import line as toy
from ..toy.line import Mixture1D

T_CHOICES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""The numbers of steps the lesson compares."""
PRESETS = {"two modes": toy.TWO_MODES, "three points": toy.THREE_POINTS}
"""The lesson's data sets by name; ``"custom"`` is equal-weight Gaussians given by the user."""
MAX_MEANS = 6
DENSITY_GRID = np.linspace(-2, 2, 801)
"""Where the data's density is drawn beside the chains' histograms (float64 [801])."""
SAMPLES = 4000
"""How many Gaussian reverse chains each histogram shows."""


def parse_data(preset: str, means: str = "", std: float = 0.08) -> Mixture1D:
    """A preset of :data:`PRESETS`, or (``"custom"``) equal-weight Gaussians at the comma- (or
    semicolon-) separated ``means``, 1 … :data:`MAX_MEANS` of them, each with standard deviation ``std``.

    Raises:
        ValueError: naming the preset, the means or their count when they cannot be used.
    """
    if preset in PRESETS:
        return PRESETS[preset]
    if preset != "custom":
        raise ValueError(f"unknown data {preset!r}; allowed: {', '.join([*PRESETS, 'custom'])}")
    try:
        values = tuple(float(m) for m in str(means).replace(";", ",").split(",") if m.strip())
    except ValueError:
        raise ValueError(f"means must be numbers separated by commas, got {means!r}") from None
    if not 1 <= len(values) <= MAX_MEANS:
        raise ValueError(f"give between 1 and {MAX_MEANS} means, got {len(values)}")
    return Mixture1D((1.0,) * len(values), values, (float(std),) * len(values))


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
    return toy.sample_gaussian_reverse(data, T, n, seeded_generator(seed))


class SmallStepsLesson(NamedTuple):
    """What the small-steps lesson shows for one data set, T and step t."""

    step: ReverseStep  # the true reverse step at t of T against the best Gaussian
    kls: tuple[float, ...]  # Σ KL in nats of the Gaussian chain for every T in T_CHOICES
    T: int
    data_density: np.ndarray  # the data's density on DENSITY_GRID, float64 [801]
    chain_ends: list[tuple[int, np.ndarray]]  # (steps, x_0 of SAMPLES Gaussian chains) for T and 1000

    @property
    def kl(self) -> float:
        """Σ KL (nats) of the Gaussian chain with this T."""
        return self.kls[T_CHOICES.index(self.T)]

    @property
    def kl_small_steps(self) -> float:
        """Σ KL (nats) of the Gaussian chain with the most steps, T = 1000."""
        return self.kls[-1]


def small_steps_lesson(
    data: Mixture1D, T: int, t: int, seed: int = 0, samples: int = SAMPLES
) -> SmallStepsLesson:
    """The reverse step at t of T, the KL curve over T and where Gaussian chains of T and of 1000
    steps end (``samples`` each, from ``seed``).

    Raises:
        ValueError: naming T unless it is one of :data:`T_CHOICES`, or t unless 1 ≤ t ≤ T.
    """
    T, t = int(T), int(t)
    if T not in T_CHOICES:
        raise ValueError(f"T must be one of {list(T_CHOICES)}, got {T}")
    if not 1 <= t <= T:
        raise ValueError(f"step t must be in [1, T = {T}], got {t}")
    ends = [(steps, gaussian_chain_samples(data, steps, int(seed), samples)) for steps in (T, 1000)]
    density = toy.marginal_density(data, 1.0, DENSITY_GRID)
    return SmallStepsLesson(reverse_step(data, T, t), kl_curve(data), T, density, ends)
