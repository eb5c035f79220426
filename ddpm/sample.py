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

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoint
from .choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from .data import to_model_range, training_digits
from .diffusion import DiffusionConfig
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


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    if args.sampler == TRUE_REVERSE:
        try:
            write_true_reverse(args, device)
        except checkpoint.CheckpointError as err:
            p.error(str(err))
        return
    try:
        model, diffusion = checkpoint.load(args.checkpoint, device)
    except checkpoint.CheckpointError as err:
        p.error(str(err))
    try:
        labels, guidance = generation_labels(
            model, args.digit, args.guidance, args.n, seeded_generator(args.seed), device
        )
    except ValueError as err:
        p.error(str(err))
    guided = 2 if guidance else 1  # guidance doubles the batch
    model = prepare_for_inference(model, device, args.backend, guided * min(args.batch_size, args.n))
    steps_per_batch = network_steps(args.sampler, args.steps, diffusion.num_timesteps)
    batches = -(-args.n // args.batch_size)
    start = time.time()
    try:
        with tqdm(total=steps_per_batch * batches, unit="step", desc=f"{args.sampler} on {device}") as bar:
            images = generate(
                model,
                diffusion,
                args.n,
                args.sampler,
                args.steps,
                args.eta,
                args.seed,
                args.batch_size,
                bar.update,
                args.digit,
                guidance,
            )
    except ValueError as err:
        p.error(str(err))
    arrays = {"images": images.numpy(), "request": np.array(args.digit), "guidance": np.array(guidance)}
    if labels is not None:  # the same draw as generate's: the same seed, drawn first
        arrays["labels"] = labels.cpu().numpy()
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {len(images)} digits to {args.out} in {time.time() - start:.1f} s")
    if args.png:
        to_pil(upscale(make_grid(images, nrow=int(np.ceil(np.sqrt(len(images))))), 2)).save(args.png)
        print(f"wrote grid {args.png}")


def write_true_reverse(args: argparse.Namespace, device: torch.device) -> None:
    """``--sampler true-reverse``: draw ``args.n`` digits from the exact reverse of the training set."""
    diffusion = DiffusionConfig(**checkpoint.read_config(args.checkpoint)["diffusion"]).build().to(device)
    images, labels = training_digits()
    index = torch.arange(len(labels))  # positions in the training set
    if args.digit.isdigit():
        keep = labels == int(args.digit)
        images, labels, index = images[keep], labels[keep], index[keep]
    reverse = TrueReverse(to_model_range(images).unsqueeze(1), diffusion)
    start, drawn, chosen = time.time(), [], []
    total = diffusion.num_timesteps * -(-args.n // args.batch_size)
    with tqdm(total=total, unit="step", desc=f"{TRUE_REVERSE} on {device}") as bar:
        for first in range(0, args.n, args.batch_size):
            n = min(args.batch_size, args.n - first)
            for step in sample_true_reverse(reverse, n, seed=args.seed + first):  # noqa: B007 (the last one)
                bar.update()
            drawn.append(step.record.x_prev.cpu())
            chosen.append(step.chosen.cpu())
    which = torch.cat(chosen)
    digits = to_uint8(torch.cat(drawn)[:, 0])
    arrays = {"images": digits.numpy(), "request": np.array(args.digit)}
    arrays.update(training_index=index[which].numpy(), labels=labels[which].numpy())
    np.savez_compressed(args.out, **arrays)
    shown = arrays["training_index"].tolist()[:8]
    seconds = time.time() - start
    print(f"wrote {len(digits)} training digits (indices {shown}…) to {args.out} in {seconds:.1f} s")
    if args.png:
        to_pil(upscale(make_grid(digits, nrow=int(np.ceil(np.sqrt(len(digits))))), 2)).save(args.png)
        print(f"wrote grid {args.png}")


if __name__ == "__main__":
    main()
