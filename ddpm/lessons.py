"""The computations behind the teaching views: schedules, parameterizations, the bound term by term,
a classifier's read-out, one noisy image with many pasts, and the noise-prediction error over t.

No UI code here. Timesteps are the paper's t ∈ 1 … T in arguments and results (converted to the
0-based index t − 1 of :mod:`ddpm.diffusion` inside), and the notation is the paper's: β_t,
α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s. Images are [B, 1, 28, 28] in [−1, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .diffusion import PARAMETERIZATIONS, GaussianDiffusion, Model, VarianceType
from .explain import chain_noise, check_paper_t, seeded_noise, seeded_start
from .losses import BitsPerDim, calc_bpd_loop
from .sampling import final_sample, p_sample_loop_progressive
from .schedules import make_betas

# -- 2. schedules and signal-to-noise ---------------------------------------------------------------


class ScheduleCurves(NamedTuple):
    """One schedule's tables over the paper's t = 1 … T (float64 [T]) and where SNR crosses 1."""

    name: str
    betas: torch.Tensor  # β_t
    alphas_cumprod: torch.Tensor  # ᾱ_t
    log_snr: torch.Tensor  # log(ᾱ_t / (1 − ᾱ_t))
    snr_one_t: int  # the first t with SNR ≤ 1: from here on x_t holds more noise than signal


def schedule_curves(name: str, T: int) -> ScheduleCurves:
    """β_t, ᾱ_t and log SNR of schedule ``name`` with T steps, float64 (:mod:`ddpm.schedules`)."""
    betas = make_betas(name, T).double()
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    log_snr = torch.log(alphas_cumprod) - torch.log1p(-alphas_cumprod)
    below = torch.nonzero(log_snr <= 0)
    return ScheduleCurves(name, betas, alphas_cumprod, log_snr, int(below[0]) + 1 if len(below) else T)


# -- 3. parameterizations ---------------------------------------------------------------------------


class Reading(NamedTuple):
    """What one network output implies if read as ``parameterization``: x̂_0, ε̂ and μ, [B, C, H, W]."""

    parameterization: str
    pred_x0: torch.Tensor
    pred_noise: torch.Tensor
    mean: torch.Tensor


class ParameterizationView(NamedTuple):
    """One network evaluation at the paper's t, read three ways, and one step with either σ²."""

    t: int
    x_t: torch.Tensor  # q_sample(x_0, t, ε_seed)
    output: torch.Tensor  # the network's raw output
    readings: dict[str, Reading]  # "eps", "x0", "v" (the model's own is the right one)
    step_small: torch.Tensor  # x_{t−1} = μ_θ + √β̃_t z
    step_large: torch.Tensor  # x_{t−1} = μ_θ + √β_t z, the same z


def parameterization_view(
    diffusion: GaussianDiffusion, model: Model, x0: torch.Tensor, t: int, seed: int = 0
) -> ParameterizationView:
    """Read the output of ``model`` at x_t = q_sample(x_0, t, ε_seed) as ε, as x_0 and as v.

    x̂_0 is not clipped here, so each reading shows the pure algebra of its formulas (Ho et al.
    2020, eq. 11 for ε; Salimans & Ho 2022 for v). The two one-step samples share z (seed + 1).
    """
    t = check_paper_t(diffusion, t, minimum=1)
    index = torch.full((x0.shape[0],), t - 1, dtype=torch.long, device=x0.device)
    _, x_t = seeded_start(diffusion, x0, t, seed)
    with torch.no_grad():
        output = model(x_t, index)
    readings = {}
    for name in PARAMETERIZATIONS:
        p = diffusion.p_mean_variance(output, x_t, index, name, "fixed_small", clip_denoised=False)
        readings[name] = Reading(name, p.pred_x0, p.pred_noise, p.mean)
    own = getattr(getattr(model, "config", None), "parameterization", "eps")
    z = seeded_noise(tuple(x0.shape), seed + 1, x0.device)
    small, large = (
        diffusion.p_sample(output, x_t, index, own, variance, z=z)
        for variance in ("fixed_small", "fixed_large")
    )
    return ParameterizationView(t, x_t, output, readings, small.sample, large.sample)


def variance_chains(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    parameterization: str = "eps",
) -> dict[VarianceType, torch.Tensor]:
    """The learned chain from the same x_t down to x_0 with σ² = β̃_t and with σ² = β_t, same z.

    Returns {"fixed_small": x_0, "fixed_large": x_0}, each [B, C, H, W]; one batched network call
    per step serves both chains.
    """
    t = check_paper_t(diffusion, t, minimum=1)
    batch = x0.shape[0]
    _, x_t = seeded_start(diffusion, x0, t, seed)
    z = chain_noise(t, x0, seed)
    x = {"fixed_small": x_t, "fixed_large": x_t}
    for k, i in enumerate(range(t - 1, -1, -1)):
        index = torch.full((2 * batch,), i, dtype=torch.long, device=x0.device)
        with torch.no_grad():
            out = dict(zip(x, model(torch.cat(list(x.values())), index).split(batch), strict=True))
        x = {
            v: diffusion.p_sample(out[v], x[v], index[:batch], parameterization, v, z=z[k]).sample for v in x
        }
    return x


# -- 4. bits per dimension of one image -------------------------------------------------------------


def contrast_images(x0: torch.Tensor, seed: int = 0, noise_std: float = 0.25) -> dict[str, torch.Tensor]:
    """The digit, the digit with Gaussian pixel noise (std ``noise_std``), and uniform random pixels,
    each [B, C, H, W] on the 8-bit grid of [−1, 1] (what the discretized decoder scores)."""
    g = torch.Generator().manual_seed(int(seed))
    noisy = x0 + noise_std * torch.randn(x0.shape, generator=g).to(x0.device)
    random = torch.randint(0, 256, x0.shape, generator=g).to(x0.device) / 127.5 - 1.0

    def quantise(x: torch.Tensor) -> torch.Tensor:
        return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1.0

    return {"digit": quantise(x0), "noisy digit": quantise(noisy), "random pixels": random}


def bound_terms(
    diffusion: GaussianDiffusion,
    model: Model,
    images: torch.Tensor,
    seed: int = 0,
    parameterization: str = "eps",
) -> BitsPerDim:
    """The variational bound of each image term by term over all T steps, in bits/dim.

    ``terms[:, t − 1]`` is L_{t−1}: the decoder −log p_θ(x_0 | x_1) at t = 1 and
    KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)) above; ``prior`` is L_T; ``total`` their sum
    (:func:`ddpm.losses.calc_bpd_loop`, exact over t, one x_t per step drawn with ``seed``).
    """
    return calc_bpd_loop(
        diffusion,
        model,
        images,
        parameterization=parameterization,
        generator=torch.Generator().manual_seed(seed),
    )


# -- 6. one noisy image, many pasts -----------------------------------------------------------------


def many_pasts(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    k: int,
    seed: int = 0,
    parameterization: str = "eps",
) -> tuple[torch.Tensor, torch.Tensor]:
    """From one x_t = q_sample(x_0, t, ε_seed) ([1, C, H, W]), K learned reverse chains with
    different noise. Returns (x_t [1, C, H, W], their x_0 [K, C, H, W])."""
    t = check_paper_t(diffusion, t, minimum=1)
    if x0.shape[0] != 1:
        raise ValueError(f"many_pasts takes one digit [1, C, H, W], got a batch of {x0.shape[0]}")
    if not 1 <= k <= 256:
        raise ValueError(f"the number of chains K must be in [1, 256], got {k}")
    _, x_t = seeded_start(diffusion, x0, t, seed)
    loop = p_sample_loop_progressive(
        diffusion, model, x_t=x_t.expand(k, -1, -1, -1).contiguous(), t_start=t - 1,
        parameterization=parameterization, generator=torch.Generator(x0.device).manual_seed(int(seed) + 1),
    )  # fmt: skip
    return x_t, final_sample(loop)


# -- 7. where is noise prediction hard? -------------------------------------------------------------


class NoiseError(NamedTuple):
    t: torch.Tensor  # the paper's t where the error was measured [S]
    mse: torch.Tensor  # E ‖ε − ε_θ(x_t, t)‖² / D at each t, averaged over the images [S]
    simple_loss: float  # L_simple = E_t E ‖ε − ε_θ‖² / D with t uniform: the mean of ``mse``


def noise_prediction_error(
    diffusion: GaussianDiffusion, model: Model, x0: torch.Tensor, steps: int = 50, seed: int = 0
) -> NoiseError:
    """The ε-model's per-pixel squared error over t on real digits x0 [B, C, H, W] (Algorithm 1's
    loss, before averaging over t), at ``steps`` evenly spaced t from 1 to T."""
    T = diffusion.num_timesteps
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in [1, T = {T}], got {steps}")
    times = torch.linspace(1, T, steps).round().long().unique()
    g = torch.Generator().manual_seed(int(seed))
    mse = []
    for t in times.tolist():
        index = torch.full((x0.shape[0],), t - 1, dtype=torch.long, device=x0.device)
        noise = torch.randn(x0.shape, generator=g).to(x0.device)
        with torch.no_grad():
            pred = model(diffusion.q_sample(x0, index, noise), index)
        mse.append(float((pred - noise).pow(2).mean()))
    errors = torch.tensor(mse, dtype=torch.float64)
    return NoiseError(times, errors, float(errors.mean()))
