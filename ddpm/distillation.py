"""Regression targets taught by other networks: what a student is trained toward, row by row.

The simple loss ‖target − model(x_t, t)‖² (Ho et al. 2020, eq. 14) is minimised by E[target | x_t]
(and, for a class-conditional model, by E[target | x_t, y]). The true target of a training pair,
ε, x_0 or v of the (x_0, ε) that made x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4), is one noisy draw of
that mean. Any other target with the same mean given x_t has the same minimiser; a teacher's
prediction of it has far less variance, so the student's gradients are far less noisy.
:func:`teacher_target` builds such a batch of targets; ``python -m ddpm.train --null-teacher`` and
``--low-noise-teacher`` train with it (``checkpoints/MODEL_CARD.md`` tells why and how well).

Shapes: images [B, C, H, W] (data x_0 in [−1, 1]), t a 0-based LongTensor [B] (index 0 is the
paper's t = 1), labels LongTensor [B]. Nothing here draws random numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .choices import PARAMETERIZATIONS, Model, Parameterization, check_choice
from .diffusion import GaussianDiffusion

LabelledModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""A class-conditional network: ``model(x_t [B, C, H, W], t [B], y LongTensor [B]) -> [B, C', H, W]``."""


def regression_target(
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    parameterization: Parameterization = "eps",
) -> torch.Tensor:
    """The target [B, C, H, W] a ``parameterization`` model regresses on, for the pair (x_0, ε).

    ε for ``"eps"`` (Ho et al. 2020, eq. 14), x_0 for ``"x0"``, and v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 for
    ``"v"`` (Salimans & Ho 2022). Given an estimate (x̂_0, ε̂) instead, it is that estimate read in
    this parameterization. Always a new tensor (never ``x0`` or ``noise`` itself), same dtype.
    """
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    if parameterization == "eps":
        return noise.clone()
    if parameterization == "x0":
        return x0.clone()
    return diffusion.predict_v(x0, noise, t)


@torch.no_grad()
def teacher_target(
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    parameterization: Parameterization = "eps",
    *,
    low_teacher: Model | None = None,
    low_parameterization: Parameterization = "eps",
    low_below: int = 0,
    null_teacher: LabelledModel | None = None,
    labels: torch.Tensor | None = None,
    true_labels: torch.Tensor | None = None,
    null_label: int | None = None,
) -> torch.Tensor:
    """The regression target [B, C, H, W] of a training batch, some rows taken from teachers.

    With x_t = q_sample(x0, t, noise) = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. 2020, eq. 4), row i's
    target is, in this order of precedence:

    1. ``low_teacher`` rows, t_i < ``low_below``: the teacher's output o at (x_t, t) (its first C
       channels: a learned-variance network's variance channels are dropped), read as
       (x̂_0, ε̂) in ``low_parameterization`` without clipping, and written in ``parameterization``:
       ε̂, x̂_0 or √ᾱ_t ε̂ − √(1 − ᾱ_t) x̂_0 (:func:`regression_target`). At low noise x_t all but
       fixes the digit, so the label adds nothing and one unconditional network teaches every row.
    2. ``null_teacher`` rows, ``labels``_i = ``null_label`` (the dropped label of classifier-free
       guidance, Ho & Salimans 2022) and not taught by 1: the conditional teacher's output at
       (x_t, t, ``true_labels``_i), which must already be in ``parameterization``. The null label
       must learn E[target | x_t] = Σ_y p(y | x_t) E[target | x_t, y]; the pair's own label is a
       draw from p(y | x_t), so this target has that mean without the spread of x_0 within a class.
    3. every other row: the plain target, ε, x_0 or v of (x0, noise) (:func:`regression_target`).

    Args:
        x0: data [B, C, H, W] in [−1, 1]; ``noise``: ε [B, C, H, W]; ``t``: LongTensor [B].
        parameterization: what the student predicts (``"eps"``, ``"x0"`` or ``"v"``).
        low_teacher: ``model(x_t, t) -> [b, C or 2C, H, W]``, called on the low-noise rows only.
        low_parameterization: what ``low_teacher`` predicts.
        low_below: the 0-based index below which ``low_teacher`` teaches.
        null_teacher: ``model(x_t, t, y) -> [b, C or 2C, H, W]``, called on the null rows only.
        labels: the batch's labels [B] as the student sees them (``null_label`` where dropped);
            None (an unconditional student): ``null_teacher`` teaches nothing.
        true_labels: the pairs' own labels [B], given to ``null_teacher``.
        null_label: the label value that means "no label" (the number of classes).

    Returns:
        float tensor [B, C, H, W] of the data's dtype (teachers' outputs are cast to it), with no
        gradient; ``x0`` and ``noise`` are left unchanged.
    """
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    channels = x0.shape[1]
    target = regression_target(diffusion, x0, noise, t, parameterization)
    x_t = diffusion.q_sample(x0, t, noise)
    low = t < low_below if low_teacher is not None else torch.zeros_like(t, dtype=torch.bool)
    if low.any():
        output = low_teacher(x_t[low], t[low]).float()[:, :channels]
        pred_x0, pred_noise = diffusion.predictions(
            output, x_t[low], t[low], low_parameterization, clip_denoised=False
        )
        converted = regression_target(diffusion, pred_x0, pred_noise, t[low], parameterization)
        target[low] = converted.to(target.dtype)
    if null_teacher is not None and labels is not None:
        if null_label is None or true_labels is None:
            raise ValueError("a null teacher needs null_label and the pairs' true_labels")
        dropped = (labels == null_label) & ~low
        if dropped.any():
            guess = null_teacher(x_t[dropped], t[dropped], true_labels[dropped]).float()[:, :channels]
            target[dropped] = guess.to(target.dtype)
    return target
