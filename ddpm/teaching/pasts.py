"""One noisy image, many pasts: K learned reverse chains from one x_t, and what they became."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..choices import Model, Parameterization, VarianceType
from ..classifier import DigitClassifier, predict
from ..diffusion import GaussianDiffusion
from ..guidance import Conditioned
from ..sampling import final_sample, p_sample_loop_progressive
from ..seeding import generator
from .common import check_paper_t, seeded_start
from .readout import read_class

MAX_PASTS = 256


def many_pasts(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    k: int,
    seed: int = 0,
    parameterization: Parameterization = "eps",
    variance: VarianceType = "fixed_small",
    label: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """From one x_t = q_sample(x_0, t, ε_seed) ([1, C, H, W]), K learned reverse chains with
    different noise (Ho et al. 2020, Algorithm 2 from t). Returns (x_t [1, C, H, W], their x_0
    [K, C, H, W]). With ``label`` a class-conditional model is told the digit's class in every
    chain, p_θ(x_{t−1} | x_t, y): the pasts then agree on the class from much larger t."""
    t = check_paper_t(diffusion, t, minimum=1)
    if x0.shape[0] != 1:
        raise ValueError(f"many_pasts takes one digit [1, C, H, W], got a batch of {x0.shape[0]}")
    if not 1 <= k <= MAX_PASTS:
        raise ValueError(f"the number of chains K must be in [1, {MAX_PASTS}], got {k}")
    _, x_t = seeded_start(diffusion, x0, t, seed)
    if label is not None:
        model = Conditioned(model, torch.full((k,), int(label), dtype=torch.long, device=x0.device))
    loop = p_sample_loop_progressive(
        diffusion, model, x_t=x_t.expand(k, -1, -1, -1).contiguous(), t_start=t - 1,
        parameterization=parameterization, variance=variance,
        generator=generator(int(seed) + 1),
    )  # fmt: skip
    return x_t, final_sample(loop)


class PastsVerdict(NamedTuple):
    """What the classifier says of K pasts of one digit."""

    probabilities: torch.Tensor  # [K, 10] p(class | past)
    counts: list[int]  # how many pasts were read as each class 0 … 9
    own_class: int  # the class the digit itself is read as
    agreement: float  # the fraction of pasts read as ``own_class``
    distinct: int  # how many different classes the pasts were read as


def judge_pasts(
    classifier: DigitClassifier, x0: torch.Tensor, pasts: torch.Tensor, label: int | None = None
) -> PastsVerdict:
    """Classify the pasts [K, 1, 28, 28] (in [−1, 1]) against the digit's class: its ``label`` when
    it has one (a bundled digit), else the classifier's reading of x0 [1, 1, 28, 28]."""
    _, probabilities = predict(classifier, pasts)
    classes = probabilities.argmax(1)
    own_class = read_class(classifier, x0) if label is None else int(label)
    counts = torch.bincount(classes, minlength=10).tolist()
    return PastsVerdict(
        probabilities,
        counts,
        own_class,
        float((classes == own_class).float().mean()),
        len(set(classes.tolist())),
    )


class PastsLesson(NamedTuple):
    """What the many-pasts lesson shows: one x_t, its K learned pasts and the classifier's verdict."""

    x_t: torch.Tensor  # [1, C, H, W]
    pasts: torch.Tensor  # [K, C, H, W]
    verdict: PastsVerdict
    label: (
        int | None
    )  # the class every chain was told (the digit's label, else the classifier's reading), or None


def pasts_lesson(
    diffusion: GaussianDiffusion,
    model: Model,
    classifier: DigitClassifier,
    x0: torch.Tensor,
    t: int,
    k: int,
    seed: int = 0,
    told_class: bool = False,
    max_k: int = MAX_PASTS,
    known: int | None = None,
) -> PastsLesson:
    """:func:`many_pasts` with the model's own parameterization and variance, judged by the
    classifier against the digit's class: ``known``, its label (a bundled digit), or else the
    classifier's reading of x_0 (an upload or a drawing). With ``told_class`` every chain of a
    class-conditional model is told that class.

    Raises:
        ValueError: naming K unless 1 ≤ K ≤ ``max_k``; as :func:`many_pasts` for t and the model.
    """
    k = int(k)
    if not 1 <= k <= max_k:
        raise ValueError(f"the number of chains K must be between 1 and {max_k}, got {k}")
    own = read_class(classifier, x0) if known is None else int(known)
    label = own if told_class else None
    config = getattr(model, "config", None)
    parameterization = getattr(config, "parameterization", "eps")
    variance = getattr(config, "variance", "fixed_small")
    x_t, pasts = many_pasts(diffusion, model, x0, t, k, seed, parameterization, variance, label)
    return PastsLesson(x_t, pasts, judge_pasts(classifier, x0, pasts, own), label)
