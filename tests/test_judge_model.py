"""scripts/judge_model.sh keeps working: every step at tiny sizes on a tiny model of the second kind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.tiny import tiny_checkpoint

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "judge_model.sh"


@pytest.mark.slow
def test_a_conditional_learned_variance_model_gets_every_figure_of_the_bar(tmp_path: Path, mnist_root: Path):
    folder = tiny_checkpoint(tmp_path / "ckpt", timesteps=30, num_classes=10, learn_sigma=True)
    out = tmp_path / "judged"
    env = {**os.environ, "N": "10", "B": "3", "W": "0 2", "BATCH": "10", "REPEATS": "0", "STEPS": "10",
           "NFE": "4 10"}  # fmt: skip
    done = subprocess.run(["bash", str(SCRIPT), str(folder), str(out), str(mnist_root)],
                          capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    names = ["prior-ddim10", "prior-ancestral", "prior-dpm4", "prior-ddim4", "prior-dpm10", "none-ddim10",
             "none-ancestral", "digits-ddim10-w0", "digits-ddim10-w2"]  # fmt: skip
    judged = json.loads((out / "judge.json").read_text())
    for name in names:
        with np.load(out / f"{name}.npz") as data:
            assert data["images"].shape == (10, 28, 28)
            conditional = "labels" in data
            request = str(data["request"])
            assert request == {"p": "prior", "n": "none", "d": "all"}[name[0]]
            if conditional:  # --digit all, or prior with N = 10: the ten digits once each
                assert sorted(data["labels"].tolist()) == list(range(10))
        assert (out / f"{name}.png").is_file()
        figures = judged[str(out / f"{name}.npz")]
        assert figures["samples"]["n"] == 10 and figures["real"]["n"] == 10
        assert ("conditional" in figures) == conditional == name.startswith(("digits", "prior"))
        assert figures["real_balanced"]["n"] == 10 and figures["request"] == request
    own = json.loads((out / "bpd-own.json").read_text())["bpd"]
    fixed = json.loads((out / "bpd-fixed_small.json").read_text())["bpd"]
    assert (own["variance"], fixed["variance"]) == ("learned_range", "fixed_small")
    assert own["images"] == fixed["images"] == 3 and own["how"] == "exact over all T"
    assert not (out / "bench.log").exists()  # REPEATS=0 skips the benchmark


def test_it_says_how_to_call_it():
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CHECKPOINT OUT" in done.stdout
