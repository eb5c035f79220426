"""A training run's steps: the learning rate, the EMA, the data, a batch's draw, target and loss, the
optimizer step (Algorithm 1 of Ho et al. 2020), the stopping rules and a grid of samples."""

from __future__ import annotations

import argparse
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..data import load_mnist_tensor, to_model_range
from ..diffusion import GaussianDiffusion
from ..distillation import teacher_target
from ..images import make_grid, to_pil, upscale
from ..sampling import ddim_sample_loop_progressive, final_sample
from ..unet import UNet
from .state import Batch, Process, Session, Setup, TrainState


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
    """Whether to stop now, state saved: a signal came (see :func:`stop_on_signals`), or this
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


def stop_on_signals() -> tuple[threading.Event, Callable[[], None]]:
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
