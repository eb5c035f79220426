"""Train the ε-model on MNIST: ``python -m ddpm.train --help``.

Algorithm 1 of Ho et al. 2020 with the simple loss (eq. 14), AdamW with linear warm-up and cosine
decay, gradient clipping, and an exponential moving average (EMA) of the weights, which is what
gets exported for sampling. Options: a class-conditional model whose labels are dropped now and
then (classifier-free guidance, Ho & Salimans 2022), a learned variance with the hybrid loss
(Nichol & Dhariwal 2021), v-prediction, more weight on noisy t. Mixed precision on CUDA, and
bfloat16 autocast on CPU with ``--bf16``. Resumable: ``--resume`` continues from
``<out>/train_state.pt``; ``--max-minutes`` stops cleanly (state saved) so a run can span sessions.

Multi-GPU (or multi-process CPU) with DistributedDataParallel through torchrun::

    torchrun --nproc_per_node=4 -m ddpm.train --batch-size 64 ...   # 64 per process

Outputs in ``--out``: ``checkpoint/`` (EMA weights + config, loadable by ddpm.checkpoint.load),
``train_state.pt`` (for resuming), ``log.jsonl`` (loss, lr, speed) and ``samples_<step>.png``.

This module reads the options and runs the loop; what a run holds and its files are
:mod:`ddpm.training.state`, each step of the loop :mod:`ddpm.training.steps`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .choices import PARAMETERIZATIONS, TIMESTEP_SAMPLINGS
from .diffusion import DiffusionConfig
from .schedules import SCHEDULES
from .training.state import (
    STATE_FILE,
    Average,
    Process,
    Session,
    Setup,
    TrainState,
    end_process,
    load_state,
    load_teachers,
    memory_format_for,
    mixed_precision,
    save_state,
    start_from_checkpoint,
    start_process,
)
from .training.steps import (
    draw_batch,
    load_training_images,
    log_losses,
    new_epoch,
    save_sample_grid,
    stop_on_signals,
    stop_requested,
    training_step,
)
from .unet import UNet, UNetConfig, count_parameters


def parser() -> argparse.ArgumentParser:
    """The command line's parser (:func:`parse_args` adds the checks across options)."""
    p = argparse.ArgumentParser(prog="python -m ddpm.train", description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--steps", type=int, default=60_000, help="optimizer steps in all (the LR schedule spans them)")
    a("--batch-size", type=int, default=32, help="images per step (per process under torchrun)")
    a("--lr", type=float, default=2e-3, help="peak learning rate of AdamW")
    a("--warmup", type=int, default=500, help="steps of linear LR warm-up from 0")
    a("--final-lr-ratio", type=float, default=0.02, help="LR at the end as a fraction of the peak (cosine)")
    a("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    a("--grad-clip", type=float, default=1.0, help="clip the gradient norm to this (0: no clipping)")
    a("--ema-decay", type=float, default=0.9995, help="EMA decay per step (warmed up from 0)")
    a(
        "--ema-decay-2", type=float, default=0.0,
        help="also keep an EMA of this decay, exported to <out>/checkpoint-ema2 (0: none)",
    )  # fmt: skip
    a("--schedule", choices=SCHEDULES, default="linear", help="β schedule")
    a("--timesteps", type=int, default=1000, help="T, the number of diffusion steps")
    a("--parameterization", choices=PARAMETERIZATIONS, default="eps", help="what the network predicts")
    a(
        "--min-snr-gamma",
        type=float,
        default=0.0,
        help="weight the loss by min(SNR, γ) in x_0 terms (Hang et al. 2023; 5 is usual); 0: simple loss",
    )
    a("--t-sampling", choices=TIMESTEP_SAMPLINGS, default="uniform", help="how t is drawn (see ddpm.choices)")
    a("--num-classes", type=int, default=0, help="class labels the model takes (10 for digits; 0: none)")
    a("--label-dropout", type=float, default=0.15, help="fraction of labels replaced by the null label")
    a(
        "--null-teacher", default=None,
        help="a class-conditional checkpoint whose prediction for the dropped label (same x_t) is the"
        " null rows' target: E over y ~ p(y | x_t) of E[target | x_t, y] is E[target | x_t], the same"
        " minimiser as the true target, with far less variance (see the model card)",
    )  # fmt: skip
    a(
        "--low-noise-teacher", default=None,
        help="a checkpoint (any parameterization, e.g. the ε-model) whose prediction is every row's target"
        " where t < --low-noise-below: there the label hardly matters, and a network better at the"
        " nearly clean steps teaches them with no noise in the target",
    )  # fmt: skip
    a("--low-noise-below", type=int, default=350, help="index t below which --low-noise-teacher applies")
    a("--learn-sigma", action="store_true", help="learn σ² between β̃_t and β_t with the hybrid loss")
    a("--vlb-weight", type=float, default=0.001, help="λ of the hybrid loss L_simple + λ L_vlb")
    a("--bf16", action="store_true", help="bfloat16 autocast on CPU (faster where the CPU has AMX)")
    a("--channels", default="32,64", help="UNet widths per level, comma-separated (finest first)")
    a("--blocks-per-level", type=int, default=1, help="residual blocks per level going down")
    a("--attention-levels", default="1", help="levels with self-attention, comma-separated ('' for none)")
    a("--dropout", type=float, default=0.0, help="dropout in residual blocks")
    a("--seed", type=int, default=0, help="seed for weights, data order, t and noise")
    a("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'")
    a("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    a("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    a(
        "--data-root",
        default=None,
        help="MNIST root for torchvision, or an .npz with x_train (default: $DDPM_DATA or ./data)",
    )
    a("--no-download", action="store_true", help="never download MNIST")
    a("--out", default="runs/mnist", help="output folder")
    a("--resume", action="store_true", help="continue from <out>/train_state.pt if it exists")
    a(
        "--init-from",
        default=None,
        help="start model and EMA from this checkpoint folder (fine-tuning; fresh optimizer)",
    )
    a("--max-minutes", type=float, default=0.0, help="stop (saving state) after this wall time; 0: no limit")
    a("--save-every", type=int, default=2000, help="save state and export the EMA checkpoint every N steps")
    a(
        "--sample-every", type=int, default=5000,
        help="write a grid of 64 EMA samples (DDIM-50) every N steps and at the end (0: none)",
    )  # fmt: skip
    a("--log-every", type=int, default=100, help="append mean loss and speed to log.jsonl every N steps")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    for name, low in (("save_every", 1), ("log_every", 1), ("sample_every", 0)):
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be ≥ {low}, got {getattr(args, name)}")
    return args


def model_config(args: argparse.Namespace) -> UNetConfig:
    """The network that ``args`` ask for."""
    return UNetConfig(
        channels=tuple(int(c) for c in args.channels.split(",")),
        blocks_per_level=args.blocks_per_level,
        attention_levels=tuple(int(c) for c in args.attention_levels.split(",") if c.strip()),
        dropout=args.dropout,
        timesteps=args.timesteps,
        parameterization=args.parameterization,
        num_classes=args.num_classes,
        learn_sigma=args.learn_sigma,
    )


def averages_of(args: argparse.Namespace) -> list[Average]:
    """The averages kept: ``--ema-decay`` (exported to checkpoint/) and, when set, ``--ema-decay-2``
    (checkpoint-ema2/), which compares EMA lengths on one run at no training cost."""
    averages = [Average(args.ema_decay, "ema", "checkpoint")]
    if args.ema_decay_2:
        averages.append(Average(args.ema_decay_2, "ema2", "checkpoint-ema2"))
    return averages


def new_state(args: argparse.Namespace, config: UNetConfig, process: Process) -> TrainState:
    """Step 0: weights drawn from ``--seed`` (torch's global generator), the averages equal to them,
    a fresh AdamW, and the rank's own generator for data order, t and noise."""
    torch.manual_seed(args.seed)
    model = UNet(config).to(process.device, memory_format=memory_format_for(process.device))
    emas = {average.key: copy.deepcopy(model).eval().requires_grad_(False) for average in averages_of(args)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed * 1000 + process.rank)
    return TrainState(model, emas, optimizer, generator)


def set_up(
    args: argparse.Namespace,
    process: Process,
    out: Path,
    config: UNetConfig,
    diffusion_config: DiffusionConfig,
    model: UNet,
) -> Setup:
    """The rest of a run around its (new, initialised or resumed) ``model``: the network wrapped for
    torchrun, the precision, the training data, the teachers and the diffusion. Exits when a
    conditional model is asked for and the data has no labels."""
    device = process.device
    net = DistributedDataParallel(model) if process.distributed else model
    precision = mixed_precision(args, device)
    images, labels = load_training_images(args.data_root, download=not args.no_download)
    if args.num_classes and labels is None:
        sys.exit(f"--num-classes {args.num_classes} needs labels, and {args.data_root} has no y_train")
    memory_format = memory_format_for(device)
    null_teacher, low_teacher = load_teachers(args, device, memory_format)
    diffusion = diffusion_config.build().to(device)
    return Setup(
        process, out, config, diffusion_config, diffusion, averages_of(args), net, images, labels,
        null_teacher, low_teacher, diffusion.timestep_distribution(args.t_sampling), precision, memory_format,
    )  # fmt: skip


def run_session(args: argparse.Namespace, setup: Setup, state: TrainState) -> None:
    """Train from ``state.step`` until ``--steps``, a signal or ``--max-minutes``: each step draws a
    batch and takes an optimizer step; every ``--log-every`` steps the loss is logged (and the
    stopping rules checked), every ``--save-every`` steps and at the end the state is saved, every
    ``--sample-every`` steps and at the end a grid of samples is written (none if it is 0)."""
    process = setup.process
    start = time.time()
    stop_signal, restore_signals = stop_on_signals()
    if state.order is None or len(state.order) != len(setup.images):
        new_epoch(state, len(setup.images))
    loss_sum = torch.zeros((), device=process.device)
    bar = tqdm(
        total=args.steps, initial=state.step, disable=not process.is_main,
        mininterval=1 if sys.stderr.isatty() else 60,
    )  # fmt: skip
    session = Session(start, stop_signal, loss_sum, last_log=time.time())
    try:
        while state.step < args.steps:
            batch = draw_batch(args, setup, state)
            loss, lr = training_step(args, setup, state, batch)
            session.loss_sum += loss
            bar.update(1)
            step = state.step
            out_of_time = False
            if step % args.log_every == 0 or (not process.distributed and stop_signal.is_set()):
                out_of_time = stop_requested(args, process, session)
            if step % args.log_every == 0:
                if process.is_main:
                    log_losses(args, setup, state, session, lr, bar)
                session.loss_sum.zero_()
            if step % args.save_every == 0 or step == args.steps or out_of_time:
                save_state(args, setup, state, session)
            sample = args.sample_every > 0 and (step % args.sample_every == 0 or step == args.steps)
            if process.is_main and sample:
                path = setup.out / f"samples_{step:06d}.png"
                save_sample_grid(state.emas["ema"], setup.diffusion, path, process.device)
            if out_of_time:
                if process.is_main:
                    why = "on a signal" if stop_signal.is_set() else f"after {args.max_minutes} minutes"
                    print(f"stopping {why} at step {step}; resume with --resume", flush=True)
                break
    finally:
        restore_signals()
    bar.close()


def train(args: argparse.Namespace) -> Path:
    """Run training as configured by ``args``; returns the exported checkpoint folder.

    In order: :func:`~ddpm.training.state.start_process`, :func:`new_state` (its weights then from
    ``--init-from``, or all of it from ``--resume``), :func:`set_up` around it, :func:`run_session`,
    :func:`~ddpm.training.state.end_process`.
    """
    process = start_process(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = model_config(args)
    diffusion_config = DiffusionConfig(args.schedule, args.timesteps)
    state = new_state(args, config, process)
    state_path = out / STATE_FILE
    resuming = args.resume and state_path.exists()
    if args.init_from and not resuming:
        start_from_checkpoint(state, args.init_from, config)
    if resuming:
        load_state(state, state_path, config, process.rank)
        if process.is_main:
            print(f"resumed from {state_path} at step {state.step}", flush=True)
    setup = set_up(args, process, out, config, diffusion_config, state.model)
    if process.is_main:
        print(f"{count_parameters(state.model):,} parameters, {len(setup.images):,} images, "
              f"device {process.device}, world size {process.world}, batch {args.batch_size} per process",
              flush=True)  # fmt: skip
    run_session(args, setup, state)
    end_process(process)
    return out / "checkpoint"


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
