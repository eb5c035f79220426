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
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import checkpoint
from .choices import PARAMETERIZATIONS, TIMESTEP_SAMPLINGS
from .data import load_mnist_tensor, to_model_range
from .diffusion import DiffusionConfig, GaussianDiffusion
from .images import make_grid, to_pil, upscale
from .inference import resolve_device
from .sampling import ddim_sample_loop_progressive, final_sample
from .schedules import SCHEDULES
from .unet import UNet, UNetConfig, count_parameters


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    a("--sample-every", type=int, default=5000, help="write a grid of 64 EMA samples (DDIM-50) every N steps")
    a("--log-every", type=int, default=100, help="append mean loss and speed to log.jsonl every N steps")
    return p.parse_args(argv)


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


def train(args: argparse.Namespace) -> Path:
    """Run training as configured by ``args``; returns the exported checkpoint folder."""
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
    main_process = rank == 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    config = UNetConfig(
        channels=tuple(int(c) for c in args.channels.split(",")),
        blocks_per_level=args.blocks_per_level,
        attention_levels=tuple(int(c) for c in args.attention_levels.split(",") if c.strip()),
        dropout=args.dropout,
        timesteps=args.timesteps,
        parameterization=args.parameterization,
        num_classes=args.num_classes,
        learn_sigma=args.learn_sigma,
    )
    diffusion_config = DiffusionConfig(args.schedule, args.timesteps)
    diffusion = diffusion_config.build().to(device)
    memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = UNet(config).to(device, memory_format=memory_format)
    # The averaged weights, each with its decay, its key in train_state.pt and its export folder;
    # a second average of another length compares EMA lengths on one run at no training cost.
    averages = [(args.ema_decay, "ema", "checkpoint")]
    if args.ema_decay_2:
        averages.append((args.ema_decay_2, "ema2", "checkpoint-ema2"))
    emas = {key: copy.deepcopy(model).eval().requires_grad_(False) for _, key, _ in averages}
    ema = emas["ema"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed * 1000 + rank)  # data order, t, noise
    step, elapsed_before = 0, 0.0
    order, cursor = None, 0  # this epoch's permutation of the training images, and the position in it

    if args.init_from and not (args.resume and (out / "train_state.pt").exists()):
        init, _ = checkpoint.load(args.init_from)
        if init.config != config:
            sys.exit(f"{args.init_from} holds model {init.config}, not {config}")
        model.load_state_dict(init.state_dict())
        for average in emas.values():
            average.load_state_dict(init.state_dict())
    state_path = out / "train_state.pt"
    if args.resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["model_config"] != config.to_dict():
            sys.exit(f"{state_path} was trained with model {state['model_config']}, not {config.to_dict()}")
        model.load_state_dict(state["model"])
        for key, average in emas.items():
            average.load_state_dict(state.get(key) or state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(
            state["generator"][rank] if rank < len(state["generator"]) else state["generator"][0]
        )
        step, elapsed_before = state["step"], state["elapsed"]
        order, cursor = state.get("order"), state.get("cursor", 0)
        if main_process:
            print(f"resumed from {state_path} at step {step}", flush=True)

    net = DistributedDataParallel(model) if distributed else model
    use_amp = device.type == "cuda" and not args.no_amp
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    fp16 = use_amp and amp_dtype == torch.float16  # bfloat16 needs no loss scaling
    if hasattr(torch.amp, "GradScaler"):
        scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    else:  # torch < 2.3
        scaler = torch.cuda.amp.GradScaler(enabled=fp16)

    images, labels = load_training_images(args.data_root, download=not args.no_download)
    if args.num_classes and labels is None:
        sys.exit(f"--num-classes {args.num_classes} needs labels, and {args.data_root} has no y_train")
    teacher = None
    if args.null_teacher:
        teacher, _ = checkpoint.load(args.null_teacher, device)
        teacher.requires_grad_(False).to(memory_format=memory_format)
        if teacher.config.num_classes != args.num_classes or not args.num_classes:
            sys.exit(f"--null-teacher needs a model with {args.num_classes or 'some'} classes like this one")
        if teacher.config.parameterization != args.parameterization:
            sys.exit(
                f"--null-teacher predicts {teacher.config.parameterization}, not {args.parameterization}"
            )
    low_teacher = None
    if args.low_noise_teacher:
        low_teacher, _ = checkpoint.load(args.low_noise_teacher, device)
        low_teacher.requires_grad_(False).to(memory_format=memory_format)
        if low_teacher.config.timesteps != args.timesteps:
            sys.exit(f"--low-noise-teacher embeds T = {low_teacher.config.timesteps}, not {args.timesteps}")
    t_probabilities = diffusion.timestep_distribution(args.t_sampling)
    cpu_bf16 = args.bf16 and device.type == "cpu"
    autocast_dtype = torch.bfloat16 if cpu_bf16 else amp_dtype
    if main_process:
        print(f"{count_parameters(model):,} parameters, {len(images):,} images, device {device}, "
              f"world size {world}, batch {args.batch_size} per process", flush=True)  # fmt: skip

    def save_state() -> None:
        gens = [generator.get_state()]
        if distributed:
            gathered = [None] * world
            dist.all_gather_object(gathered, generator.get_state())
            gens = gathered
        if not main_process:
            return
        state = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            **{key: average.state_dict() for key, average in emas.items()},
            "generator": gens, "step": step, "elapsed": elapsed_before + time.time() - start,
            "order": order, "cursor": cursor,
            "model_config": config.to_dict(), "args": vars(args),
        }  # fmt: skip
        torch.save(state, out / "train_state.tmp")
        os.replace(out / "train_state.tmp", state_path)
        extra = {"steps": step, "train_minutes": round(state["elapsed"] / 60, 1), "args": vars(args)}
        for decay, key, folder in averages:
            checkpoint.save(out / folder, emas[key], diffusion_config, {**extra, "ema_decay": decay})

    start = time.time()
    stop_signal, restore_signals = _stop_on_signals()
    if order is None or len(order) != len(images):
        order, cursor = torch.randperm(len(images), generator=generator), 0
    loss_sum = torch.zeros((), device=device)
    bar = tqdm(
        total=args.steps, initial=step, disable=not main_process, mininterval=1 if sys.stderr.isatty() else 60
    )
    last_log = time.time()
    try:
        while step < args.steps:
            if cursor + args.batch_size > len(order):
                order, cursor = torch.randperm(len(images), generator=generator), 0
            index = order[cursor : cursor + args.batch_size]
            x0 = images[index].to(device, non_blocking=True)
            cursor += args.batch_size
            x0 = x0.contiguous(memory_format=memory_format)
            if args.t_sampling == "uniform":
                t = torch.randint(0, args.timesteps, (len(x0),), generator=generator).to(device)
            else:
                t = torch.multinomial(t_probabilities, len(x0), replacement=True, generator=generator).to(
                    device
                )
            noise = (
                torch.randn(x0.shape, generator=generator).to(device).contiguous(memory_format=memory_format)
            )
            y, target = None, None
            if args.num_classes:  # the null label in place of a dropped one: the unconditional model
                y = labels[index].clone()
                y[torch.rand(len(y), generator=generator) < args.label_dropout] = args.num_classes
                y = y.to(device)
            lr = lr_at(step, args.steps, args.lr, args.warmup, args.final_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_amp or cpu_bf16):
                if teacher is not None or low_teacher is not None:
                    true_labels = None if labels is None else labels[index].to(device)
                    target = _teacher_target(
                        diffusion, x0, t, noise, args.parameterization, y, true_labels,
                        teacher, low_teacher, args.low_noise_below,
                    )  # fmt: skip
                loss = diffusion.training_losses(
                    lambda x, t, y=y: net(x, t, y).float(), x0, t, noise, args.parameterization,
                    variance=config.variance, vlb_weight=args.vlb_weight, target=target,
                ).loss  # fmt: skip
                if args.min_snr_gamma > 0:
                    loss = loss * diffusion.min_snr_weight(t, args.min_snr_gamma, args.parameterization)
                loss = loss.mean()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            for decay, key, _ in averages:
                ema_update(emas[key], model, min(decay, (1 + step) / (10 + step)))
            loss_sum += loss.detach().float()
            bar.update(1)
            out_of_time = False
            if step % args.log_every == 0 or (not distributed and stop_signal.is_set()):
                # every process must agree to stop, so the decision is all-reduced
                flag = torch.tensor(
                    float(
                        stop_signal.is_set()
                        or (args.max_minutes > 0 and (time.time() - start) / 60 >= args.max_minutes)
                    )
                )
                if distributed:
                    flag = flag.to(device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if step % args.log_every == 0 and main_process:
                mean_loss = loss_sum.item() / args.log_every
                now = time.time()
                record = {"step": step, "loss": round(mean_loss, 5), "lr": lr,
                          "steps_per_s": round(args.log_every / (now - last_log), 2),
                          "minutes": round((elapsed_before + now - start) / 60, 2)}  # fmt: skip
                with open(out / "log.jsonl", "a") as log:
                    log.write(json.dumps(record) + "\n")
                bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
                last_log = now
            if step % args.log_every == 0:
                loss_sum.zero_()
            if step % args.save_every == 0 or step == args.steps or out_of_time:
                save_state()
            if main_process and (step % args.sample_every == 0 or step == args.steps):
                save_sample_grid(ema, diffusion, out / f"samples_{step:06d}.png", device)
            if out_of_time:
                if main_process:
                    why = "on a signal" if stop_signal.is_set() else f"after {args.max_minutes} minutes"
                    print(f"stopping {why} at step {step}; resume with --resume", flush=True)
                break
    finally:
        restore_signals()
    bar.close()
    if distributed:
        # leave together: a rank that tears gloo down while rank 0 still writes its files
        # sometimes aborts ("terminate called without an active exception")
        dist.barrier()
        dist.destroy_process_group()
    return out / "checkpoint"


@torch.no_grad()
def _teacher_target(
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    parameterization: str,
    y: torch.Tensor | None,
    true_labels: torch.Tensor | None,
    null_teacher: UNet | None,
    low_teacher: UNet | None,
    low_below: int,
) -> torch.Tensor:
    """The regression target [B, C, H, W] of a batch, some rows' taken from teachers.

    Every target's mean given x_t is E[target | x_t] (or E[target | x_t, y]), the minimiser of the
    simple loss; a teacher's estimate of it has far less variance than the true target (ε, x_0 or
    v of the pair that made x_t), which is one noisy draw of it:

    - ``low_teacher`` (rows with t < ``low_below``): a model's prediction at x_t, converted to this
      parameterization through x̂_0 and ε̂. There x_t all but fixes the digit, so the label adds
      nothing and one unconditional network serves both paths.
    - ``null_teacher`` (rows with the null label elsewhere): the conditional prediction for the
      pair's own label. The null label must learn Σ_y p(y | x_t) E[target | x_t, y]; the pair's
      label is a draw from p(y | x_t), so this target has the right mean without the spread of x_0
      within a class.
    """
    target = {"eps": noise, "x0": x0}.get(parameterization)
    target = diffusion.predict_v(x0, noise, t) if target is None else target.clone()
    x_t = diffusion.q_sample(x0, t, noise)
    low = t < low_below if low_teacher is not None else torch.zeros_like(t, dtype=torch.bool)
    if low.any():
        output = low_teacher(x_t[low], t[low]).float()[:, : x0.shape[1]]
        pred_x0, pred_noise = diffusion.predictions(
            output, x_t[low], t[low], low_teacher.config.parameterization, clip_denoised=False
        )
        converted = {"eps": pred_noise, "x0": pred_x0}.get(parameterization)
        if converted is None:
            converted = diffusion.predict_v(pred_x0, pred_noise, t[low])
        target[low] = converted.to(target.dtype)
    if null_teacher is not None and y is not None:
        dropped = (y == null_teacher.config.num_classes) & ~low
        if dropped.any():
            guess = null_teacher(x_t[dropped], t[dropped], true_labels[dropped]).float()[:, : x0.shape[1]]
            target[dropped] = guess.to(target.dtype)
    return target


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
