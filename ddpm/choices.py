"""The package's shared vocabulary: named choices, their one validator, and a model's call signature.

Every module that accepts one of these choices validates it with :func:`check_choice`, so a bad
value always raises the same kind of message (the value and the allowed ones), whichever entry
point received it: the library, a command-line flag or the app. A generation's defaults (sampler,
steps, η) are defined here once, and all of those entry points read them.

Nothing here imports the rest of the package: it is the lowest layer, below the schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Parameterization = Literal["eps", "x0", "v"]
PARAMETERIZATIONS: tuple[str, ...] = ("eps", "x0", "v")
"""What a network predicts: the noise ε (Ho et al. 2020), the clean image x_0, or
v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022)."""

VarianceType = Literal["fixed_small", "fixed_large", "learned_range"]
VARIANCES: tuple[str, ...] = ("fixed_small", "fixed_large", "learned_range")
"""σ_t² of p_θ(x_{t−1} | x_t): β̃_t (``fixed_small``) or β_t (``fixed_large``), Ho et al. 2020 §3.2;
or learned between the two by a second network output (``learned_range``, Nichol & Dhariwal 2021)."""

Sampler = Literal["ddpm", "ddim", "dpm-solver"]
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpm-solver")
"""Ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2), DDIM (Song et al. 2021), or
DPM-Solver++(2M) (Lu et al. 2022), a second-order solver of the ODE that DDIM with η = 0 solves to
first order."""

DEFAULT_SAMPLER: Sampler = "dpm-solver"
"""The sampler of a generation that names none, the same in the library
(:func:`ddpm.inference.generate`), ``python -m ddpm.sample``, the app's Generate tab and its
/generate API: DPM-Solver++(2M), at :data:`DEFAULT_STEPS` the sampler with the fewest network
evaluations at the real-data floor (``checkpoints/MODEL_CARD.md``, "FD against network
evaluations")."""

DEFAULT_STEPS = 10
"""S, the network evaluations of DPM-Solver and DDIM when a request gives none (everywhere, as
:data:`DEFAULT_SAMPLER`); ancestral sampling always takes all T steps."""

DEFAULT_ETA = 0.0
"""DDIM's η when a request gives none: deterministic (DPM-Solver takes no η)."""

TimestepSampling = Literal["uniform", "high-noise"]
TIMESTEP_SAMPLINGS: tuple[str, ...] = ("uniform", "high-noise")
"""How training draws t: uniformly (Ho et al. 2020, Algorithm 1), or half uniformly and half in
proportion to the noise variance 1 − ᾱ_t (more weight on the noisy steps, where a deterministic
sampler fixes a digit's shape)."""

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A denoising network: ``model(x_t [B, C, H, W], t LongTensor [B] of 0-based indices) -> [B, C, H, W]``."""


def check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``value`` and the allowed choices unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
