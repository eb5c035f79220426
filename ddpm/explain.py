"""What the teaching views show, computed from the core (no UI code here).

The app's slider speaks the paper's language: ``t`` in 0 … T, where t = 0 is the clean digit x_0
and t ≥ 1 is x_t. In code the same step is the 0-based index t − 1 (see :mod:`ddpm.diffusion`);
the functions here take the paper's t and do that conversion in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from .diffusion import GaussianDiffusion, Model, StepOutput, VarianceType
from .sampling import SampleStep, draw_noise


def check_paper_t(diffusion: GaussianDiffusion, t: int, minimum: int = 0) -> int:
    """Validate a paper timestep t ∈ [minimum, T]; returns it as an int."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t != int(t):
        raise ValueError(f"t must be a whole number, got {t!r}")
    t = int(t)
    if not minimum <= t <= diffusion.num_timesteps:
        raise ValueError(f"t = {t} is out of range [{minimum}, {diffusion.num_timesteps}]")
    return t


class Readout(NamedTuple):
    """Schedule values at the paper's t (t = 0: no noise yet, SNR infinite)."""

    t: int
    beta: float  # β_t
    alpha: float  # α_t = 1 − β_t
    alpha_bar: float  # ᾱ_t
    sqrt_alpha_bar: float  # √ᾱ_t, the weight of x_0 in x_t
    sqrt_one_minus_alpha_bar: float  # √(1 − ᾱ_t), the weight of ε
    snr: float  # ᾱ_t / (1 − ᾱ_t)
    log_snr: float  # natural log of the SNR


def readout(diffusion: GaussianDiffusion, t: int) -> Readout:
    """β_t, α_t, ᾱ_t, √ᾱ_t, √(1 − ᾱ_t) and SNR at the paper's t ∈ [0, T]."""
    t = check_paper_t(diffusion, t)
    if t == 0:
        return Readout(0, 0.0, 1.0, 1.0, 1.0, 0.0, math.inf, math.inf)
    i = t - 1
    ab = float(diffusion.alphas_cumprod[i])
    return Readout(
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
    readout: Readout


def forward_view(diffusion: GaussianDiffusion, x0: torch.Tensor, t: int, noise: torch.Tensor) -> ForwardView:
    """The forward marginal q(x_t | x_0) at the paper's t ∈ [0, T] with a given ε (eq. 4)."""
    r = readout(diffusion, t)
    signal = r.sqrt_alpha_bar * x0
    scaled_noise = r.sqrt_one_minus_alpha_bar * noise
    x_t = x0 if t == 0 else diffusion.q_sample(x0, t - 1, noise)
    return ForwardView(x0, noise, signal, scaled_noise, x_t, r)


def seeded_noise(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """ε drawn from a generator seeded with ``seed``: the same seed always gives the same ε."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(int(seed))).to(device)


def seeded_start(
    diffusion: GaussianDiffusion, x0: torch.Tensor, t: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε, x_t): ε from ``seed`` and x_t = q_sample(x_0, ε) at the paper's t ≥ 1, [B, C, H, W] each.

    Every view that starts from a noisy digit uses this, so the same (digit, t, seed) shows the same
    x_t in the forward view, the comparison, the inspector and the lessons.
    """
    epsilon = seeded_noise(tuple(x0.shape), seed, x0.device)
    return epsilon, diffusion.q_sample(x0, t - 1, epsilon)


def chain_noise(num_steps: int, x0: torch.Tensor, seed: int) -> torch.Tensor:
    """The z of each step of a chain started with ``seed`` ([num_steps, B, C, H, W], from seed + 1)."""
    return draw_noise(num_steps, x0.shape, torch.Generator().manual_seed(int(seed) + 1)).to(x0.device)


class ComparisonStep(NamedTuple):
    """One lockstep of the exact and the learned reverse chains (same z).

    ``t`` is the paper's t of both inputs x_t; the step produces x_{t−1}. The metrics are measured
    along the *exact* chain, whose x_t is distributed as q(x_t | x_0), with the model evaluated at
    that x_t: ``kl_bpd`` = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)) in bits/dim, a one-sample
    estimate of the bound's term L_{t−1} (at t = 1 the decoder's −log p_θ(x_0 | x_1) instead);
    ``mean_gap`` = RMS over pixels of μ_θ − μ̃_t; ``x0_error`` = RMS over pixels of x̂_0 − x_0.
    """

    t: int
    exact: SampleStep
    learned: SampleStep
    kl_bpd: float
    mean_gap: float
    x0_error: float


def _record(k: int, num_steps: int, i: int, x_t: torch.Tensor, out: StepOutput) -> SampleStep:
    return SampleStep(
        k, num_steps, i, i - 1, x_t, out.sample, out.pred_x0, out.pred_noise, out.mean, out.variance
    )


def _rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


def compare_reverse(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    variance: VarianceType = "fixed_small",
    parameterization: str = "eps",
) -> Iterator[ComparisonStep]:
    """Run q(x_{t−1} | x_t, x_0) and p_θ(x_{t−1} | x_t) side by side from one x_t, same noise.

    x_t = q_sample(x_0, t) with ε from ``seed`` (as in the forward view); both chains then use the
    same pre-drawn z at every step, so every difference between the rows is the model's doing.
    One network call per step evaluates the model at both chains' x_t.

    Args:
        x0: [B, C, H, W] clean digits in [−1, 1].
        t: the paper's start time in [1, T].

    Yields:
        :class:`ComparisonStep` for t, t − 1, …, 1; the last exact step returns x_0 itself.
    """
    t = check_paper_t(diffusion, t, minimum=1)
    batch = x0.shape[0]
    _, x_q = seeded_start(diffusion, x0, t, seed)  # the same x_t as inspect_step's
    x_p = x_q
    z = chain_noise(t, x0, seed)
    for k, i in enumerate(range(t - 1, -1, -1)):
        index = torch.full((batch,), i, dtype=torch.long, device=x0.device)
        with torch.no_grad():
            out_q, out_p = model(torch.cat([x_q, x_p]), torch.cat([index, index])).split(batch)
        exact = diffusion.q_posterior_sample(x0, x_q, index, z=z[k])
        learned = diffusion.p_sample(out_p, x_p, index, parameterization, variance, z=z[k])
        at_exact = diffusion.p_mean_variance(out_q, x_q, index, parameterization, variance)
        kl = diffusion.vb_terms_bpd(out_q, x0, x_q, index, parameterization, variance)
        yield ComparisonStep(
            i + 1,
            _record(k, t, i, x_q, exact),
            _record(k, t, i, x_p, learned),
            float(kl.mean()),
            _rms(at_exact.mean - exact.mean),
            _rms(at_exact.pred_x0 - x0),
        )
        x_q, x_p = exact.sample, learned.sample


def filmstrip_times(T: int) -> list[int]:
    """The paper's t shown in a filmstrip: T, 3T/4, T/2, then halving down to 1 (descending)."""
    times = [T, round(3 * T / 4), round(T / 2)]
    while times[-1] > 1:
        times.append(max(1, times[-1] // 2))
    return sorted(set(times), reverse=True)


class StepInspection(NamedTuple):
    """One reverse step at the paper's t, exact vs learned, from x_t = q_sample(x_0, t, ε_seed).

    Tensors are [B, C, H, W]; ``kl_bpd`` as in :class:`ComparisonStep`.
    """

    t: int
    x_t: torch.Tensor
    posterior_mean: torch.Tensor  # μ̃_t(x_t, x_0)
    model_mean: torch.Tensor  # μ_θ(x_t, t)
    pred_x0: torch.Tensor  # x̂_0 from ε̂
    pred_noise: torch.Tensor  # ε̂
    true_noise: torch.Tensor  # the ε that made x_t
    kl_bpd: float


def inspect_step(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    variance: VarianceType = "fixed_small",
    parameterization: str = "eps",
) -> StepInspection:
    """μ̃_t (which knows x_0) against μ_θ (which does not) at one step, from the same x_t."""
    t = check_paper_t(diffusion, t, minimum=1)
    index = torch.full((x0.shape[0],), t - 1, dtype=torch.long, device=x0.device)
    epsilon, x_t = seeded_start(diffusion, x0, t, seed)
    with torch.no_grad():
        output = model(x_t, index)
    p = diffusion.p_mean_variance(output, x_t, index, parameterization, variance)
    q = diffusion.q_posterior_mean_variance(x0, x_t, index)
    kl = diffusion.vb_terms_bpd(output, x0, x_t, index, parameterization, variance)
    return StepInspection(t, x_t, q.mean, p.mean, p.pred_x0, p.pred_noise, epsilon, float(kl.mean()))
