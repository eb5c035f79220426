"""Shared, lazily created state of the app: the model, its diffusion, the bundled digits.

Loaded once per process on first use and cached. The checkpoint is the default one
(:data:`ddpm.checkpoint.DEFAULT`, class-conditional) unless the environment variable
``DDPM_CHECKPOINT`` names another folder or shipped checkpoint. The reverse view's unconditional
p_θ(x_{t−1} | x_t) is the network :func:`unconditional_path` names: the model itself, or the
checkpoint its config names under ``"unconditional_from"`` (the shipped conditional model names
the ε-model, whose unconditional chain is the better one; ``checkpoints/MODEL_CARD.md``). On a
ZeroGPU Space the functions that need the GPU are wrapped with ``spaces.GPU`` (by
:func:`.handlers.endpoint`); elsewhere :func:`gpu` does nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import torch

from .. import checkpoint
from ..classifier import DigitClassifier
from ..classifier import load as load_classifier
from ..data import MNISTSplit, bundled_digits, to_model_range, training_digits
from ..diffusion import DiffusionConfig, GaussianDiffusion
from ..inference import prepare_for_inference
from ..teaching.readout import class_label
from ..true_reverse import TrueReverse
from ..unet import UNetConfig
from . import compute

F = TypeVar("F", bound=Callable)

try:  # Hugging Face ZeroGPU: the GPU is attached only while a decorated function runs
    import spaces

    def gpu(duration: int = 60) -> Callable[[F], F]:
        return spaces.GPU(duration=duration)

except ImportError:

    def gpu(duration: int = 60) -> Callable[[F], F]:
        return lambda fn: fn


class Runtime(NamedTuple):
    model: torch.nn.Module
    diffusion: GaussianDiffusion
    device: torch.device


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def _load(path: str, device_name: str) -> Runtime:
    model, diffusion = checkpoint.load(path, device_name)
    # On CPU the traced, frozen model keeps its pace while the web server works beside it
    # (see ddpm.inference.FrozenUNet); on a GPU eager is fine.
    backend = "torchscript" if torch.device(device_name).type == "cpu" else "eager"
    network = compute.batched(prepare_for_inference(model, device_name, backend))  # one pass per step
    return Runtime(network, diffusion, torch.device(device_name))


def checkpoint_path() -> str:
    """The model's folder: ``$DDPM_CHECKPOINT`` when set (a folder, or the name of a shipped
    checkpoint: ``eps``, ``conditional``), else the default checkpoint."""
    return str(checkpoint.resolve(os.environ.get("DDPM_CHECKPOINT") or checkpoint.DEFAULT))


@functools.cache
def _unconditional(path: str) -> str:
    named = checkpoint.read_config(path).get("unconditional_from")
    return path if not named else str(checkpoint.resolve(named))


def unconditional_path() -> str:
    """The folder of the network whose p_θ(x_{t−1} | x_t) the reverse view shows without a class:
    the checkpoint's own (its null label) unless its config.json names another under
    ``"unconditional_from"`` (a shipped name such as ``eps``, or a folder)."""
    return _unconditional(checkpoint_path())


@functools.cache
def _fingerprint(*paths: str) -> str:
    return hashlib.sha256(b"".join((Path(p) / checkpoint.CONFIG).read_bytes() for p in paths)).hexdigest()


def model_fingerprint() -> str:
    """The sha256 of the config.json of both networks a view may run (:func:`learned_reverse`),
    each of which records the sha256 of its weights (checked on load): a key of the shared results
    (:mod:`.results`), different for every pair of models."""
    return _fingerprint(checkpoint_path(), unconditional_path())


def runtime() -> Runtime:
    """The model (ready for inference) and its diffusion, on the GPU when there is one.

    Loaded on the compute thread (:mod:`.compute`), which also serializes two first requests.
    """
    return compute.call(_load, checkpoint_path(), str(device()))


def unconditional_runtime() -> Runtime:
    """:func:`runtime` for the network of :func:`unconditional_path` (the same one when the model
    shows its own null label)."""
    return compute.call(_load, unconditional_path(), str(device()))


def learned_reverse(told_class: bool) -> Runtime:
    """The one rule for the network behind p_θ(x_{t−1} | x_t) in every view and lesson: told the
    digit's class, the model itself (class-conditional); not told, the network of
    :func:`unconditional_path` (the shipped conditional model names the ε-model, the better
    unconditional network on the project's judge; ``checkpoints/MODEL_CARD.md``). ValueError when
    ``told_class`` is asked of a model without labels."""
    if told_class and not model_config().num_classes:
        raise ValueError(
            f"told_class=True: the model {checkpoint_path()} takes no class labels; it cannot be told the"
            " digit"
        )
    return runtime() if told_class else unconditional_runtime()


def learned_config(told_class: bool) -> UNetConfig:
    """:func:`model_config` of the network :func:`learned_reverse` picks, without loading it."""
    return model_config() if told_class else unconditional_config()


def warm_up() -> None:
    """Load the model and the classifier and run each a few times (TorchScript optimizes a graph
    on its first calls), so that the first click is answered at the pace of the later ones."""
    models = list({id(rt.model): rt for rt in (runtime(), unconditional_runtime())}.values())
    digit_classifier = classifier()

    def run() -> None:
        with torch.no_grad():
            for n in (1, 16, 1, 16):
                for rt in models:
                    x = torch.zeros(n, 1, 28, 28, device=rt.device)
                    rt.model(x, torch.full((n,), rt.diffusion.num_timesteps - 1, device=rt.device))
                digit_classifier(x)

    compute.call(run)


@functools.cache
def _config(path: str) -> tuple[DiffusionConfig, UNetConfig]:
    config = checkpoint.read_config(path)
    return DiffusionConfig(**config["diffusion"]), UNetConfig.from_dict(config["model"])


def diffusion_config() -> DiffusionConfig:
    """The schedule and T the model was trained with (from its config.json)."""
    return _config(checkpoint_path())[0]


def model_config() -> UNetConfig:
    """What the model takes and predicts (labels, learned variance) without loading its weights:
    the tabs are laid out for it."""
    return _config(checkpoint_path())[1]


def unconditional_config() -> UNetConfig:
    """:func:`model_config` of the reverse view's unconditional network."""
    return _config(unconditional_path())[1]


@functools.cache
def _diffusion_cpu(path: str) -> GaussianDiffusion:
    return _config(path)[0].build()


def diffusion_cpu() -> GaussianDiffusion:
    """The model's diffusion on the CPU, for the cheap views (the forward process)."""
    return _diffusion_cpu(checkpoint_path())


@functools.cache
def _classifier(device_name: str) -> DigitClassifier:
    # the read-outs of all running chains share one pass of its features (classifier.predict)
    return compute.batched(load_classifier(device=device_name).eval(), methods=("features",))


def classifier() -> DigitClassifier:
    """The project's bundled digit classifier, on the runtime's device (loaded on the compute thread)."""
    return compute.call(_classifier, str(runtime().device))


@functools.cache
def digits() -> MNISTSplit:
    return bundled_digits()


@functools.cache
def _labels_by_pixels() -> dict[bytes, int]:
    images, labels = digits()
    return {
        image.numpy().astype(np.uint8).tobytes(): int(label)
        for image, label in zip(images, labels, strict=True)
    }


def bundled_label(digit: np.ndarray) -> int | None:
    """The label of a bundled digit (uint8 [28, 28], pixel for pixel), or None for any other digit
    (an upload, a drawing): a digit with a label is named by its label, not by the classifier's
    reading of it."""
    pixels = np.asarray(digit)
    if pixels.shape != (28, 28):
        return None
    return _labels_by_pixels().get(pixels.astype(np.uint8).tobytes())


def told_label(digit: np.ndarray, x0: torch.Tensor) -> torch.Tensor:
    """The class a class-conditional network is told of ``digit`` (x0: the same digit [1, 1, 28, 28]
    in [−1, 1]): LongTensor [1] on x0's device, the digit's label when it is a bundled one, else the
    classifier's reading of it (:func:`ddpm.teaching.readout.class_label`)."""
    return compute.call(class_label, classifier(), x0, bundled_label(digit))


@functools.cache
def _training_pixels(device_name: str) -> tuple[torch.Tensor, MNISTSplit]:
    digits = training_digits()
    return to_model_range(digits.images).unsqueeze(1).to(device_name), digits


@functools.cache
def _training(device_name: str, path: str) -> tuple[TrueReverse, MNISTSplit]:
    # keyed by the checkpoint too: its schedule and T are the true reverse's (the pixels are shared)
    pixels, digits = _training_pixels(device_name)
    reverse = TrueReverse(pixels, _config(path)[0].build().to(device_name))
    # the posterior weights of every running chain's x_t in one pass over the training set
    return compute.batched(reverse, methods=("log_weights",)), digits


def true_reverse(subset: int | None = None) -> TrueReverse:
    """The exact reverse process of the 60,000 training digits (:mod:`ddpm.true_reverse`) under the
    model's schedule, on the runtime's device; its ``log_weights`` batched across chains like a
    network (loaded on first use: 188 MB of float32 pixels, about a second). With ``subset``, that
    of the first ``subset`` training digits (:meth:`~ddpm.true_reverse.TrueReverse.subset`; all of
    them: the batched one)."""
    full = compute.call(_training, str(runtime().device), checkpoint_path())[0]
    if subset is None or subset == full.images.shape[0]:
        return full
    return compute.call(full.subset, subset)


def training_set() -> MNISTSplit:
    """The training digits (uint8 [60000, 28, 28]) and their classes, in :func:`true_reverse`'s order."""
    return compute.call(_training, str(runtime().device), checkpoint_path())[1]


@functools.cache
def test_distances() -> torch.Tensor:
    """How far each of the 100 bundled test digits lies from its nearest training digit: float64
    [100], Euclidean in the model's range [−1, 1] (the yardstick for "new" or "a copy")."""
    reverse = true_reverse()
    test = to_model_range(digits().images).unsqueeze(1).to(reverse.diffusion.device)
    return compute.call(reverse.nearest, test).distance.cpu()
