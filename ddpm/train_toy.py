"""Train the 2-D world's ε-network: ``python -m ddpm.train_toy --data moons`` (``--help``).

The network, its training loop and its checkpoints are :mod:`ddpm.toy.mlp`; this tool trains one
per named data set (a preset of :mod:`ddpm.toy.plane`, or points from a ``.npy`` / ``.csv`` file
of [N, 2]) and writes it, with the measured fit, to ``--out`` (default: the shipped
``ddpm/assets/toy2d/<data>.safetensors``). ``--data all`` trains every preset.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .diffusion import GaussianDiffusion
from .toy import mlp, plane

EVAL_PARTICLES, EVAL_STEPS = 1000, 100


def fit_report(
    model: mlp.ToyMLP, data: plane.Data2D, diffusion: GaussianDiffusion, seed: int = 1
) -> dict[str, float]:
    """How well a network generates its data: the MMD (:func:`~ddpm.toy.plane.mmd`) of 1,000 DDIM
    (η = 0, 100 steps) particles against 1,000 data draws, beside the exact field's particles
    from the same x_T and a second data draw (the floor a perfect sampler reaches)."""
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(EVAL_PARTICLES, 2, generator=g, dtype=torch.float64)
    reference, second = data.sample(EVAL_PARTICLES, g), data.sample(EVAL_PARTICLES, g)

    def particles(field: plane.Field) -> np.ndarray:
        *_, last = plane.sample(field, diffusion, x_T, "ddim", steps=EVAL_STEPS)
        return last.x_prev.numpy()

    return {
        "mmd_learned": plane.mmd(particles(model), reference),
        "mmd_exact": plane.mmd(particles(plane.exact_field(data, diffusion)), reference),
        "mmd_data": plane.mmd(second, reference),
    }


def load_points(path: str) -> plane.Data2D:
    """Points [N, 2] from a ``.npy`` file or a two-column ``.csv``."""
    xy = np.load(path) if path.endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
    return plane.Data2D.points(xy, Path(path).stem)


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = argparse.ArgumentParser(
        prog="python -m ddpm.train_toy",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", default="all", help=f"{', '.join(plane.PRESETS)}, all, or a .npy/.csv file of points"
    )
    p.add_argument("--steps", type=int, default=mlp.STEPS, help="Adam steps")
    p.add_argument("--batch", type=int, default=mlp.BATCH)
    p.add_argument("--lr", type=float, default=mlp.LR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=None, help="stop early after this long")
    p.add_argument("--out", default=None, help="output file (one data set) or folder (all presets)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    names = plane.PRESETS if args.data == "all" else (args.data,)
    diffusion = GaussianDiffusion.from_schedule("linear", 1000)
    for name in names:
        data = plane.preset(name) if name in plane.PRESETS else load_points(name)
        result = mlp.train(
            data,
            diffusion,
            steps=args.steps,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed,
            max_seconds=args.max_seconds,
        )
        report = fit_report(result.model, data, diffusion)
        error = mlp.field_error(result.model, data, diffusion, list(mlp.ERROR_TIMES))  # the page's curve
        if args.out is None:
            out = mlp.CHECKPOINTS / f"{data.name}.safetensors"
        else:
            out = Path(args.out) / f"{data.name}.safetensors" if len(names) > 1 else Path(args.out)
        mlp.save(
            result.model,
            out,
            data=data.name,
            steps=str(result.step),
            seed=str(args.seed),
            final_loss=f"{result.losses[-1]:.4f}",
            field_error=json.dumps(error.tolist()),
            **{k: f"{v:.4f}" for k, v in report.items()},
        )
        print(
            f"{data.name}: {result.step} steps in {result.seconds:.1f} s, "
            f"final loss {result.losses[-1]:.4f}, "
            + ", ".join(f"{k} {v:.4f}" for k, v in report.items())
            + f" -> {out}",
            flush=True,
        )


if __name__ == "__main__":
    main()
