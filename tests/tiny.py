"""A tiny UNet configuration and checkpoint for fast tests of the model-facing code."""

from __future__ import annotations

from pathlib import Path

import torch

from ddpm import DiffusionConfig, checkpoint
from ddpm.unet import UNet, UNetConfig

TINY = {"channels": (8, 16), "groups": 4, "time_dim": 16, "heads": 2}


def randomised(model: UNet, seed: int = 0) -> UNet:
    """Replace every weight (the zero-initialised ones included) by small random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


def tiny_checkpoint(directory: Path, timesteps: int = 1000, **config) -> Path:
    """Save a randomised tiny ε-model on the linear schedule; returns the folder.

    ``config`` adds UNetConfig fields (``num_classes=10, learn_sigma=True`` for the second kind).
    """
    model = randomised(UNet(UNetConfig(**TINY, timesteps=timesteps, **config)))
    return checkpoint.save(directory, model, DiffusionConfig("linear", timesteps))
