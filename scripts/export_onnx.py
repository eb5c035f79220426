"""Export the shipped networks to ONNX, each beside its checkpoint with its manifest.

    pip install -r scripts/requirements-export.txt
    python scripts/export_onnx.py                           # the default model, the ε-model, the classifier
    python scripts/export_onnx.py checkpoints/conditional   # one checkpoint folder (or a shipped name)
    python scripts/export_onnx.py --check                   # only check the manifests against the checkpoints

Writes ``model.onnx`` (float32, one file, symbolic batch axis) and ``model.onnx.json`` into each
folder; what they hold is in :mod:`ddpm.onnx_export`. Then run ``python -m pytest -n 0
tests/core/test_onnx.py``, which compares every file with PyTorch under onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddpm import checkpoint, onnx_export  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "checkpoints",
        nargs="*",
        help="checkpoint folders or shipped names (default: the networks the page runs)",
    )
    p.add_argument(
        "--check", action="store_true", help="export nothing; check the manifests, exit 1 on a problem"
    )
    p.add_argument("--legacy", action="store_true", help="the TorchScript-based exporter (dynamo=False)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folders = [checkpoint.resolve(c) for c in args.checkpoints] or onnx_export.shipped()
    if args.check:
        problems = [problem for folder in folders for problem in onnx_export.check_manifest(folder)]
        print("\n".join(problems) or f"{len(folders)} ONNX exports match their checkpoints")
        return 1 if problems else 0
    for folder in folders:
        start = time.perf_counter()
        manifest = onnx_export.export(folder, dynamo=not args.legacy)
        seconds = time.perf_counter() - start
        size, exporter = manifest["file"]["bytes"] / 1e6, manifest["export"]["exporter"]
        print(f"{folder / onnx_export.ONNX}: {size:.2f} MB in {seconds:.1f} s ({exporter})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
