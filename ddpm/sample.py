"""Generate digits with a trained checkpoint: ``python -m ddpm.sample --help``.

Writes an ``.npz`` with ``images``: uint8 [N, 28, 28], 0 = background like MNIST, ``request``
(the ``--digit`` word) and, when the model was given labels, ``labels``: int64 [N] (the digits
asked for or drawn from the class prior), and optionally a PNG grid. The same seed and arguments
give the same images. The work is done by :func:`ddpm.inference.generate`.

``--digit`` (the words of :mod:`ddpm.guidance`): ``prior`` (the default: labels drawn from the
class prior, an even split when N is a multiple of ten), ``all`` (the ten digits in equal numbers,
in order), ``none`` (the null label: the model without the class) or a digit ``0``–``9``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

from . import checkpoint
from .choices import SAMPLERS
from .guidance import DEFAULT_DIGIT, DEFAULT_GUIDANCE, DIGIT_REQUESTS
from .images import make_grid, to_pil, upscale
from .inference import (
    BACKENDS,
    DPM_SOLVER_STEPS,
    generate,
    generation_labels,
    prepare_for_inference,
    resolve_device,
)
from .seeding import generator as seeded_generator


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64, help="number of digits")
    p.add_argument(
        "--sampler", choices=SAMPLERS, default="ddpm",
        help="ancestral (all T steps), DDIM, or DPM-Solver++(2M) (second order, deterministic)",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=int, default=None,
        help=f"network evaluations of ddim (default 50) or dpm-solver (default {DPM_SOLVER_STEPS});"
        " ddpm always uses T",
    )  # fmt: skip
    p.add_argument("--eta", type=float, default=0.0, help="DDIM η: 0 deterministic, 1 as noisy as DDPM")
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
    args = p.parse_args(argv)

    device = resolve_device(args.device)
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
    default_steps = DPM_SOLVER_STEPS if args.sampler == "dpm-solver" else 50
    steps_per_batch = diffusion.num_timesteps if args.sampler == "ddpm" else (args.steps or default_steps)
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


if __name__ == "__main__":
    main()
