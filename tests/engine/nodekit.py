"""Run the page engine's JavaScript (``ddpm/views/kit/static/engine/``) in Node.js from pytest.

The engine's modules are ES modules that run alike in a module Worker and in Node 20. A test writes
what the Python core computed to a JSON payload, a small ``.mjs`` runner beside the test computes
the same with the engine, and the test compares the two in Python. Arrays travel exactly, as
base64 of their little-endian bytes (:func:`pack`, :func:`unpack`; ``nodekit.mjs`` is their JS side).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

NODE = shutil.which("node")
ENGINE = Path(__file__).resolve().parents[2] / "ddpm" / "views" / "kit" / "static" / "engine"
"""The engine's folder (its modules are imported by the runners by this path)."""

requires_node = pytest.mark.skipif(
    NODE is None, reason="Node.js is not installed: the page engine's JavaScript tests need node ≥ 20"
)
DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "uint32": np.uint32,
          "uint8": np.uint8, "int64": np.int64}  # fmt: skip


def pack(array: Any) -> dict[str, Any]:
    """An array (numpy or torch) as ``{"dtype", "shape", "b64"}``, its bytes little-endian."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.ascontiguousarray(array)
    name = array.dtype.name
    if name not in DTYPES:
        raise ValueError(f"cannot pack dtype {name}; one of {sorted(DTYPES)}")
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"dtype": name, "shape": list(array.shape), "b64": base64.b64encode(data).decode()}


def unpack(packed: dict[str, Any]) -> np.ndarray:
    """The array of :func:`pack` (or of ``nodekit.mjs``'s ``pack``)."""
    dtype = np.dtype(DTYPES[packed["dtype"]]).newbyteorder("<")
    data = np.frombuffer(base64.b64decode(packed["b64"]), dtype=dtype)
    return data.reshape(packed["shape"]).astype(dtype.newbyteorder("="))


def run_node(runner: Path, payload: dict[str, Any], tmp_path: Path, timeout: float = 120) -> Any:
    """Run ``node runner payload.json`` and return the JSON it prints on its last line of stdout.

    The runner gets the payload's path as its argument and the engine's folder as ``ENGINE`` in its
    environment. A runner that fails raises with its stderr."""
    if NODE is None:
        pytest.skip("Node.js is not installed")
    path = tmp_path / f"{runner.stem}-payload.json"
    path.write_text(json.dumps(payload))
    done = subprocess.run(
        [NODE, str(runner), str(path)], capture_output=True, text=True, timeout=timeout,
        env={"ENGINE": str(ENGINE), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    if done.returncode:
        raise AssertionError(f"{runner.name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
