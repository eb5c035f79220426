"""ddpm: the maths of denoising diffusion probabilistic models, small enough to read and teach with.

Notation is Ho et al. 2020's: β_t, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s. Timesteps are 0-based
indices (index 0 is the paper's t = 1). See :mod:`ddpm.diffusion` for the glossary.

Layers, each importing only those above it: :mod:`~ddpm.choices` (named choices, their validator)
→ :mod:`~ddpm.schedules` → :mod:`~ddpm.losses` → :mod:`~ddpm.diffusion` → :mod:`~ddpm.sampling`,
:mod:`~ddpm.likelihood` and :mod:`~ddpm.distillation` (training targets taught by other networks)
→ :mod:`~ddpm.unet`, :mod:`~ddpm.checkpoint`, :mod:`~ddpm.inference` → :mod:`ddpm.teaching` →
:mod:`ddpm.views`. The command-line tools (``train``, ``train_classifier``, ``sample``, ``evaluate``,
``deploy``, ``bench``) sit on top and nothing imports them; :mod:`ddpm.space` (the app as a
Hugging Face Space) serves ``deploy``.
"""

from .choices import PARAMETERIZATIONS, SAMPLERS, VARIANCES, check_choice
from .diffusion import (
    DiffusionConfig,
    GaussianDiffusion,
    LossOutput,
    MeanVariance,
    PMeanVariance,
    StepOutput,
    extract,
)
from .distillation import regression_target, teacher_target
from .likelihood import BitsPerDim, calc_bpd_loop, calc_bpd_loops
from .losses import discretized_gaussian_log_likelihood, normal_kl
from .sampling import (
    SampleStep,
    chain_loop,
    ddim_sample_loop_progressive,
    ddim_timesteps,
    dpm_solver_sample_loop_progressive,
    dpm_solver_timesteps,
    draw_noise,
    final_sample,
    p_sample_loop_progressive,
    posterior_sample_loop_progressive,
    split_step,
)
from .schedules import SCHEDULES, make_betas

__all__ = [
    "PARAMETERIZATIONS",
    "SAMPLERS",
    "SCHEDULES",
    "VARIANCES",
    "BitsPerDim",
    "DiffusionConfig",
    "GaussianDiffusion",
    "LossOutput",
    "MeanVariance",
    "PMeanVariance",
    "SampleStep",
    "StepOutput",
    "calc_bpd_loop",
    "calc_bpd_loops",
    "chain_loop",
    "check_choice",
    "ddim_sample_loop_progressive",
    "ddim_timesteps",
    "discretized_gaussian_log_likelihood",
    "dpm_solver_sample_loop_progressive",
    "dpm_solver_timesteps",
    "draw_noise",
    "extract",
    "final_sample",
    "make_betas",
    "normal_kl",
    "p_sample_loop_progressive",
    "posterior_sample_loop_progressive",
    "regression_target",
    "split_step",
    "teacher_target",
]
