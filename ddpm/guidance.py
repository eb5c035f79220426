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

**What a user asks for** (:data:`DIGIT_REQUESTS`, the same words in the app, ``python -m ddpm.sample
--digit`` and ``ddpm.inference.generate``):

- ``"prior"`` (the default): labels drawn from the class prior p(y), uniform over the ten digits,
  so the samples come from the marginal p(x) = Σ_y p(y) p_θ(x | y) of the conditional model. The
  draw is stratified (:func:`prior_labels`): every class ⌊n/10⌋ times and the rest distinct classes
  at random, in random order, so n = 10k gives k of each and every sample's label is still uniform.
- ``"all"``: the ten digits in order, in equal numbers (a grid with one row per digit).
- ``"none"``: the null label ∅, the model without the class (what guidance subtracts).
- ``"0"`` … ``"9"``: that digit.

:func:`default_guidance` is the one default weight: w = 0 (the model itself) for ``"prior"`` and
``"none"``, :data:`DEFAULT_GUIDANCE` when the user names the digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

DigitRequest = int | str | Sequence[int] | torch.Tensor | None
"""What a caller may ask for: a word of :data:`DIGIT_REQUESTS` (None is ``"none"``), a digit, or
one digit per sample."""

PRIOR, ALL, NONE = "prior", "all", "none"
DIGIT_REQUESTS: tuple[str, ...] = (PRIOR, ALL, NONE, *(str(d) for d in range(10)))
"""The requests a user can type or pick: see the module docstring."""
DEFAULT_DIGIT = PRIOR
DEFAULT_GUIDANCE = 2.0
"""Classifier-free guidance weight w when the user names the digits (``"all"`` or 0 … 9) and sets
no weight: at w = 2 the judge reads the digit asked for in 100% of 1000 (the model card)."""
MAX_GUIDANCE = 10.0


def default_guidance(digit: DigitRequest) -> float:
    """The guidance weight a request gets when the user sets none: 0 for ``"prior"`` and
    ``"none"`` (the model as it is), :data:`DEFAULT_GUIDANCE` for named digits."""
    if digit is None or (isinstance(digit, str) and digit.strip() in (PRIOR, NONE)):
        return 0.0
    return DEFAULT_GUIDANCE


def check_guidance(guidance: float) -> float:
    """w as a float in [0, :data:`MAX_GUIDANCE`]; ValueError naming the value otherwise (NaN too)."""
    try:
        w = float(guidance)
    except (TypeError, ValueError):
        raise ValueError(f"guidance weight w must be a number, got {guidance!r}") from None
    if not 0.0 <= w <= MAX_GUIDANCE:
        raise ValueError(f"guidance weight w must be between 0 and {MAX_GUIDANCE:g}, got {guidance!r}")
    return w


def prior_labels(
    n: int,
    num_classes: int = 10,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """n labels LongTensor [n] drawn from the uniform class prior, stratified.

    Every class appears ⌊n / num_classes⌋ times; the remaining n mod num_classes labels are
    distinct classes chosen at random; then the order is shuffled. Each position's label is uniform
    over the classes (so each sample is a draw from the marginal), while the counts differ by at
    most one (n = 10k: exactly k of each). Draws with ``generator`` (on its own device).
    """
    if n < 1 or num_classes < 1:
        raise ValueError(f"n and num_classes must be ≥ 1, got n={n}, num_classes={num_classes}")
    where = generator.device if generator is not None else "cpu"
    rounds, rest = divmod(n, num_classes)
    extra = torch.randperm(num_classes, generator=generator, device=where)[:rest]
    labels = torch.cat([torch.arange(num_classes, device=where).repeat(rounds), extra])
    return labels[torch.randperm(n, generator=generator, device=where)].to(device)


def labels_for(
    digit: DigitRequest,
    n: int,
    num_classes: int = 10,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:
    """Class labels LongTensor [n] for a request, or None for the null label.

    ``"all"`` gives the classes in order, in blocks as equal as n allows (n = 100: ten of each);
    ``"prior"`` draws them with ``generator`` (:func:`prior_labels`). ``num_classes`` = 0 is a model
    trained without labels: ``"prior"`` and ``"none"`` then give None (it samples its own
    marginal), and a named digit is refused.

    Raises:
        ValueError: naming the value when a digit is not a whole number in 0 … num_classes − 1,
            ``digit`` is another string, a sequence does not hold n labels, or the model takes
            no labels.
    """
    if isinstance(digit, str):
        digit = digit.strip()
    if digit is None or digit == NONE:
        return None
    if not num_classes:
        if digit == PRIOR:
            return None
        raise ValueError(
            f"this model was trained without class labels: it cannot be asked for digit {digit!r}"
        )
    if isinstance(digit, str):
        if digit == PRIOR:
            return prior_labels(n, num_classes, generator, device)
        if digit == ALL:
            return torch.arange(n, device=device) * num_classes // n
        if not digit.isdigit():
            raise ValueError(
                f"digit must be 0 … {num_classes - 1}, {PRIOR!r}, {ALL!r} or {NONE!r}, got {digit!r}"
            )
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
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale >= 0):
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
