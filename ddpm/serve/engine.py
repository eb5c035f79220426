"""What the page's engine is given: its files, its networks and the diffusion's tables.

The page can compute a chain itself, in a module Worker (``ddpm/views/kit/static/engine/``), with
the shipped networks exported to ONNX (:mod:`ddpm.onnx_export`) and onnxruntime-web. Everything the
Worker needs that is not code comes from here, in one JSON file written once per process and served
by :mod:`.static_files` under its content hash (so a browser fetches it once per model):

- ``runtime``: the URLs of onnxruntime-web's module and its gzipped WebAssembly, and of gifenc's
  module (the GIF encoder of a generation's download);
- ``models``: for ``told`` (the model the views run when told the digit's class), ``untold`` (the
  network they run without it, :func:`.runtime.learned_reverse`) and ``classifier`` (the digit
  classifier), the URL of the ``.onnx`` and its manifest (inputs, outputs and what the page needs of
  the config);
- ``tables``: the diffusion's float32 tables (:meth:`ddpm.diffusion.GaussianDiffusion.step_tables`),
  so the page computes no table of its own.

:func:`availability` says whether the engine can run this server's models at all, and if not, why
(a checkpoint without its ONNX copy, or one that changed since its export): the page then computes
on the server and says so.

:class:`LoadRoute` answers ``GET`` :data:`LOAD_PATH` with the server's current load, cheaply (no
queue, no session), for the page's automatic choice of where to compute: the step scheduler's
measured time per forward pass (a tick) and the chains running and waiting.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .. import checkpoint, classifier
from ..onnx_export import ONNX, check_manifest, read_manifest
from . import compute
from .runtime import checkpoint_path, diffusion_cpu, unconditional_path
from .static_files import FOLDERS, Folder, static_url

NETWORKS = {
    "told": checkpoint_path,
    "untold": unconditional_path,
    "classifier": lambda: str(classifier.BUNDLED),
}
"""The engine's networks by role, each the folder the server's views use for it: the model the views
run told the digit's class, the network they run without it, and the digit classifier that reads x̂_0."""
DIFFUSION_ROLES = ("told", "untold")
CONFIG = "config.json"


def _network_folder(role: str) -> Path:
    return checkpoint.resolve(NETWORKS[role]())


@functools.cache
def availability() -> str | None:
    """None when the engine can run this server's networks; else why not, in one sentence."""
    for role in NETWORKS:
        problems = check_manifest(_network_folder(role))
        if problems:
            return f"the {role} network has no usable ONNX copy: {problems[0]}"
    told, untold = (read_manifest(_network_folder(role))["config"] for role in DIFFUSION_ROLES)
    if (told["schedule"], told["timesteps"]) != (untold["schedule"], untold["timesteps"]):
        return "the two networks were trained on different schedules; the page's engine runs one"
    return None


@functools.cache
def _files() -> Path:
    """A folder of this process for the generated config (served as folder ``engine-config``)."""
    return Path(tempfile.mkdtemp(prefix="ddpm-engine-"))


def config() -> dict[str, Any]:
    """The Worker's config (see the module docstring); ValueError when :func:`availability` says no."""
    if (reason := availability()) is not None:
        raise ValueError(reason)
    models = {}
    for role in NETWORKS:
        folder = _network_folder(role)
        name = f"network-{role}"
        FOLDERS[name] = Folder(folder, (ONNX,))
        models[role] = {"url": static_url(name, ONNX), "manifest": read_manifest(folder)}
    return {
        "runtime": {
            "module": static_url("onnxruntime-web", "ort.wasm.bundle.min.mjs"),
            "wasm": static_url("onnxruntime-web", "ort-wasm-simd-threaded.wasm.gz"),
            "gif": static_url("gifenc", "gifenc.esm.js"),
        },
        "models": models,
        "tables": diffusion_cpu().step_tables(),
    }


@functools.cache
def config_url() -> str | None:
    """The URL of :func:`config` as a file (immutable: its name carries its hash), or None when the
    engine cannot run here (:func:`availability`)."""
    if availability() is not None:
        return None
    text = json.dumps(config(), separators=(",", ":"))
    folder = _files() / hashlib.sha256(text.encode()).hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    (folder / CONFIG).write_text(text)
    FOLDERS["engine-config"] = Folder(folder, (CONFIG,))
    return static_url("engine-config", CONFIG)


def worker_url() -> str:
    """The Worker's script (its modules import one another by relative URL)."""
    return static_url("engine", "worker.js")


LOAD_PATH = "/ddpm-load"


def load() -> dict[str, float | int]:
    """The step scheduler's state (:mod:`.scheduler`): ``tick_seconds``, its measured time per forward
    pass (0 before the first); ``running`` and ``waiting`` chains; ``max_rows`` of one pass."""
    scheduler = compute.SCHEDULER
    return {"tick_seconds": scheduler.tick_seconds, "running": len(scheduler.running),
            "waiting": len(scheduler.line), "max_rows": scheduler.max_rows}  # fmt: skip


class LoadRoute:
    """ASGI middleware: ``GET`` :data:`LOAD_PATH` is :func:`load` as JSON (``no-store``); the rest
    passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != LOAD_PATH or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = json.dumps(load()).encode()
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
