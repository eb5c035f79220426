"""Reverse-process loops as generators that yield one :class:`SampleStep` per step.

- :func:`p_sample_loop_progressive`: ancestral sampling with the learned p_θ (Ho et al. 2020,
  Algorithm 2), from pure noise or from a given x_t (partial denoising of a real digit).
- :func:`posterior_sample_loop_progressive`: the exact reverse q(x_{t−1} | x_t, x_0), which knows
  x_0 (Ho et al. 2020, eqs. 6–7), sampled with its noise term (one tutorial forgets the ``* z``).
- :func:`ddim_sample_loop_progressive`: DDIM (Song et al. 2021) on a respaced subsequence of steps.
- :func:`dpm_solver_sample_loop_progressive`: DPM-Solver++(2M) (Lu et al. 2022), a second-order
  multistep solver of the same probability-flow ODE that DDIM (η = 0) solves to first order.
- :func:`chain_loop`: the one loop driver under all three, for chains with a step rule of their own
  (two chains in lockstep on one batched network call, for example).

**Matched noise.** Every loop draws exactly one noise tensor z of the sample's shape per step that
adds noise (none for the step into x_0) and nothing else once x_t is given. So two loops started
from the same x_t with generators seeded alike use the same z at every step; or pass the same
pre-drawn ``noise`` (see :func:`draw_noise`) to both.

Timesteps are 0-based indices (index 0 is the paper's t = 1); see :mod:`ddpm.diffusion`.
Gradients are switched off per step, not across ``yield``, so a paused loop does not leak its
grad mode into the caller.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import torch

from .choices import Model, Parameterization, VarianceType
from .diffusion import GaussianDiffusion, StepOutput
from .seeding import randn

NoiseSequence = torch.Tensor | Sequence[torch.Tensor]


class SampleStep(NamedTuple):
    """One step of a reverse chain. Tensors are [B, C, H, W] (``variance`` broadcastable).

    Attributes:
        index: 0-based number of this step in the loop; ``num_steps`` steps in all.
        t: 0-based timestep of ``x_t`` (the paper's t + 1); the step maps it to ``t_prev``.
        t_prev: timestep of ``x_prev``; −1 means the clean image x_0.
        x_t: the input of the step.
        x_prev: its output, x_{t−1} in paper numbering (x_0 after the last step).
        pred_x0: the model's x̂_0 (the true x_0 in the posterior loop).
        pred_noise: the model's ε̂ (the true ε of x_t in the posterior loop).
        mean, variance: of the Gaussian x_prev was drawn from.
    """

    index: int
    num_steps: int
    t: int
    t_prev: int
    x_t: torch.Tensor
    x_prev: torch.Tensor
    pred_x0: torch.Tensor
    pred_noise: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor


def draw_noise(
    num_steps: int,
    shape: Sequence[int],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Pre-draw the per-step noise of a loop: [num_steps, *shape] standard normal."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be ≥ 1, got {num_steps}")
    return randn((num_steps, *shape), generator, device, dtype)


def _check_noise(noise: NoiseSequence | None, num_steps: int, shape: torch.Size) -> None:
    if noise is None:
        return
    if len(noise) < num_steps:
        raise ValueError(f"noise has {len(noise)} steps but the loop takes {num_steps}")
    if tuple(noise[0].shape) != tuple(shape):
        raise ValueError(f"noise steps have shape {tuple(noise[0].shape)}, the sample has {tuple(shape)}")


def _start(
    diffusion: GaussianDiffusion,
    shape: Sequence[int] | None,
    x_t: torch.Tensor | None,
    t_start: int | None,
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> tuple[torch.Tensor, int]:
    """The chain's first x_t and its index: given, or x_T ~ N(0, I) at index T − 1."""
    T = diffusion.num_timesteps
    if x_t is None:
        if shape is None:
            raise ValueError("give either shape (to start from pure noise) or x_t")
        if t_start not in (None, T - 1):
            raise ValueError(f"starting from pure noise means t_start = {T - 1}; got {t_start} without x_t")
        device = device if device is not None else diffusion.device
        return randn(tuple(shape), generator, device), T - 1
    if shape is not None and tuple(shape) != tuple(x_t.shape):
        raise ValueError(f"shape {tuple(shape)} does not match x_t's shape {tuple(x_t.shape)}")
    if x_t.ndim < 2:
        raise ValueError(f"x_t must be a batch [B, C, H, W], got shape {tuple(x_t.shape)}")
    t_start = T - 1 if t_start is None else t_start
    diffusion.check_t(t_start)
    return x_t, int(t_start)


StepFn = Callable[[torch.Tensor, torch.Tensor, int, "torch.Tensor | None"], StepOutput]
"""``step(x_t [B, ...], t LongTensor [B], t_prev, z [B, ...] or None) -> StepOutput`` of one reverse step."""


def chain_loop(
    x: torch.Tensor, timesteps: Sequence[int], step: StepFn, noise: NoiseSequence | None = None
) -> Iterator[SampleStep]:
    """Run a reverse chain from ``x`` along ``timesteps`` (0-based, descending), one record per step.

    The one loop driver: at step k it calls ``step(x, t, t_prev, z)`` with t = timesteps[k] as a
    LongTensor [B], t_prev the next index (−1 after the last: the step into x_0) and z =
    ``noise[k]`` (or None), with gradients off, and feeds the output's ``sample`` to the next step.
    The loops below are this driver with a step rule each; a caller with a rule of its own (say
    two chains side by side in one batch, see :func:`split_step`) uses it the same way.

    Yields:
        :class:`SampleStep` per step; the last ``x_prev`` is the chain's x_0.
    """
    timesteps = [int(t) for t in timesteps]
    _check_noise(noise, len(timesteps), x.shape)
    for index, t in enumerate(timesteps):
        t_prev = timesteps[index + 1] if index + 1 < len(timesteps) else -1
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        z = None if noise is None else noise[index]
        with torch.no_grad():
            out = step(x, t_batch, t_prev, z)
        yield SampleStep(
            index,
            len(timesteps),
            t,
            t_prev,
            x,
            out.sample,
            out.pred_x0,
            out.pred_noise,
            out.mean,
            out.variance,
        )
        x = out.sample


def p_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    model: Model,
    shape: Sequence[int] | None = None,
    *,
    x_t: torch.Tensor | None = None,
    t_start: int | None = None,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
    clip_denoised: bool = True,
    generator: torch.Generator | None = None,
    noise: NoiseSequence | None = None,
    device: torch.device | str | None = None,
) -> Iterator[SampleStep]:
    """Ancestral sampling with p_θ, t_start + 1 steps down to x_0 (Ho et al. 2020, Algorithm 2).

    Args:
        model: called as ``model(x_t, t)`` with t a LongTensor [B]; returns [B, C, H, W].
        shape: [B, C, H, W] to start from x_T ~ N(0, I) (drawn with ``generator``).
        x_t, t_start: or start from this x_t, taken to be at index ``t_start`` (default T − 1),
            e.g. ``diffusion.q_sample(x0, t_start)`` for partial denoising of a real digit.
        noise: optional pre-drawn z, indexable by step (``noise[k]`` for step k).

    Yields:
        :class:`SampleStep` for t = t_start, …, 0; the last ``x_prev`` is the sample x_0.
    """
    x, t_start = _start(diffusion, shape, x_t, t_start, generator, device)

    def step(x: torch.Tensor, t: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        return diffusion.p_sample(model(x, t), x, t, parameterization, variance, clip_denoised, generator, z)

    yield from chain_loop(x, range(t_start, -1, -1), step, noise)


def posterior_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: int | None = None,
    *,
    generator: torch.Generator | None = None,
    noise: NoiseSequence | None = None,
) -> Iterator[SampleStep]:
    """The exact reverse chain x_{s−1} ~ q(x_{s−1} | x_s, x_0) from x_t down to x_0.

    Each step is x_{s−1} = μ̃_s + √β̃_s · z (the tutorial chapter on the reverse process samples
    ``mean + variance.sqrt()`` and forgets z): since it knows x_0, every x_s of the chain is
    distributed as q(x_s | x_0), and the last step returns x_0 exactly.

    Args:
        x0: [B, C, H, W] the clean images; x_t: [B, C, H, W] at index ``t`` (default T − 1).
        generator / noise: as in :func:`p_sample_loop_progressive` (same draws, so matched).

    Yields:
        :class:`SampleStep` for s = t, …, 0 with ``pred_x0`` = x_0 and ``pred_noise`` the true ε.
    """
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 has shape {tuple(x0.shape)} but x_t has shape {tuple(x_t.shape)}")
    x, t_start = _start(diffusion, None, x_t, t, generator, None)

    def step(x: torch.Tensor, s: torch.Tensor, s_prev: int, z: torch.Tensor | None) -> StepOutput:
        return diffusion.q_posterior_sample(x0, x, s, generator, z)

    yield from chain_loop(x, range(t_start, -1, -1), step, noise)


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    """``steps`` indices evenly spaced from ``t_start`` down to 0 (both included), descending."""
    if not 1 <= steps <= t_start + 1:
        raise ValueError(f"steps must be in [1, {t_start + 1}], got {steps}")
    if steps == 1:
        return [t_start]
    spaced = torch.linspace(t_start, 0, steps, dtype=torch.float64).round().long()
    return spaced.tolist()


def ddim_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    model: Model,
    shape: Sequence[int] | None = None,
    *,
    steps: int = 50,
    eta: float = 0.0,
    x_t: torch.Tensor | None = None,
    t_start: int | None = None,
    parameterization: Parameterization = "eps",
    clip_denoised: bool = True,
    generator: torch.Generator | None = None,
    noise: NoiseSequence | None = None,
    device: torch.device | str | None = None,
) -> Iterator[SampleStep]:
    """DDIM sampling (Song et al. 2021) on ``steps`` evenly spaced timesteps, then into x_0.

    η = 0 is deterministic (the same x_T always gives the same image); η = 1 is as noisy as DDPM.
    The timesteps include t_start (T − 1, the paper's T, from pure noise) and 0. Arguments as in
    :func:`p_sample_loop_progressive` (a learned variance's channels are ignored: DDIM sets σ).

    Yields:
        :class:`SampleStep` per step; ``t_prev`` is the next index of the subsequence (−1 last).
    """
    x, t_start = _start(diffusion, shape, x_t, t_start, generator, device)

    def step(x: torch.Tensor, t: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        return diffusion.ddim_step(
            model(x, t), x, t, t_prev, eta, parameterization, clip_denoised, generator, z
        )

    yield from chain_loop(x, ddim_timesteps(t_start, steps), step, noise)


def dpm_solver_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    model: Model,
    shape: Sequence[int] | None = None,
    *,
    steps: int = 20,
    x_t: torch.Tensor | None = None,
    t_start: int | None = None,
    parameterization: Parameterization = "eps",
    clip_denoised: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Iterator[SampleStep]:
    """DPM-Solver++(2M) (Lu et al. 2022) with ``steps`` network evaluations: second order from the
    second step on (the previous step's x̂_0 is kept), first order into x_0. See
    :meth:`GaussianDiffusion.dpm_solver_step`; the timesteps are :func:`dpm_solver_timesteps`.
    Deterministic: the only random draw is x_T (with ``generator``) when starting from noise.
    Arguments as in :func:`ddim_sample_loop_progressive`.

    Yields:
        :class:`SampleStep` per step (``variance`` 0); the last ``x_prev`` is the sample x_0.
    """
    x, t_start = _start(diffusion, shape, x_t, t_start, generator, device)
    previous: list[tuple[torch.Tensor, torch.Tensor]] = []  # (x̂_0, t) of the last step

    def step(x: torch.Tensor, t: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        out = diffusion.dpm_solver_step(
            model(x, t), x, t, t_prev, previous[-1] if previous else None, parameterization, clip_denoised
        )
        previous[:] = [(out.pred_x0, t)]
        return out

    yield from chain_loop(x, dpm_solver_timesteps(t_start, steps), step)


def dpm_solver_timesteps(t_start: int, steps: int) -> list[int]:
    """``steps`` indices evenly spaced from ``t_start`` down to, not including, 0 (descending).

    The last evaluation sits about ``t_start / steps`` above 0 and the step from it lands on x_0
    (σ = 0): an evaluation at index 0 (σ_1 = √β_1 = 0.01, where x̂_0 ≈ x_t) would be spent on
    nothing. From t_start = T − 1 these are diffusers' ``linspace`` timesteps for its DPM-Solver.
    """
    if not 1 <= steps <= t_start:
        raise ValueError(f"steps must be in [1, {t_start}], got {steps}")
    spaced = torch.linspace(t_start, 0, steps + 1, dtype=torch.float64).round().long()
    return spaced[:-1].tolist()


def split_step(step: SampleStep, sizes: Sequence[int]) -> tuple[SampleStep, ...]:
    """Cut the record of a chain run on concatenated batches into one record per batch.

    ``sizes`` are the batch sizes in order (they sum to B). Used by chains that advance several
    rows in lockstep, one network call per step (:func:`chain_loop`).
    """
    parts = [tensor.split(list(sizes)) for tensor in step[4:]]
    return tuple(SampleStep(*step[:4], *fields) for fields in zip(*parts, strict=True))


def final_sample(steps: Iterator[SampleStep]) -> torch.Tensor:
    """Run a progressive loop to the end and return its last ``x_prev`` (the sample x_0)."""
    tail = deque(steps, maxlen=1)
    if not tail:
        raise ValueError("the loop yielded no step")
    return tail[0].x_prev
