import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_checkpoint

from ddpm import checkpoint
from ddpm.inference import generate, prepare_for_inference
from ddpm.sample import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny"), timesteps=25)


def run(tiny, tmp_path, name, *extra):
    out = tmp_path / f"{name}.npz"
    main(["--checkpoint", str(tiny), "--out", str(out), "--device", "cpu", *extra])
    with np.load(out) as data:
        return data["images"]


def test_sample_cli_writes_uint8_digits_and_is_seed_deterministic(tiny, tmp_path):
    png = tmp_path / "grid.png"
    a = run(tiny, tmp_path, "a", "--n", "5", "--batch-size", "2", "--seed", "3", "--png", str(png))
    assert a.dtype == np.uint8 and a.shape == (5, 28, 28)
    assert Image.open(png).size[0] > 28
    b = run(tiny, tmp_path, "b", "--n", "5", "--batch-size", "2", "--seed", "3")
    c = run(tiny, tmp_path, "c", "--n", "5", "--batch-size", "2", "--seed", "4")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sample_cli_ddim(tiny, tmp_path):
    images = run(tiny, tmp_path, "d", "--n", "3", "--sampler", "ddim", "--steps", "4", "--eta", "0.5")
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8


def test_generate_matches_the_loop_and_counts_progress(tiny):
    model, diffusion = checkpoint.load(tiny)
    model = prepare_for_inference(model)
    calls = []
    images = generate(model, diffusion, 3, "ddim", 5, seed=1, batch_size=2, progress=calls.append)
    assert images.shape == (3, 28, 28) and sum(calls) == 10  # two batches of five steps
    assert torch.equal(images, generate(model, diffusion, 3, "ddim", 5, seed=1, batch_size=2))


def test_sample_cli_rejects_bad_requests(tiny, tmp_path):
    with pytest.raises(SystemExit):
        run(tiny, tmp_path, "e", "--sampler", "ddpm", "--steps", "5")
    with pytest.raises(SystemExit):
        run(tiny, tmp_path, "f", "--n", "0")
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.npz")])


def test_inference_model_matches_the_unet_for_any_batch_and_t():
    from tiny import TINY, randomised

    from ddpm.inference import InferenceUNet
    from ddpm.unet import UNet, UNetConfig

    model = randomised(UNet(UNetConfig(**TINY)))
    fast = prepare_for_inference(model)
    assert isinstance(fast, InferenceUNet) and fast.config == model.config
    assert fast.table.shape == (1000, sum(fast.unet.time_splits))
    for batch in (1, 5, 16):
        x = torch.randn(batch, 1, 28, 28)
        t = torch.randint(0, 1000, (batch,))
        with torch.no_grad():
            torch.testing.assert_close(fast(x, t), model(x, t), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compiled_model_matches_the_unet():
    from tiny import TINY, randomised

    from ddpm.unet import UNet, UNetConfig

    model = randomised(UNet(UNetConfig(**TINY)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to eager would hide a broken compile path
        compiled = prepare_for_inference(model, backend="compile", example_batch=4)
    assert compiled is not model and type(compiled).__name__ != "InferenceUNet"
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, t), model(x, t), rtol=1e-4, atol=1e-4)
    assert compiled.config == model.config


def test_a_failing_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    from tiny import TINY, randomised

    from ddpm.inference import InferenceUNet
    from ddpm.unet import UNet, UNetConfig

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="no C.. compiler"):
        model = prepare_for_inference(randomised(UNet(UNetConfig(**TINY))), backend="compile")
    assert isinstance(model, InferenceUNet)
    with pytest.raises(ValueError, match="'tensorrt'"):
        prepare_for_inference(randomised(UNet(UNetConfig(**TINY))), backend="tensorrt")


def test_frozen_model_matches_the_unet_for_any_batch_and_t():
    from tiny import TINY, randomised

    from ddpm.inference import FrozenUNet
    from ddpm.unet import UNet, UNetConfig

    model = randomised(UNet(UNetConfig(**TINY)))
    frozen = prepare_for_inference(model, backend="torchscript")
    assert isinstance(frozen, FrozenUNet) and frozen.config == model.config
    for batch in (1, 2, 5, 16):
        x = torch.randn(batch, 1, 28, 28)
        t = torch.randint(0, 1000, (batch,))
        with torch.no_grad():
            torch.testing.assert_close(frozen(x, t), model(x, t), rtol=1e-4, atol=1e-5)
