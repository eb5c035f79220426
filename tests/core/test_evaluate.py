"""The evaluation command line: ``python -m ddpm.evaluate`` (its figures are tested in test_metrics.py)."""

import pytest
import torch


def test_bpd_reads_a_learned_variance_model_with_the_variance_asked_for(tmp_path, mnist_root):
    """``--variance`` overrides the model's own σ² in the bound, and the default keeps it."""
    import json

    from ddpm import checkpoint
    from ddpm.data import load_mnist_tensor
    from ddpm.evaluate import main
    from ddpm.likelihood import calc_bpd_loop
    from tests.tiny import tiny_checkpoint

    folder = tiny_checkpoint(tmp_path / "ckpt", timesteps=50, num_classes=10, learn_sigma=True)
    model, diffusion = checkpoint.load(folder, "cpu")
    x0 = load_mnist_tensor(mnist_root, train=False)[0][:4]
    figures = {}
    for variance in (None, "fixed_large"):
        out = tmp_path / f"{variance}.json"
        flags = ["--variance", variance] if variance else []
        main(["--bpd", "--checkpoint", str(folder), "--bpd-images", "4", "--data-root", str(mnist_root),
              "--device", "cpu", "--json", str(out), *flags])  # fmt: skip
        figures[variance] = json.loads(out.read_text())["bpd"]
    assert figures[None]["variance"] == "learned_range"
    assert figures["fixed_large"]["variance"] == "fixed_large"
    for variance, got in figures.items():
        with torch.no_grad():
            want = calc_bpd_loop(
                diffusion, model, x0, parameterization=model.config.parameterization,
                variance=variance or "learned_range", generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
        assert got["mean"] == pytest.approx(want.total.mean().item(), rel=1e-4)
    assert figures[None]["mean"] != pytest.approx(figures["fixed_large"]["mean"], rel=1e-3)
