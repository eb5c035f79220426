"""Shared fixtures: the offline MNIST copy (never downloaded by the tests)."""

from __future__ import annotations

import os
from pathlib import Path

# Tests run offline: no analytics, version checks or telemetry from gradio / huggingface_hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ddpm.data import DATA_ENV_VAR, MNISTSplit, load_mnist

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """``$DDPM_DATA`` if set, else ``<repo>/../shared/data``; skips when MNIST/raw is missing there."""
    from_env = os.environ.get(DATA_ENV_VAR, "").strip()
    root = Path(from_env) if from_env else REPO.parent / "shared" / "data"
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"offline MNIST not found at {root / 'MNIST' / 'raw'}; set {DATA_ENV_VAR}")
    return root


@pytest.fixture(scope="session")
def mnist_test_digits(mnist_root: Path) -> MNISTSplit:
    """The 10,000 test digits: uint8 images [10000, 28, 28] (0 = background), int64 labels [10000]."""
    return load_mnist(mnist_root, train=False, download=False)


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist's workers (``-n 2`` in pyproject's addopts), each worker's torch and every
    process a test starts get an equal share of the cores (``OMP_NUM_THREADS``, unless already set):
    two 2-thread OpenMP teams on 2 cores wait at each other's barriers (docs/performance.md)."""
    workers = getattr(config.option, "numprocesses", None)
    if hasattr(config, "workerinput") or not isinstance(workers, int) or workers < 1:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // workers)))  # inherited by the workers


SLOW_WEIGHT = 100
"""How many quick tests a test marked ``slow`` weighs when files are ordered (:func:`heaviest_first`)."""


BROWSER = "tests/browser"
"""The browser tests' folder: its files share one app process and one Chromium (its conftest's
session fixtures), so pytest-xdist hands them to one worker, as one unit (:func:`scope`)."""


def scope(nodeid: str) -> str:
    """The unit pytest-xdist hands to a worker: a test's file, or the whole browser folder."""
    path = nodeid.split("::", 1)[0]
    return BROWSER if path.startswith(BROWSER + "/") else path


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` (pyproject's addopts), with the browser tests' files as one unit."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndBrowser(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope(nodeid)

    return FilesAndBrowser(config, log)


def heaviest_first(items: list[pytest.Item]) -> None:
    """Order the files by weight, heaviest first (the browser folder counts as one, :func:`scope`;
    a test marked ``slow`` weighs :data:`SLOW_WEIGHT`, any other 1), keeping each file's own order.
    pytest-xdist hands out whole files in this order (``--dist loadfile --no-loadscope-reorder``),
    each to the first worker that is nearly done: the long files start first and the short ones
    fill in at the end, so that the workers finish together (longest processing time first)
    instead of one waiting for the other to finish a long file it started last."""
    weight: dict[str, int] = {}
    for item in items:
        unit = scope(item.nodeid)
        weight[unit] = weight.get(unit, 0) + (SLOW_WEIGHT if item.get_closest_marker("slow") else 1)
    items.sort(key=lambda item: -weight[scope(item.nodeid)])  # stable: each file's tests keep their order


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The heaviest files first (:func:`heaviest_first`); tests marked ``gpu`` need CUDA: skipped,
    with the reason, where there is none."""
    heaviest_first(items)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run scripts/gpu_check.sh on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
