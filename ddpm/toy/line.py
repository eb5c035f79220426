"""Why small steps matter: the *true* reverse q(x_{t−1} | x_t) of 1-D data, exactly.

For images the true reverse step is intractable (it needs the data distribution), which is why DDPM
learns a Gaussian p_θ(x_{t−1} | x_t). For 1-D data it can be computed, so we can see when a Gaussian
step is good enough: only when the forward steps are small (many of them).

Data: a mixture of 1-D Gaussians (:class:`Mixture1D`; tiny standard deviations make "a few points").
Noise: the cosine schedule cut into T steps (:func:`ddpm.schedules.cosine_betas`), so every T runs
the same path from data (ᾱ_0 = 1) to noise (ᾱ_T ≈ 0); only the step size changes. Notation as in
the DDPM paper: β_t, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s; t is the paper's t ∈ 1 … T here (no 0-based
index: this module has no tensors of timesteps).

Bayes' rule gives the true reverse step, with q_{t−1} the marginal of x_{t−1}:

    q(x_{t−1} | x_t) = q(x_t | x_{t−1}) q_{t−1}(x_{t−1}) / q_t(x_t),  q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t)

:func:`reverse_density` evaluates it numerically on a grid; :func:`reverse_moments` gives its mean
and variance in closed form (a Gaussian times a mixture is a mixture), which is also the best
Gaussian fit (moment matching minimises KL(q ‖ N)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..schedules import cosine_betas

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 (numpy 1.x has only trapz)

GRID_POINTS = 2001  # points of the local grid of one reverse density
GRID_HALF_WIDTH = 10.0  # in standard deviations of the likelihood q(x_t | x_{t−1}) as a function of x_{t−1}


@dataclass(frozen=True)
class Mixture1D:
    """p_data(x) = Σ_k w_k N(x; m_k, s_k²) on the real line (data roughly in [−1, 1], like pixels)."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        k = len(self.weights)
        if k == 0 or len(self.means) != k or len(self.stds) != k:
            raise ValueError(
                f"weights, means and stds need the same non-zero length, got {len(self.weights)}, "
                f"{len(self.means)}, {len(self.stds)}"
            )
        if any(not w > 0 for w in self.weights):
            raise ValueError(f"mixture weights must be positive, got {self.weights}")
        if any(not 0.02 <= s <= 2 for s in self.stds):
            raise ValueError(f"standard deviations must be in [0.02, 2], got {self.stds}")
        if any(not -3 <= m <= 3 for m in self.means):
            raise ValueError(f"means must be in [−3, 3], got {self.means}")

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(w normalised to sum 1, m, s²) as float64 arrays [K]."""
        w = np.asarray(self.weights, dtype=np.float64)
        s = np.asarray(self.stds, dtype=np.float64)
        return w / w.sum(), np.asarray(self.means, dtype=np.float64), s**2


TWO_MODES = Mixture1D((0.5, 0.5), (-0.6, 0.6), (0.08, 0.08))
THREE_POINTS = Mixture1D((0.3, 0.3, 0.4), (-0.8, 0.1, 0.7), (0.03, 0.03, 0.03))


def toy_schedule(T: int) -> tuple[np.ndarray, np.ndarray]:
    """(β, ᾱ) float64 [T] of the cosine schedule with T steps: entry t − 1 is the paper's step t."""
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= 10_000:
        raise ValueError(f"T must be a whole number in [1, 10000], got {T!r}")
    betas = cosine_betas(T).double().numpy()
    return betas, np.cumprod(1.0 - betas)


def _check_step(T: int, t: int) -> None:
    if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= T:
        raise ValueError(f"step t must be a whole number in [1, T = {T}], got {t!r}")


def normal_pdf(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """N(x; mean, var), elementwise (arguments broadcast)."""
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * math.pi * var)


def marginal(data: Mixture1D, alpha_bar: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q_t = Σ_k w_k N(√ᾱ_t m_k, ᾱ_t s_k² + 1 − ᾱ_t): returns (w, means, variances) [K] (eq. 4)."""
    w, m, v = data.arrays()
    return w, math.sqrt(alpha_bar) * m, alpha_bar * v + (1.0 - alpha_bar)


def marginal_density(data: Mixture1D, alpha_bar: float, x: np.ndarray) -> np.ndarray:
    """q_t(x) for any array of x (ᾱ = 1 is the data density)."""
    w, m, v = marginal(data, alpha_bar)
    x = np.asarray(x, dtype=np.float64)
    return (w * normal_pdf(x[..., None], m, v)).sum(-1)


def _step(data: Mixture1D, T: int, t: int) -> tuple[float, float]:
    """(β_t, ᾱ_{t−1}) of the paper's step t of the T-step schedule."""
    _check_step(T, t)
    betas, alpha_bar = toy_schedule(T)
    return float(betas[t - 1]), float(alpha_bar[t - 2]) if t > 1 else 1.0


class ReverseDensity(NamedTuple):
    """q(x_{t−1} | x_t) on a grid, for each of B values of x_t: arrays [B, G]."""

    grid: np.ndarray  # x_{t−1} values [B, G], evenly spaced per row
    density: np.ndarray  # q(x_{t−1} | x_t) at the grid [B, G]; each row integrates to 1


def reverse_density(data: Mixture1D, T: int, t: int, x_t: np.ndarray | float) -> ReverseDensity:
    """The true reverse q(x_{t−1} | x_t) by Bayes' rule, evaluated numerically on a grid.

    As a function of x_{t−1}, q(x_t | x_{t−1}) = N(x_{t−1}; x_t/√α_t, β_t/α_t) up to a constant, so
    the product lives within :data:`GRID_HALF_WIDTH` of its standard deviations of x_t/√α_t; each row
    gets its own evenly spaced grid there and is normalised by the trapezoid rule.
    """
    beta, alpha_bar_prev = _step(data, T, t)
    alpha = 1.0 - beta
    x_t = np.atleast_1d(np.asarray(x_t, dtype=np.float64))
    centre, std = x_t / math.sqrt(alpha), math.sqrt(beta / alpha)
    u = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_POINTS)
    grid = centre[:, None] + std * u[None, :]
    unnormalised = normal_pdf(x_t[:, None], math.sqrt(alpha) * grid, beta) * marginal_density(
        data, alpha_bar_prev, grid
    )
    return ReverseDensity(grid, unnormalised / _trapezoid(unnormalised, grid, axis=1)[:, None])


class Moments(NamedTuple):
    mean: np.ndarray  # E[x_{t−1} | x_t]  [B]
    variance: np.ndarray  # Var[x_{t−1} | x_t]  [B]


def reverse_moments(data: Mixture1D, T: int, t: int, x_t: np.ndarray | float) -> Moments:
    """Mean and variance of q(x_{t−1} | x_t) in closed form: the best Gaussian reverse step.

    With q_{t−1} = Σ_k w_k N(μ_k, v_k), the reverse is Σ_k r_k N(μ'_k, v'_k) with
    r_k ∝ w_k N(x_t; √α_t μ_k, α_t v_k + β_t), v'_k = (1/v_k + α_t/β_t)⁻¹,
    μ'_k = v'_k (μ_k/v_k + √α_t x_t/β_t).
    """
    beta, alpha_bar_prev = _step(data, T, t)
    alpha = 1.0 - beta
    w, mu, v = marginal(data, alpha_bar_prev)
    x = np.atleast_1d(np.asarray(x_t, dtype=np.float64))[:, None]
    evidence_var = alpha * v + beta  # x_t | component k ~ N(√α_t μ_k, α_t v_k + β_t)
    log_r = np.log(w) - 0.5 * (x - math.sqrt(alpha) * mu) ** 2 / evidence_var - 0.5 * np.log(evidence_var)
    r = np.exp(log_r - log_r.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    v_post = 1.0 / (1.0 / v + alpha / beta)
    mu_post = v_post * (mu / v + math.sqrt(alpha) * x / beta)
    mean = (r * mu_post).sum(1)
    return Moments(mean, (r * (v_post + mu_post**2)).sum(1) - mean**2)


def gaussian_fit_kl(data: Mixture1D, T: int, t: int, x_t: np.ndarray | float) -> np.ndarray:
    """KL(q(x_{t−1} | x_t) ‖ N(mean, variance)) in nats, the Gaussian being the moment-matched fit [B]."""
    exact = reverse_density(data, T, t, x_t)
    fit = reverse_moments(data, T, t, x_t)
    log_q = np.log(np.maximum(exact.density, 1e-300))
    log_n = -0.5 * (exact.grid - fit.mean[:, None]) ** 2 / fit.variance[:, None] - 0.5 * np.log(
        2 * math.pi * fit.variance[:, None]
    )
    return _trapezoid(exact.density * (log_q - log_n), exact.grid, axis=1)


def expected_step_kl(data: Mixture1D, T: int, t: int, points: int = 128) -> float:
    """E_{x_t ~ q_t} KL(q(x_{t−1} | x_t) ‖ its Gaussian fit), by quadrature over x_t (nats)."""
    _, alpha_bar = toy_schedule(T)
    _, m, v = marginal(data, float(alpha_bar[t - 1]))
    x = np.linspace((m - 6 * np.sqrt(v)).min(), (m + 6 * np.sqrt(v)).max(), points)
    weight = marginal_density(data, float(alpha_bar[t - 1]), x)
    return float(_trapezoid(weight * gaussian_fit_kl(data, T, t, x), x) / _trapezoid(weight, x))


def chain_kl(data: Mixture1D, T: int, max_steps: int = 50, points: int = 128) -> float:
    """Σ_t E_{x_t} KL(true reverse step ‖ best Gaussian step) over the T-step chain, in nats.

    For T > ``max_steps``, the sum is estimated from ``max_steps`` evenly spaced steps (T/n times
    their sum), which keeps the cost bounded for T = 1000; ``points`` is the x_t quadrature size.
    """
    steps = np.unique(np.linspace(1, T, min(T, max_steps)).round().astype(int))
    return float(sum(expected_step_kl(data, T, int(t), points) for t in steps) * T / len(steps))


def sample_gaussian_reverse(
    data: Mixture1D, T: int, n: int, generator: torch.Generator | None = None
) -> np.ndarray:
    """n samples of x_0 from x_T ~ N(0, 1) through T Gaussian reverse steps with the *exact*
    optimal mean and variance (:func:`reverse_moments`): the best any Gaussian reverse can do.
    Returns float64 [n]."""
    if not 1 <= n <= 1_000_000:
        raise ValueError(f"n must be in [1, 1000000], got {n}")
    z = torch.randn(T + 1, n, generator=generator, dtype=torch.float64).numpy()
    x = z[0]
    for t in range(T, 0, -1):
        moments = reverse_moments(data, T, t, x)
        x = moments.mean + np.sqrt(np.maximum(moments.variance, 0.0)) * z[t]
    return x
