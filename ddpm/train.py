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
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import checkpoint
from .choices import PARAMETERIZATIONS, TIMESTEP_SAMPLINGS
from .data import load_mnist_tensor, to_model_range
from .diffusion import DiffusionConfig, GaussianDiffusion
from .distillation import teacher_target
from .images import make_grid, to_pil, upscale
from .inference import resolve_device
from .sampling import ddim_sample_loop_progressive, final_sample
from .schedules import SCHEDULES
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


def lr_at(step: int, total: int, peak: float, warmup: int, final_ratio: float) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to ``final_ratio · peak``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay · ema + (1 − decay) · model, parameter by parameter (buffers copied)."""
    for e, m in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(m.detach(), 1.0 - decay)
    for e, m in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(m)


def load_training_images(data_root: str | None, download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """MNIST training digits as float32 [60000, 1, 28, 28] in [−1, 1] and their labels int64 [60000]
    (from a torchvision folder, or an .npz with x_train and, optionally, y_train)."""
    if data_root is not None and data_root.endswith(".npz"):
        with np.load(data_root) as data:
            images = to_model_range(torch.from_numpy(data["x_train"])).unsqueeze(1)
            labels = torch.from_numpy(data["y_train"]).long() if "y_train" in data else None
            return images, labels
    split = load_mnist_tensor(data_root, train=True, download=download)
    return split.images, split.labels


def save_sample_grid(ema: UNet, diffusion: GaussianDiffusion, path: Path, device: torch.device) -> None:
    """64 samples of the EMA model (DDIM, 50 steps, fixed seed) as an 8×8 grid PNG (null label)."""
    generator = torch.Generator(device).manual_seed(1234)
    steps = ddim_sample_loop_progressive(
        diffusion, ema, (64, 1, 28, 28), steps=50, parameterization=ema.config.parameterization,
        generator=generator, device=device,
    )  # fmt: skip
    to_pil(upscale(make_grid(final_sample(steps).cpu(), nrow=8), 2)).save(path)


STATE_FILE = "train_state.pt"
"""The resumable state in ``--out`` (see :class:`TrainState`)."""


class Process(NamedTuple):
    """This process's place in a run: its device, and its rank among ``world`` processes under
    torchrun (rank 0 of 1 otherwise). Rank 0 prints and writes the files."""

    device: torch.device
    rank: int
    world: int
    distributed: bool

    @property
    def is_main(self) -> bool:
        """Rank 0, the process that prints and writes the files."""
        return self.rank == 0


class Average(NamedTuple):
    """An exponential moving average of the weights: its decay per step, its key in
    ``train_state.pt`` and the folder in ``--out`` it is exported to."""

    decay: float
    key: str
    folder: str


class Precision(NamedTuple):
    """How the forward pass runs: autocast's dtype and whether autocast is on, and the loss scaler
    (active only for float16 on CUDA)."""

    dtype: torch.dtype
    enabled: bool
    scaler: torch.amp.GradScaler


@dataclass
class TrainState:
    """What changes as training runs: all that ``train_state.pt`` keeps, so that a resumed run
    continues with the same weights, optimizer moments, random stream and data order."""

    model: UNet
    emas: dict[str, UNet]  # Average.key -> the averaged copy of ``model`` (eval mode, no gradients)
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # CPU stream of this rank's data order, t, noise and dropped labels
    step: int = 0  # optimizer steps done
    elapsed_before: float = 0.0  # seconds of training in the sessions before this one
    order: torch.Tensor | None = None  # int64 [N]: this epoch's permutation of the training images
    cursor: int = 0  # position in ``order`` of the next batch


@dataclass(frozen=True)
class Setup:
    """What stays fixed through a run once it is set up."""

    process: Process
    out: Path
    config: UNetConfig
    diffusion_config: DiffusionConfig
    diffusion: GaussianDiffusion
    averages: list[Average]
    net: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    images: torch.Tensor  # float32 [N, 1, 28, 28] in [−1, 1], on the CPU
    labels: torch.Tensor | None  # int64 [N], or None when the data has none
    null_teacher: UNet | None  # --null-teacher (see ddpm.distillation.teacher_target)
    low_teacher: UNet | None  # --low-noise-teacher
    t_probabilities: torch.Tensor  # float [T]: how t is drawn when not uniform
    precision: Precision
    memory_format: torch.memory_format


@dataclass
class Session:
    """One session of a run (a resumed run has several): when it began, the event a signal sets to
    stop it, and the loss summed since the last log line (a device scalar, so no sync per step) with
    the time that line was written."""

    start: float
    stop_signal: threading.Event
    loss_sum: torch.Tensor
    last_log: float


class Batch(NamedTuple):
    """One training batch on the device: the positions ``index`` [B] of its images in the training
    set, x0 [B, 1, 28, 28] in [−1, 1], t int64 [B], noise [B, 1, 28, 28] and, for a conditional
    model, the labels y int64 [B] with the null label (``--num-classes``) where dropped (else None)."""

    index: torch.Tensor
    x0: torch.Tensor
    t: torch.Tensor
    noise: torch.Tensor
    y: torch.Tensor | None


def start_process(args: argparse.Namespace) -> Process:
    """Join torchrun's process group when launched by it, and pick the device and CPU threads."""
    distributed = dist.is_available() and dist.is_torchelastic_launched()
    rank, world, local_rank = 0, 1, 0
    if distributed:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = resolve_device(args.device, local_rank)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    return Process(device, rank, world, distributed)


def end_process(process: Process) -> None:
    """Leave torchrun's process group, all processes together: a rank that tears gloo down while
    rank 0 still writes its files sometimes aborts ("terminate called without an active exception")."""
    if process.distributed:
        dist.barrier()
        dist.destroy_process_group()


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


def memory_format_for(device: torch.device) -> torch.memory_format:
    """channels_last on the CPU (faster convolutions there), the default layout elsewhere."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


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


def start_from_checkpoint(state: TrainState, path: str | Path, config: UNetConfig) -> None:
    """``--init-from``: the model and its averages take a checkpoint's weights (fine-tuning); the
    optimizer stays fresh. Exits when the checkpoint holds another network."""
    init, _ = checkpoint.load(path)
    if init.config != config:
        sys.exit(f"{path} holds model {init.config}, not {config}")
    state.model.load_state_dict(init.state_dict())
    for average in state.emas.values():
        average.load_state_dict(init.state_dict())


def load_state(state: TrainState, path: Path, config: UNetConfig, rank: int) -> None:
    """``--resume``: put ``state`` back as :func:`save_state` wrote it (an average missing from the
    file starts from the first one). Exits when the file holds another network."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["model_config"] != config.to_dict():
        sys.exit(f"{path} was trained with model {saved['model_config']}, not {config.to_dict()}")
    state.model.load_state_dict(saved["model"])
    for key, average in state.emas.items():
        average.load_state_dict(saved.get(key) or saved["ema"])
    state.optimizer.load_state_dict(saved["optimizer"])
    generators = saved["generator"]
    state.generator.set_state(generators[rank] if rank < len(generators) else generators[0])
    state.step, state.elapsed_before = saved["step"], saved["elapsed"]
    state.order, state.cursor = saved.get("order"), saved.get("cursor", 0)


def mixed_precision(args: argparse.Namespace, device: torch.device) -> Precision:
    """Autocast on CUDA (bfloat16 where supported, else float16 with loss scaling) unless
    ``--no-amp``; bfloat16 autocast on the CPU with ``--bf16``; else float32."""
    use_amp = device.type == "cuda" and not args.no_amp
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    fp16 = use_amp and amp_dtype == torch.float16  # bfloat16 needs no loss scaling
    if hasattr(torch.amp, "GradScaler"):
        scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    else:  # torch < 2.3
        scaler = torch.cuda.amp.GradScaler(enabled=fp16)
    cpu_bf16 = args.bf16 and device.type == "cpu"
    return Precision(torch.bfloat16 if cpu_bf16 else amp_dtype, use_amp or cpu_bf16, scaler)


def load_teachers(
    args: argparse.Namespace, device: torch.device, memory_format: torch.memory_format
) -> tuple[UNet | None, UNet | None]:
    """The ``--null-teacher`` and ``--low-noise-teacher`` networks (None where not asked for), frozen.
    Exits when one cannot teach this model."""
    null_teacher = None
    if args.null_teacher:
        null_teacher, _ = checkpoint.load(args.null_teacher, device)
        null_teacher.requires_grad_(False).to(memory_format=memory_format)
        if null_teacher.config.num_classes != args.num_classes or not args.num_classes:
            sys.exit(f"--null-teacher needs a model with {args.num_classes or 'some'} classes like this one")
        if null_teacher.config.parameterization != args.parameterization:
            sys.exit(
                f"--null-teacher predicts {null_teacher.config.parameterization}, not {args.parameterization}"
            )
    low_teacher = None
    if args.low_noise_teacher:
        low_teacher, _ = checkpoint.load(args.low_noise_teacher, device)
        low_teacher.requires_grad_(False).to(memory_format=memory_format)
        if low_teacher.config.timesteps != args.timesteps:
            sys.exit(f"--low-noise-teacher embeds T = {low_teacher.config.timesteps}, not {args.timesteps}")
    return null_teacher, low_teacher


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


def new_epoch(state: TrainState, size: int) -> None:
    """A fresh permutation of the ``size`` training images, read from its start."""
    state.order, state.cursor = torch.randperm(size, generator=state.generator), 0


def draw_batch(args: argparse.Namespace, setup: Setup, state: TrainState) -> Batch:
    """The epoch's next ``--batch-size`` images (a new epoch when fewer remain), then their t, noise
    and dropped labels. All come from ``state.generator`` in this order, so a resumed run draws
    what the uninterrupted one would have."""
    device, memory_format = setup.process.device, setup.memory_format
    if state.cursor + args.batch_size > len(state.order):
        new_epoch(state, len(setup.images))
    index = state.order[state.cursor : state.cursor + args.batch_size]
    x0 = setup.images[index].to(device, non_blocking=True)
    state.cursor += args.batch_size
    x0 = x0.contiguous(memory_format=memory_format)
    if args.t_sampling == "uniform":
        t = torch.randint(0, args.timesteps, (len(x0),), generator=state.generator).to(device)
    else:
        t = torch.multinomial(setup.t_probabilities, len(x0), replacement=True, generator=state.generator)
        t = t.to(device)
    noise = torch.randn(x0.shape, generator=state.generator).to(device)
    noise = noise.contiguous(memory_format=memory_format)
    y = None
    if args.num_classes:  # the null label in place of a dropped one: the unconditional model
        y = setup.labels[index].clone()
        y[torch.rand(len(y), generator=state.generator) < args.label_dropout] = args.num_classes
        y = y.to(device)
    return Batch(index, x0, t, noise, y)


def batch_target(args: argparse.Namespace, setup: Setup, batch: Batch) -> torch.Tensor | None:
    """The regression target [B, 1, 28, 28] of ``batch`` with the teachers' rows
    (:func:`ddpm.distillation.teacher_target`), or None when no teacher is set (the plain target)."""
    low, null = setup.low_teacher, setup.null_teacher
    if low is None and null is None:
        return None
    true_labels = None if setup.labels is None else setup.labels[batch.index].to(setup.process.device)
    return teacher_target(
        setup.diffusion, batch.x0, batch.t, batch.noise, args.parameterization,
        low_teacher=low, low_parameterization="eps" if low is None else low.config.parameterization,
        low_below=args.low_noise_below, null_teacher=null, labels=batch.y, true_labels=true_labels,
        null_label=None if null is None else null.config.num_classes,
    )  # fmt: skip


def batch_loss(args: argparse.Namespace, setup: Setup, batch: Batch) -> torch.Tensor:
    """The mean training loss of ``batch`` (a scalar), under autocast: the simple or hybrid loss,
    against the teachers' targets where they teach, weighted by min(SNR, γ) when asked."""
    diffusion, precision = setup.diffusion, setup.precision
    with torch.autocast(setup.process.device.type, dtype=precision.dtype, enabled=precision.enabled):
        target = batch_target(args, setup, batch)
        loss = diffusion.training_losses(
            lambda x, t, y=batch.y: setup.net(x, t, y).float(), batch.x0, batch.t, batch.noise,
            args.parameterization, variance=setup.config.variance, vlb_weight=args.vlb_weight, target=target,
        ).loss  # fmt: skip
        if args.min_snr_gamma > 0:
            loss = loss * diffusion.min_snr_weight(batch.t, args.min_snr_gamma, args.parameterization)
        return loss.mean()


def training_step(
    args: argparse.Namespace, setup: Setup, state: TrainState, batch: Batch
) -> tuple[torch.Tensor, float]:
    """One optimizer step on ``batch`` at this step's learning rate (gradient clipped), then the
    averages follow the model with their decay warmed up as min(decay, (1 + step) / (10 + step)).
    Returns the batch's loss (a detached float32 scalar on the device) and the learning rate."""
    lr = lr_at(state.step, args.steps, args.lr, args.warmup, args.final_lr_ratio)
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    loss = batch_loss(args, setup, batch)
    scaler = setup.precision.scaler
    state.optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if args.grad_clip > 0:
        scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), args.grad_clip)
    scaler.step(state.optimizer)
    scaler.update()
    state.step += 1
    warm_up = (1 + state.step) / (10 + state.step)
    for average in setup.averages:
        ema_update(state.emas[average.key], state.model, min(average.decay, warm_up))
    return loss.detach().float(), lr


def stop_requested(args: argparse.Namespace, process: Process, session: Session) -> bool:
    """Whether to stop now, state saved: a signal came (see :func:`_stop_on_signals`), or this
    session has run ``--max-minutes`` (0: no limit). Every process must agree to stop, so under
    torchrun the decision is all-reduced (every process calls this at the same steps)."""
    flag = torch.tensor(
        float(
            session.stop_signal.is_set()
            or (args.max_minutes > 0 and (time.time() - session.start) / 60 >= args.max_minutes)
        )
    )
    if process.distributed:
        flag = flag.to(process.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def log_losses(
    args: argparse.Namespace, setup: Setup, state: TrainState, session: Session, lr: float, bar: tqdm
) -> None:
    """Append the mean loss over the last ``--log-every`` steps, the learning rate, the speed and
    the training minutes so far to ``log.jsonl``, and show loss and lr on the progress bar."""
    mean_loss = session.loss_sum.item() / args.log_every
    now = time.time()
    record = {"step": state.step, "loss": round(mean_loss, 5), "lr": lr,
              "steps_per_s": round(args.log_every / (now - session.last_log), 2),
              "minutes": round((state.elapsed_before + now - session.start) / 60, 2)}  # fmt: skip
    with open(setup.out / "log.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")
    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
    session.last_log = now


def save_state(args: argparse.Namespace, setup: Setup, state: TrainState, session: Session) -> None:
    """Write ``train_state.pt`` (atomically; every rank's generator, gathered under torchrun) and
    export each average as a checkpoint (``checkpoint/``, ``checkpoint-ema2/``). Rank 0 writes."""
    process = setup.process
    generators = [state.generator.get_state()]
    if process.distributed:
        gathered = [None] * process.world
        dist.all_gather_object(gathered, state.generator.get_state())
        generators = gathered
    if not process.is_main:
        return
    elapsed = state.elapsed_before + time.time() - session.start
    saved = {
        "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        **{key: average.state_dict() for key, average in state.emas.items()},
        "generator": generators, "step": state.step, "elapsed": elapsed,
        "order": state.order, "cursor": state.cursor,
        "model_config": setup.config.to_dict(), "args": vars(args),
    }  # fmt: skip
    torch.save(saved, setup.out / "train_state.tmp")
    os.replace(setup.out / "train_state.tmp", setup.out / STATE_FILE)
    extra = {"steps": state.step, "train_minutes": round(elapsed / 60, 1), "args": vars(args)}
    for average in setup.averages:
        checkpoint.save(
            setup.out / average.folder, state.emas[average.key], setup.diffusion_config,
            {**extra, "ema_decay": average.decay},
        )  # fmt: skip


def run_session(args: argparse.Namespace, setup: Setup, state: TrainState) -> None:
    """Train from ``state.step`` until ``--steps``, a signal or ``--max-minutes``: each step draws a
    batch and takes an optimizer step; every ``--log-every`` steps the loss is logged (and the
    stopping rules checked), every ``--save-every`` steps and at the end the state is saved, every
    ``--sample-every`` steps and at the end a grid of samples is written (none if it is 0)."""
    process = setup.process
    start = time.time()
    stop_signal, restore_signals = _stop_on_signals()
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

    In order: :func:`start_process`, :func:`new_state` (its weights then from ``--init-from``, or
    all of it from ``--resume``), :func:`set_up` around it, :func:`run_session`, :func:`end_process`.
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


def _stop_on_signals() -> tuple[threading.Event, Callable[[], None]]:
    """An event set by SIGTERM or SIGINT (``kill``, Ctrl-C): the loop then saves its state after
    the step it is in and stops, so that ``--resume`` continues from that very step. A second
    signal is handled as usual. Outside the main thread (no handlers there) the event stays clear.
    Returns the event and the function that puts the previous handlers back."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return event, lambda: None
    originals: dict[int, object] = {}

    def restore() -> None:
        for sig, previous in originals.items():
            signal.signal(sig, previous)

    def handle(signum: int, frame) -> None:
        event.set()
        restore()

    originals.update({sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)})
    return event, restore


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
