"""The variational bound of a model on data, term by term, in bits per dimension (Ho et al. 2020, eq. 5).

−log p_θ(x_0) ≤ L_T + Σ_{t>1} L_{t−1} + L_0, each term from :meth:`GaussianDiffusion.vb_terms_bpd`
(closed forms in :mod:`ddpm.losses`), one model call per evaluated t. Bits per dimension are nats
/ (D · ln 2), where D is the number of pixels. Data are images in [−1, 1] (8-bit values scaled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .choices import Model, Parameterization, VarianceType
from .diffusion import GaussianDiffusion


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

    @property
    def decoder(self) -> torch.Tensor:
        """[B] the decoder term L_0 = −log p_θ(x_0 | x_1) (index 0; always among the evaluated ones)."""
        at = (self.timesteps == 0).nonzero()
        if not len(at):
            raise ValueError("the decoder term (index 0) was not evaluated")
        return self.terms[:, int(at[0])]

    @property
    def steps(self) -> torch.Tensor:
        """[B] the KL terms L_1 … L_{T−1} together, weighted as in ``total``.

        So ``total = prior + steps + decoder``.
        """
        weights = self.weights.to(self.terms) * (self.timesteps > 0).to(self.terms)
        return (self.terms * weights).sum(dim=1)


def calc_bpd_loop(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    *,
    num_timesteps: int | None = None,
    timesteps: Sequence[int] | torch.Tensor | None = None,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
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
    (bound,) = calc_bpd_loops(
        diffusion, model, x0, num_timesteps=num_timesteps, timesteps=timesteps,
        parameterization=parameterization, variances=(variance,), clip_denoised=clip_denoised,
        generator=generator,
    )  # fmt: skip
    return bound


def calc_bpd_loops(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    *,
    variances: Sequence[VarianceType],
    num_timesteps: int | None = None,
    timesteps: Sequence[int] | torch.Tensor | None = None,
    parameterization: Parameterization = "eps",
    clip_denoised: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[BitsPerDim, ...]:
    """:func:`calc_bpd_loop` with each σ² of ``variances`` (e.g. a learned-variance model read with
    its own σ² and with β̃_t), from one model call per evaluated t: the same x_t and the same network
    output, read with each σ². Returns one :class:`BitsPerDim` per entry of ``variances``."""
    if not variances:
        raise ValueError("variances must name at least one σ², got none")
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
    terms: list[list[torch.Tensor]] = [[] for _ in variances]
    for t_index in steps.tolist():
        t = torch.full((batch,), t_index, dtype=torch.long, device=device)
        x_t = diffusion.q_sample(x0, t, generator=generator)
        with torch.no_grad():
            model_output = model(x_t, t)
        for kept, variance in zip(terms, variances, strict=True):
            kept.append(
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
    prior = diffusion.prior_bpd(x0)
    bounds = []
    for kept in terms:
        terms_t = torch.stack(kept, dim=1)
        total = prior + (terms_t * weights.to(terms_t)).sum(dim=1)
        bounds.append(BitsPerDim(total, prior, terms_t, steps, len(steps) == T, weights))
    return tuple(bounds)
