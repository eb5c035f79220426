import re

from tiny import tiny_checkpoint

from ddpm.bench import main


def test_bench_prints_every_row_with_a_time(tmp_path, capsys):
    folder = tiny_checkpoint(tmp_path, timesteps=100)
    main(["--checkpoint", str(folder), "--device", "cpu", "--repeats", "1", "--no-reference", "--no-compile"])
    out = capsys.readouterr().out
    for row in ("forward batch 16", "ddpm-1000 x16", "ddim-50 x16", "posterior-1000 x16"):
        line = next(line for line in out.splitlines() if line.startswith(row))
        assert float(re.split(r"\s+", line.split(")", 1)[1].strip())[0]) > 0
