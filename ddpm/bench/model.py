"""Speed of the model and the samplers, beside a reference implementation: ``python -m ddpm.bench.model``.

Everything is measured in one run on the same machine, so the ratios are fair: our UNet and
loops against diffusers' ``UNet2DModel`` (block_out_channels (32, 64, 64), the classic MNIST
configuration) driven by its ``DDPMScheduler`` / ``DDIMScheduler``. diffusers is a dev-only
dependency; without it only our numbers are printed. Timings are medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch

from .. import checkpoint
from ..data import to_model_range, training_digits
from ..diffusion import GaussianDiffusion
from ..inference import prepare_for_inference, resolve_device, sample_loop
from ..sampling import final_sample, posterior_sample_loop_progressive
from ..seeding import generator as seeded_generator
from ..true_reverse import TrueReverse, sample_true_reverse
from ..unet import UNet, UNetConfig, count_parameters

TARGETS_CPU = {"ddpm-1000 x16": 10.0, "ddim-50 x16": 0.5, "posterior-1000 x16": 0.2}


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds (CUDA synchronised)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


SIZES = {
    "(16, 32)": UNetConfig(channels=(16, 32)),
    "(32, 64) bundled": UNetConfig(channels=(32, 64)),
    "(48, 96)": UNetConfig(channels=(48, 96)),
    "(64, 128)": UNetConfig(channels=(64, 128)),
    "(64, 128), 2 blocks": UNetConfig(channels=(64, 128), blocks_per_level=2),
}


def bench_sizes(device: torch.device, repeats: int) -> None:
    """Forward time at batch 16 and the implied 1000-step trajectory, for several UNet sizes."""
    print(f"{'UNet widths':24} {'params':>8} {'fwd x16 (ms)':>13} {'1000 x fwd x16 (s)':>19}")
    for name, config in SIZES.items():
        model = prepare_for_inference(UNet(config), device)
        x = torch.randn(16, 1, 28, 28, device=device)
        t = torch.full((16,), 500, device=device, dtype=torch.long)
        with torch.no_grad():
            seconds = timed(lambda model=model, x=x, t=t: model(x, t), device, max(20, repeats))
        params = count_parameters(UNet(config)) / 1e6
        print(f"{name:24} {params:7.2f}M {seconds * 1e3:13.1f} {seconds * 1000:19.1f}")


def bench_models(paths: list[str], device: torch.device, repeats: int) -> None:
    """16 × 1000 ancestral steps of each checkpoint, interleaved run by run (fair on shared cores),
    unconditional (the null label) and, for a class-conditional model, guided (batch doubled)."""
    models = {}
    for path in paths:
        unet, diffusion = checkpoint.load(path, device)
        backend = "torchscript" if device.type == "cpu" else "eager"  # what the app runs
        models[path] = (prepare_for_inference(unet, device, backend), diffusion)
    labels = torch.arange(16, device=device) % 10
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        for path, (model, diffusion) in models.items():
            kinds = {"unconditional": {}}
            if model.config.num_classes:
                kinds["guided w = 2"] = {"labels": labels, "guidance": 2.0}
            for kind, extra in kinds.items():
                generator = seeded_generator(0)
                seconds = timed(
                    lambda m=model, d=diffusion, e=extra, g=generator: final_sample(
                        sample_loop(m, d, 16, "ddpm", generator=g, **e)
                    ),
                    device, 1, warmup=0,
                )  # fmt: skip
                runs.setdefault(f"{path} ({model.config.variance}), {kind}", []).append(seconds)
    first = statistics.median(next(iter(runs.values())))
    print(f"{'ancestral 1000 steps x 16 digits, torchscript on CPU':70} {'median (s)':>10} {'ratio':>6}")
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        each = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{name:70} {median:10.2f} {median / first:6.2f}   (runs: {each})")


def reference_model(device: torch.device):
    """diffusers' UNet2DModel in the classic MNIST configuration, or None without diffusers."""
    try:
        from diffusers import UNet2DModel
    except ImportError:
        return None
    model = UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    return model.eval().to(device)


@torch.no_grad()
def reference_sampling(model, n: int, steps: int | None, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Generate with diffusers: DDPMScheduler over all 1000 steps, or DDIMScheduler with ``steps``."""
    from diffusers import DDIMScheduler, DDPMScheduler

    scheduler = (
        DDPMScheduler(num_train_timesteps=1000) if steps is None else DDIMScheduler(num_train_timesteps=1000)
    )
    scheduler.set_timesteps(1000 if steps is None else steps)
    generator = seeded_generator(seed)
    x = torch.randn((n, 1, 28, 28), generator=generator, device=device)
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t).sample, t, x, generator=generator).prev_sample
    return x


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.model", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="default", help="model to time: a folder, or default, eps")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median reported)")
    p.add_argument("--no-reference", action="store_true", help="skip the diffusers comparison")
    p.add_argument("--no-compile", action="store_true", help="skip the --backend compile rows (~20 s)")
    p.add_argument("--sizes", action="store_true", help="only time the forward pass of several UNet sizes")
    p.add_argument("--true-reverse-steps", type=int, default=None, metavar="S",
                   help="steps of the timed true-reverse chain, from t = S (default: all T)")  # fmt: skip
    p.add_argument(
        "--batches", type=int, nargs="+", default=None, metavar="N",
        help="batch sizes of the forward pass and of the trajectories (default: forward 1, 16, 64; "
        "trajectories 16, and 64 on CUDA)",
    )  # fmt: skip
    p.add_argument(
        "--models", nargs="+", default=None,
        help="only time 1000-step generation of these checkpoints side by side (first = reference)",
    )  # fmt: skip
    return p


class Bench(NamedTuple):
    """What the timings of one checkpoint run."""

    model: torch.nn.Module  # ours, prepared for inference (eager)
    variants: dict[str, torch.nn.Module]  # --backend flag -> ours prepared so (compile unless --no-compile)
    reference: torch.nn.Module | None  # diffusers' UNet2DModel (None: without diffusers, --no-reference)
    diffusion: GaussianDiffusion  # the checkpoint's schedule
    truth: TrueReverse  # the exact reverse process of the 60,000 training digits under that schedule


class Row(NamedTuple):
    """One line of the table: what was timed (with its unit), our time and the reference's."""

    name: str  # "forward batch 16 (ms)", "ddim-50 x16 (s)", ...
    ours: float
    reference: float | None


def set_up(args: argparse.Namespace, device: torch.device) -> Bench:
    """Load ``--checkpoint`` (or, when there is none, a fresh UNet of the default configuration on
    the linear schedule, saying so), prepare it for each backend and build the reference, then
    print the machine, torch and both parameter counts."""
    try:
        model, diffusion = checkpoint.load(args.checkpoint, device)
    except checkpoint.CheckpointError:
        print("(no checkpoint: timing a freshly initialised UNet with the default configuration)")
        model, diffusion = UNet(UNetConfig()), GaussianDiffusion.from_schedule("linear", 1000).to(device)
    params = count_parameters(model)
    eager = prepare_for_inference(model, device)
    variants = {"--backend torchscript": prepare_for_inference(model, device, "torchscript")}
    if not args.no_compile:
        variants["--backend compile"] = prepare_for_inference(model, device, "compile")
    reference = None if args.no_reference else reference_model(device)
    what = f"{device.type}" + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else "")
    print(
        f"device: {what}; torch {torch.__version__}; ours {params / 1e6:.2f}M parameters",
        end="",
    )
    print(f", reference {count_parameters(reference) / 1e6:.2f}M" if reference is not None else "")
    images = to_model_range(training_digits().images).unsqueeze(1)
    truth = TrueReverse(images, GaussianDiffusion(diffusion.betas.double().cpu()).to(device))
    return Bench(eager, variants, reference, diffusion, truth)


@torch.no_grad()
def forward_rows(bench: Bench, batches: tuple[int, ...], repeats: int, device: torch.device) -> list[Row]:
    """Per batch size: one forward pass of ours and of the reference at t = T/2 (and, at batch 16,
    of each backend), and one step of the training digits' exact reverse, in milliseconds."""
    model, reference, t_middle = bench.model, bench.reference, bench.diffusion.num_timesteps // 2
    rows = []
    for batch in batches:
        x = torch.randn(batch, 1, 28, 28, device=device)
        t = torch.full((batch,), t_middle, device=device, dtype=torch.long)
        ours = timed(lambda x=x, t=t: model(x, t), device, max(10, repeats))
        ref = None
        if reference is not None:
            ref = timed(lambda x=x, t=t: reference(x, t).sample, device, max(10, repeats))
        rows.append(Row(f"forward batch {batch} (ms)", ours * 1e3, None if ref is None else ref * 1e3))
        if batch == 16:
            for label, variant in bench.variants.items():
                fast = timed(lambda x=x, t=t, m=variant: m(x, t), device, max(10, repeats))
                rows.append(Row(f"  same, {label} (ms)", fast * 1e3, None))
        # the exact reverse of the 60,000 training digits: one step, beside the network's
        z, u = torch.randn_like(x), torch.rand(batch, device=device)
        step = timed(lambda x=x, t=t, z=z, u=u: bench.truth.step(x, t, z, u), device, max(10, repeats))
        rows.append(Row(f"true reverse step batch {batch} (ms)", step * 1e3, None))
    return rows


def trajectory_rows(bench: Bench, batches: tuple[int, ...], repeats: int, device: torch.device) -> list[Row]:
    """Per number of digits n: whole chains in seconds, ancestral over all T steps (Ho et al.
    2020, Algorithm 2) and DDIM-50, ours beside diffusers' schedulers (and, at n = 16, each
    backend), then the exact posterior chain q(x_(t−1) | x_t, x_0) from x_T."""
    diffusion, reference = bench.diffusion, bench.reference

    def trajectory(m: torch.nn.Module, sampler: str, steps: int | None, n: int) -> float:
        generator = seeded_generator(0)
        return timed(
            lambda: final_sample(sample_loop(m, diffusion, n, sampler, steps, generator=generator)),
            device,
            repeats,
        )

    rows = []
    for n in batches:
        for name, sampler, steps in ((f"ddpm-1000 x{n}", "ddpm", None), (f"ddim-50 x{n}", "ddim", 50)):
            ref = None
            if reference is not None:
                ref = timed(
                    lambda k=steps, n=n: reference_sampling(reference, n, k, device), device, 1, warmup=0
                )
            rows.append(Row(f"{name} (s)", trajectory(bench.model, sampler, steps, n), ref))
            if n == 16:
                for label, variant in bench.variants.items():
                    rows.append(Row(f"{name} {label} (s)", trajectory(variant, sampler, steps, n), None))
        x0 = torch.rand(n, 1, 28, 28, device=device) * 2 - 1
        x_t = diffusion.q_sample(x0, diffusion.num_timesteps - 1)
        post = timed(
            lambda x0=x0, x_t=x_t: final_sample(posterior_sample_loop_progressive(diffusion, x0, x_t)),
            device,
            repeats,
        )
        rows.append(Row(f"posterior-1000 x{n} (s)", post, None))
    return rows


def true_reverse_row(bench: Bench, steps: int, device: torch.device) -> Row:
    """One digit down ``steps`` steps of the training digits' exact reverse (from index steps − 1), once."""
    chain = timed(
        lambda: final_sample(s.record for s in sample_true_reverse(bench.truth, 1, t_start=steps - 1)),
        device,
        1,
        warmup=0,
    )
    return Row(f"true-reverse-{steps} x1 (s)", chain, None)


def print_table(rows: list[Row], device: torch.device) -> None:
    """The rows with the reference's time, our speed-up over it, and on the CPU the targets of
    :data:`TARGETS_CPU` met or missed."""
    print(f"{'':40} {'ours':>10} {'reference':>10} {'speed-up':>9} {'target':>8}")
    for name, ours, ref in rows:
        key = name.rsplit(" (", 1)[0].split(" --", 1)[0]
        target = TARGETS_CPU.get(key) if device.type == "cpu" else None
        ref_s = f"{ref:10.3f}" if ref is not None else f"{'—':>10}"
        ratio = f"{ref / ours:8.1f}x" if ref is not None else f"{'':>9}"
        goal = "" if target is None else f"≤ {target:g} " + ("ok" if ours <= target else "MISSED")
        print(f"{name:40} {ours:10.3f} {ref_s} {ratio} {goal:>8}")


def main(argv: list[str] | None = None) -> None:
    """Parse; time the UNet sizes (``--sizes``) or several checkpoints (``--models``); or set up
    one checkpoint, time its forward passes, its chains and the exact reverse, and print the table."""
    p = parser()
    args = p.parse_args(argv)
    if args.batches and min(args.batches) < 1:
        p.error(f"--batches must be ≥ 1, got {args.batches}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.sizes:
        bench_sizes(device, args.repeats)
        return
    if args.models:
        bench_models(args.models, device, args.repeats)
        return
    bench = set_up(args, device)
    steps = args.true_reverse_steps or bench.diffusion.num_timesteps
    if not 1 <= steps <= bench.diffusion.num_timesteps:
        p.error(f"--true-reverse-steps must be within 1 … {bench.diffusion.num_timesteps}, got {steps}")
    chains = args.batches or ((16, 64) if device.type == "cuda" else (16,))
    rows = forward_rows(bench, args.batches or (1, 16, 64), args.repeats, device)
    rows += trajectory_rows(bench, chains, args.repeats, device)
    rows.append(true_reverse_row(bench, steps, device))
    print_table(rows, device)


if __name__ == "__main__":
    main()
