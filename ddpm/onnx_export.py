"""ONNX copies of the shipped networks, for a page that runs them itself (onnxruntime-web, WASM).

Each network is written beside its checkpoint as ``model.onnx``: the plain network that
:func:`ddpm.checkpoint.load` (or :func:`ddpm.classifier.load`) gives, in float32, one file (its
weights inside, no external data), a symbolic batch axis ``batch``, opset :data:`OPSET`. Beside it
``model.onnx.json``, its manifest (:func:`manifest`), says what the file is and what the page needs:

- ``source``: the sha256 of the ``model.safetensors`` it was exported from (a retrained checkpoint
  without a re-export is caught by :func:`check_manifest`), ``file``: the ``.onnx``'s sha256 and size;
- ``export``: exporter, opset, torch / onnx / onnxscript versions, the command that re-exports it;
- ``inputs`` / ``outputs``: name, dtype, shape (``"batch"`` for the batch axis) as read back from
  the written file, and what each holds;
- ``config``: what the page needs of the checkpoint's config (image size, channels,
  parameterization, variance, classes and the null label, T, schedule), read from the checkpoint.

The networks' inputs:

- a class-conditional U-Net: ``x`` float32 [batch, C, H, W] (x_t, model range: data in [−1, 1]),
  ``t`` int64 [batch] (0-based: index 0 is the paper's t = 1), ``y`` int64 [batch] (0 … num_classes,
  num_classes being the null label) -> ``out`` float32 [batch, out_channels, H, W];
- an unconditional U-Net (the ε-model): ``x`` and ``t`` only; its forward ignores y, so the file
  takes none rather than an input that changes nothing;
- the classifier: ``x`` float32 [batch, 1, 28, 28] in [−1, 1] -> ``logits`` [batch, 10] and
  ``probs`` [batch, 10], their softmax: the p(class | x) that :func:`ddpm.classifier.predict` gives
  and the read-out shows (:mod:`ddpm.teaching.readout`).

Exporting needs ``onnx`` and ``onnxscript`` (``scripts/requirements-export.txt``), imported only
inside :func:`export`; reading and checking a manifest needs neither. fp32 is kept: fp16 weights
move about 1.5% of a digit's pixels by a grey level, so the page's digits would differ from the
server's for the same seed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from . import checkpoint, classifier
from .data import MNIST_SIZE
from .diffusion import DiffusionConfig
from .unet import UNetConfig

ONNX = "model.onnx"
MANIFEST = "model.onnx.json"
MANIFEST_VERSION = 1
OPSET = 18
BATCH = "batch"
"""The name of the symbolic batch axis in the files and their manifests."""
EXPORT_SCRIPT = "scripts/export_onnx.py"
EXAMPLE_BATCH = 2
"""The batch of the example inputs the exporter traces with (not 1, which it could specialise)."""


def shipped() -> list[Path]:
    """The folders of the networks the page runs: the default model, the network its reverse view
    runs without a class (the default's ``"unconditional_from"``, as :mod:`ddpm.serve.runtime`
    reads it), and the classifier."""
    default = checkpoint.resolve(checkpoint.DEFAULT)
    named = checkpoint.read_config(default).get("unconditional_from")
    unconditional = checkpoint.resolve(named) if named else default
    return list(dict.fromkeys([default, unconditional, classifier.BUNDLED]))


def is_classifier(directory: str | Path) -> bool:
    """Whether the checkpoint folder holds the digit classifier (else a U-Net)."""
    return checkpoint.read_config(directory).get("model") == "DigitClassifier"


def export_command(directory: str | Path) -> str:
    """The command, run from the repository's root, that re-exports the checkpoint in ``directory``."""
    directory = Path(checkpoint.resolve(directory)).resolve()
    root = checkpoint.BUNDLED.resolve().parent
    where = directory.relative_to(root).as_posix() if directory.is_relative_to(root) else str(directory)
    return f"python {EXPORT_SCRIPT} {where}"


def config_fields(directory: str | Path) -> dict:
    """What the page needs of a checkpoint's config, read from its ``config.json`` (no weights)."""
    config = checkpoint.read_config(directory)
    if config.get("model") == "DigitClassifier":
        net = classifier.DigitClassifier()
        return {
            "image_size": MNIST_SIZE,
            "in_channels": net.body[0].in_channels,
            "input_range": [-1.0, 1.0],
            "num_classes": net.head.out_features,
        }
    model = UNetConfig.from_dict(config["model"])
    diffusion = DiffusionConfig(**config["diffusion"])
    return {
        "image_size": model.image_size,
        "in_channels": model.in_channels,
        "out_channels": model.out_channels,
        "parameterization": model.parameterization,
        "variance": model.variance,
        "num_classes": model.num_classes,
        "null_label": model.num_classes if model.num_classes else None,
        "timesteps": diffusion.timesteps,
        "schedule": diffusion.schedule,
    }


def _channels(start: int, stop: int) -> str:
    return f"channel {start}" if stop == start + 1 else f"channels {start}..{stop - 1}"


def descriptions(directory: str | Path) -> dict[str, str]:
    """What each input and output of the exported file holds, by name."""
    fields = config_fields(directory)
    if is_classifier(directory):
        return {
            "x": "digits in model range [-1, 1], -1 = background",
            "logits": "class logits",
            "probs": "softmax of the logits: p(class | x), as ddpm.classifier.predict gives",
        }
    c, n = fields["in_channels"], fields["num_classes"]
    out = f"{_channels(0, c)}: the prediction of {fields['parameterization']!r}"
    if fields["variance"] == "learned_range":
        out += (
            f"; {_channels(c, 2 * c)}: the variance values v in [-1, 1], log σ² = (1 + v)/2 log β_t"
            " + (1 − v)/2 log β̃_t (ddpm.diffusion.GaussianDiffusion.learned_log_variance)"
        )
    return {
        "x": "x_t in model range (data in [-1, 1], -1 = background)",
        "t": f"0-based timestep index 0..{fields['timesteps'] - 1} (index 0 is the paper's t = 1)",
        "y": f"class label 0..{n - 1}, or {n}: the null label (no class given)",
        "out": out,
    }


class ClassifierForExport(nn.Module):
    """The classifier with both read-outs: x [B, 1, 28, 28] in [−1, 1] -> (logits [B, 10],
    probs [B, 10] = softmax(logits), the probabilities of :func:`ddpm.classifier.predict`)."""

    def __init__(self, net: classifier.DigitClassifier) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(x)
        return logits, torch.softmax(logits, dim=1)


def exportable(directory: str | Path) -> tuple[nn.Module, dict[str, torch.Tensor], list[str]]:
    """The network of a checkpoint folder ready to export: the module (eval, CPU, contiguous
    float32 weights), example inputs by name (batch :data:`EXAMPLE_BATCH`) and output names."""
    g = torch.Generator().manual_seed(0)
    if is_classifier(directory):
        net = classifier.load(directory).to(memory_format=torch.contiguous_format)
        x = torch.rand(EXAMPLE_BATCH, 1, MNIST_SIZE, MNIST_SIZE, generator=g) * 2 - 1
        return ClassifierForExport(net).eval(), {"x": x}, ["logits", "probs"]
    model, _ = checkpoint.load(directory)
    cfg: UNetConfig = model.config
    inputs = {
        "x": torch.randn(EXAMPLE_BATCH, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g),
        "t": torch.tensor([0, cfg.timesteps - 1][:EXAMPLE_BATCH]),
    }
    if cfg.num_classes:
        inputs["y"] = torch.tensor([0, cfg.num_classes][:EXAMPLE_BATCH])
    return model, inputs, ["out"]


def _strip(graph) -> None:
    """Drop what the exporter records about the Python that ran (stack traces with this machine's
    paths, module names, FX nodes): it is not part of the network, and a third of a megabyte."""
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            if attribute.HasField("g"):
                _strip(attribute.g)
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del value.metadata_props[:]
    del graph.metadata_props[:]


def _tensors(values) -> list[dict]:
    """Name, dtype and shape (a symbolic axis by its name) of ONNX graph inputs or outputs."""
    from onnx.helper import tensor_dtype_to_np_dtype

    return [
        {
            "name": v.name,
            "dtype": str(tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)),
            "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
        }
        for v in values
    ]


def export(directory: str | Path, dynamo: bool = True) -> dict:
    """Export the network of a checkpoint folder to ``model.onnx`` beside it and write its manifest.

    Args:
        directory: a checkpoint folder, or a shipped name (``conditional``, ``eps``).
        dynamo: torch.export's exporter (``torch.onnx.export(dynamo=True)``, needs onnxscript);
            False: the TorchScript-based one that PyTorch keeps as legacy.

    Returns the manifest written (see the module docstring).
    """
    import onnx  # export-only dependencies (scripts/requirements-export.txt)

    directory = checkpoint.resolve(directory)
    module, inputs, outputs = exportable(directory)
    batch = torch.export.Dim(BATCH, min=1, max=4096)
    path = directory / ONNX
    common = {"input_names": list(inputs), "output_names": outputs, "opset_version": OPSET}
    with warnings.catch_warnings(), torch.no_grad():
        # every input has the batch axis: the exporter says it keeps one name for the shared axis
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used")
        if dynamo:
            shapes = {name: {0: batch} for name in inputs}
            program = torch.onnx.export(
                module, tuple(inputs.values()), dynamo=True, dynamic_shapes=shapes,
                external_data=False, verbose=False, **common,
            )  # fmt: skip
            proto = program.model_proto
        else:
            axes = {name: {0: BATCH} for name in [*inputs, *outputs]}
            torch.onnx.export(
                module, tuple(inputs.values()), str(path), dynamo=False, dynamic_axes=axes, **common
            )
            proto = onnx.load(str(path))
    _strip(proto.graph)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))
    return write_manifest(directory, proto, exporter=f"torch.onnx.export(dynamo={dynamo})")


def manifest(directory: str | Path, proto, exporter: str) -> dict:
    """The manifest of the ``model.onnx`` in ``directory`` (already written), whose graph is ``proto``."""
    import onnx
    import onnxscript

    directory = checkpoint.resolve(directory)
    weights = checkpoint.read_config(directory).get("weights", checkpoint.WEIGHTS)
    notes = descriptions(directory)
    onnx_path = directory / ONNX
    inputs, outputs = _tensors(proto.graph.input), _tensors(proto.graph.output)
    for tensor in (*inputs, *outputs):
        tensor["holds"] = notes[tensor["name"]]
    return {
        "format_version": MANIFEST_VERSION,
        "network": "classifier" if is_classifier(directory) else "unet",
        "source": {"weights": weights, "sha256": checkpoint.sha256_of(directory / weights)},
        "file": {"name": ONNX, "sha256": checkpoint.sha256_of(onnx_path), "bytes": onnx_path.stat().st_size},
        "export": {
            "exporter": exporter,
            "opset": OPSET,
            "precision": "float32",
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxscript": onnxscript.__version__,
            "command": export_command(directory),
        },
        "inputs": inputs,
        "outputs": outputs,
        "config": config_fields(directory),
    }


def write_manifest(directory: Path, proto, exporter: str) -> dict:
    """Write :func:`manifest` as ``model.onnx.json`` in ``directory``; returns it."""
    data = manifest(directory, proto, exporter)
    (directory / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def read_manifest(directory: str | Path) -> dict:
    """The parsed ``model.onnx.json`` of a checkpoint folder."""
    return json.loads((checkpoint.resolve(directory) / MANIFEST).read_text())


def check_manifest(directory: str | Path) -> list[str]:
    """What is wrong with the ONNX export of a checkpoint folder, each with the command that fixes
    it: missing files, a ``model.safetensors`` changed since the export, a ``.onnx`` that is not
    the one the manifest describes, a config that differs. Empty when all is well."""
    directory = checkpoint.resolve(directory)
    fix = f"re-export with `{export_command(directory)}`"
    if not (directory / MANIFEST).is_file() or not (directory / ONNX).is_file():
        return [f"{directory} has no {ONNX} and {MANIFEST}; {fix}"]
    data = read_manifest(directory)
    problems = []
    weights = directory / data["source"]["weights"]
    if (now := checkpoint.sha256_of(weights)) != data["source"]["sha256"]:
        problems.append(
            f"{weights} changed since its ONNX export (sha256 {now}, the export's source "
            f"{data['source']['sha256']}); {fix}"
        )
    onnx_path = directory / ONNX
    if (
        checkpoint.sha256_of(onnx_path) != data["file"]["sha256"]
        or onnx_path.stat().st_size != data["file"]["bytes"]
    ):
        problems.append(f"{onnx_path} is not the file {MANIFEST} describes (sha256 or size); {fix}")
    if data["config"] != (expected := config_fields(directory)):
        problems.append(
            f"{directory / MANIFEST} has config {data['config']}, the checkpoint {expected}; {fix}"
        )
    return problems
