"""A room of chains on the step scheduler, in one process: ``python -m ddpm.bench.room``.

What a room of students each running a chain of their own costs the network, without the web
server: ``--chains`` chains of one digit each (their own seeds and labels, ancestral steps from
t = ``--steps``) started together on one :class:`ddpm.serve.scheduler.Scheduler`, against one such
chain alone. Printed: steps per second of the chain alone; of the room batched (every running chain
one step per tick, one forward pass per tick); and of the room one chain at a time (``max_rows`` 1:
what one network call per student per step costs), with the ratios. On a GPU the batched room is
one kernel launch per step for everyone (``scripts/gpu_check.sh`` runs it with 64 chains).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from .. import checkpoint
from ..diffusion import GaussianDiffusion
from ..guidance import Conditioned
from ..inference import BACKENDS, prepare_for_inference, resolve_device
from ..sampling import final_sample, p_sample_loop_progressive
from ..seeding import generator, randn
from ..serve.scheduler import Batched, Scheduler


def room(
    network: torch.nn.Module, diffusion: GaussianDiffusion, chains: int, steps: int, max_rows: int
) -> tuple[float, int]:
    """Run ``chains`` one-digit chains of ``steps`` steps together on a new scheduler with ``max_rows``;
    returns (wall seconds, forward passes)."""
    scheduler = Scheduler(max_rows)
    model = Batched(network, scheduler)
    cfg = model.config
    device = diffusion.device

    def chain(seed: int) -> torch.Tensor:
        g = generator(seed)
        x = randn((1, cfg.in_channels, cfg.image_size, cfg.image_size), g, device)
        label = torch.tensor([seed % max(1, cfg.num_classes)], device=device)
        net = Conditioned(model, label) if cfg.num_classes else model
        loop = p_sample_loop_progressive(
            diffusion, net, x_t=x, t_start=steps - 1, parameterization=cfg.parameterization, generator=g
        )
        return final_sample(loop)

    scheduler.call(lambda: None)  # the compute thread exists before the clock starts
    start = time.perf_counter()
    futures = [scheduler.submit(chain, seed) for seed in range(chains)]
    for future in futures:
        future.result()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, scheduler.forwards


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.room", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=checkpoint.DEFAULT, help="model folder or shipped name")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--backend", choices=BACKENDS, help="default: torchscript on a CPU, eager on a GPU")
    p.add_argument("--chains", type=int, default=64, help="chains in the room (64)")
    p.add_argument("--steps", type=int, default=100, help="ancestral steps per chain (100)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--no-unbatched", action="store_true", help="skip the one-chain-at-a-time room")
    args = p.parse_args(argv)
    if args.chains < 1 or args.steps < 1:
        p.error(f"--chains and --steps must be ≥ 1, got {args.chains} and {args.steps}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    backend = args.backend or ("torchscript" if device.type == "cpu" else "eager")
    unet, diffusion = checkpoint.load(args.checkpoint, device)
    model = prepare_for_inference(unet, device, backend)
    room(model, diffusion, 1, 10, 1)  # warm-up: TorchScript optimizes its graph on the first calls
    room(model, diffusion, args.chains, 3, args.chains)
    n, steps = args.chains, args.steps
    print(f"device {device} ({backend}), {n} chains of {steps} steps, one digit each", flush=True)
    alone, _ = room(model, diffusion, 1, steps, 1)
    rate = steps / alone
    print(f"one chain alone:           {rate:8.1f} steps/s ({alone:.2f} s)", flush=True)
    wall, passes = room(model, diffusion, n, steps, n)
    print(
        f"room, batched:             {n * steps / wall:8.1f} chain-steps/s ({wall:.2f} s, {passes} passes)"
        f" = {n * steps / wall / rate:.1f}× one alone; each chain {steps / wall:.1f} steps/s",
        flush=True,
    )
    if not args.no_unbatched:
        wall_1, passes_1 = room(model, diffusion, n, steps, 1)
        print(
            f"room, one chain at a time: {n * steps / wall_1:8.1f} chain-steps/s ({wall_1:.2f} s, {passes_1}"
            f" passes); batched is {wall_1 / wall:.1f}× faster",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
