"""The learned field of the 2-D world: a small MLP ε-network, its training and its checkpoints.

ε̂_θ(x_t, t) = MLP([x_t, sin(f t'), cos(f t')]) with t' = t · 1000 / T the 0-based index scaled as
the U-Net scales it and f the sinusoidal frequencies of :func:`ddpm.unet.timestep_embedding`;
Linear → SiLU layers of :attr:`ToyMLPConfig.hidden` units, then Linear → 2. Trained with the DDPM
loss ‖ε − ε̂_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖² (Ho et al. 2020, Algorithm 1) through the core's
:meth:`~ddpm.diffusion.GaussianDiffusion.training_losses`.

The page runs the same forward pass itself (the 2-D lesson's script, from the weights the view
sends); a browser test pins it to :meth:`ToyMLP.forward`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..diffusion import GaussianDiffusion
from ..unet import timestep_embedding
from .plane import Data2D

CHECKPOINTS = Path(__file__).resolve().parent.parent / "assets" / "toy2d"
"""The shipped networks, one per preset: ``<preset>.safetensors`` with its config in the metadata."""


@dataclass(frozen=True)
class ToyMLPConfig:
    hidden: int = 64
    layers: int = 3  # hidden layers (Linear → SiLU each)
    time_dim: int = 16  # sin and cos of time_dim / 2 frequencies

    def __post_init__(self) -> None:
        if not (1 <= self.hidden <= 1024 and 1 <= self.layers <= 8 and self.time_dim in range(2, 129, 2)):
            raise ValueError(f"unusable config {self}: hidden 1…1024, layers 1…8, an even time_dim 2…128")


class ToyMLP(nn.Module):
    """ε̂_θ for points in the plane: forward(x [B, 2] float32, t LongTensor [B], 0-based) -> [B, 2]."""

    def __init__(self, config: ToyMLPConfig = ToyMLPConfig(), timesteps: int = 1000) -> None:
        super().__init__()
        self.config, self.timesteps = config, timesteps
        sizes = [2 + config.time_dim] + [config.hidden] * config.layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(config.hidden, 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.float(), timestep_embedding(t, self.config.time_dim, self.timesteps)], dim=1)
        for layer in self.hidden:
            h = nn.functional.silu(layer(h))
        return self.out(h).to(x.dtype)


class Progress(NamedTuple):
    """Where a training run is, reported every ``log_every`` steps and at its end."""

    step: int  # steps taken
    total: int  # steps asked for
    losses: list[float]  # the mean loss of each interval of ``log_every`` steps so far
    seconds: float  # since the start
    model: ToyMLP  # the network being trained (the same object at every report; eval mode at the end)
    done: bool  # the last report: every step taken, or the time ran out


STEPS, BATCH, LR = 12_000, 512, 3e-3
"""The shipped networks' recipe (the CLI's and the page's defaults)."""


def training(
    data: Data2D,
    diffusion: GaussianDiffusion,
    steps: int = STEPS,
    batch: int = BATCH,
    lr: float = LR,
    seed: int = 0,
    config: ToyMLPConfig = ToyMLPConfig(),
    max_seconds: float | None = None,
    log_every: int = 100,
) -> Iterator[Progress]:
    """Train a :class:`ToyMLP` on ``data`` with the DDPM loss, reporting as it goes.

    Each step draws a fresh batch: x_0 ~ p_data, t uniform over the T steps, ε ~ N(0, I), and takes
    one Adam step at ``lr`` on a cosine decay to 0 over ``steps``. Every draw (weights, x_0, t, ε)
    comes from ``seed``, so a run is reproducible; ``max_seconds`` ends it early (its last report
    says so with ``step < total``).
    """
    if not 1 <= steps <= 1_000_000 or not 1 <= batch <= 65_536 or not 0 < lr < 1:
        raise ValueError(f"steps (1…1e6), batch (1…65536) and lr (0…1) out of range: {steps}, {batch}, {lr}")
    if log_every < 1:
        raise ValueError(f"log_every must be at least 1, got {log_every}")
    g = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))  # nn.Linear's initialisation, without touching the global stream
        model = ToyMLP(config, diffusion.num_timesteps)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    losses: list[float] = []
    running, since, start, T = 0.0, 0, time.perf_counter(), diffusion.num_timesteps
    for step in range(1, steps + 1):
        x0 = torch.from_numpy(data.sample(batch, g)).float()
        t = torch.randint(0, T, (batch,), generator=g)
        noise = torch.randn(batch, 2, generator=g)
        loss = diffusion.training_losses(model, x0, t, noise).loss.mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running, since = running + float(loss.detach()), since + 1
        late = max_seconds is not None and time.perf_counter() - start > max_seconds
        if step % log_every == 0 or step == steps or late:
            losses.append(running / since)
            running, since = 0.0, 0
            done = step == steps or late
            if done:
                model.eval()
            yield Progress(step, steps, list(losses), time.perf_counter() - start, model, done)
            if done:
                return


def train(data: Data2D, diffusion: GaussianDiffusion, **options) -> Progress:
    """:func:`training` run to its end; returns its last report (``.model``, ``.losses``, …)."""
    *_, last = training(data, diffusion, **options)
    return last


def save(model: ToyMLP, path: Path | str, **metadata: str) -> None:
    """The weights as safetensors with the config (and ``metadata``) as JSON strings in its header."""
    meta = {"config": json.dumps(asdict(model.config)), "timesteps": str(model.timesteps), **metadata}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def metadata(path: Path | str) -> dict[str, str]:
    """A network file's metadata (:func:`save`'s strings: config, timesteps, and what its trainer added)."""
    with safe_open(str(path), "pt") as f:
        return f.metadata()


def load(path: Path | str) -> ToyMLP:
    meta = metadata(path)
    model = ToyMLP(ToyMLPConfig(**json.loads(meta["config"])), int(meta["timesteps"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _shipped_path(name: str) -> Path:
    path = CHECKPOINTS / f"{name}.safetensors"
    if not path.is_file():
        raise ValueError(f"no shipped 2-D network for {name!r} (looked for {path.name})")
    return path


def shipped(name: str) -> ToyMLP:
    """The bundled network of a preset (:data:`ddpm.toy.plane.PRESETS`)."""
    return load(_shipped_path(name))


def shipped_error(name: str) -> np.ndarray:
    """The bundled network's :func:`field_error` at :data:`ERROR_TIMES` on its preset, float64
    [len(ERROR_TIMES)], as ``python -m ddpm.train_toy`` measured and stored it (a test recomputes it)."""
    return np.array(json.loads(metadata(_shipped_path(name))["field_error"]), dtype=np.float64)


ERROR_TIMES = tuple(int(t) for t in np.unique(np.geomspace(1, 1000, 40).round()))
"""The paper's t at which a network's :func:`field_error` is reported (log-spaced: it changes most near 0)."""


def field_error(model: ToyMLP, data: Data2D, diffusion: GaussianDiffusion, ts: list[int], n: int = 512,
                seed: int = 0) -> np.ndarray:  # fmt: skip
    """E_{x_t ~ q_t} ‖ε̂_θ(x_t, t) − ε̂*(x_t, t)‖² at each paper t in ``ts`` (Monte Carlo with n
    draws of x_t per t, seeded): how far the learned field is from the exact one where the data are."""
    from .plane import alpha_bar_at, eps

    g = torch.Generator().manual_seed(int(seed))
    out = []
    for t in ts:
        a = alpha_bar_at(diffusion, int(t))
        x0 = data.sample(n, g)
        x = np.sqrt(a) * x0 + np.sqrt(1 - a) * torch.randn(n, 2, generator=g, dtype=torch.float64).numpy()
        with torch.no_grad():
            learned = model(torch.from_numpy(x).float(), torch.full((n,), int(t) - 1)).double().numpy()
        out.append(float(((learned - eps(data, a, x)) ** 2).sum(-1).mean()))
    return np.array(out)
