"""The 2-D world's lesson (:mod:`ddpm.toy.plane`): a data set with its network, and training one.

The page computes every density, field and path itself (its numbers pinned to :mod:`ddpm.toy` by
a browser test); what it gets from here is the data set, the learned network and how far that
network's field is from the exact one at each t, once per data set.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..toy import mlp, plane

ERROR_TIMES = mlp.ERROR_TIMES
"""The paper's t at which the learned field's error is shown."""
TRAIN_SECONDS = 30.0
"""The longest a training from the page runs (the page's network is then the one it has)."""


class World(NamedTuple):
    """A data set of the 2-D world with its learned field."""

    data: plane.Data2D
    model: mlp.ToyMLP | None  # None: not trained yet (drawn points)
    error: np.ndarray | None  # E‖ε̂_θ − ε̂*‖² at each of ERROR_TIMES (mlp.field_error)


@functools.cache
def preset_world(name: str) -> World:
    """A preset with its shipped network and that network's error over :data:`ERROR_TIMES` (stored
    with the network when it was trained: nothing to compute when the app starts)."""
    return World(plane.preset(name), mlp.shipped(name), mlp.shipped_error(name))


class Training(NamedTuple):
    """A report of :func:`train_world`: the run so far, and the world once it is done."""

    progress: mlp.Progress
    world: World | None  # at the end only


def train_world(points: list[list[float]], seed: int = 0, steps: int = mlp.STEPS,
                max_seconds: float = TRAIN_SECONDS, log_every: int = 200) -> Iterator[Training]:  # fmt: skip
    """Train the 2-D network on drawn points [[x, y], …] (:meth:`~ddpm.toy.plane.Data2D.points`
    checks them), reporting every ``log_every`` steps; the last report carries the trained world."""
    data = plane.Data2D.points(np.asarray(points, dtype=np.float64), "drawn")
    diffusion = plane.world_diffusion()
    for progress in mlp.training(data, diffusion, steps=steps, seed=seed, max_seconds=max_seconds,
                                 log_every=log_every):  # fmt: skip
        world = None
        if progress.done:
            error = mlp.field_error(progress.model, data, diffusion, list(ERROR_TIMES))
            world = World(data, progress.model, error)
        yield Training(progress, world)
