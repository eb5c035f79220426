"""Judge generated digits and the model's likelihood: ``python -m ddpm.evaluate --help``.

For a sample file (``images``: uint8 [N, 28, 28], as written by ``python -m ddpm.sample``) the
project's digit classifier (:mod:`ddpm.classifier`) gives

- the Fréchet distance between Gaussian fits of its 128 penultimate features on the samples and
  on the 10,000 MNIST test digits (an "FID" in a feature space made for digits);
- the class histogram and the mean confidence (max softmax probability);

and the same figures for N real training digits, the floor a perfect generator would reach with
N samples. A file from ``python -m ddpm.sample --digit ...`` also holds the digits asked for
(``labels``): then the judge's agreement with them, overall and per class, and each class's FD
(against the test digits of that class, beside the floor of as many real digits of the class).
``--bpd`` adds the model's negative variational bound on MNIST test digits in bits/dim, term by term.
"""

from __future__ import annotations

import argparse
import json
from typing import NamedTuple

import numpy as np
import torch

from . import checkpoint, classifier
from .choices import VARIANCES
from .data import load_mnist_tensor, to_model_range
from .inference import prepare_for_inference, resolve_device
from .likelihood import calc_bpd_loop


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

    ``test`` and ``train`` are (float images [M, 1, 28, 28] in [−1, 1], labels [M]); the floor of a
    class uses as many random training digits of it as there are samples.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    feats, probs = classifier.predict(judge, to_model_range(images).reshape(-1, 1, 28, 28))
    test_feats, _ = classifier.predict(judge, test[0])
    reports = []
    for label in sorted(set(labels.tolist())):
        mine = labels == label
        n = int(mine.sum())
        of_class = train[0][train[1] == label]
        real = of_class[torch.randperm(len(of_class), generator=generator)[:n]]
        real_feats, _ = classifier.predict(judge, real)
        reference = test_feats[test[1] == label]
        reports.append(
            ClassReport(
                label,
                n,
                float((probs[mine].argmax(1) == label).float().mean()),
                frechet_distance(feats[mine], reference) if n > 1 else float("nan"),
                frechet_distance(real_feats, reference) if n > 1 else float("nan"),
            )
        )
    return reports


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("samples", nargs="*", help=".npz files with 'images' uint8 [N, 28, 28]")
    p.add_argument(
        "--classifier", default=str(classifier.BUNDLED), help="classifier folder (default: bundled)"
    )
    p.add_argument("--data-root", default=None, help="MNIST root (default: $DDPM_DATA or ./data)")
    p.add_argument("--real", type=int, default=None, help="real training digits for the floor (default: N)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for the choice of real digits and the bound's t, x_t"
    )
    p.add_argument("--bpd", action="store_true", help="also compute bits/dim of --checkpoint on test digits")
    p.add_argument(
        "--checkpoint", default=str(checkpoint.BUNDLED), help="ε-model for --bpd (default: bundled)"
    )
    p.add_argument("--bpd-images", type=int, default=1000, help="test digits for --bpd (the first N)")
    p.add_argument(
        "--bpd-timesteps",
        type=int,
        default=0,
        help="t per batch: first quarter always, rest random (0: all T)",
    )
    p.add_argument(
        "--variance",
        choices=VARIANCES,
        default=None,
        help="σ² of p_θ for --bpd (default: the one the model was trained for; a learned-variance"
        " model can also be read with a fixed one)",
    )
    p.add_argument("--batch-size", type=int, default=500, help="batch size of the --bpd model calls")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if not args.samples and not args.bpd:
        p.error("give sample files and/or --bpd")

    device = resolve_device(args.device)
    judge = classifier.load(args.classifier)
    test_x, test_y = load_mnist_tensor(args.data_root, train=False)
    train_x, train_y = load_mnist_tensor(args.data_root, train=True)
    test_features, _ = classifier.predict(judge, test_x)
    results: dict = {"classifier_test_accuracy": classifier.accuracy(judge, test_x, test_y)}
    print(f"classifier accuracy on MNIST test: {results['classifier_test_accuracy']:.4f}")
    generator = torch.Generator().manual_seed(args.seed)
    for path in args.samples:
        with np.load(path) as data:
            images = torch.from_numpy(data["images"])
            asked = torch.from_numpy(data["labels"]).long() if "labels" in data else None
        if images.dtype != torch.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            p.error(f"{path}: 'images' must be uint8 [N, 28, 28], got {images.dtype} {tuple(images.shape)}")
        n_real = args.real or len(images)
        real = train_x[torch.randperm(len(train_x), generator=generator)[:n_real]]
        ours, floor = report(images, judge, test_features), report(real, judge, test_features)
        print(ours.line(path))
        print(floor.line("real training digits"))
        print(f"{'':<22} FD ratio to the floor: {ours.frechet_distance / floor.frechet_distance:.2f}")
        results[path] = {"samples": ours._asdict(), "real": floor._asdict()}
        if asked is not None:
            classes = conditional_report(
                images, asked, judge, (test_x, test_y), (train_x, train_y), generator
            )
            agreement = sum(c.agreement * c.n for c in classes) / len(asked)
            print(f"{'':<22} the judge reads the digit asked for in {100 * agreement:.1f}%:")
            for c in classes:
                fd, ratio = c.frechet_distance, c.frechet_distance / c.floor
                print(f"{'':<24} {c.label}: n={c.n:<4} agree {100 * c.agreement:5.1f}%  FD={fd:7.3f}"
                      f"  floor {c.floor:7.3f}  ratio {ratio:.2f}")  # fmt: skip
            results[path]["conditional"] = {"agreement": agreement, "classes": [c._asdict() for c in classes]}
    if args.bpd:
        model, diffusion = checkpoint.load(args.checkpoint, device)
        model = prepare_for_inference(model, device)
        x0 = test_x[: args.bpd_images]
        variance = args.variance or model.config.variance
        parts: dict[str, list[torch.Tensor]] = {"total": [], "prior": [], "steps": [], "decoder": []}
        for batch in x0.split(args.batch_size):
            bound = calc_bpd_loop(
                diffusion, model, batch.to(device), num_timesteps=args.bpd_timesteps or None,
                parameterization=model.config.parameterization, variance=variance,
                generator=torch.Generator(device).manual_seed(args.seed),
            )  # fmt: skip
            for name, values in parts.items():
                values.append(getattr(bound, name).cpu())
        split = {name: torch.cat(values).mean().item() for name, values in parts.items()}
        bpd = torch.cat(parts["total"])
        how = (
            "exact over all T"
            if not args.bpd_timesteps
            else f"unbiased stratified estimate from {args.bpd_timesteps} t per batch"
        )
        print(
            f"bits/dim on the first {len(x0)} MNIST test digits: "
            f"{bpd.mean():.3f} ± {bpd.std() / len(bpd) ** 0.5:.3f} ({how}; σ² {variance})"
        )
        print(
            f"  prior L_T {split['prior']:.5f} + steps Σ L_(t−1), t ≥ 2: {split['steps']:.3f}"
            f" + decoder L_0 {split['decoder']:.3f}"
        )
        results["bpd"] = {
            "mean": bpd.mean().item(),
            "sem": (bpd.std() / len(bpd) ** 0.5).item(),
            "images": len(x0),
            "how": how,
            "variance": variance,
            **{name: value for name, value in split.items() if name != "total"},
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
