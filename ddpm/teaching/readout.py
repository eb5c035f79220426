"""The classifier read-out: the project's digit classifier reading the model's x̂_0 along a chain.

"Read-out" means this one thing in the package. A chain of S steps is read at about
:data:`READOUT_POINTS` of its t (every step would cost more than it shows) and at its last step.
"""

from __future__ import annotations

import torch

from ..classifier import DigitClassifier, predict

ReadoutPoints = list[tuple[int, torch.Tensor]]
"""A read-out along a chain: (the paper's t, p(class | x̂_0) [10] on the CPU), t descending."""

READOUT_POINTS = 200
"""About how many t of a chain the classifier reads."""


def readout_due(t: int, t_start: int, points: int = READOUT_POINTS) -> bool:
    """Whether a chain from the paper's ``t_start`` is read at its step from the paper's t ≥ 1:
    every ``max(1, t_start // points)``-th t, and always at t = 1 (the step into x_0)."""
    return t % max(1, t_start // points) == 0 or t == 1


def class_probabilities(classifier: DigitClassifier, x: torch.Tensor) -> torch.Tensor:
    """The classifier's p(class | x) for one image x [1, 1, 28, 28] in [−1, 1]: [10] on the CPU."""
    return predict(classifier, x)[1][0]


def reading(p: torch.Tensor) -> tuple[int, float]:
    """The class a read-out ``p`` (p(class | x) [10]) names, and its probability in [0, 1]."""
    top = int(p.argmax())
    return top, float(p[top])


def read_class(classifier: DigitClassifier, x: torch.Tensor) -> int:
    """The class the classifier reads one image x [1, 1, 28, 28] as: what "the digit's class" means
    when a view tells a conditional model the class of a digit that may be an upload or a drawing."""
    return reading(class_probabilities(classifier, x))[0]


def class_label(classifier: DigitClassifier, x: torch.Tensor, known: int | None = None) -> torch.Tensor:
    """The label a class-conditional model is told of the digit x [1, 1, 28, 28]: LongTensor [1] on
    x's device; ``known``, the digit's own label, when it has one, else :func:`read_class`."""
    return torch.tensor([read_class(classifier, x) if known is None else int(known)], device=x.device)
