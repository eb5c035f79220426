"""How good generated digits are, and how good a denoiser is: the figures of ``python -m ddpm.evaluate``.

- :func:`frechet_distance` between Gaussian fits of two feature sets (an "FID" in the judging
  classifier's feature space, :mod:`ddpm.classifier`);
- :func:`report` (class histogram, mean confidence, FD to the test digits) and, for digits generated
  for labels, :func:`conditional_report` (per class: the judge's agreement, FD beside a floor of
  real digits);
- the class-balanced floor's real digits (:func:`balanced_real`, :func:`class_counts`);
- :func:`x0_errors`: each model's x̂_0 error at one shared draw of (t, ε) per image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import classifier
from .data import to_model_range
from .diffusion import GaussianDiffusion


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a^½ Σ_b Σ_a^½)^½) between Gaussian fits of a [N, D], b [M, D].

    Computed in float64 through symmetric eigendecompositions, so it needs no scipy and stays
    real: Tr((Σ_a^½ Σ_b Σ_a^½)^½) is the sum of the square roots of that PSD matrix's eigenvalues.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"need two feature sets [N, D] with N ≥ 2, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    eigval, eigvec = torch.linalg.eigh(cov_a)
    sqrt_a = eigvec @ torch.diag(eigval.clamp(min=0).sqrt()) @ eigvec.T
    middle = sqrt_a @ cov_b @ sqrt_a
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * tr_sqrt)


class SampleReport(NamedTuple):
    """What the classifier says of a set of digits."""

    n: int
    frechet_distance: float  # to the MNIST test set, in the classifier's feature space
    class_fractions: list[float]  # fraction of digits classified as 0 … 9
    mean_confidence: float  # mean of the max softmax probability

    def line(self, name: str) -> str:
        hist = " ".join(f"{100 * f:4.1f}" for f in self.class_fractions)
        fd, conf = self.frechet_distance, self.mean_confidence
        return f"{name:<22} n={self.n:<5} FD={fd:7.3f}  conf={conf:.3f}  %: {hist}"


def report(
    images: torch.Tensor, judge: classifier.DigitClassifier, reference_features: torch.Tensor
) -> SampleReport:
    """Score digits: uint8 [N, 28, 28] (0 = background) or float [N, 1, 28, 28] in [−1, 1]."""
    if images.dtype == torch.uint8:
        images = to_model_range(images).reshape(-1, 1, 28, 28)
    feats, probs = classifier.predict(judge, images)
    fractions = torch.bincount(probs.argmax(1), minlength=10).double() / len(probs)
    return SampleReport(
        len(images),
        frechet_distance(feats, reference_features),
        fractions.tolist(),
        probs.max(1).values.mean().item(),
    )


class ClassReport(NamedTuple):
    """Samples asked to be one digit class, judged."""

    label: int
    n: int
    agreement: float  # fraction the judge reads as ``label``
    frechet_distance: float  # to the MNIST test digits of the class
    floor: float  # the same for n real training digits of the class


def conditional_report(
    images: torch.Tensor,
    labels: torch.Tensor,
    judge: classifier.DigitClassifier,
    test: tuple[torch.Tensor, torch.Tensor],
    train: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator | None = None,
) -> list[ClassReport]:
    """Per-class agreement and FD of digits uint8 [N, 28, 28] generated for ``labels`` [N].

    ``test`` is (the judge's features [M, 128] of the test digits, their labels [M]): the reference
    of each class, computed once by the caller for every sample file. ``train`` is (float images
    [M', 1, 28, 28] in [−1, 1], labels [M']); the floor of a class uses as many random training
    digits of it as there are samples.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    feats, probs = classifier.predict(judge, to_model_range(images).reshape(-1, 1, 28, 28))
    test_feats, test_labels = test
    reports = []
    for label in sorted(set(labels.tolist())):
        mine = labels == label
        n = int(mine.sum())
        of_class = train[0][train[1] == label]
        real = of_class[torch.randperm(len(of_class), generator=generator)[:n]]
        real_feats, _ = classifier.predict(judge, real)
        reference = test_feats[test_labels == label]
        reports.append(
            ClassReport(
                label,
                n,
                classifier.agreement(probs[mine], label),
                frechet_distance(feats[mine], reference) if n > 1 else float("nan"),
                frechet_distance(real_feats, reference) if n > 1 else float("nan"),
            )
        )
    return reports


def balanced_real(
    train: tuple[torch.Tensor, torch.Tensor],
    counts: list[int],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Real digits with ``counts[c]`` random training digits of each class c, in class order.

    ``train`` is (images [M, ...], labels [M]); the class-balanced floor of a sample set.
    """
    images, labels = train
    chosen = []
    for label, count in enumerate(counts):
        of_class = images[labels == label]
        if count > len(of_class):
            raise ValueError(f"asked for {count} real digits of class {label}, only {len(of_class)} exist")
        chosen.append(of_class[torch.randperm(len(of_class), generator=generator)[:count]])
    return torch.cat(chosen)


def class_counts(n: int, labels: torch.Tensor | None, num_classes: int = 10) -> list[int]:
    """How many digits of each class the class-balanced floor takes for n samples: the labels'
    counts, or as equal as n allows (the first n mod 10 classes one more) without labels."""
    if labels is not None:
        return torch.bincount(labels, minlength=num_classes).tolist()
    return [n // num_classes + (c < n % num_classes) for c in range(num_classes)]


X0_ERROR_BANDS = (0, 100, 200, 350, 500, 800, 1000)
"""Bands of the 0-based t for :func:`x0_errors` (the last edge is T for T = 1000)."""


@torch.no_grad()
def x0_errors(
    models: list[torch.nn.Module],
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image squared x̂_0 error [M, N] of M models at one shared draw of (t, ε) per image.

    x0: [N, C, H, W] in [−1, 1]; t uniform over the T indices, ε standard normal, both drawn with
    ``generator``; each model's output is read with its own parameterization (x̂_0 clipped to
    [−1, 1], as the samplers do). ``labels`` [N] are given to class-conditional models (None: the
    null label). Returns (errors [M, N], t [N]).
    """
    n = len(x0)
    t = torch.randint(0, diffusion.num_timesteps, (n,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    x_t = diffusion.q_sample(x0, t, noise)
    errors = torch.zeros(len(models), n)
    for m, model in enumerate(models):
        takes_labels = getattr(model.config, "num_classes", 0) and labels is not None
        for start in range(0, n, batch_size):
            part = slice(start, start + batch_size)
            args = (x_t[part], t[part]) + ((labels[part],) if takes_labels else ())
            output, _ = diffusion.split_output(model(*args), x_t[part])
            pred_x0, _ = diffusion.predictions(output, x_t[part], t[part], model.config.parameterization)
            errors[m, part] = (pred_x0 - x0[part]).pow(2).flatten(1).mean(1)
    return errors, t
