import re

import pytest
import torch
from tiny import tiny_checkpoint

from ddpm.bench.model import main


@pytest.mark.slow
def test_bench_prints_every_row_with_a_time(tmp_path, capsys):
    folder = tiny_checkpoint(tmp_path, timesteps=100)
    # every kind of row at batch 16 (the default batches 1 and 64 add the same rows, and 64 the
    # costliest: a step of the true reverse of 60,000 digits for 64 images, 11 times)
    main(["--checkpoint", str(folder), "--device", "cpu", "--repeats", "1", "--no-reference", "--no-compile",
          "--true-reverse-steps", "30", "--batches", "16"])  # fmt: skip
    out = capsys.readouterr().out
    for row in (
        "forward batch 16",
        "ddpm-1000 x16",
        "ddim-50 x16",
        "posterior-1000 x16",
        "true reverse step batch 16",
        "true-reverse-30 x1",  # the true reverse of the training set from t = 30
    ):
        line = next(line for line in out.splitlines() if line.startswith(row))
        assert float(re.split(r"\s+", line.split(")", 1)[1].strip())[0]) > 0


def test_bench_times_two_kinds_of_checkpoint_side_by_side(tmp_path, capsys):
    old = tiny_checkpoint(tmp_path / "old", timesteps=25)
    new = tiny_checkpoint(tmp_path / "new", timesteps=25, num_classes=10, learn_sigma=True)
    main(["--models", str(old), str(new), "--device", "cpu", "--repeats", "2"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "(runs:" in line]
    assert len(rows) == 3  # the old model; the new one unconditional and guided
    assert "fixed_small), unconditional" in rows[0] and "guided" in rows[2]
    assert float(rows[0].split()[-4]) == 1.0  # the ratio column, against the first model


@pytest.mark.slow
def test_bench_times_the_batches_asked_for(tmp_path, capsys):
    folder = tiny_checkpoint(tmp_path, timesteps=50)
    threads = torch.get_num_threads()
    try:  # one thread: two busy cores make two-thread kernels crawl (OpenMP workers wait for each other)
        main(["--checkpoint", str(folder), "--device", "cpu", "--threads", "1", "--repeats", "1",
              "--no-reference", "--no-compile", "--batches", "2", "3"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    rows = [line.split(" (")[0] for line in capsys.readouterr().out.splitlines()]
    for row in ("forward batch 2", "forward batch 3", "ddpm-1000 x2", "ddim-50 x3", "posterior-1000 x3"):
        assert row in rows
    assert "forward batch 16" not in rows and "ddpm-1000 x16" not in rows
