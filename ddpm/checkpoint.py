"""Save and load a trained model: ``model.safetensors`` + ``config.json`` (+ ``MODEL_CARD.md``).

``config.json`` holds everything needed to rebuild the model and its diffusion (so :func:`load`
needs nothing else) and the sha256 of the weights file, which is checked on every load. Weights
are read with safetensors only, never with pickle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .diffusion import DiffusionConfig, GaussianDiffusion
from .unet import UNet, UNetConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT_VERSION = 1


def _bundled() -> Path:
    """The repository's ``checkpoints/`` beside the package, or its copy in an installed wheel."""
    here = Path(__file__).resolve().parent
    in_repository = here.parent / "checkpoints"
    return in_repository if (in_repository / CONFIG).is_file() else here / "bundled"


BUNDLED = _bundled()
"""The folder of the checkpoints that ship with the project: ``checkpoints/`` in a checkout;
``pip install .`` copies it into the package as ``ddpm/bundled`` (see pyproject.toml), which is
used when the package runs from an installation. Its own files are the ε-model (:data:`EPS`)."""

EPS = BUNDLED
"""The ε-model (unconditional, ε-prediction, fixed variance): the first model, kept as a comparison."""

CONDITIONAL = BUNDLED / "conditional"
"""The class-conditional model with a null label (so also unconditional), v-prediction, learned
variance; ``checkpoints/MODEL_CARD.md`` has its story."""

DEFAULT = CONDITIONAL
"""The model the app, the command-line tools and :func:`load` use unless told otherwise: it draws
any digit from the class prior at the real-data floor, and a named digit on request."""

SHIPPED = {"default": DEFAULT, "conditional": CONDITIONAL, "eps": EPS, "bundled": EPS}
"""Names that :func:`resolve` accepts for the shipped checkpoints, wherever the package lives
(``bundled`` is the ε-model's older name)."""


def resolve(path: str | Path) -> Path:
    """A checkpoint folder (or weights file): ``path`` itself when it exists, else the shipped
    checkpoint it names (a key of :data:`SHIPPED`, e.g. ``DDPM_CHECKPOINT=eps``)."""
    path = Path(path)
    if not path.exists() and str(path) in SHIPPED:
        return SHIPPED[str(path)]
    return path


GET_A_GOOD_COPY = (
    "get a good copy with `git checkout -- checkpoints/` (or `git lfs pull` / a fresh clone), "
    "or retrain it with the command in checkpoints/MODEL_CARD.md"
)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, altered or unreadable."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(directory: str | Path, module: torch.nn.Module, config: dict) -> Path:
    """Write ``module``'s state as ``model.safetensors`` and ``config`` + its sha256 as ``config.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()}
    weights = directory / WEIGHTS
    save_file(state, str(weights))
    full = {"format_version": FORMAT_VERSION, **config, "weights": WEIGHTS, "sha256": sha256_of(weights)}
    (directory / CONFIG).write_text(json.dumps(full, indent=2) + "\n")
    return directory


def read_config(directory: str | Path) -> dict:
    """The parsed ``config.json`` of a checkpoint directory."""
    directory = resolve(directory)
    path = directory / CONFIG
    if not path.is_file():
        raise CheckpointError(f"no {CONFIG} in {directory}; {GET_A_GOOD_COPY}")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); {GET_A_GOOD_COPY}") from err
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return config


def load_weights(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a checkpoint directory: its state dict (CPU tensors) and its config.

    Raises:
        CheckpointError: a file is missing, the weights' sha256 differs from the one recorded at
            save time (truncated or altered), or safetensors cannot read them.
    """
    directory = resolve(directory)
    if directory.is_file():
        directory = directory.parent
    config = read_config(directory)
    weights = directory / config.get("weights", WEIGHTS)
    if not weights.is_file():
        raise CheckpointError(f"missing weights file {weights}; {GET_A_GOOD_COPY}")
    if weights.stat().st_size < 1024 and weights.read_bytes().startswith(b"version https://git-lfs"):
        raise CheckpointError(f"{weights} is a Git LFS pointer, not the weights; run `git lfs pull`")
    actual = sha256_of(weights)
    if actual != config.get("sha256"):
        raise CheckpointError(
            f"{weights} is damaged or was changed: its sha256 is {actual}, but {CONFIG} records "
            f"{config.get('sha256')}; {GET_A_GOOD_COPY}"
        )
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read {weights} ({err}); {GET_A_GOOD_COPY}") from err
    return state, config


def save(
    directory: str | Path,
    model: UNet,
    diffusion_config: DiffusionConfig,
    extra: dict | None = None,
) -> Path:
    """Write the ε-model checkpoint (``model.safetensors`` + ``config.json``) into ``directory``.

    Args:
        model: the network whose weights to save (pass the EMA copy for sampling).
        diffusion_config: the forward process it was trained on.
        extra: JSON-serialisable facts to keep beside the config (training steps, time, ...).
    """
    if model.config.timesteps != diffusion_config.timesteps:
        raise ValueError(
            f"the model embeds t for T = {model.config.timesteps} but the diffusion has "
            f"T = {diffusion_config.timesteps}"
        )
    config = {"model": model.config.to_dict(), "diffusion": asdict(diffusion_config), "extra": extra or {}}
    return save_weights(directory, model, config)


def load(path: str | Path = DEFAULT, device: torch.device | str = "cpu") -> tuple[UNet, GaussianDiffusion]:
    """Load a checkpoint directory (or its weights file; default: :data:`DEFAULT`): the model in
    eval mode and its diffusion. ``model.config.parameterization`` says what the network predicts.

    Raises:
        CheckpointError: missing, truncated, altered or unreadable files (see :func:`load_weights`).
    """
    state, config = load_weights(path)
    model = UNet(UNetConfig.from_dict(config["model"]))
    model.load_state_dict(state)
    model.eval().to(device)
    return model, DiffusionConfig(**config["diffusion"]).build().to(device)
