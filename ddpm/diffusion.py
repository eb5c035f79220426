"""Gaussian diffusion: the forward process, its exact posterior, and the learned reverse step.

Glossary (Ho et al. 2020 notation, one name per quantity; some texts write α_t for our ᾱ_t):

=========================  ===================================  ==========================
symbol                     meaning                              attribute
=========================  ===================================  ==========================
β_t                        variance added by forward step t     ``betas``
α_t = 1 − β_t                                                   ``alphas``
ᾱ_t = ∏_{s≤t} α_s          signal kept after t steps            ``alphas_cumprod``
ᾱ_{t−1}                    (ᾱ_0 = 1)                            ``alphas_cumprod_prev``
β̃_t = β_t (1−ᾱ_{t−1})/(1−ᾱ_t)  variance of q(x_{t−1}|x_t,x_0)    ``posterior_variance``
log β_t                                                         ``log_betas``
μ̃_t = c1·x_0 + c2·x_t      mean of q(x_{t−1}|x_t,x_0)           ``posterior_mean_coef1/2``
SNR_t = ᾱ_t / (1 − ᾱ_t)    signal-to-noise ratio                ``snr``
=========================  ===================================  ==========================

**Index convention.** A timestep ``t`` is a 0-based ``LongTensor[B]`` (a Python int is accepted and
broadcast): index 0 is the paper's t = 1 and index T − 1 the paper's t = T. So ``betas[0]`` is β_1,
``q_sample(x0, t)`` returns x_{t+1} in the paper's numbering, and a reverse step at index ``t`` maps
x_{t+1} to x_t. Out-of-range indices raise ``ValueError``.

Images are float tensors [B, C, H, W] with data in [−1, 1]; x_t for t > 0 is unbounded.

**Learned variance.** With ``variance="learned_range"`` the network's output has 2C channels: the
first C are its ε̂ (or x̂_0, v̂), the last C a value v ∈ [−1, 1] per pixel that sets
log σ_t² = ((1 + v)/2) log β_t + ((1 − v)/2) log β̃_t (Nichol & Dhariwal 2021, eq. 15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from .choices import (
    PARAMETERIZATIONS,
    TIMESTEP_SAMPLINGS,
    VARIANCES,
    Model,
    Parameterization,
    TimestepSampling,
    VarianceType,
    check_choice,
)
from .losses import LN2, discretized_gaussian_log_likelihood, mean_flat, normal_kl
from .schedules import SCHEDULES, make_betas
from .seeding import randn


def extract(table: torch.Tensor, t: torch.Tensor, x_shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """``table[t]`` shaped [B, 1, 1, ...] to broadcast against a batch of shape ``x_shape``."""
    return table[t].reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))


class MeanVariance(NamedTuple):
    """A diagonal Gaussian: mean [B, C, H, W]; variance and log_variance [B, 1, 1, 1] (fixed) or
    [B, C, H, W] (learned)."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor


class PMeanVariance(NamedTuple):
    """p_θ(x_{t−1} | x_t) and the model's implied predictions, each [B, C, H, W] except the
    variances ([B, 1, 1, 1], or [B, C, H, W] when learned). ``pred_x0`` is clipped to [−1, 1]
    when asked; ``pred_noise`` is the network's ε̂ (for x0 / v models, the ε implied by the
    unclipped prediction)."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    pred_x0: torch.Tensor
    pred_noise: torch.Tensor


class StepOutput(NamedTuple):
    """One reverse step: ``sample`` is x_{t−1} (paper numbering), the rest as in PMeanVariance."""

    sample: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor
    pred_x0: torch.Tensor
    pred_noise: torch.Tensor


class LossOutput(NamedTuple):
    """``loss`` [B] per image and the tensors it came from.

    ``mse`` [B] is the simple loss; with a learned variance ``vb`` [B] is the bound's term L_t at the
    sampled t in bits/dim (its mean part's gradient stopped), and ``loss = mse + λ · T · vb``.
    """

    loss: torch.Tensor
    x_t: torch.Tensor
    target: torch.Tensor
    model_output: torch.Tensor
    mse: torch.Tensor | None = None
    vb: torch.Tensor | None = None


STEP_TABLES: tuple[str, ...] = (
    "alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
    "large_variance", "large_log_variance", "log_betas",
)  # fmt: skip
"""The tables the step rules read: q_sample, the parameterizations, p_mean_variance with every
variance, p_sample, q_posterior_sample, ddim_step, dpm_solver_step and vb_terms_bpd. A port of these
rules (the page's engine) is given them by :meth:`GaussianDiffusion.step_tables` and computes none."""


class GaussianDiffusion:
    """The tables of a β schedule and the per-step maths of DDPM.

    Tables are computed once in float64 and kept as float32 tensors [T]; ``.to(device)`` moves them.
    """

    _TABLES = (
        "betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev",
        "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "sqrt_recip_alphas",
        "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2",
        "large_variance", "large_log_variance", "log_betas", "snr", "log_snr",
    )  # fmt: skip

    def __init__(self, betas: torch.Tensor) -> None:
        """Args: betas: [T] variances of the forward steps, each in (0, 1]; T ≥ 2."""
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or betas.numel() < 2:
            raise ValueError(f"betas must be a 1-D tensor of length ≥ 2, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError(f"betas must lie in (0, 1]; got min {betas.min():.3g}, max {betas.max():.3g}")
        self.num_timesteps = int(betas.numel())
        alphas = 1.0 - betas
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
        # β̃_1 = 0: the log is clipped to β̃_2 at index 0 (improved-diffusion); sampling adds no
        # noise there, and the decoder likelihood needs a finite scale.
        post_logvar = torch.log(torch.cat([post_var[1:2], post_var[1:]]))
        large_var = torch.cat([post_var[1:2], betas[1:]])  # σ² = β_t, same clipping at index 0
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": ac,
            "alphas_cumprod_prev": ac_prev,
            "sqrt_alphas_cumprod": ac.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(),
            "sqrt_recip_alphas_cumprod": ac.rsqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1.0).sqrt(),
            "sqrt_recip_alphas": alphas.rsqrt(),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": post_logvar,
            "posterior_mean_coef1": betas * ac_prev.sqrt() / (1.0 - ac),
            "posterior_mean_coef2": (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac),
            "large_variance": large_var,
            "large_log_variance": large_var.log(),
            "log_betas": betas.log(),
            "snr": ac / (1.0 - ac),
            "log_snr": ac.log() - (1.0 - ac).log(),
        }
        for name in self._TABLES:
            setattr(self, name, tables[name].to(torch.float32))

    @classmethod
    def from_schedule(cls, name: str = "linear", timesteps: int = 1000) -> GaussianDiffusion:
        """A diffusion on the named schedule (see :func:`ddpm.schedules.make_betas`)."""
        return cls(make_betas(name, timesteps))

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> GaussianDiffusion:
        """Move every table to ``device``; returns self."""
        for name in self._TABLES:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def __repr__(self) -> str:
        return f"GaussianDiffusion(T={self.num_timesteps}, device={self.device})"

    def step_tables(self) -> dict[str, list[float]]:
        """The tables of :data:`STEP_TABLES`, each as the list of its T float32 values (index 0 is
        the paper's t = 1).

        A Python float holds a float32 exactly and JSON writes it so that it reads back the same,
        so a page that reads a list into a ``Float32Array`` has the core's numbers bit for bit.
        """
        return {name: getattr(self, name).cpu().tolist() for name in STEP_TABLES}

    # -- validation -------------------------------------------------------------------------------

    def check_t(self, t: torch.Tensor | int, batch: int | None = None) -> torch.Tensor:
        """Validate timestep indices; returns a LongTensor [B] on the tables' device.

        ``t`` is 0-based (0 is the paper's t = 1). An int or 0-d tensor is broadcast to ``batch``.
        """
        if isinstance(t, bool) or not isinstance(t, (int, torch.Tensor)):
            raise ValueError(f"t must be an int or an integer tensor of indices, got {t!r}")
        t = torch.as_tensor(t, device=self.device)
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"t must hold integer indices, got dtype {t.dtype}")
        if t.ndim == 0:
            t = t.expand(batch if batch is not None else 1)
        if t.ndim != 1:
            raise ValueError(f"t must be a 1-D tensor [B], got shape {tuple(t.shape)}")
        if batch is not None and t.shape[0] != batch:
            raise ValueError(f"t has {t.shape[0]} entries but the batch has {batch} images")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            bad = t[(t < 0) | (t >= self.num_timesteps)][0].item()
            raise ValueError(
                f"timestep index {bad} is out of range [0, {self.num_timesteps - 1}] "
                "(0-based: index 0 is the paper's t = 1)"
            )
        return t.long()

    @staticmethod
    def _check_same_shape(**tensors: torch.Tensor) -> None:
        (first_name, first), *rest = tensors.items()
        for name, x in rest:
            if x.shape != first.shape:
                raise ValueError(
                    f"{name} has shape {tuple(x.shape)} but {first_name} has shape {tuple(first.shape)}"
                )
        if first.ndim < 2:
            raise ValueError(f"{first_name} must be a batch [B, ...], got shape {tuple(first.shape)}")

    # -- forward process q ------------------------------------------------------------------------

    def q_mean_variance(self, x0: torch.Tensor, t: torch.Tensor | int) -> MeanVariance:
        """q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) (Ho et al. 2020, eq. 4)."""
        t = self.check_t(t, x0.shape[0])
        mean = extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
        variance = extract(1.0 - self.alphas_cumprod, t, x0.shape)
        return MeanVariance(mean, variance, torch.log(variance))

    def q_sample(
        self,
        x0: torch.Tensor,
        t: torch.Tensor | int,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, ε ~ N(0, I) (eq. 4); [B, C, H, W].

        ``noise`` gives ε explicitly; otherwise it is drawn with ``generator``.
        """
        t = self.check_t(t, x0.shape[0])
        if noise is None:
            noise = randn(x0.shape, generator, x0.device, x0.dtype)
        self._check_same_shape(x0=x0, noise=noise)
        return (
            extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
            + extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise
        )

    def q_posterior_mean_variance(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int
    ) -> MeanVariance:
        """q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) (Ho et al. 2020, eqs. 6–7).

        μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t. At index 0
        the variance is 0 and the mean is x_0; ``log_variance`` is clipped there (see class doc).
        """
        self._check_same_shape(x0=x0, x_t=x_t)
        t = self.check_t(t, x0.shape[0])
        mean = (
            extract(self.posterior_mean_coef1, t, x_t.shape) * x0
            + extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        return MeanVariance(
            mean,
            extract(self.posterior_variance, t, x_t.shape),
            extract(self.posterior_log_variance_clipped, t, x_t.shape),
        )

    # -- parameterizations: mean, ε, x_0 and v ------------------------------------------------------

    def predict_start_from_noise(
        self, x_t: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor
    ) -> torch.Tensor:
        """x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t, eq. 4 solved for x_0."""
        t = self.check_t(t, x_t.shape[0])
        return (
            extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
            - extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * noise
        )

    def predict_noise_from_start(
        self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor
    ) -> torch.Tensor:
        """ε̂ = (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t), eq. 4 solved for ε."""
        t = self.check_t(t, x_t.shape[0])
        return (extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x0) / extract(
            self.sqrt_recipm1_alphas_cumprod, t, x_t.shape
        )

    def predict_v(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022)."""
        t = self.check_t(t, x0.shape[0])
        return (
            extract(self.sqrt_alphas_cumprod, t, x0.shape) * noise
            - extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * x0
        )

    def predict_start_from_v(self, x_t: torch.Tensor, t: torch.Tensor | int, v: torch.Tensor) -> torch.Tensor:
        """x̂_0 = √ᾱ_t x_t − √(1 − ᾱ_t) v."""
        t = self.check_t(t, x_t.shape[0])
        return (
            extract(self.sqrt_alphas_cumprod, t, x_t.shape) * x_t
            - extract(self.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * v
        )

    def predict_noise_from_v(self, x_t: torch.Tensor, t: torch.Tensor | int, v: torch.Tensor) -> torch.Tensor:
        """ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v."""
        t = self.check_t(t, x_t.shape[0])
        return (
            extract(self.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * x_t
            + extract(self.sqrt_alphas_cumprod, t, x_t.shape) * v
        )

    def mean_from_noise(self, x_t: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        """μ_θ = (x_t − β_t / √(1 − ᾱ_t) · ε) / √α_t (Ho et al. 2020, eq. 11)."""
        t = self.check_t(t, x_t.shape[0])
        coef = extract(self.betas / (1.0 - self.alphas_cumprod).sqrt(), t, x_t.shape)
        return extract(self.sqrt_recip_alphas, t, x_t.shape) * (x_t - coef * noise)

    def predict_start_from_mean(
        self, x_t: torch.Tensor, t: torch.Tensor | int, mean: torch.Tensor
    ) -> torch.Tensor:
        """x̂_0 from a predicted posterior mean, μ̃_t solved for x_0 (the "predict the mean" choice)."""
        t = self.check_t(t, x_t.shape[0])
        return (mean - extract(self.posterior_mean_coef2, t, x_t.shape) * x_t) / extract(
            self.posterior_mean_coef1, t, x_t.shape
        )

    def predictions(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        parameterization: Parameterization = "eps",
        clip_denoised: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂_0, ε̂) implied by a model output; x̂_0 clipped to [−1, 1] when ``clip_denoised``."""
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        self._check_same_shape(x_t=x_t, model_output=model_output)
        if parameterization == "eps":
            pred_noise = model_output
            pred_x0 = self.predict_start_from_noise(x_t, t, model_output)
        elif parameterization == "x0":
            pred_x0 = model_output
            pred_noise = self.predict_noise_from_start(x_t, t, model_output)
        else:
            pred_x0 = self.predict_start_from_v(x_t, t, model_output)
            pred_noise = self.predict_noise_from_v(x_t, t, model_output)
        if clip_denoised:
            pred_x0 = pred_x0.clamp(-1.0, 1.0)
        return pred_x0, pred_noise

    # -- learned reverse process p_θ --------------------------------------------------------------

    @staticmethod
    def split_output(
        model_output: torch.Tensor, x_t: torch.Tensor, variance: VarianceType = "fixed_small"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the prediction [B, C, H, W], the variance values v [B, C, H, W] or None).

        A model that learned its variance outputs 2C channels, the prediction first
        (improved-diffusion's layout); a fixed-variance model outputs C. The values are returned
        for ``variance="learned_range"`` only: read with a fixed σ², a learned-variance model's
        extra channels are ignored (its mean is the same either way), which is how the same
        network's bound is compared under fixed and learned variances.
        """
        check_choice("variance", variance, VARIANCES)
        carries_values = model_output.ndim == x_t.ndim and model_output.shape[1] == 2 * x_t.shape[1]
        if variance == "learned_range" and not carries_values:
            raise ValueError(
                f"variance 'learned_range' needs a model output of {2 * x_t.shape[1]} channels "
                f"(prediction and variance), got shape {tuple(model_output.shape)}"
            )
        if not carries_values:
            return model_output, None
        prediction, values = model_output.chunk(2, dim=1)
        return prediction, values if variance == "learned_range" else None

    def learned_log_variance(self, values: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """log σ_t² = ((1 + v)/2) log β_t + ((1 − v)/2) log β̃_t (Nichol & Dhariwal 2021, eq. 15).

        ``values`` v [B, C, H, W] is the network's second output, meant to lie in [−1, 1] (−1: β̃_t,
        +1: β_t); log β̃_t is clipped at index 0 as in :attr:`posterior_log_variance_clipped`.
        """
        t = self.check_t(t, values.shape[0])
        frac = (values + 1.0) / 2.0
        return frac * extract(self.log_betas, t, values.shape) + (1.0 - frac) * extract(
            self.posterior_log_variance_clipped, t, values.shape
        )

    def p_mean_variance(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        parameterization: Parameterization = "eps",
        variance: VarianceType = "fixed_small",
        clip_denoised: bool = True,
    ) -> PMeanVariance:
        """p_θ(x_{t−1} | x_t) = N(μ_θ, σ_t² I) from the model's output at (x_t, t).

        μ_θ = μ̃_t(x̂_0, x_t): the posterior mean with the predicted x̂_0 (for an ε-model without
        clipping this is eq. 11). σ_t² = β̃_t (``"fixed_small"``), β_t (``"fixed_large"``), or
        learned per pixel between the two (``"learned_range"``, :meth:`learned_log_variance`).

        Args:
            model_output: [B, C, H, W] the network's ε̂, x̂_0 or v̂ (``parameterization``);
                [B, 2C, H, W] with the variance values after them for ``"learned_range"``.
            x_t: [B, C, H, W]; t: indices [B] (0-based).
        """
        prediction, values = self.split_output(model_output, x_t, variance)
        t = self.check_t(t, x_t.shape[0])
        pred_x0, pred_noise = self.predictions(prediction, x_t, t, parameterization, clip_denoised)
        mean = self.q_posterior_mean_variance(pred_x0, x_t, t).mean
        if values is not None:
            log_var = self.learned_log_variance(values, t)
            return PMeanVariance(mean, log_var.exp(), log_var, pred_x0, pred_noise)
        if variance == "fixed_small":
            var, log_var = self.posterior_variance, self.posterior_log_variance_clipped
        else:
            var, log_var = self.large_variance, self.large_log_variance
        return PMeanVariance(
            mean, extract(var, t, x_t.shape), extract(log_var, t, x_t.shape), pred_x0, pred_noise
        )

    @staticmethod
    def _add_noise(
        mean: torch.Tensor,
        std: torch.Tensor,
        t: torch.Tensor,
        z: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """mean + std · z, with no noise where t == 0; z is drawn only if some t > 0 needs it."""
        nonzero = (t != 0).to(mean.dtype).reshape(-1, *((1,) * (mean.ndim - 1)))
        if z is None:
            if not bool(nonzero.any()):
                return mean
            z = randn(mean.shape, generator, mean.device, mean.dtype)
        elif z.shape != mean.shape:
            raise ValueError(f"z has shape {tuple(z.shape)} but the sample has shape {tuple(mean.shape)}")
        return mean + nonzero * std * z

    def p_sample(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        parameterization: Parameterization = "eps",
        variance: VarianceType = "fixed_small",
        clip_denoised: bool = True,
        generator: torch.Generator | None = None,
        z: torch.Tensor | None = None,
    ) -> StepOutput:
        """One ancestral step x_{t−1} = μ_θ + σ_t z (Ho et al. 2020, Algorithm 2); no noise at index 0.

        ``z`` [B, C, H, W] gives the noise explicitly (to match another chain); else it is drawn
        with ``generator``.
        """
        t = self.check_t(t, x_t.shape[0])
        out = self.p_mean_variance(model_output, x_t, t, parameterization, variance, clip_denoised)
        sample = self._add_noise(out.mean, out.variance.sqrt(), t, z, generator)
        return StepOutput(sample, out.mean, out.variance, out.pred_x0, out.pred_noise)

    def q_posterior_sample(
        self,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        generator: torch.Generator | None = None,
        z: torch.Tensor | None = None,
    ) -> StepOutput:
        """One exact reverse step x_{t−1} = μ̃_t + √β̃_t z, z ~ N(0, I), which knows x_0.

        (One tutorial writes ``mean + variance.sqrt()`` and forgets z; this step does not.)
        ``pred_x0`` is x_0 itself and ``pred_noise`` the true ε = (x_t − √ᾱ_t x_0)/√(1 − ᾱ_t).
        """
        t = self.check_t(t, x_t.shape[0])
        post = self.q_posterior_mean_variance(x0, x_t, t)
        sample = self._add_noise(post.mean, post.variance.sqrt(), t, z, generator)
        return StepOutput(sample, post.mean, post.variance, x0, self.predict_noise_from_start(x_t, t, x0))

    def _check_jump(
        self, t: torch.Tensor | int, t_prev: torch.Tensor | int, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(t, t_prev) as LongTensors [B] for a step that jumps from t to an earlier t_prev ≥ −1."""
        t = self.check_t(t, batch)
        t_prev = torch.as_tensor(t_prev, device=self.device).long().expand(t.shape)
        if bool((t_prev >= t).any()) or bool((t_prev < -1).any()):
            raise ValueError(
                f"t_prev must satisfy -1 ≤ t_prev < t, got t_prev={t_prev.tolist()}, t={t.tolist()}"
            )
        return t, t_prev

    def ddim_step(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        t_prev: torch.Tensor | int,
        eta: float = 0.0,
        parameterization: Parameterization = "eps",
        clip_denoised: bool = True,
        generator: torch.Generator | None = None,
        z: torch.Tensor | None = None,
    ) -> StepOutput:
        """One DDIM step from index t to an earlier index t_prev (Song et al. 2021, eq. 12).

        x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z, with
        σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev). ``t_prev = -1`` means x_0 (ᾱ_prev = 1).
        η = 0 is deterministic; η = 1 with consecutive steps is DDPM with σ² = β̃_t. ε̂ is recomputed
        from the (clipped) x̂_0 so that both stay consistent with x_t. DDIM sets its own σ, so a
        learned variance's channels are ignored.
        """
        model_output, _ = self.split_output(model_output, x_t)
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        t, t_prev = self._check_jump(t, t_prev, x_t.shape[0])
        pred_x0, _ = self.predictions(model_output, x_t, t, parameterization, clip_denoised)
        pred_noise = self.predict_noise_from_start(x_t, t, pred_x0)
        a_t = extract(self.alphas_cumprod, t, x_t.shape)
        a_prev = torch.where(t_prev >= 0, self.alphas_cumprod[t_prev.clamp(min=0)], 1.0)
        a_prev = a_prev.reshape(a_t.shape)
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        mean = a_prev.sqrt() * pred_x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * pred_noise
        sample = mean if eta == 0 else self._add_noise(mean, sigma, t_prev + 1, z, generator)
        return StepOutput(sample, mean, sigma**2, pred_x0, pred_noise)

    def dpm_solver_step(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        t_prev: torch.Tensor | int,
        previous: tuple[torch.Tensor, torch.Tensor | int] | None = None,
        parameterization: Parameterization = "eps",
        clip_denoised: bool = True,
    ) -> StepOutput:
        """One step of DPM-Solver++(2M) from index t to an earlier t_prev (Lu et al. 2022, Alg. 2).

        The probability-flow ODE in data prediction, with α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t),
        λ_t = log(α_t / σ_t) and h = λ_prev − λ_t > 0::

            x_prev = (σ_prev / σ_t) x_t + α_prev (1 − e^{−h}) D,

        D = x̂_0(t) for the first-order step (DDIM with η = 0, Euler's method in λ), and the
        multistep second-order D = (1 + 1/(2r)) x̂_0(t) − 1/(2r) x̂_0(s) with r = (λ_t − λ_s) / h,
        when ``previous`` = (x̂_0(s), s) holds the last step's prediction at its index s > t. The
        step into x_0 (``t_prev = -1``, σ = 0) is first order, x_prev = x̂_0(t), like diffusers'
        ``lower_order_final``. Deterministic: ``variance`` is 0. A learned variance is ignored.

        Args:
            model_output: the network's output at (x_t, t); x_t [B, C, H, W].
            previous: (x̂_0 [B, C, H, W], its index) of the step before, or None (first order).
        """
        model_output, _ = self.split_output(model_output, x_t)
        t, t_prev = self._check_jump(t, t_prev, x_t.shape[0])
        pred_x0, _ = self.predictions(model_output, x_t, t, parameterization, clip_denoised)
        pred_noise = self.predict_noise_from_start(x_t, t, pred_x0)
        to_x0 = t_prev < 0
        a_t = extract(self.alphas_cumprod, t, x_t.shape).double()
        a_prev = extract(self.alphas_cumprod, t_prev.clamp(min=0), x_t.shape).double()
        lam_t = 0.5 * (a_t.log() - (1 - a_t).log())
        lam_prev = 0.5 * (a_prev.log() - (1 - a_prev).log())
        h = lam_prev - lam_t
        data = pred_x0.double()
        if previous is not None:
            before, s = previous
            s = self.check_t(s, x_t.shape[0])
            if bool((s <= t).any()):
                raise ValueError(
                    f"the previous step's index must be above t, got {s.tolist()} and {t.tolist()}"
                )
            a_s = extract(self.alphas_cumprod, s, x_t.shape).double()
            r = (lam_t - 0.5 * (a_s.log() - (1 - a_s).log())) / h
            data = (1 + 0.5 / r) * data - (0.5 / r) * before.double()
        ratio = ((1 - a_prev) / (1 - a_t)).sqrt()
        sample = ratio * x_t.double() + a_prev.sqrt() * (-(-h).expm1()) * data
        sample = torch.where(to_x0.reshape(-1, *[1] * (x_t.ndim - 1)), pred_x0.double(), sample)
        sample = sample.to(x_t.dtype)
        return StepOutput(sample, sample, torch.zeros_like(a_t, dtype=x_t.dtype), pred_x0, pred_noise)

    # -- training loss and variational bound --------------------------------------------------------

    def training_losses(
        self,
        model: Model,
        x0: torch.Tensor,
        t: torch.Tensor | int,
        noise: torch.Tensor | None = None,
        parameterization: Parameterization = "eps",
        generator: torch.Generator | None = None,
        variance: VarianceType = "fixed_small",
        vlb_weight: float = 0.001,
        target: torch.Tensor | None = None,
    ) -> LossOutput:
        """The simple loss ‖target − model(x_t, t)‖² per image (Ho et al. 2020, eq. 14).

        The target is ε for ``"eps"`` (eq. 14 itself), x_0 for ``"x0"`` and v for ``"v"``; a
        caller may pass another ``target`` [B, C, H, W] for x_t = q_sample(x0, t, noise) with the
        same minimiser (a teacher's prediction whose mean given x_t is the true target's, for
        example; see :func:`ddpm.distillation.teacher_target`). With
        ``variance="learned_range"`` the loss is the hybrid L_simple + λ L_vlb of Nichol & Dhariwal
        2021 (eq. 16), λ = ``vlb_weight``: L_vlb = T · L_t is the one-sample estimate of the whole
        bound from the sampled t (in bits/dim, as improved-diffusion), and its gradient reaches only
        the variance output (the mean's is stopped, so L_simple alone trains the mean).
        """
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        t = self.check_t(t, x0.shape[0])
        if noise is None:
            noise = randn(x0.shape, generator, x0.device, x0.dtype)
        x_t = self.q_sample(x0, t, noise)
        if target is None:
            target = {"eps": noise, "x0": x0}.get(parameterization)
        if target is None:
            target = self.predict_v(x0, noise, t)
        model_output = model(x_t, t)
        prediction, values = self.split_output(model_output, x_t, variance)
        self._check_same_shape(x0=x0, model_output=prediction)
        mse = mean_flat((target - prediction) ** 2)
        if values is None:
            return LossOutput(mse, x_t, target, model_output, mse)
        frozen = torch.cat([prediction.detach(), values], dim=1)
        vb = self.vb_terms_bpd(frozen, x0, x_t, t, parameterization, variance, clip_denoised=False)
        return LossOutput(mse + vlb_weight * self.num_timesteps * vb, x_t, target, model_output, mse, vb)

    def timestep_distribution(self, sampling: TimestepSampling = "uniform") -> torch.Tensor:
        """Probabilities [T] (float64, summing to 1) of drawing each index t in training.

        ``"uniform"``: 1/T (Algorithm 1). ``"high-noise"``: ½ · 1/T + ½ · (1 − ᾱ_t) / Σ_s (1 − ᾱ_s),
        which moves weight from the nearly clean steps to the noisy ones while keeping every step
        drawn at least half as often as under uniform sampling.
        """
        check_choice("timestep sampling", sampling, TIMESTEP_SAMPLINGS)
        T = self.num_timesteps
        uniform = torch.full((T,), 1.0 / T, dtype=torch.float64)
        if sampling == "uniform":
            return uniform
        noise = 1.0 - self.alphas_cumprod.double().cpu()
        return 0.5 * uniform + 0.5 * noise / noise.sum()

    def min_snr_weight(
        self, t: torch.Tensor | int, gamma: float, parameterization: Parameterization = "eps"
    ) -> torch.Tensor:
        """Min-SNR-γ loss weights [B] for :meth:`training_losses` (Hang et al. 2023).

        Each parameterization's squared error is a multiple of the x_0 error: ‖ε − ε̂‖² =
        SNR_t ‖x_0 − x̂_0‖², ‖v − v̂‖² = (SNR_t + 1) ‖x_0 − x̂_0‖². The weight makes the loss
        min(SNR_t, γ) ‖x_0 − x̂_0‖², so the nearly clean steps (large SNR, small t), whose ε-errors
        are the largest and dominate the gradient of the simple loss, no longer crowd out the noisy
        ones. For ε it is min(SNR_t, γ) / SNR_t: 1 wherever SNR_t ≤ γ.
        """
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        t = self.check_t(t)
        snr = self.snr[t]
        clipped = snr.clamp(max=gamma)
        if parameterization == "eps":
            return clipped / snr
        if parameterization == "v":
            return clipped / (snr + 1)
        return clipped

    def prior_bpd(self, x0: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T | x_0) ‖ N(0, I)) in bits/dim, [B]; no parameters, near 0 for a good schedule."""
        t = torch.full((x0.shape[0],), self.num_timesteps - 1, dtype=torch.long, device=x0.device)
        q = self.q_mean_variance(x0, t)
        kl = normal_kl(q.mean, q.log_variance, torch.zeros_like(q.mean), torch.zeros_like(q.mean))
        return mean_flat(kl) / LN2

    def vb_terms_bpd(
        self,
        model_output: torch.Tensor,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        parameterization: Parameterization = "eps",
        variance: VarianceType = "fixed_small",
        clip_denoised: bool = True,
    ) -> torch.Tensor:
        """One term of the bound (Ho et al. 2020, eq. 5) per image, in bits/dim, [B].

        Index t > 0: L_{t} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)) (paper numbering t+1).
        Index 0: L_0 = −log p_θ(x_0 | x_1), the discretized-Gaussian decoder for 8-bit data.
        """
        t = self.check_t(t, x_t.shape[0])
        q = self.q_posterior_mean_variance(x0, x_t, t)
        p = self.p_mean_variance(model_output, x_t, t, parameterization, variance, clip_denoised)
        kl = mean_flat(normal_kl(q.mean, q.log_variance, p.mean, p.log_variance)) / LN2
        nll = -mean_flat(discretized_gaussian_log_likelihood(x0, p.mean, 0.5 * p.log_variance)) / LN2
        return torch.where(t == 0, nll, kl)


@dataclass
class DiffusionConfig:
    """The forward process a model was trained on, as saved in a checkpoint's ``config.json``
    (what the network predicts is in its UNetConfig); :meth:`build` makes its GaussianDiffusion."""

    schedule: str = "linear"  # β schedule, see ddpm.schedules.SCHEDULES
    timesteps: int = 1000  # T

    def __post_init__(self) -> None:
        check_choice("schedule", self.schedule, SCHEDULES)

    def build(self) -> GaussianDiffusion:
        """The diffusion of this schedule and T, its tables [T] on the CPU."""
        return GaussianDiffusion.from_schedule(self.schedule, self.timesteps)
