"""Class labels for a conditional model, and classifier-free guidance (Ho & Salimans 2022).

A class-conditional network (``UNet`` with ``num_classes`` > 0) is called ``model(x_t, t, y)``; the
samplers call ``model(x_t, t)``. The wrappers here close over the labels, so every loop of
:mod:`ddpm.sampling` takes them like any model:

- :class:`Conditioned`: ``model(x_t, t, y)`` with fixed labels y (the null label for "no class").
- :class:`ClassifierFreeGuidance`: ε̃ = (1 + w) ε_θ(x_t, y) − w ε_θ(x_t, ∅), both halves in one
  batched forward pass. ε̃ is affine in the model's output, so the same combination of x̂_0 or v̂
  outputs is the guided x̂_0 or v̂ (at a fixed x_t each is an affine function of ε); a learned
  variance is taken from the conditional half, as in GLIDE (Nichol et al. 2022).

Labels are digits 0 … num_classes − 1; ``num_classes`` itself is the null label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

DigitRequest = int | str | Sequence[int] | torch.Tensor | None
"""What a caller may ask for: None (no class: the null label), a digit, ``"all"`` (every class in
equal numbers), or one digit per sample."""


def labels_for(
    digit: DigitRequest, n: int, num_classes: int = 10, device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """Class labels LongTensor [n] for a request, or None for the null label (unconditional).

    ``"all"`` gives the classes in order, in blocks as equal as n allows (n = 100: ten of each).

    Raises:
        ValueError: naming the value when a digit is not a whole number in 0 … num_classes − 1,
            ``digit`` is another string, or a sequence does not hold n labels.
    """
    if digit is None:
        return None
    if isinstance(digit, str):
        if digit == "all":
            return torch.arange(n, device=device) * num_classes // n
        if not digit.strip().isdigit():
            raise ValueError(f"digit must be 0 … {num_classes - 1}, 'all' or none, got {digit!r}")
        digit = int(digit)
    labels = torch.as_tensor(digit, device=device)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"digit must be a whole number 0 … {num_classes - 1}, got {digit!r}")
    labels = labels.long().expand(n) if labels.ndim == 0 else labels.long()
    if labels.shape != (n,):
        raise ValueError(f"need {n} labels, one per sample, got shape {tuple(labels.shape)}")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if len(bad):
        raise ValueError(f"digit {int(bad[0])} is not a class of this model (0 … {num_classes - 1})")
    return labels


def require_labels(model: torch.nn.Module) -> int:
    """The number of classes of a class-conditional model; ValueError for a model without labels."""
    classes = getattr(getattr(model, "config", None), "num_classes", 0)
    if not classes:
        raise ValueError("this model was trained without class labels: it cannot be asked for a digit")
    return classes


class Conditioned:
    """``model(x_t, t, labels)`` as a two-argument model; ``config`` is the model's.

    ``labels`` LongTensor [B] (digits or the null label), or None for the null label everywhere.
    """

    def __init__(self, model: torch.nn.Module, labels: torch.Tensor | None) -> None:
        require_labels(model)
        self.model, self.labels, self.config = model, labels, model.config

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, self.labels)


class ClassifierFreeGuidance:
    """ε̃(x_t, t) = (1 + w) ε_θ(x_t, t, y) − w ε_θ(x_t, t, ∅), in one forward pass of batch 2B.

    Args:
        model: a class-conditional network ``model(x, t, y)`` with ``config.num_classes`` > 0.
        labels: LongTensor [B] of digits (:func:`labels_for`).
        scale: the guidance weight w ≥ 0; w = 0 is the conditional model itself.
    """

    def __init__(self, model: torch.nn.Module, labels: torch.Tensor, scale: float) -> None:
        classes = require_labels(model)
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
            raise ValueError(f"guidance weight w must be a finite number ≥ 0, got {scale!r}")
        self.model, self.labels, self.scale, self.config = model, labels, float(scale), model.config
        self.null = torch.full_like(labels, classes)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[0], x.shape[1]
        both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.labels, self.null]))
        conditional, unconditional = both.split(batch)
        w = self.scale
        guided = (1 + w) * conditional[:, :channels] - w * unconditional[:, :channels]
        return torch.cat([guided, conditional[:, channels:]], dim=1)
