"""Likelihood pieces of the variational bound (Ho et al. 2020, eq. 5): closed forms, no model calls.

- :func:`normal_kl`: KL between two diagonal Gaussians, the L_{t−1} terms of eq. 5.
- :func:`discretized_gaussian_log_likelihood`: the decoder L_0 for 8-bit data (Ho et al., eq. 13).

The bound of a model over all t, which calls the model, is :func:`ddpm.likelihood.calc_bpd_loop`.

Values are in nats unless a name ends in ``bpd`` (bits per dimension: nats / (D · ln 2), where D is
the number of pixels). Data are images in [−1, 1] (8-bit data scaled, so a bin is 2/255 wide).
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)
"""Nats per bit: a value in nats divided by D · LN2 is in bits per dimension."""


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
