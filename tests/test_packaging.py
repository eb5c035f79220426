"""`pip install .` gives the whole package: every module, the bundled digits and the checkpoints, the page's
static files and the vendored onnxruntime-web and gifenc with their licenses."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ddpm.toy.plane import PRESETS

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "ddpm", "checkpoints")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project (the build writes its scratch files beside the source)."""
    source = tmp_path_factory.mktemp("source")
    for name in PROJECT_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        str(p.relative_to(REPO)) for p in (REPO / "ddpm").rglob("*.py") if "__pycache__" not in p.parts
    }
    assert {"ddpm/views/reverse.py", "ddpm/teaching/reverse.py", "ddpm/inference.py"} <= modules
    assert modules <= names, sorted(modules - names)
    data = {"ddpm/assets/digits.npz", "ddpm/bundled/config.json", "ddpm/bundled/model.safetensors"}
    data |= {"ddpm/bundled/classifier/config.json", "ddpm/bundled/classifier/model.safetensors"}
    data |= {"ddpm/bundled/conditional/config.json", "ddpm/bundled/conditional/model.safetensors"}
    # each network's ONNX copy and its manifest, for the page (ddpm/onnx_export.py)
    folders = ("ddpm/bundled/", "ddpm/bundled/classifier/", "ddpm/bundled/conditional/")
    data |= {f"{folder}model.onnx{ext}" for folder in folders for ext in ("", ".json")}
    data |= {f"ddpm/assets/toy2d/{name}.safetensors" for name in PRESETS}  # the 2-D world's networks
    # every script and style of the page: the kit's, and each one-tab player's beside its tab
    static = {str(p.relative_to(REPO)) for p in (REPO / "ddpm").rglob("static/*") if p.is_file()}
    static |= {str(p.relative_to(REPO)) for p in (REPO / "ddpm").rglob("static/engine/*") if p.is_file()}
    kit = {f"ddpm/views/kit/static/{name}" for name in ("common.js", "chain_player.js", "page.js")}
    kit |= {f"ddpm/views/kit/static/engine/{name}" for name in ("diffusion.js", "chains.js", "README.md")}
    kit |= {f"ddpm/views/kit/static/{name}" for name in ("app.css", "players.css")}
    players = {"ddpm/views/static/forward_player.js"}
    players |= {
        f"ddpm/views/lessons/static/{name}"
        for name in ("plane_maths.js", "plane_draw.js", "plane_panels.js", "plane_controls.js")
    }
    assert kit | players <= static
    data |= static
    # the in-page engine and its vendored runtime (served by ddpm.serve.static_files), licenses included
    vendor = REPO / "ddpm/views/kit/static/vendor/onnxruntime-web"
    manifest = json.loads((vendor / "MANIFEST.json").read_text())
    shipped = {f"ddpm/views/kit/static/vendor/onnxruntime-web/{name}" for name in manifest["files"]}
    assert {"ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz", "LICENSE"} <= set(manifest["files"])
    data |= shipped | {str(p.relative_to(REPO)) for p in vendor.iterdir()}
    # and its GIF encoder, with its license
    gifenc = REPO / "ddpm/views/kit/static/vendor/gifenc"
    manifest = json.loads((gifenc / "MANIFEST.json").read_text())
    assert {"gifenc.esm.js", "LICENSE.md"} <= set(manifest["files"])
    data |= {str(p.relative_to(REPO)) for p in gifenc.iterdir()}
    engine = REPO / "ddpm/views/kit/static/engine"
    data |= {str(p.relative_to(REPO)) for p in engine.rglob("*") if p.suffix in (".js", ".mjs", ".json")}
    assert data <= names, sorted(data - names)
    assert not any(name.startswith(("tests/", "app.py", "docs/")) for name in names)


@pytest.mark.slow
def test_the_installed_package_imports_and_loads_its_checkpoints_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import ddpm, ddpm.views, ddpm.teaching.reverse, ddpm.views.reverse, ddpm.views.tabs, ddpm.serve\n"
        "from ddpm import checkpoint, classifier\n"
        "from ddpm.views.digits import default_digit\n"
        "model, diffusion = checkpoint.load()\n"
        "classifier.load()\n"
        "assert checkpoint.load('conditional')[0].config.num_classes == 10\n"
        "assert default_digit().shape == (28, 28)\n"
        "from ddpm import onnx_export\n"  # the ONNX files ship, each matching its checkpoint
        "assert [onnx_export.check_manifest(p) for p in onnx_export.shipped()] == [[], [], []]\n"
        "print(ddpm.__file__, checkpoint.BUNDLED, diffusion.num_timesteps)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DDPM_CHECKPOINT", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    package, bundled, timesteps = result.stdout.split()
    assert Path(package).is_relative_to(site) and Path(bundled) == site / "ddpm" / "bundled"
    assert int(timesteps) == 1000
