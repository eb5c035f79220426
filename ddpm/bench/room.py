"""A room of chains on the step scheduler, in one process: ``python -m ddpm.bench.room``.

What a room of students each running a chain of their own costs the network, without the web
server: ``--chains`` chains of one digit each (their own seeds and labels, ancestral steps from
t = ``--steps``) started together on one :class:`ddpm.serve.scheduler.Scheduler`, against one such
chain alone. Printed: steps per second of the chain alone; of the room batched (every running chain
one step per tick, one forward pass per tick); and of the room one chain at a time (``max_rows`` 1:
what one network call per student per step costs), with the ratios. On a GPU the batched room is
one kernel launch per step for everyone (``scripts/gpu_check.sh`` runs it with 64 chains).

``--floor N`` instead prints the network's floor for the explore room of ``python -m ddpm.bench.load
--explore N`` (the same arrivals within 10 s and the same start times, two rows per comparison):
the forward pass is timed at each batch size, and the room is replayed with one pass per tick and
nothing else; the slowest student's network time is set beside one comparison from t = T alone
(in process, the network and the chain's arithmetic, no web server). No scheduler can serve that
room faster than this on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from .. import checkpoint
from ..diffusion import GaussianDiffusion
from ..guidance import Conditioned
from ..images import digit_tensor
from ..inference import BACKENDS, prepare_for_inference, resolve_device
from ..sampling import final_sample, p_sample_loop_progressive
from ..seeding import generator, randn
from ..serve.scheduler import Batched, Scheduler
from ..teaching.reverse import compare_reverse
from .load import explore_requests


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


def network_floor(
    forward_seconds: Callable[[int], float], arrivals: list[float], steps: list[int], rows: int = 2
) -> list[float]:
    """Each chain's time from its arrival to its last step when the room's only cost is one forward
    pass per tick over every running chain's ``rows`` rows: ``forward_seconds(batch rows)`` per tick.

    Chains join at the first tick after they arrive (seconds, any order) and take ``steps`` ticks
    each (≥ 1); the clock jumps over idle gaps. Returns the times in the order given.
    """
    if len(arrivals) != len(steps) or any(n < 1 for n in steps):
        raise ValueError(f"need one arrival per chain and steps ≥ 1, got {len(arrivals)} and {steps}")
    order = sorted(range(len(arrivals)), key=arrivals.__getitem__)
    clock, left, done, joined = 0.0, {}, [0.0] * len(arrivals), 0
    while joined < len(order) or left:
        while joined < len(order) and arrivals[order[joined]] <= clock:
            left[order[joined]] = steps[order[joined]]
            joined += 1
        if not left:
            clock = arrivals[order[joined]]
            continue
        clock += forward_seconds(rows * len(left))
        for i in list(left):
            left[i] -= 1
            if not left[i]:
                done[i] = clock - arrivals[i]
                del left[i]
    return done


def forward_table(network: torch.nn.Module, batches: list[int], device: torch.device) -> dict[int, float]:
    """Seconds per forward pass at each batch size (the median of a few, after a warm-up)."""
    cfg, table = network.config, {}
    for b in batches:
        x = torch.randn(b, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)
        t = torch.randint(0, cfg.timesteps, (b,), device=device)
        times = []
        with torch.no_grad():
            for i in range(8):
                start = time.perf_counter()
                network(x, t)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i >= 3:
                    times.append(time.perf_counter() - start)
        table[b] = sorted(times)[len(times) // 2]
    return table


def explore_floor(network: torch.nn.Module, diffusion: GaussianDiffusion, students: int) -> str:
    """The report of ``--floor``: one comparison alone from T, and the explore room's network floor."""
    T, device = diffusion.num_timesteps, diffusion.device
    room_ = explore_requests(T, students, False, 0)
    arrivals = [arrival * 10.0 for arrival, *_ in room_]  # --explore's default --arrival
    starts = [inputs["t"] for _, _, inputs, _ in room_]
    batches = sorted({2**k for k in range(1, (2 * students).bit_length() + 1)} | {2 * students})
    table = forward_table(network, batches, device)
    sizes = sorted(table)

    def forward_seconds(rows: int) -> float:  # piecewise linear between the measured sizes
        return float(np.interp(rows, sizes, [table[b] for b in sizes]))

    x0 = digit_tensor(np.zeros((28, 28), np.uint8), device)
    with torch.no_grad():
        start = time.perf_counter()
        parameterization = network.config.parameterization
        for _ in compare_reverse(diffusion, network, x0, T, 0, "fixed_small", parameterization):
            pass
        alone = time.perf_counter() - start
    times = network_floor(forward_seconds, arrivals, starts)
    lines = ["forward pass: " + ", ".join(f"batch {b} {table[b] * 1e3:.1f} ms" for b in sizes)]
    lines.append(f"one comparison from t = {T} alone (in process): {alone:.2f} s")
    lines.append(
        f"{students} students (python -m ddpm.bench.load --explore {students}), network passes only:"
        f" slowest {max(times):.1f} s = {max(times) / alone:.2f}× one alone; median {np.median(times):.1f} s"
    )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The command line's parser (:func:`parse_args` adds the checks of the values)."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.room", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=checkpoint.DEFAULT, help="model folder or shipped name")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--backend", choices=BACKENDS, help="default: torchscript on a CPU, eager on a GPU")
    p.add_argument("--chains", type=int, default=64, help="chains in the room (64)")
    p.add_argument("--steps", type=int, default=100, help="ancestral steps per chain (100)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--no-unbatched", action="store_true", help="skip the one-chain-at-a-time room")
    p.add_argument("--floor", type=int, default=0, metavar="N",
                   help="instead: the network's floor for the explore room of N students")  # fmt: skip
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if not 0 <= args.floor <= 400:
        p.error(f"--floor must be within 0 … 400 students, got {args.floor}")
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
    if args.floor:
        print(f"device {device} ({backend}), checkpoint {args.checkpoint}", flush=True)
        print(explore_floor(model, diffusion, args.floor), flush=True)
        return 0
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
