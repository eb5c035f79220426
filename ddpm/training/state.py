"""What a training run holds, and its files: ``train_state.pt`` (saved, resumed) and the exported averages.

:class:`TrainState` is what changes as training runs and all that ``train_state.pt`` keeps, so
that a resumed run continues with the same weights, optimizer moments, random stream and data
order; :class:`Setup` is what stays fixed once a run is set up (``ddpm.train.set_up``): its
process (:func:`start_process`, torchrun's process group and the device), its precision
(:func:`mixed_precision`) and the teachers (:func:`load_teachers`) among them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.distributed as dist

from .. import checkpoint
from ..diffusion import DiffusionConfig, GaussianDiffusion
from ..inference import resolve_device
from ..unet import UNet, UNetConfig

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


def memory_format_for(device: torch.device) -> torch.memory_format:
    """channels_last on the CPU (faster convolutions there), the default layout elsewhere."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


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
