"""Every benchmark runs as ``python -m ddpm.bench.<name>`` from the repository root."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name", ["model", pytest.param("app", marks=pytest.mark.slow), "load", "room", "page"]
)
def test_each_benchmark_runs_as_a_module(name):
    result = subprocess.run(
        [sys.executable, "-m", f"ddpm.bench.{name}", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"usage: python -m ddpm.bench.{name}")
