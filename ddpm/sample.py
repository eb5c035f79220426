"""Generate digits with a trained checkpoint: ``python -m ddpm.sample --help``.

Writes an ``.npz`` with ``images``: uint8 [N, 28, 28], 0 = background like MNIST (and, with
``--digit``, ``labels``: int64 [N], the digits asked for), and optionally a PNG grid. The same seed
and arguments give the same images. The work is done by :func:`ddpm.inference.generate`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

from . import checkpoint
from .choices import SAMPLERS
from .guidance import labels_for
from .images import make_grid, to_pil, upscale
from .inference import BACKENDS, generate, prepare_for_inference, resolve_device


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ddpm.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64, help="number of digits")
    p.add_argument("--sampler", choices=SAMPLERS, default="ddpm", help="ancestral (all T steps) or DDIM")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default 50); ddpm always uses T")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM η: 0 deterministic, 1 as noisy as DDPM")
    p.add_argument(
        "--digit", default=None,
        help="a class-conditional model's digit: 0-9, or 'all' for the ten in equal numbers (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--guidance", type=float, default=0.0,
        help="classifier-free guidance weight w with --digit (0: the conditional model alone)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--batch-size", type=int, default=64, help="digits generated at once")
    p.add_argument("--out", default="samples.npz", help="output .npz (array 'images', uint8 [N, 28, 28])")
    p.add_argument("--png", default=None, help="also write a grid of the images to this PNG")
    p.add_argument(
        "--checkpoint", default=str(checkpoint.BUNDLED), help="checkpoint folder (default: bundled)"
    )
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
    guided = 2 if args.digit is not None and args.guidance else 1  # guidance doubles the batch
    model = prepare_for_inference(model, device, args.backend, guided * min(args.batch_size, args.n))
    steps_per_batch = diffusion.num_timesteps if args.sampler == "ddpm" else (args.steps or 50)
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
                args.guidance,
            )
        labels = labels_for(args.digit, args.n, model.config.num_classes or 10)
    except ValueError as err:
        p.error(str(err))
    arrays = {"images": images.numpy()} | ({} if labels is None else {"labels": labels.numpy()})
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {len(images)} digits to {args.out} in {time.time() - start:.1f} s")
    if args.png:
        to_pil(upscale(make_grid(images, nrow=int(np.ceil(np.sqrt(len(images))))), 2)).save(args.png)
        print(f"wrote grid {args.png}")


if __name__ == "__main__":
    main()
