"""Likelihood pieces of the variational bound (Ho et al. 2020, eq. 5), and its loop over t.

- :func:`normal_kl`: KL between two diagonal Gaussians, the L_{t−1} terms of eq. 5.
- :func:`discretized_gaussian_log_likelihood`: the decoder L_0 for 8-bit data (Ho et al., eq. 13).
- :func:`calc_bpd_loop`: the whole bound of a model on a batch, term by term, in bits per dimension.

Values are in nats unless a name ends in ``bpd`` (bits per dimension: nats / (D · ln 2), where D is
the number of pixels). Data are images in [−1, 1] (8-bit data scaled, so a bin is 2/255 wide).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch

if TYPE_CHECKING:
    from .diffusion import GaussianDiffusion


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over every dimension but the first: [B, ...] -> [B]."""
    return x.flatten(1).mean(dim=1)


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) elementwise, in nats (arguments broadcast).

    KL = ½ (logvar2 − logvar1 + e^(logvar1 − logvar2) + (mean1 − mean2)² e^(−logvar2) − 1) ≥ 0,
    with equality exactly when both means and both variances agree.
    """
    return 0.5 * (
        logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0
    )


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) of the standard normal, through the tanh approximation used by DDPM's reference code.

    Accurate to about 1e-4 absolute; kept for agreement with published bits/dim numbers.
    """
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> torch.Tensor:
    """log p(x) of 8-bit data under a Gaussian discretized to 256 bins (Ho et al. 2020, eq. 13).

    Args:
        x: images in [−1, 1] that were uint8 values scaled by x/127.5 − 1, any shape.
        means, log_scales: the Gaussian's mean and log standard deviation, broadcastable to x.

    Returns:
        log-likelihood in nats, elementwise, ≤ 0. The bins at −1 and +1 extend to ∓∞, so the 256
        bin probabilities sum to 1.
    """
    if x.shape != means.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but means has shape {tuple(means.shape)}")
    half_bin = 1.0 / 255.0
    centred = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centred + half_bin))
    cdf_min = approx_standard_normal_cdf(inv_std * (centred - half_bin))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_probs = torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, torch.log((cdf_plus - cdf_min).clamp(min=1e-12))),
    )
    return log_probs


class BitsPerDim(NamedTuple):
    """The variational bound of a batch, term by term, in bits per dimension.

    Attributes:
        total: [B] prior + Σ_k weights[k] · terms[:, k] (all weights 1 when exact).
        prior: [B] KL(q(x_T | x_0) ‖ N(0, I)), the L_T term.
        terms: [B, K] the evaluated per-step terms: index 0 is the decoder NLL −log p(x_0 | x_1)
            (L_0), index t > 0 is KL(q(x_t | x_{t+1}, x_0) ‖ p_θ(x_t | x_{t+1})), i.e. L_t.
        timesteps: [K] the 0-based indices evaluated, ascending.
        exact: True when every t was evaluated (each term with one Monte-Carlo draw of x_t, as in
            Ho et al. and improved-diffusion); False when ``total`` is the unbiased estimate from a
            subset of t.
        weights: [K] how many terms each evaluated one stands for in ``total``.
    """

    total: torch.Tensor
    prior: torch.Tensor
    terms: torch.Tensor
    timesteps: torch.Tensor
    exact: bool
    weights: torch.Tensor


Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def calc_bpd_loop(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    *,
    num_timesteps: int | None = None,
    timesteps: Sequence[int] | torch.Tensor | None = None,
    parameterization: str = "eps",
    variance: str = "fixed_small",
    clip_denoised: bool = True,
    generator: torch.Generator | None = None,
) -> BitsPerDim:
    """Negative variational bound −log p(x_0) ≤ L_T + Σ_t L_{t−1}, in bits per dimension.

    Exact over t when neither ``num_timesteps`` nor ``timesteps`` is given (T model calls). With
    ``num_timesteps=K`` the estimate is stratified: the first K // 4 steps, where the terms are
    largest (the decoder L_0 alone is about half the total for MNIST), are always evaluated, and
    the other K − K // 4 are drawn uniformly without replacement from the rest (with ``generator``)
    and weighted by (number left)/(number drawn), so the total is an unbiased estimate of the full
    bound with far less variance than uniform sampling. ``timesteps`` evaluates a given subset,
    each weighted T/len (unbiased only if the subset is uniformly random).

    Args:
        model: ε-model (or x0 / v, see ``parameterization``) called as ``model(x_t, t)``.
        x0: [B, C, H, W] data in [−1, 1], 8-bit values scaled.

    Returns:
        :class:`BitsPerDim`.
    """
    T = diffusion.num_timesteps
    device = x0.device
    if timesteps is None and num_timesteps is None:
        steps = torch.arange(T)
        weights = torch.ones(T, dtype=torch.float64)
    elif timesteps is not None:
        steps = torch.as_tensor(timesteps, dtype=torch.long).flatten().unique()
        weights = torch.full((len(steps),), T / len(steps), dtype=torch.float64)
    else:
        if not 1 <= num_timesteps <= T:
            raise ValueError(f"num_timesteps must be in [1, {T}], got {num_timesteps}")
        head = num_timesteps // 4 if num_timesteps < T else T
        drawn = head + torch.randperm(T - head, generator=generator)[: num_timesteps - head]
        steps = torch.cat([torch.arange(head), drawn.sort().values])
        rest = torch.full(
            (num_timesteps - head,), (T - head) / max(num_timesteps - head, 1), dtype=torch.float64
        )
        weights = torch.cat([torch.ones(head, dtype=torch.float64), rest])
    steps = diffusion.check_t(steps)
    batch = x0.shape[0]
    terms = []
    for t_index in steps.tolist():
        t = torch.full((batch,), t_index, dtype=torch.long, device=device)
        x_t = diffusion.q_sample(x0, t, generator=generator)
        with torch.no_grad():
            model_output = model(x_t, t)
        terms.append(
            diffusion.vb_terms_bpd(
                model_output,
                x0,
                x_t,
                t,
                parameterization=parameterization,
                variance=variance,
                clip_denoised=clip_denoised,
            )
        )
    terms_t = torch.stack(terms, dim=1)
    prior = diffusion.prior_bpd(x0)
    total = prior + (terms_t * weights.to(terms_t)).sum(dim=1)
    return BitsPerDim(total, prior, terms_t, steps, len(steps) == T, weights)
