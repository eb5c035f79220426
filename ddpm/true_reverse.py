"""The true reverse process of a finite data set, computed exactly: what a perfect network would learn.

The reverse step q(x_{t−1} | x_t) = ∫ q(x_{t−1} | x_t, x_0) q(x_0 | x_t) dx_0 is called intractable
because it integrates over the unknown data distribution (Ho et al. 2020, §2; Sohl-Dickstein et al.
2015). For the distribution a network is actually trained on, the N training images x^1 … x^N with
equal weight, the integral is a finite sum, and every quantity of the reverse process is exact:

- the posterior over the data set, q(x_0 = x^i | x_t) = w_i ∝ exp(−‖x_t − √ᾱ_t x^i‖² / (2(1 − ᾱ_t)))
  (Bayes' rule with q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), eq. 4);
- the ideal denoiser E[x_0 | x_t] = Σ_i w_i x^i, the x̂_0 of a network that minimised the training
  loss exactly, with its ε̂ = (x_t − √ᾱ_t E[x_0 | x_t]) / √(1 − ᾱ_t) and the score
  ∇ log q(x_t) = −ε̂ / √(1 − ᾱ_t) (Tweedie's formula);
- the true reverse step, a mixture of N Gaussians: q(x_{t−1} | x_t) = Σ_i w_i N(μ̃_t(x_t, x^i), β̃_t I)
  with the posterior's μ̃_t and β̃_t (eqs. 6–7).

A chain that follows the mixture ends on a training image, every time (at the paper's t = 1 the
posterior's mean is x^i itself and β̃_1 = 0): the exact reverse of the training set memorises. A
network that generalises must not learn it (Kadkhodaie et al., "Generalization in diffusion models
arises from geometry-adaptive harmonic representations", ICLR 2024; Kamb & Ganguli, "An analytic
theory of creativity in convolutional diffusion models", 2024).

One step costs a matrix product of x_t against the data set, [B, D] × [D, N] (for MNIST's 60,000
digits of D = 784 pixels, 47 MFLOP per image), and one of the weights against it for E[x_0 | x_t].
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from .diffusion import GaussianDiffusion, StepOutput, extract
from .sampling import NoiseSequence, SampleStep, chain_loop, draw_noise
from .seeding import generator as seeded_generator

REFINE = 64
"""The nearest images per row whose distances are computed again exactly, in float64, from their
pixels (the matrix product's float32 rounding of ‖x_t‖² − 2⟨x_t, √ᾱ x^i⟩ + ᾱ‖x^i‖², about 1e-4,
would be half a unit of log-weight at the paper's t = 1, where 2(1 − ᾱ_1) = 2e-4)."""


NEGLIGIBLE = 1e-12
"""Weights below this are left out of E[x_0 | x_t] (:meth:`TrueReverse.expected_x0`)."""


class Pasts(NamedTuple):
    """The heaviest pasts of each x_t under q(x_0 = x^i | x_t): ``index`` LongTensor [B, k] into the
    data set, heaviest first; ``weight`` [B, k] (float64, in [0, 1]); ``effective`` [B] (float64),
    the effective number of pasts 1 / Σ_i w_i² over the whole data set (N when the weights are
    equal, 1 when one image holds them all)."""

    index: torch.Tensor
    weight: torch.Tensor
    effective: torch.Tensor


class Denoised(NamedTuple):
    """The ideal denoiser at x_t, each [B, C, H, W]: ``pred_x0`` = E[x_0 | x_t], ``pred_noise`` =
    E[ε | x_t], ``score`` = ∇_{x_t} log q(x_t)."""

    pred_x0: torch.Tensor
    pred_noise: torch.Tensor
    score: torch.Tensor


class Nearest(NamedTuple):
    """The data set's image nearest to each given image: ``index`` LongTensor [B] and ``distance``
    [B] (float64), the Euclidean distance ‖x − x^i‖₂ in the model's pixel range [−1, 1]."""

    index: torch.Tensor
    distance: torch.Tensor


class TrueReverse:
    """The exact reverse process of the data set ``data`` under ``diffusion`` (see the module doc).

    Args:
        data: [N, C, H, W] (or [N, D]) images in the model's range [−1, 1], N ≥ 1; kept as float32
            [N, D] on ``diffusion``'s device.
        diffusion: the forward process (its β schedule and posterior tables).

    Timesteps are 0-based indices as in :class:`~ddpm.diffusion.GaussianDiffusion` (index 0 is the
    paper's t = 1).
    """

    def __init__(self, data: torch.Tensor, diffusion: GaussianDiffusion) -> None:
        if data.ndim < 2 or data.shape[0] < 1 or not data.is_floating_point():
            raise ValueError(
                f"data must be float images [N, ...] with N ≥ 1, got {tuple(data.shape)} {data.dtype}"
            )
        self.diffusion = diffusion
        self.shape = tuple(data.shape[1:])
        self.images = data.reshape(data.shape[0], -1).to(diffusion.device, torch.float32).contiguous()
        self.squared_norms = self.images.double().pow(2).sum(1)  # ‖x^i‖² [N], float64

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return f"TrueReverse(N={len(self)}, shape={self.shape}, {self.diffusion})"

    def subset(self, n: int) -> TrueReverse:
        """The true reverse of the first ``n`` images (1 ≤ n ≤ N) of this data set."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self):
            raise ValueError(f"subset size must be a whole number in [1, {len(self)}], got {n!r}")
        return TrueReverse(self.images[:n].reshape(n, *self.shape), self.diffusion)

    # -- the posterior over the data set ----------------------------------------------------------

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"images must have shape [B, {', '.join(map(str, self.shape))}], got {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], -1)

    def squared_distances(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """‖x_b − s_b x^i‖² for every row b and data image i: float64 [B, N].

        ``x`` [B, ...] (the data's image shape), ``scale`` [B] (s_b = √ᾱ_t for x_t; 1 for a plain
        distance). One float32 matrix product, then the :data:`REFINE` nearest of each row exactly.
        """
        flat = self._check(x).to(torch.float32)
        s = scale.to(torch.float64).reshape(-1, 1)
        rows = flat.double().pow(2).sum(1, keepdim=True)
        dot = (self.images @ flat.T).T  # [B, N]; this order reads the data set once, fastest for small B
        d2 = rows - 2 * s * dot.double() + s.pow(2) * self.squared_norms
        k = min(REFINE, len(self))
        near = d2.topk(k, dim=1, largest=False).indices  # [B, k]
        # (x − s x^i)² summed, in place on one [B, k, D] buffer: a fresh buffer per operation costs
        # 5× the arithmetic on 2 cores (each is large enough to be mapped and faulted in anew)
        diff = self.images[near].double().mul_(-s[:, :, None]).add_(flat.double()[:, None, :])
        exact = diff.pow_(2).sum(-1)
        return d2.scatter_(1, near, exact).clamp_(min=0.0)

    def log_weights(self, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """log q(x_0 = x^i | x_t) for each row: float64 [B, N], each row's exp summing to 1.

        Bayes' rule over the data set with equal priors: log w_i = −‖x_t − √ᾱ_t x^i‖² / (2(1 − ᾱ_t))
        − log Σ_j exp(…) (log-sum-exp, so the weights stay exact at t = 1 and at t = T).
        """
        t = self.diffusion.check_t(t, x_t.shape[0])
        d2 = self.squared_distances(x_t, self.diffusion.sqrt_alphas_cumprod[t])
        variance = self.diffusion.sqrt_one_minus_alphas_cumprod[t].double().pow(2).reshape(-1, 1)
        logits = -d2 / (2 * variance)
        return logits - logits.logsumexp(1, keepdim=True)

    def pasts(self, x_t: torch.Tensor, t: torch.Tensor | int, k: int = 8) -> Pasts:
        """The ``k`` heaviest pasts of each x_t (k ≤ N) and the effective number of pasts."""
        return self.pasts_of(self.log_weights(x_t, t), k)

    def pasts_of(self, log_w: torch.Tensor, k: int = 8) -> Pasts:
        """:meth:`pasts` from log-weights [B, N] already computed (:meth:`log_weights`)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self):
            raise ValueError(f"k must be a whole number in [1, {len(self)}], got {k!r}")
        top = log_w.topk(k, dim=1)
        return Pasts(top.indices, top.values.exp(), (-(2 * log_w).logsumexp(1)).exp())

    # -- the ideal denoiser ---------------------------------------------------------------------------

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor | int) -> Denoised:
        """E[x_0 | x_t] = Σ_i w_i x^i, the matching ε̂ and the score (see :class:`Denoised`)."""
        t = self.diffusion.check_t(t, x_t.shape[0])
        return self._denoise(x_t, t, self.log_weights(x_t, t))

    def expected_x0(self, log_w: torch.Tensor) -> torch.Tensor:
        """Σ_i w_i x^i for each row of ``log_w`` [B, N]: [B, D] float32. Weights below
        :data:`NEGLIGIBLE` (together at most N · 1e-12 of the mass, below float32's rounding) are
        left out, so that near t = 0, where a few images hold the weight, only those are read."""
        w = log_w.exp()
        used = (w > NEGLIGIBLE).any(0).nonzero().squeeze(1)
        if len(used) > len(self) // 2:
            return w.to(torch.float32) @ self.images
        return w[:, used].to(torch.float32) @ self.images[used]

    def _denoise(self, x_t: torch.Tensor, t: torch.Tensor, log_w: torch.Tensor) -> Denoised:
        d = self.diffusion
        pred_x0 = self.expected_x0(log_w).reshape(x_t.shape).to(x_t.dtype)
        pred_noise = d.predict_noise_from_start(x_t, t, pred_x0)
        score = -pred_noise / extract(d.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
        return Denoised(pred_x0, pred_noise, score)

    # -- the true reverse step ----------------------------------------------------------------------

    def step(
        self, x_t: torch.Tensor, t: torch.Tensor | int, z: torch.Tensor, u: torch.Tensor
    ) -> tuple[StepOutput, torch.Tensor, Pasts]:
        """One step of q(x_{t−1} | x_t) = Σ_i w_i N(μ̃_t(x_t, x^i), β̃_t I): pick i by w, then draw.

        Args:
            x_t: [B, C, H, W]; t: 0-based index [B] (or int).
            z: [B, C, H, W] standard normal noise (the same z as another chain's step, to compare).
            u: [B] uniforms in [0, 1): row b takes the first i whose cumulative weight exceeds u_b.

        Returns:
            The step (``sample`` = μ̃_t(x_t, x^i) + √β̃_t z, ``mean`` and ``variance`` of that
            component; ``pred_x0`` and ``pred_noise`` the ideal denoiser's), the chosen i [B], and
            the 8 heaviest pasts of x_t (fewer when N < 8).
        """
        return self.mixture_step(self.log_weights(x_t, t), x_t, t, z, u)

    def mixture_step(
        self,
        log_w: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        z: torch.Tensor,
        u: torch.Tensor,
        pred_x0: torch.Tensor | None = None,
    ) -> tuple[StepOutput, torch.Tensor, Pasts]:
        """:meth:`step` from x_t's log-weights [B, N] already computed (:meth:`log_weights`), so
        that a caller can compute the weights of several rows, or several chains, in one call;
        likewise E[x_0 | x_t] (``pred_x0`` [B, C, H, W], from :meth:`expected_x0`) when given."""
        t = self.diffusion.check_t(t, x_t.shape[0])
        cumulative = log_w.exp().cumsum(1)
        target = u.to(torch.float64).reshape(-1, 1) * cumulative[:, -1:]
        chosen = torch.searchsorted(cumulative, target).reshape(-1).clamp_(max=len(self) - 1)
        x0 = self.images[chosen].reshape(x_t.shape).to(x_t.dtype)
        post = self.diffusion.q_posterior_sample(x0, x_t, t, z=z)
        if pred_x0 is None:
            pred_x0 = self.expected_x0(log_w).reshape(x_t.shape).to(x_t.dtype)
        pred_noise = self.diffusion.predict_noise_from_start(x_t, t, pred_x0)
        out = StepOutput(post.sample, post.mean, post.variance, pred_x0, pred_noise)
        return out, chosen, self.pasts_of(log_w, min(8, len(self)))

    def nearest(self, x: torch.Tensor) -> Nearest:
        """The data image nearest to each of ``x`` [B, C, H, W] (model range), exact distances."""
        d2 = self.squared_distances(x, torch.ones(x.shape[0], device=x.device))
        best = d2.min(1)
        return Nearest(best.indices, best.values.sqrt())


class TrueReverseStep(NamedTuple):
    """One step of a true-reverse chain: the usual ``record`` (:class:`~ddpm.sampling.SampleStep`;
    its ``pred_x0`` is E[x_0 | x_t]), the data image each row's step drew from (``chosen`` [B]),
    and the heaviest pasts of its x_t (:class:`Pasts`)."""

    record: SampleStep
    chosen: torch.Tensor
    pasts: Pasts


def choice_uniforms(num_steps: int, batch: int, seed: int) -> torch.Tensor:
    """The uniforms that pick each step's mixture component: [num_steps, B] in [0, 1), from a
    generator of its own (seed + 2; the chains' z come from seed + 1)."""
    return torch.rand((num_steps, batch), generator=seeded_generator(int(seed) + 2), dtype=torch.float64)


def true_reverse_loop(
    reverse: TrueReverse,
    x_t: torch.Tensor,
    t_start: int,
    noise: NoiseSequence,
    uniforms: torch.Tensor,
) -> Iterator[TrueReverseStep]:
    """Follow q(x_{t−1} | x_t) of the data set from x_t at 0-based ``t_start`` down to x_0.

    Args:
        x_t: [B, C, H, W], the start; ``t_start`` in [0, T − 1].
        noise: the z of each step, [t_start + 1, B, C, H, W] (or a sequence of [B, C, H, W]).
        uniforms: [t_start + 1, B] in [0, 1), each step's component choice (:func:`choice_uniforms`).

    Yields:
        :class:`TrueReverseStep` for t_start, …, 0; the last ``record.x_prev`` is a data image,
        exactly (β̃_1 = 0 and μ̃_1 = x^i).
    """
    steps = int(t_start) + 1
    if uniforms.shape != (steps, x_t.shape[0]):
        raise ValueError(f"uniforms must have shape [{steps}, {x_t.shape[0]}], got {tuple(uniforms.shape)}")
    extra: list = []

    def rule(x: torch.Tensor, t: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        out, chosen, pasts = reverse.step(x, t, z, uniforms[t_start - int(t[0])])
        extra[:] = [chosen, pasts]
        return out

    for record in chain_loop(x_t, range(t_start, -1, -1), rule, noise):
        yield TrueReverseStep(record, *extra)


def sample_true_reverse(
    reverse: TrueReverse, n: int, seed: int = 0, t_start: int | None = None
) -> Iterator[TrueReverseStep]:
    """``n`` chains of the true reverse from pure noise x_T ~ N(0, I) (seed), down to x_0."""
    d = reverse.diffusion
    t_start = d.num_timesteps - 1 if t_start is None else int(d.check_t(t_start)[0])
    g = seeded_generator(int(seed))
    x_t = torch.randn((n, *reverse.shape), generator=g).to(d.device)
    noise = draw_noise(t_start + 1, (n, *reverse.shape), seeded_generator(int(seed) + 1), d.device)
    yield from true_reverse_loop(reverse, x_t, t_start, noise, choice_uniforms(t_start + 1, n, seed))
