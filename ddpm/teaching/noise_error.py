"""Where is noise prediction hard? The ε-model's error over t, whose mean is Algorithm 1's loss."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..choices import Model, Parameterization
from ..diffusion import GaussianDiffusion
from ..images import to_model_range
from ..seeding import generator as seeded_generator
from .common import paper_index


class NoiseError(NamedTuple):
    t: torch.Tensor  # the paper's t where the error was measured [S]
    mse: torch.Tensor  # E ‖ε − ε_θ(x_t, t)‖² / D at each t, averaged over the images [S]
    simple_loss: float  # L_simple = E_t E ‖ε − ε_θ‖² / D with t uniform: the mean of ``mse``

    @property
    def hardest_t(self) -> int:
        """The t of the largest error."""
        return int(self.t[int(self.mse.argmax())])

    @property
    def easiest_t(self) -> int:
        """The t of the smallest error."""
        return int(self.t[int(self.mse.argmin())])


def noise_prediction_error(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    steps: int = 50,
    seed: int = 0,
    parameterization: Parameterization = "eps",
) -> NoiseError:
    """The model's per-pixel squared error of ε̂ over t on real digits x0 [B, C, H, W] (Ho et al.
    2020, Algorithm 1's loss before averaging over t), at ``steps`` evenly spaced t from 1 to T.

    A model that predicts x_0 or v is read through the ε̂ its output implies at x_t (unclipped),
    so every parameterization is judged by the same ε error."""
    T = diffusion.num_timesteps
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in [1, T = {T}], got {steps}")
    times = torch.linspace(1, T, steps).round().long().unique()
    g = seeded_generator(seed)
    mse = []
    for t in times.tolist():
        index = paper_index(t, x0.shape[0], x0.device)
        noise = torch.randn(x0.shape, generator=g).to(x0.device)
        with torch.no_grad():
            x_t = diffusion.q_sample(x0, index, noise)
            output, _ = diffusion.split_output(model(x_t, index), x_t)  # without learned-σ channels
            _, pred = diffusion.predictions(output, x_t, index, parameterization, clip_denoised=False)
        mse.append(float((pred - noise).pow(2).mean()))
    errors = torch.tensor(mse, dtype=torch.float64)
    return NoiseError(times, errors, float(errors.mean()))


def digits_noise_error(
    diffusion: GaussianDiffusion,
    model: Model,
    digits: np.ndarray | torch.Tensor,
    steps: int = 50,
    seed: int = 0,
    parameterization: Parameterization = "eps",
    device: torch.device | str = "cpu",
) -> NoiseError:
    """:func:`noise_prediction_error` on uint8 digits [N, 28, 28] (0 = background), on ``device``."""
    x0 = to_model_range(digits)[:, None].to(device)
    return noise_prediction_error(diffusion, model, x0, steps, seed, parameterization)
