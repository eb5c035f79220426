"""Why not learn the true reverse? Generations of the exact reverse of the training set beside p_θ's.

The reverse step q(x_{t−1} | x_t) is called intractable because it integrates over the data
distribution; for the training set that the network sees it is a finite sum, exact
(:mod:`ddpm.true_reverse`). A network that learned it perfectly would be that sum, and every chain
of it ends on a training digit: it memorises. Side by side, from the same x_T with the same z at
every step, the exact reverse of the training set copies its digits while p_θ draws new ones
(Kadkhodaie et al., ICLR 2024; Kamb & Ganguli 2024): the network generalises because it does
*not* learn the true reverse of its training set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from ..choices import Model, Parameterization, VarianceType
from ..diffusion import StepOutput
from ..images import to_uint8
from ..sampling import SampleStep, chain_loop, draw_noise, split_step
from ..seeding import generator, randn
from ..true_reverse import TrueReverse, choice_uniforms
from .reverse import Novelty, novelties

SUBSETS = (10, 100, 1_000, 60_000)
"""The lesson's sizes of the training set: its first n digits."""
GENERATIONS = 16
"""Generations of each kind."""


class SideBySideStep(NamedTuple):
    """One step of both kinds of generation: ``truth`` the true reverse of the data set's (its
    ``pred_x0`` = E[x_0 | x_t]), ``learned`` p_θ's; ``chosen`` LongTensor [n], the data image each
    true-reverse row drew from."""

    truth: SampleStep
    learned: SampleStep
    chosen: torch.Tensor


def side_by_side(
    reverse: TrueReverse,
    model: Model,
    n: int = GENERATIONS,
    seed: int = 0,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
) -> Iterator[SideBySideStep]:
    """``n`` chains of the true reverse of ``reverse``'s data set and ``n`` of p_θ (``model``), all
    T steps from the same x_T ~ N(0, I) (``seed``) with the same z at every step (seed + 1).

    Both kinds advance in lockstep as one batch [truth; learned], so that a step of the lesson is
    one call of the network and one of ``reverse.log_weights``.

    Yields:
        :class:`SideBySideStep` for the 0-based t = T − 1, …, 0; the last ``x_prev`` are the images.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        raise ValueError(f"n must be a whole number of generations in [1, 64], got {n!r}")
    d = reverse.diffusion
    T, shape = d.num_timesteps, (n, *reverse.shape)
    x_T = randn(shape, generator(int(seed)), d.device)
    z = draw_noise(T, shape, generator(int(seed) + 1), d.device)
    uniforms = choice_uniforms(T, n, seed)
    chosen: list[torch.Tensor] = []

    def step(x: torch.Tensor, t: torch.Tensor, t_prev: int, noise: torch.Tensor | None) -> StepOutput:
        x_r, x_p = x.split(n)
        z_r, t_n = noise.split(n)[0], t[:n]
        truth, picked, _ = reverse.mixture_step(
            reverse.log_weights(x_r, t_n), x_r, t_n, z_r, uniforms[T - 1 - int(t[0])]
        )
        learned = d.p_sample(model(x_p, t_n), x_p, t_n, parameterization, variance, z=z_r)
        chosen[:] = [picked]
        return StepOutput(
            *(torch.cat(torch.broadcast_tensors(a, b)) for a, b in zip(truth, learned, strict=True))
        )

    for record in chain_loop(torch.cat([x_T, x_T]), range(T - 1, -1, -1), step, torch.cat([z, z], dim=1)):
        truth, learned = split_step(record, (n, n))
        yield SideBySideStep(truth, learned, chosen[0])


class Copies(NamedTuple):
    """How each generation of a kind relates to the training set (:class:`~.reverse.Novelty` per
    image) and how many of them are copies (closer to a training digit than any test digit is)."""

    novelty: list[Novelty]

    @property
    def copied(self) -> int:
        return sum(n.copied for n in self.novelty)

    @property
    def distances(self) -> np.ndarray:
        return np.array([n.distance for n in self.novelty])


class Spread(NamedTuple):
    """The smallest, the median and the largest of a set of distances."""

    low: float
    median: float
    high: float


def spread(distances: torch.Tensor | np.ndarray) -> Spread:
    """Min, median and max of ``distances`` [M] (≥ 0): how far held-out digits lie from their
    nearest training digits, the yardstick a generation's distance is read against."""
    low, median, high = np.percentile(np.asarray(distances, dtype=np.float64), [0, 50, 100])
    return Spread(float(low), float(median), float(high))


def pairs_image(images: torch.Tensor, nearest: torch.Tensor, gap: int = 2, grey: int = 96) -> np.ndarray:
    """One picture of ``n`` generations above their nearest training digits: ``images`` [n, 1, 28, 28]
    in [−1, 1] in a row on top, ``nearest`` uint8 [n, 28, 28] (0 = background) in a row below,
    ``gap`` rows of ``grey`` between: uint8 [2·28 + gap, n·28]."""
    pictures = to_uint8(images[:, 0].cpu()).numpy()
    near = np.asarray(nearest, dtype=np.uint8)
    if near.shape != pictures.shape:
        raise ValueError(
            f"nearest must be {tuple(pictures.shape)} uint8 to match the images, got {near.shape}"
        )
    between = np.full((gap, pictures.shape[0] * 28), grey, np.uint8)
    return np.concatenate([np.concatenate(list(pictures), 1), between, np.concatenate(list(near), 1)])


def copies(reverse: TrueReverse, labels: torch.Tensor, images: torch.Tensor, test: torch.Tensor) -> Copies:
    """The nearest image of ``reverse``'s data set (classes ``labels`` [N]) to each of ``images``
    [n, C, H, W], beside the held-out distances ``test`` [M] (see :func:`.reverse.novelties`)."""
    return Copies(novelties(reverse, labels, images, test))
