"""ddpm: the maths of denoising diffusion probabilistic models, small enough to read and teach with.

Notation is Ho et al. 2020's: β_t, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s. Timesteps are 0-based
indices (index 0 is the paper's t = 1). See :mod:`ddpm.diffusion` for the glossary.
"""

from .diffusion import (
    PARAMETERIZATIONS,
    VARIANCES,
    GaussianDiffusion,
    LossOutput,
    MeanVariance,
    PMeanVariance,
    StepOutput,
    extract,
)
from .losses import BitsPerDim, calc_bpd_loop, discretized_gaussian_log_likelihood, normal_kl
from .sampling import (
    SampleStep,
    ddim_sample_loop_progressive,
    ddim_timesteps,
    draw_noise,
    final_sample,
    p_sample_loop_progressive,
    posterior_sample_loop_progressive,
)
from .schedules import SCHEDULES, make_betas

__all__ = [
    "PARAMETERIZATIONS",
    "SCHEDULES",
    "VARIANCES",
    "BitsPerDim",
    "GaussianDiffusion",
    "LossOutput",
    "MeanVariance",
    "PMeanVariance",
    "SampleStep",
    "StepOutput",
    "calc_bpd_loop",
    "ddim_sample_loop_progressive",
    "ddim_timesteps",
    "discretized_gaussian_log_likelihood",
    "draw_noise",
    "extract",
    "final_sample",
    "make_betas",
    "normal_kl",
    "p_sample_loop_progressive",
    "posterior_sample_loop_progressive",
]
