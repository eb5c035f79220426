"""Judge generated digits and the model's likelihood: ``python -m ddpm.evaluate --help``.

For a sample file (``images``: uint8 [N, 28, 28], as written by ``python -m ddpm.sample``) the
project's digit classifier (:mod:`ddpm.classifier`) gives

- the Fréchet distance between Gaussian fits of its 128 penultimate features on the samples and
  on the 10,000 MNIST test digits (an "FID" in a feature space made for digits);
- the class histogram and the mean confidence (max softmax probability);

and the same figures for N real training digits, the floor a perfect generator would reach with
N samples, twice: N digits drawn at random (the random-draw floor) and N digits with the sample's
own class counts (the class-balanced floor: ten equal classes for a file without labels). A file
from ``python -m ddpm.sample`` records the ``--digit`` request it was made with (``prior``, ``all``,
``none`` or a digit) and, with labels, the digits asked for or drawn (``labels``): then the judge's
agreement with them, overall and per class, and each class's FD (against the test digits of that
class, beside the floor of as many real digits of the class).
``--bpd`` adds the model's negative variational bound on MNIST test digits in bits/dim, term by term.
``--x0-error`` compares denoisers where their samples cannot: each model's x̂_0 error on the same
test digits, t and noise, by band of t, beside the first model's (paired, so small gaps show).
The figures are :mod:`ddpm.metrics`'; this module reads the files, prints and writes them.
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import NamedTuple

import numpy as np
import torch

from . import checkpoint, classifier
from .choices import VARIANCES
from .data import MNISTSplit, load_mnist_tensor
from .inference import prepare_for_inference, resolve_device
from .likelihood import calc_bpd_loop
from .metrics import X0_ERROR_BANDS, balanced_real, class_counts, conditional_report, report, x0_errors
from .seeding import generator as seeded_generator


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
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
        "--checkpoint",
        default="default",
        help="model for --bpd, read without a label (the null label of a conditional model): a folder,"
        " or a shipped one by name: default, eps",
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
    p.add_argument(
        "--x0-error", nargs="+", default=None, metavar="CHECKPOINT",
        help="compare these models' x̂_0 error on the same test digits, t and ε, by band of t, each"
        " beside the first (null label; --x0-labels gives the digits' own labels)",
    )  # fmt: skip
    p.add_argument("--x0-images", type=int, default=10_000, help="test digits (and draws) for --x0-error")
    p.add_argument("--x0-labels", action="store_true", help="tell conditional models the test digits' labels")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's arguments; exits naming the problem when there is nothing to evaluate."""
    p = parser()
    args = p.parse_args(argv)
    if not args.samples and not args.bpd and not args.x0_error:
        p.error("give sample files, --bpd and/or --x0-error")
    return args


class Reference(NamedTuple):
    """What every sample file is judged against, read once: the judge, its features of the MNIST
    test digits, and the training digits the floors are drawn from."""

    judge: classifier.DigitClassifier
    test_features: torch.Tensor  # float [10000, 128]
    test_labels: torch.Tensor  # int64 [10000]
    accuracy: float  # the judge's on the test digits, in [0, 1]
    train: MNISTSplit  # float32 [60000, 1, 28, 28] in [−1, 1], int64 labels [60000]


def load_reference(classifier_path: str, data_root: str | None, test: MNISTSplit) -> Reference:
    """Load the judge and the training digits, and read the ``test`` digits (float [N, 1, 28, 28]
    in [−1, 1]) with the judge."""
    judge = classifier.load(classifier_path)
    train = load_mnist_tensor(data_root, train=True)
    test_features, test_probs = classifier.predict(judge, test.images)
    return Reference(judge, test_features, test.labels, classifier.agreement(test_probs, test.labels), train)


class SampleFile(NamedTuple):
    """A file of ``python -m ddpm.sample``."""

    images: torch.Tensor  # uint8 [N, 28, 28], 0 = background
    labels: torch.Tensor | None  # int64 [N]: the digits asked for or drawn from the prior
    request: str  # its --digit; "labels" (labels but no request) or "?" when unrecorded


def read_samples(path: str) -> SampleFile:
    """Read a sample ``.npz``; ValueError naming the file unless its images are uint8 [N, 28, 28]."""
    with np.load(path) as data:
        images = torch.from_numpy(data["images"])
        labels = torch.from_numpy(data["labels"]).long() if "labels" in data else None
        request = str(data["request"]) if "request" in data else ("labels" if labels is not None else "?")
    if images.dtype != torch.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        shape = tuple(images.shape)
        raise ValueError(f"{path}: 'images' must be uint8 [N, 28, 28], got {images.dtype} {shape}")
    return SampleFile(images, labels, request)


def judge_samples(
    path: str, samples: SampleFile, reference: Reference, generator: torch.Generator, n_real: int | None
) -> dict:
    """Judge the digits of the file ``path`` beside two floors, ``n_real`` (default: N) random
    training digits and N with the samples' class counts, and, with labels, per class asked for
    (:func:`ddpm.metrics.conditional_report`); real digits are drawn with ``generator`` in that order. Prints
    the report and returns its figures."""
    images, asked = samples.images, samples.labels
    judge, features, train = reference.judge, reference.test_features, reference.train
    real = train.images[torch.randperm(len(train.images), generator=generator)[: n_real or len(images)]]
    ours, floor = report(images, judge, features), report(real, judge, features)
    balanced = report(balanced_real(train, class_counts(len(images), asked), generator), judge, features)
    fd = ours.frechet_distance
    print(ours.line(path) + f"  (--digit {samples.request})")
    print(floor.line("real, random draw"))
    print(balanced.line("real, class-balanced"))
    print(f"{'':<22} FD ratio to the floor: {fd / floor.frechet_distance:.2f} (random draw), "
          f"{fd / balanced.frechet_distance:.2f} (class-balanced)")  # fmt: skip
    figures = {"request": samples.request, "samples": ours._asdict(), "real": floor._asdict(),
               "real_balanced": balanced._asdict()}  # fmt: skip
    if asked is not None:
        classes = conditional_report(
            images, asked, judge, (features, reference.test_labels), train, generator
        )
        agreement = sum(c.agreement * c.n for c in classes) / len(asked)
        print(f"{'':<22} the judge reads the digit asked for in {100 * agreement:.1f}%:")
        for c in classes:
            fd, ratio = c.frechet_distance, c.frechet_distance / c.floor
            print(f"{'':<24} {c.label}: n={c.n:<4} agree {100 * c.agreement:5.1f}%  FD={fd:7.3f}"
                  f"  floor {c.floor:7.3f}  ratio {ratio:.2f}")  # fmt: skip
        figures["conditional"] = {"agreement": agreement, "classes": [c._asdict() for c in classes]}
    return figures


def bits_per_dim(args: argparse.Namespace, test_images: torch.Tensor, device: torch.device) -> dict:
    """``--bpd``: the negative variational bound (Ho et al. 2020, eq. 5) of ``--checkpoint`` (null
    label) in bits/dim on the first ``--bpd-images`` of ``test_images`` (float [N, 1, 28, 28] in
    [−1, 1]), over all T or ``--bpd-timesteps`` t per batch (:func:`ddpm.likelihood.calc_bpd_loop`).
    Prints the mean ± its standard error and the terms L_T, Σ L_(t−1), L_0; returns them."""
    model, diffusion = checkpoint.load(args.checkpoint, device)
    model = prepare_for_inference(model, device)
    x0 = test_images[: args.bpd_images]
    variance = args.variance or model.config.variance
    parts: dict[str, list[torch.Tensor]] = {"total": [], "prior": [], "steps": [], "decoder": []}
    for batch in x0.split(args.batch_size):
        bound = calc_bpd_loop(
            diffusion, model, batch.to(device), num_timesteps=args.bpd_timesteps or None,
            parameterization=model.config.parameterization, variance=variance,
            generator=seeded_generator(args.seed),
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
    return {
        "mean": bpd.mean().item(),
        "sem": (bpd.std() / len(bpd) ** 0.5).item(),
        "images": len(x0),
        "how": how,
        "variance": variance,
        **{name: value for name, value in split.items() if name != "total"},
    }


def x0_error_table(args: argparse.Namespace, test: MNISTSplit) -> dict[str, list[dict]]:
    """``--x0-error``: :func:`ddpm.metrics.x0_errors` of the checkpoints on ``--x0-images`` random ``test``
    digits (with their labels under ``--x0-labels``), by band of t (:data:`ddpm.metrics.X0_ERROR_BANDS`): each
    model's mean squared error per pixel and its change from the first model's, in %. Prints the
    table (with each change's paired standard error); returns the bands of each checkpoint."""
    loaded = [checkpoint.load(path) for path in args.x0_error]
    models, diffusion = [model for model, _ in loaded], loaded[0][1]
    chosen = torch.randperm(len(test.images), generator=seeded_generator(args.seed))[: args.x0_images]
    errors, t = x0_errors(
        models, diffusion, test.images[chosen], seeded_generator(args.seed),
        test.labels[chosen] if args.x0_labels else None,
    )  # fmt: skip
    edges = [e for e in X0_ERROR_BANDS if e < diffusion.num_timesteps] + [diffusion.num_timesteps]
    print(f"x̂_0 error (mean squared, per pixel) on {len(t)} test digits by band of 0-based t; the change "
          f"to {args.x0_error[0]} in % ± its paired standard error")  # fmt: skip
    table = {}
    for path, row in zip(args.x0_error, errors, strict=True):
        cells, bands = [], []
        for low, high in itertools.pairwise(edges):
            band = (t >= low) & (t < high)
            base, diff = errors[0][band], (row - errors[0])[band]
            change = 100 * diff.mean() / base.mean()
            sem = 100 * diff.std() / base.mean() / band.sum().sqrt()
            cells.append(f"[{low},{high}) {row[band].mean():.4f} {change:+.1f}±{sem:.1f}%")
            bands.append(
                {"band": [low, high], "mse": row[band].mean().item(), "change_percent": change.item()}
            )
        print(f"  {path}: " + "  ".join(cells))
        table[path] = bands
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse; read the test digits; judge each sample file, then the bound and the x̂_0 errors
    when asked for, each printed as it is done; write every figure to ``--json``."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    test = load_mnist_tensor(args.data_root, train=False)
    results: dict = {}
    if args.samples:  # the judge reads the 10,000 test digits once, for every file
        reference = load_reference(args.classifier, args.data_root, test)
        results["classifier_test_accuracy"] = reference.accuracy
        print(f"classifier accuracy on MNIST test: {reference.accuracy:.4f}")
    generator = seeded_generator(args.seed)
    for path in args.samples:
        try:
            samples = read_samples(path)
        except ValueError as err:
            parser().error(str(err))
        results[path] = judge_samples(path, samples, reference, generator, args.real)
    if args.bpd:
        results["bpd"] = bits_per_dim(args, test.images, device)
    if args.x0_error:
        results["x0_error"] = x0_error_table(args, test)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
