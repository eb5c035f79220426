"""Generate digits with a trained checkpoint: ``python -m ddpm.sample --help``.

Writes an ``.npz`` with ``images``: uint8 [N, 28, 28], 0 = background like MNIST, ``request``
(the ``--digit`` word) and, when the model was given labels, ``labels``: int64 [N] (the digits
asked for or drawn from the class prior), and optionally a PNG grid. The same seed and arguments
give the same images. The work is done by :func:`ddpm.inference.generate`.

``--digit`` (the words of :mod:`ddpm.guidance`): ``prior`` (the default: labels drawn from the
class prior, an even split when N is a multiple of ten), ``all`` (the ten digits in equal numbers,
in order), ``none`` (the null label: the model without the class) or a digit ``0``–``9``.

``--sampler true-reverse`` uses no network: it follows the exact reverse process of the 60,000
training digits (:mod:`ddpm.true_reverse`) under the checkpoint's schedule, all T steps, and every
digit it draws is a training digit; the ``.npz`` then also holds ``training_index`` (int64 [N],
which one) and ``labels`` (their classes). With a digit ``0``–``9`` it follows the training digits of
that class only (the true reverse of the class-conditional data); other ``--digit`` words use all.
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoint
from .choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from .data import to_model_range, training_digits
from .diffusion import DiffusionConfig, GaussianDiffusion
from .guidance import DEFAULT_DIGIT, DEFAULT_GUIDANCE, DIGIT_REQUESTS
from .images import make_grid, to_pil, to_uint8, upscale
from .inference import (
    BACKENDS,
    generate,
    generation_labels,
    network_steps,
    prepare_for_inference,
    resolve_device,
)
from .seeding import generator as seeded_generator
from .true_reverse import TrueReverse, sample_true_reverse

TRUE_REVERSE = "true-reverse"


def parser() -> argparse.ArgumentParser:
    """The command line's parser (its defaults are the package's: :mod:`ddpm.choices`)."""
    p = argparse.ArgumentParser(prog="python -m ddpm.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64, help="number of digits")
    p.add_argument(
        "--sampler", choices=(*SAMPLERS, TRUE_REVERSE), default=DEFAULT_SAMPLER,
        help="ddpm: ancestral, all T steps; ddim: DDIM; dpm-solver: DPM-Solver++(2M), second order,"
        f" deterministic; {TRUE_REVERSE}: the exact reverse process of the training digits (no network;"
        f" it draws training digits). Default: {DEFAULT_SAMPLER}, as in the app and its API",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=int, default=None,
        help=f"network evaluations S of dpm-solver and ddim (default {DEFAULT_STEPS}); ddpm and"
        " true-reverse always take all T steps",
    )  # fmt: skip
    p.add_argument(
        "--eta", type=float, default=DEFAULT_ETA, help="DDIM η: 0 deterministic (default), 1 as noisy as DDPM"
    )
    p.add_argument(
        "--digit", default=DEFAULT_DIGIT, choices=DIGIT_REQUESTS, metavar="{0-9,all,prior,none}",
        help="prior: labels drawn from the class prior (default); all: the ten digits in equal numbers;"
        " none: the null label (the model without the class); or one digit",
    )  # fmt: skip
    p.add_argument(
        "--guidance", type=float, default=None,
        help=f"classifier-free guidance weight w (default: {DEFAULT_GUIDANCE:g} for named digits, 0 for"
        " prior and none: the conditional model itself)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--batch-size", type=int, default=64, help="digits generated at once")
    p.add_argument("--out", default="samples.npz", help="output .npz (array 'images', uint8 [N, 28, 28])")
    p.add_argument("--png", default=None, help="also write a grid of the images to this PNG")
    p.add_argument(
        "--checkpoint", default="default",
        help="checkpoint folder, or a shipped one by name: default (the class-conditional model), eps",
    )  # fmt: skip
    p.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    p.add_argument(
        "--backend", choices=BACKENDS, default="eager",
        help="eager; torchscript (traced, frozen); compile (torch.compile: ~20 s first, then faster on CPU)",
    )  # fmt: skip
    return p


class Generation(NamedTuple):
    """A network ready to generate, and the labels and guidance weight a request resolved to."""

    model: torch.nn.Module  # prepared for inference with --backend
    diffusion: GaussianDiffusion
    labels: torch.Tensor | None  # int64 [N]: the digits asked for or drawn (None: the null label)
    guidance: float  # w of classifier-free guidance (0: none)


def load_generation(args: argparse.Namespace, device: torch.device) -> Generation:
    """Load ``--checkpoint``, resolve ``--digit`` and ``--guidance`` to labels and w (the labels
    drawn as :func:`ddpm.inference.generate` draws them: first, from ``--seed``), and prepare the
    network for ``--backend`` at the batch it will run (doubled under guidance). Raises
    CheckpointError or ValueError (a request the model cannot take)."""
    model, diffusion = checkpoint.load(args.checkpoint, device)
    labels, guidance = generation_labels(
        model, args.digit, args.guidance, args.n, seeded_generator(args.seed), device
    )
    guided = 2 if guidance else 1  # guidance doubles the batch
    model = prepare_for_inference(model, device, args.backend, guided * min(args.batch_size, args.n))
    return Generation(model, diffusion, labels, guidance)


class Samples(NamedTuple):
    """Digits drawn, as the ``.npz`` holds them, and how the printed line counts them."""

    arrays: dict[str, np.ndarray]  # "images" uint8 [N, 28, 28], "request", and what the module names
    what: str  # "64 digits", "8 training digits (indices [...]…)"

    @property
    def images(self) -> torch.Tensor:
        """uint8 [N, 28, 28], 0 = background."""
        return torch.from_numpy(self.arrays["images"])


def generate_digits(args: argparse.Namespace, generation: Generation, device: torch.device) -> Samples:
    """``--n`` digits of the network with ``--sampler`` in batches of ``--batch-size``, with a
    progress bar (:func:`ddpm.inference.generate`); the request, w and labels beside them."""
    steps_per_batch = network_steps(args.sampler, args.steps, generation.diffusion.num_timesteps)
    batches = -(-args.n // args.batch_size)
    with tqdm(total=steps_per_batch * batches, unit="step", desc=f"{args.sampler} on {device}") as bar:
        images = generate(
            generation.model, generation.diffusion, args.n, args.sampler, args.steps, args.eta, args.seed,
            args.batch_size, bar.update, args.digit, generation.guidance,
        )  # fmt: skip
    arrays = {
        "images": images.numpy(),
        "request": np.array(args.digit),
        "guidance": np.array(generation.guidance),
    }
    if generation.labels is not None:  # the same draw as generate's: the same seed, drawn first
        arrays["labels"] = generation.labels.cpu().numpy()
    return Samples(arrays, f"{len(images)} digits")


class TrainingSet(NamedTuple):
    """The exact reverse process of (some of) the training digits, and which digits they are."""

    reverse: TrueReverse
    labels: torch.Tensor  # int64 [M]: their classes
    index: torch.Tensor  # int64 [M]: their positions in the 60,000 training digits


def load_true_reverse(checkpoint_path: str, digit: str, device: torch.device) -> TrainingSet:
    """The true reverse of the training digits under the schedule of ``checkpoint_path`` (its
    network is not read): of the class ``digit`` when it is ``0``–``9``, else of all of them."""
    diffusion = DiffusionConfig(**checkpoint.read_config(checkpoint_path)["diffusion"]).build().to(device)
    images, labels = training_digits()
    index = torch.arange(len(labels))  # positions in the training set
    if digit.isdigit():
        keep = labels == int(digit)
        images, labels, index = images[keep], labels[keep], index[keep]
    return TrainingSet(TrueReverse(to_model_range(images).unsqueeze(1), diffusion), labels, index)


def draw_true_reverse(args: argparse.Namespace, training: TrainingSet, device: torch.device) -> Samples:
    """``--sampler true-reverse``: ``--n`` digits down all T steps of ``training``'s exact reverse
    in batches of ``--batch-size`` (seeds ``--seed`` + the batch's first position), with a progress
    bar; each is a training digit, recorded with its position and label."""
    drawn, chosen = [], []
    total = training.reverse.diffusion.num_timesteps * -(-args.n // args.batch_size)
    with tqdm(total=total, unit="step", desc=f"{TRUE_REVERSE} on {device}") as bar:
        for first in range(0, args.n, args.batch_size):
            n = min(args.batch_size, args.n - first)
            for step in sample_true_reverse(training.reverse, n, seed=args.seed + first):  # noqa: B007 (the last one)
                bar.update()
            drawn.append(step.record.x_prev.cpu())
            chosen.append(step.chosen.cpu())
    which = torch.cat(chosen)
    digits = to_uint8(torch.cat(drawn)[:, 0])
    arrays = {"images": digits.numpy(), "request": np.array(args.digit)}
    arrays.update(training_index=training.index[which].numpy(), labels=training.labels[which].numpy())
    return Samples(
        arrays, f"{len(digits)} training digits (indices {arrays['training_index'].tolist()[:8]}…)"
    )


def write_samples(samples: Samples, out: str, png: str | None, start: float) -> None:
    """Write the ``.npz`` to ``out`` and, when ``png`` is given, a square grid of the digits
    (upscaled ×2) there, saying so and how long it took since ``start`` (a ``time.time()``)."""
    np.savez_compressed(out, **samples.arrays)
    print(f"wrote {samples.what} to {out} in {time.time() - start:.1f} s")
    if png:
        images = samples.images
        to_pil(upscale(make_grid(images, nrow=int(np.ceil(np.sqrt(len(images))))), 2)).save(png)
        print(f"wrote grid {png}")


def main(argv: list[str] | None = None) -> None:
    """Parse; load the network and resolve the request (or the training digits' exact reverse);
    draw the digits; write them. A checkpoint or request that cannot work exits naming why."""
    p = parser()
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    try:
        if args.sampler == TRUE_REVERSE:
            training = load_true_reverse(args.checkpoint, args.digit, device)
            start = time.time()
            samples = draw_true_reverse(args, training, device)
        else:
            generation = load_generation(args, device)
            start = time.time()
            samples = generate_digits(args, generation, device)
    except (checkpoint.CheckpointError, ValueError) as err:
        p.error(str(err))
    write_samples(samples, args.out, args.png, start)


if __name__ == "__main__":
    main()
