"""The shipped networks' ONNX files (``ddpm.onnx_export``, ``scripts/export_onnx.py``): onnxruntime
gives PyTorch's outputs, and each manifest describes its file and the checkpoint beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import tiny_checkpoint

from ddpm import checkpoint, classifier, onnx_export
from ddpm.data import MNIST_SIZE, bundled_digits
from ddpm.images import to_model_range

ort = pytest.importorskip(
    "onnxruntime", reason="onnxruntime is not installed (requirements-dev.txt): ONNX files not compared"
)

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {
    "conditional": REPO / "checkpoints" / "conditional",
    "eps": REPO / "checkpoints",
    "classifier": REPO / "checkpoints" / "classifier",
}
"""The networks the page runs: the default model, the ε-model (its reverse view's network without a
class) and the classifier."""
UNETS = ("conditional", "eps")
TOLERANCE = 1e-4
"""Largest |onnxruntime − PyTorch| allowed, float32 both (measured: at most 1.4e-5)."""
ORT_TYPES = {"tensor(float)": "float32", "tensor(int64)": "int64"}


def reexport(name: str) -> str:
    return f"python scripts/export_onnx.py {FOLDERS[name].relative_to(REPO).as_posix()}"


@pytest.fixture(scope="module")
def sessions() -> dict[str, ort.InferenceSession]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return {
        name: ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        for name, folder in FOLDERS.items()
    }


@pytest.fixture(scope="module")
def unets() -> dict:
    return {name: checkpoint.load(FOLDERS[name])[0] for name in UNETS}


def unet_inputs(model, batch: int, seed: int) -> dict[str, torch.Tensor]:
    """x ~ N(0, I) [batch, C, H, W] and random 0-based t, with t = 0 and T − 1 in the first rows;
    for a conditional model labels y: the null label twice, then every class, then random ones."""
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.randint(0, cfg.timesteps, (batch,), generator=g)
    t[:2] = torch.tensor([0, cfg.timesteps - 1])[:batch]
    inputs = {"x": x, "t": t}
    if cfg.num_classes:
        y = torch.randint(0, cfg.num_classes + 1, (batch,), generator=g)
        y[: cfg.num_classes + 2] = torch.tensor([cfg.num_classes, cfg.num_classes, *range(cfg.num_classes)])[
            :batch
        ]
        inputs["y"] = y
    return inputs


ONE_ROW = {"t=0, null label": (0, 10), "t=T-1, class 3": (999, 3), "t=T-1, null label": (999, 10)}
"""The single rows of the batch-1 comparisons: (0-based t, label; the ε-model takes none)."""


@pytest.mark.parametrize("name", UNETS)
@pytest.mark.parametrize("row", [*ONE_ROW, "batch 16"])
def test_onnxruntime_gives_the_unets_outputs(name, row, sessions, unets):
    model, session = unets[name], sessions[name]
    batch = 1 if row in ONE_ROW else 16
    inputs = unet_inputs(model, batch, seed=len(row))
    if row in ONE_ROW:
        inputs["t"][:] = ONE_ROW[row][0]
        if "y" in inputs:
            inputs["y"][:] = ONE_ROW[row][1]
    with torch.no_grad():
        expected = model(*inputs.values()).numpy()
    (got,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    assert got.shape == expected.shape == (batch, model.config.out_channels, 28, 28)
    assert np.abs(got - expected).max() <= TOLERANCE


def test_the_labels_and_t_reach_the_conditional_file(sessions, unets):
    """The comparison has teeth: other labels or another t give outputs far beyond the tolerance."""
    model, session = unets["conditional"], sessions["conditional"]
    inputs = {k: v.numpy() for k, v in unet_inputs(model, 16, 4).items()}
    (base,) = session.run(None, inputs)
    (other_labels,) = session.run(None, {**inputs, "y": (inputs["y"] + 1) % 11})
    (other_t,) = session.run(None, {**inputs, "t": (inputs["t"] + 100) % 1000})
    assert np.abs(other_labels - base).max(axis=(1, 2, 3)).min() > 100 * TOLERANCE
    assert np.abs(other_t - base).max(axis=(1, 2, 3)).min() > 100 * TOLERANCE


@pytest.mark.parametrize("batch", [1, 16])
def test_onnxruntime_gives_the_classifiers_logits_and_probabilities(batch, sessions):
    net = classifier.load(FOLDERS["classifier"])
    digits = to_model_range(bundled_digits().images[::6][:batch]).unsqueeze(1)  # classes 0..9
    g = torch.Generator().manual_seed(batch)
    x = (digits + 0.3 * torch.randn(digits.shape, generator=g)).clamp(-1, 1)  # noisy, as x̂_0 can be
    logits, probs = sessions["classifier"].run(["logits", "probs"], {"x": x.numpy()})
    with torch.no_grad():
        assert np.abs(logits - net(x).numpy()).max() <= TOLERANCE
    assert np.abs(probs - classifier.predict(net, x)[1].numpy()).max() <= TOLERANCE
    assert probs.shape == (batch, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_the_shipped_networks_are_the_ones_exported():
    assert onnx_export.shipped() == list(FOLDERS.values())


@pytest.mark.parametrize("name", FOLDERS)
def test_each_manifest_names_the_checkpoint_beside_it(name):
    folder = FOLDERS[name]
    manifest = json.loads((folder / "model.onnx.json").read_text())
    weights = folder / manifest["source"]["weights"]
    assert manifest["source"]["sha256"] == checkpoint.sha256_of(weights), (
        f"{weights.relative_to(REPO)} changed since its ONNX export: re-export with `{reexport(name)}`"
    )
    assert manifest["export"]["command"] == reexport(name)
    onnx_file = folder / "model.onnx"
    assert manifest["file"] == {
        "name": "model.onnx",
        "sha256": checkpoint.sha256_of(onnx_file),
        "bytes": onnx_file.stat().st_size,
    }, f"{onnx_file.relative_to(REPO)} is not the exported file; re-export with `{reexport(name)}`"
    assert manifest["export"]["opset"] == 18 and manifest["export"]["precision"] == "float32"
    # one compact file: the weights inside (float32, no external data), hardly more than them
    assert 1 <= onnx_file.stat().st_size / weights.stat().st_size < 1.03
    assert not [p.name for p in folder.iterdir() if p.suffix == ".data" or "onnx_data" in p.name]
    assert onnx_export.check_manifest(folder) == []


@pytest.mark.parametrize("name", FOLDERS)
def test_each_manifest_lists_the_files_inputs_and_outputs(name, sessions):
    manifest = json.loads((FOLDERS[name] / "model.onnx.json").read_text())
    session = sessions[name]
    for listed, actual in (
        (manifest["inputs"], session.get_inputs()),
        (manifest["outputs"], session.get_outputs()),
    ):
        assert [(d["name"], d["dtype"], d["shape"]) for d in listed] == [
            (a.name, ORT_TYPES[a.type], a.shape) for a in actual
        ]
        assert all(d["shape"][0] == "batch" and d["holds"] for d in listed)
    names = [d["name"] for d in manifest["inputs"]]
    expected = {"conditional": ["x", "t", "y"], "eps": ["x", "t"], "classifier": ["x"]}[name]
    assert names == expected


@pytest.mark.parametrize("name", UNETS)
def test_a_unet_manifests_config_is_the_checkpoints(name, unets):
    config = json.loads((FOLDERS[name] / "model.onnx.json").read_text())["config"]
    cfg = unets[name].config
    diffusion = checkpoint.read_config(FOLDERS[name])["diffusion"]
    assert config == {
        "image_size": cfg.image_size,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "parameterization": cfg.parameterization,
        "variance": cfg.variance,
        "num_classes": cfg.num_classes,
        "null_label": cfg.num_classes or None,
        "timesteps": diffusion["timesteps"],
        "schedule": diffusion["schedule"],
    }
    assert config["timesteps"] == cfg.timesteps


def test_the_classifier_manifests_config_is_the_classifiers():
    config = json.loads((FOLDERS["classifier"] / "model.onnx.json").read_text())["config"]
    net = classifier.load(FOLDERS["classifier"])
    assert config == {"image_size": MNIST_SIZE, "in_channels": 1, "input_range": [-1, 1], "num_classes": 10}
    assert net.head.out_features == 10 and net.body[0].in_channels == 1


def test_a_retrained_checkpoint_without_a_new_export_is_caught(tmp_path):
    folder = tmp_path / "classifier"
    shutil.copytree(FOLDERS["classifier"], folder)
    net = classifier.load(folder)
    with torch.no_grad():
        net.head.bias += 0.01
    classifier.save(folder, net, extra={"retrained": True})
    (problem,) = onnx_export.check_manifest(folder)
    assert "changed since its ONNX export" in problem
    assert f"`python scripts/export_onnx.py {folder}`" in problem


@pytest.mark.slow
def test_the_export_writes_a_file_and_manifest_that_match_the_checkpoint(tmp_path):
    pytest.importorskip("onnxscript", reason="exporting needs scripts/requirements-export.txt")
    folder = tiny_checkpoint(tmp_path, timesteps=50, num_classes=10, learn_sigma=True)
    written = onnx_export.export(folder)
    assert written == onnx_export.read_manifest(folder) and onnx_export.check_manifest(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.onnx", "model.onnx.json", "model.safetensors"
    ]  # fmt: skip
    assert b"stack_trace" not in (folder / "model.onnx").read_bytes()
    model = checkpoint.load(folder)[0]
    inputs = {"x": torch.randn(3, 1, 28, 28), "t": torch.tensor([0, 49, 7]), "y": torch.tensor([10, 0, 9])}
    (got,) = ort.InferenceSession(str(folder / "model.onnx")).run(
        None, {k: v.numpy() for k, v in inputs.items()}
    )
    with torch.no_grad():
        assert np.abs(got - model(*inputs.values()).numpy()).max() <= TOLERANCE
    assert written["config"]["timesteps"] == 50 and written["inputs"][1]["holds"].startswith("0-based")
