"""A 2-D world where every density, score and reverse step of DDPM is exact.

Data are a Gaussian mixture p_data(x_0) = Σ_k w_k N(x_0; m_k, S_k) in the plane (:class:`Data2D`);
a finite point set is the mixture with S_k = 0 and equal weights. The forward process of the DDPM
paper, q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) (Ho et al. 2020, eq. 4; β_t, α_t = 1 − β_t,
ᾱ_t = ∏_{s≤t} α_s, t the paper's t with ᾱ_0 = 1), keeps it a mixture at every t:

    q_t(x) = Σ_k w_k N(x; √ᾱ_t m_k, C_k(t)),   C_k(t) = ᾱ_t S_k + (1 − ᾱ_t) I.

So what the DDPM paper calls intractable has a closed form here:

- the density q_t(x) (:func:`log_density`);
- the posterior over the data's components, r_k(x) = w_k N(x; √ᾱ_t m_k, C_k) / q_t(x)
  (:func:`posterior_weights`; for a point set, the posterior over the points);
- the score ∇ log q_t(x) = −Σ_k r_k C_k⁻¹ (x − √ᾱ_t m_k) (:func:`score`) and the ideal noise
  prediction ε̂*(x, t) = −√(1 − ᾱ_t) ∇ log q_t(x), the ε a perfect network outputs (:func:`eps`);
- the true reverse step over any stride, q(x_s | x_t) for s < t (:func:`reverse_step`): with
  a = √(ᾱ_t/ᾱ_s) and b = 1 − ᾱ_t/ᾱ_s, q(x_t | x_s) = N(a x_s, b I), and Bayes' rule against the
  mixture q_s gives the mixture Σ_k ρ_k N(μ_k, V_k) with
  ρ_k ∝ w_k N(x_t; a √ᾱ_s m_k, a² C_k(s) + b I),
  μ_k = √ᾱ_s m_k + a C_k(s) (a² C_k(s) + b I)⁻¹ (x_t − a √ᾱ_s m_k),
  V_k = C_k(s) − a² C_k(s) (a² C_k(s) + b I)⁻¹ C_k(s)
  (the Kalman form, valid for S_k = 0 at s = 0, where the step lands on the points themselves).
  A one-step reverse (Δ = t − s = 1) is nearly Gaussian; a large stride is a mixture: the 2-D form
  of "why small steps matter".

The particles' samplers (:func:`sample`) are the core's own loops (:mod:`ddpm.sampling`) on x of
shape [P, 2] with the field as the "network": ancestral sampling (Algorithm 2, the SDE's
discretisation), and DDIM with η (η = 0: the probability-flow ODE; Song et al. 2021). The field is
the exact one (:func:`exact_field`) or a learned ε-network (:mod:`.mlp`); x̂_0 is never clipped
(the plane has no [−1, 1] box).

Everything here is float64 numpy except the samplers, which run on torch tensors (float64 for the
exact field). Arrays of points are [..., 2]; the model's t in the samplers is 0-based (paper t − 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import torch

from ..diffusion import GaussianDiffusion
from ..sampling import SampleStep, ddim_sample_loop_progressive, p_sample_loop_progressive

EXTENT = 3.0
"""The plane drawn and drawn on: [−EXTENT, EXTENT]² holds N(0, I) and every preset."""
MAX_POINTS = 1000
"""The most points a data set may have (the page evaluates every point at every grid cell)."""
MIN_POINTS = 2
PRESETS = ("circle", "moons", "spiral", "checkerboard")
"""The bundled data sets (:func:`preset`); ``"drawn"`` is the user's own points."""
PRESET_POINTS = 400
"""Points of each point-set preset."""

_LOG_2PI = math.log(2 * math.pi)


@functools.cache
def world_diffusion() -> GaussianDiffusion:
    """The 2-D world's noise: the DDPM paper's linear schedule, β_1 = 1e-4 … β_T = 0.02, T = 1000
    (the MNIST model's), so a t here means what it means on the digits."""
    return GaussianDiffusion.from_schedule("linear", 1000)


@dataclass(frozen=True, eq=False)
class Data2D:
    """p_data(x_0) = Σ_k w_k N(x_0; m_k, S_k) in the plane.

    Attributes:
        weights: w float64 [K], positive, summing to 1.
        means: m float64 [K, 2].
        covs: S float64 [K, 2, 2], symmetric positive semi-definite (0 for a point).
        name: what the data set is called (a preset's name, or ``"drawn"``).
    """

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    name: str = "data"
    _cholesky: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        w, m, s = (np.asarray(a, dtype=np.float64) for a in (self.weights, self.means, self.covs))
        k = w.shape[0] if w.ndim == 1 else -1
        if k < 1 or m.shape != (k, 2) or s.shape != (k, 2, 2):
            raise ValueError(
                "weights [K], means [K, 2] and covs [K, 2, 2] must agree, "
                f"got shapes {w.shape}, {m.shape}, {s.shape}"
            )
        if not (np.isfinite(w).all() and np.isfinite(m).all() and np.isfinite(s).all()):
            raise ValueError("the data's weights, means and covariances must be finite numbers")
        if (w <= 0).any():
            raise ValueError(f"mixture weights must be positive, got min {w.min()}")
        if not np.allclose(s, s.transpose(0, 2, 1)):
            raise ValueError("covariances must be symmetric")
        det = s[:, 0, 0] * s[:, 1, 1] - s[:, 0, 1] ** 2
        if (s[:, 0, 0] < 0).any() or (s[:, 1, 1] < 0).any() or (det < -1e-12).any():
            raise ValueError("covariances must be positive semi-definite")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "covs", s)
        object.__setattr__(self, "_cholesky", _cholesky(s))

    @classmethod
    def points(cls, xy: np.ndarray, name: str = "drawn") -> Data2D:
        """The empirical distribution of N points, each with weight 1/N.

        Raises:
            ValueError: unless ``xy`` is [N, 2] with :data:`MIN_POINTS` ≤ N ≤ :data:`MAX_POINTS`
                finite points inside [−EXTENT, EXTENT]².
        """
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or not MIN_POINTS <= len(xy) <= MAX_POINTS:
            raise ValueError(
                f"points must be [N, 2] with {MIN_POINTS} ≤ N ≤ {MAX_POINTS}, got shape {tuple(xy.shape)}"
            )
        if not np.isfinite(xy).all() or (np.abs(xy) > EXTENT).any():
            raise ValueError(f"points must be finite and inside [−{EXTENT:g}, {EXTENT:g}]²")
        n = len(xy)
        return cls(np.full(n, 1.0 / n), xy, np.zeros((n, 2, 2)), name)

    @property
    def size(self) -> int:
        """K, the number of components (points)."""
        return len(self.weights)

    @property
    def is_points(self) -> bool:
        """True when every component is a point (S_k = 0)."""
        return not self.covs.any()

    def sample(self, n: int, generator: torch.Generator) -> np.ndarray:
        """n draws of x_0 ~ p_data, float64 [n, 2]: a component by its weight, then m_k + L_k z
        (L_k the Cholesky factor of S_k), all from ``generator``."""
        if not 1 <= n <= 10_000_000:
            raise ValueError(f"n must be in [1, 10000000], got {n}")
        k = torch.multinomial(torch.as_tensor(self.weights), n, replacement=True, generator=generator).numpy()
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64).numpy()
        return self.means[k] + np.einsum("nij,nj->ni", self._cholesky[k], z)


def _cholesky(s: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of PSD 2×2 matrices [K, 2, 2] (zero where a matrix is zero)."""
    l11 = np.sqrt(np.maximum(s[:, 0, 0], 0))
    l21 = np.divide(s[:, 1, 0], l11, out=np.zeros_like(l11), where=l11 > 0)
    l22 = np.sqrt(np.maximum(s[:, 1, 1] - l21**2, 0))
    out = np.zeros_like(s)
    out[:, 0, 0], out[:, 1, 0], out[:, 1, 1] = l11, l21, l22
    return out


# -- the presets ---------------------------------------------------------------------------------


def preset(name: str) -> Data2D:
    """A bundled data set, the same on every call and every machine (seeded draws).

    - ``"circle"``: 8 Gaussians (std 0.1) evenly on a circle of radius 1.6, equal weights;
    - ``"moons"``: two interleaved half-circles, 400 points with a little jitter;
    - ``"spiral"``: 400 points along a two-turn spiral out to radius 1.9;
    - ``"checkerboard"``: 400 points uniform on the 8 dark squares of a 4 × 4 board over [−1.6, 1.6]².
    """
    if name not in PRESETS:
        raise ValueError(f"unknown 2-D data {name!r}; allowed: {', '.join(PRESETS)}, or drawn points")
    g = torch.Generator().manual_seed(20_260_000 + PRESETS.index(name))

    def rand(*shape: int) -> np.ndarray:
        return torch.rand(shape, generator=g, dtype=torch.float64).numpy()

    def randn(*shape: int) -> np.ndarray:
        return torch.randn(shape, generator=g, dtype=torch.float64).numpy()

    n = PRESET_POINTS
    if name == "circle":
        angle = 2 * np.pi * np.arange(8) / 8
        means = 1.6 * np.stack([np.cos(angle), np.sin(angle)], 1)
        return Data2D(np.full(8, 1 / 8), means, np.broadcast_to(0.1**2 * np.eye(2), (8, 2, 2)).copy(), name)
    if name == "moons":
        u = np.pi * rand(n)
        upper = np.arange(n) % 2 == 0
        x = np.where(upper, np.cos(u), 1 - np.cos(u))
        y = np.where(upper, np.sin(u), 0.5 - np.sin(u))
        xy = np.stack([x - 0.5, y - 0.25], 1) * 1.3 + 0.06 * randn(n, 2)
    elif name == "spiral":
        s = np.sqrt(rand(n))  # more points further out, where the arm is longer
        angle = 4 * np.pi * s + 0.5
        xy = 1.9 * s[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.04 * randn(n, 2)
    else:
        cells = np.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])
        cell = cells[(rand(n) * len(cells)).astype(int)]
        xy = (cell + rand(n, 2)) * 0.8 - 1.6
    return Data2D.points(np.clip(xy, -EXTENT, EXTENT), name)


# -- the marginal q_t ----------------------------------------------------------------------------


def _alpha_bar(alpha_bar: float) -> float:
    a = float(alpha_bar)
    if not 0 < a <= 1:
        raise ValueError(f"alpha_bar must be in (0, 1], got {alpha_bar!r}")
    return a


def alpha_bar_at(diffusion: GaussianDiffusion, t: int) -> float:
    """ᾱ_t of the paper's t ∈ [0, T] (ᾱ_0 = 1) from the core's float32 table, as a float."""
    T = diffusion.num_timesteps
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= t <= T:
        raise ValueError(f"t must be a whole number in [0, {T}], got {t!r}")
    return 1.0 if t == 0 else float(diffusion.alphas_cumprod[int(t) - 1])


class Marginal(NamedTuple):
    """q_t = Σ_k w_k N(means_k, covs_k): arrays [K], [K, 2], [K, 2, 2]."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray


def marginal(data: Data2D, alpha_bar: float) -> Marginal:
    """The mixture q_t: means √ᾱ_t m_k and covariances ᾱ_t S_k + (1 − ᾱ_t) I."""
    a = _alpha_bar(alpha_bar)
    return Marginal(data.weights, math.sqrt(a) * data.means, a * data.covs + (1 - a) * np.eye(2))


def _inverse_2x2(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverses [..., 2, 2], determinants [...]) of 2×2 matrices, in closed form."""
    det = c[..., 0, 0] * c[..., 1, 1] - c[..., 0, 1] * c[..., 1, 0]
    inv = np.stack(
        [np.stack([c[..., 1, 1], -c[..., 0, 1]], -1), np.stack([-c[..., 1, 0], c[..., 0, 0]], -1)], -2
    )
    return inv / det[..., None, None], det


def _points(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1:] != (2,):
        raise ValueError(f"points must be an array [..., 2], got shape {x.shape}")
    return x


def _component_log_joint(mix: Marginal, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log w_k + log N(x; means_k, covs_k) [..., K], C_k⁻¹ (x − means_k) [..., K, 2])."""
    x = _points(x)
    inv, det = _inverse_2x2(mix.covs)
    d = x[..., None, :] - mix.means  # [..., K, 2]
    solved = np.einsum("kij,...kj->...ki", inv, d)
    quad = (d * solved).sum(-1)
    return np.log(mix.weights) - 0.5 * quad - 0.5 * np.log(det) - _LOG_2PI, solved


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(-1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(-1, keepdims=True)))[..., 0]


def log_density(data: Data2D, alpha_bar: float, x: np.ndarray) -> np.ndarray:
    """log q_t(x) at points x [..., 2] -> [...] (needs ᾱ_t < 1 for point data: t ≥ 1)."""
    log_joint, _ = _component_log_joint(marginal(data, alpha_bar), x)
    return _logsumexp(log_joint)


def posterior_weights(data: Data2D, alpha_bar: float, x: np.ndarray) -> np.ndarray:
    """r_k(x) = q(component k | x_t = x), [..., K] summing to 1: for a point set, the probability
    that x_t came from each point (Bayes' rule with q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I))."""
    log_joint, _ = _component_log_joint(marginal(data, alpha_bar), x)
    return np.exp(log_joint - _logsumexp(log_joint)[..., None])


def score(data: Data2D, alpha_bar: float, x: np.ndarray) -> np.ndarray:
    """∇_x log q_t(x) = −Σ_k r_k C_k⁻¹ (x − √ᾱ_t m_k), [..., 2]."""
    log_joint, solved = _component_log_joint(marginal(data, alpha_bar), x)
    r = np.exp(log_joint - _logsumexp(log_joint)[..., None])
    return -(r[..., None] * solved).sum(-2)


def eps(data: Data2D, alpha_bar: float, x: np.ndarray) -> np.ndarray:
    """The ideal noise prediction ε̂*(x) = E[ε | x_t = x] = −√(1 − ᾱ_t) ∇ log q_t(x), [..., 2]."""
    return -math.sqrt(1 - _alpha_bar(alpha_bar)) * score(data, alpha_bar, x)


def density_grid(data: Data2D, alpha_bar: float, n: int = 96, extent: float = EXTENT) -> np.ndarray:
    """q_t on the centres of an n × n grid of cells over [−extent, extent]², float64 [n, n]: row i
    is y = extent − (i + ½)·2·extent/n (top row first, as drawn), column j is x = −extent + (j + ½)·…"""
    centres = -extent + (np.arange(n) + 0.5) * 2 * extent / n
    x, y = np.meshgrid(centres, centres[::-1])
    return np.exp(log_density(data, alpha_bar, np.stack([x, y], -1)))


# -- the true reverse step over a stride ---------------------------------------------------------


class ReverseStep(NamedTuple):
    """q(x_s | x_t) = Σ_k weights_k N(means_k, covs_k) for one x_t: [K], [K, 2], [K, 2, 2]."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean [2], covariance [2, 2]) of the mixture: the Gaussian with the same first two
        moments, the best Gaussian fit (it minimises KL(q ‖ N))."""
        mean = self.weights @ self.means
        second = np.einsum(
            "k,kij->ij", self.weights, self.covs + np.einsum("ki,kj->kij", self.means, self.means)
        )
        return mean, second - np.outer(mean, mean)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log q(x_s = x | x_t) at points [..., 2] -> [...] (needs s ≥ 1 for point data)."""
        return _logsumexp(_component_log_joint(Marginal(*self), x)[0])


def reverse_step(data: Data2D, alpha_bar_t: float, alpha_bar_s: float, x_t: np.ndarray) -> ReverseStep:
    """The true reverse q(x_s | x_t) of the stride from t back to s < t (ᾱ_s > ᾱ_t), for one x_t [2].

    Each component of q_s, N(√ᾱ_s m_k, C_k(s)), times q(x_t | x_s) = N(a x_s, b I) (a = √(ᾱ_t/ᾱ_s),
    b = 1 − ᾱ_t/ᾱ_s) is a Gaussian in x_s with the Kalman mean and covariance of the module's
    docstring, weighted by the evidence ρ_k ∝ w_k N(x_t; a √ᾱ_s m_k, a² C_k(s) + b I).
    """
    a_t, a_s = _alpha_bar(alpha_bar_t), _alpha_bar(alpha_bar_s)
    if not a_s > a_t:
        raise ValueError(f"a reverse step needs ᾱ_s > ᾱ_t (s earlier than t), got ᾱ_s = {a_s}, ᾱ_t = {a_t}")
    x_t = _points(x_t)
    if x_t.shape != (2,):
        raise ValueError(f"x_t must be one point [2], got shape {x_t.shape}")
    prior = marginal(data, a_s)
    a, b = math.sqrt(a_t / a_s), 1 - a_t / a_s
    evidence_cov = a * a * prior.covs + b * np.eye(2)
    evidence = Marginal(prior.weights, a * prior.means, evidence_cov)
    log_joint, solved = _component_log_joint(evidence, x_t)  # solved = (a²C + bI)⁻¹ (x_t − a μ)
    rho = np.exp(log_joint - _logsumexp(log_joint))
    means = prior.means + a * np.einsum("kij,kj->ki", prior.covs, solved)
    inv, _ = _inverse_2x2(evidence_cov)
    covs = prior.covs - a * a * prior.covs @ inv @ prior.covs
    return ReverseStep(rho, means, 0.5 * (covs + covs.transpose(0, 2, 1)))


# -- particles -----------------------------------------------------------------------------------

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``field(x [P, 2], t LongTensor [P], 0-based) -> ε̂ [P, 2]``: a "network" for the core's loops."""


def exact_field(data: Data2D, diffusion: GaussianDiffusion) -> Field:
    """The ideal ε̂*(x, t) (:func:`eps`) as a network for the samplers, in x's dtype (float64 best)."""

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        steps = t.cpu().numpy()
        points = x.detach().cpu().double().numpy()
        out = np.empty_like(points)
        for index in np.unique(steps):
            rows = steps == index
            out[rows] = eps(data, float(diffusion.alphas_cumprod[index]), points[rows])
        return torch.from_numpy(out).to(x.device, x.dtype)

    return field


SAMPLERS = ("ancestral", "ddim")


def sample(
    field: Field,
    diffusion: GaussianDiffusion,
    x_T: torch.Tensor,
    sampler: Literal["ancestral", "ddim"] = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """Run particles x_T [P, 2] back to x_0 with ``field`` as the ε-network.

    ``"ancestral"``: x_{t−1} = μ_θ(x_t) + √β̃_t z at every one of the T steps (Ho et al. 2020,
    Algorithm 2, σ_t² = β̃_t): the reverse SDE's discretisation. ``"ddim"``: ``steps`` evenly spaced
    steps (default T) of DDIM with ``eta`` (Song et al. 2021, eq. 12); η = 0 follows the
    probability-flow ODE, η = 1 with all T steps is ancestral sampling again. ``noise``
    [num_steps, P, 2] fixes every z (else drawn from ``generator``). x̂_0 is not clipped.

    Yields:
        :class:`~ddpm.sampling.SampleStep` per step (the last one's ``x_prev`` is x_0).
    """
    if x_T.ndim != 2 or x_T.shape[1] != 2:
        raise ValueError(f"particles must be [P, 2], got shape {tuple(x_T.shape)}")
    if sampler == "ancestral":
        return p_sample_loop_progressive(
            diffusion, field, x_t=x_T, clip_denoised=False, generator=generator, noise=noise
        )
    if sampler == "ddim":
        return ddim_sample_loop_progressive(
            diffusion, field, x_t=x_T, steps=steps or diffusion.num_timesteps, eta=eta,
            clip_denoised=False, generator=generator, noise=noise,
        )  # fmt: skip
    raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")


def mmd(x: np.ndarray, y: np.ndarray, bandwidths: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)) -> float:
    """The unbiased estimate of the squared maximum mean discrepancy between samples x [n, 2] and
    y [m, 2] (Gretton et al. 2012, eq. 3), with a sum of Gaussian kernels exp(−‖a − b‖² / (2h²))
    over ``bandwidths``: its mean is 0 when both samples come from one distribution (it can then
    be slightly negative) and positive when they do not."""
    x, y = _points(x), _points(y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"mmd needs at least 2 points on each side, got {len(x)} and {len(y)}")

    def kernel_sum(a: np.ndarray, b: np.ndarray) -> float:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return float(sum(np.exp(-d2 / (2 * h * h)).sum() for h in bandwidths))

    n, m, diagonal = len(x), len(y), len(bandwidths)  # k(a, a) = 1 for each bandwidth
    within_x = (kernel_sum(x, x) - n * diagonal) / (n * (n - 1))
    within_y = (kernel_sum(y, y) - m * diagonal) / (m * (m - 1))
    return within_x + within_y - 2 * kernel_sum(x, y) / (n * m)
