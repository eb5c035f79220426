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


def test_sample_cli_defaults_to_the_package_sampler_and_ancestral_sampling_takes_all_t(tiny, tmp_path):
    from ddpm.choices import DEFAULT_SAMPLER, DEFAULT_STEPS

    plain = run(tiny, tmp_path, "plain", "--n", "2")
    named = run(
        tiny, tmp_path, "named", "--n", "2", "--sampler", DEFAULT_SAMPLER, "--steps", str(DEFAULT_STEPS)
    )
    assert np.array_equal(plain, named)
    model, diffusion = checkpoint.load(tiny)
    assert torch.equal(torch.from_numpy(plain), generate(prepare_for_inference(model), diffusion, 2))
    # --sampler ddpm without --steps: all T (25) steps, the library's ancestral loop
    ancestral = run(tiny, tmp_path, "ancestral", "--n", "2", "--sampler", "ddpm")
    assert np.array_equal(ancestral, generate(prepare_for_inference(model), diffusion, 2, "ddpm").numpy())
    assert not np.array_equal(ancestral, plain)


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
    assert fast.table.shape == (1, 1000, sum(fast.unet.time_splits))  # one row per label: the null one
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


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("cond"), timesteps=25, num_classes=10, learn_sigma=True)


@pytest.mark.parametrize("backend", ["eager", "torchscript"])
def test_inference_backends_of_a_conditional_model_match_the_unet(conditional, backend):
    unet, _ = checkpoint.load(conditional)
    fast = prepare_for_inference(unet, "cpu", backend)
    if backend == "eager":
        assert fast.table.shape == (11, 25, sum(unet.time_splits))  # ten digits and the null label
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 12, 24])
    with torch.no_grad():
        for y in (None, torch.tensor([0, 5, 10])):
            torch.testing.assert_close(fast(x, t, y), unet(x, t, y), rtol=1e-5, atol=1e-5)


def test_the_sample_cli_asks_a_conditional_model_for_digits(conditional, tmp_path):
    out = tmp_path / "sevens.npz"
    args = ["--checkpoint", str(conditional), "--device", "cpu", "--n", "4", "--batch-size", "3"]
    main([*args, "--out", str(out), "--digit", "7", "--guidance", "1.5", "--sampler", "ddim", "--steps", "3"])
    with np.load(out) as data:
        assert data["labels"].tolist() == [7, 7, 7, 7] and data["images"].shape == (4, 28, 28)
    main([*args, "--out", str(out), "--digit", "all", "--sampler", "ddim", "--steps", "3"])
    with np.load(out) as data:
        assert data["labels"].tolist() == [0, 2, 5, 7]
    main([*args, "--out", str(out), "--digit", "none", "--sampler", "ddim", "--steps", "3"])
    with np.load(out) as data:
        assert "labels" not in data and str(data["request"]) == "none"  # the null label
    main([*args, "--out", str(out), "--sampler", "dpm-solver", "--steps", "3", "--seed", "5"])
    with np.load(out) as data:  # the default: labels from the class prior, drawn first from the seed
        assert str(data["request"]) == "prior" and float(data["guidance"]) == 0.0
        from ddpm.guidance import prior_labels

        assert data["labels"].tolist() == prior_labels(4, 10, torch.Generator().manual_seed(5)).tolist()


def test_prior_generation_is_the_conditional_loop_on_the_drawn_labels(conditional):
    """'prior': labels from the class prior, drawn first from the seed's generator, then the
    conditional model (w = 0) from noise drawn next; any sampler, DPM-Solver here."""
    from ddpm.guidance import Conditioned, prior_labels
    from ddpm.images import to_uint8
    from ddpm.sampling import dpm_solver_sample_loop_progressive, final_sample

    model, diffusion = checkpoint.load(conditional)
    images = generate(model, diffusion, 5, "dpm-solver", 4, seed=3)
    generator = torch.Generator().manual_seed(3)
    labels = prior_labels(5, 10, generator)
    steps = dpm_solver_sample_loop_progressive(
        diffusion, Conditioned(model, labels), (5, 1, 28, 28), steps=4, generator=generator
    )
    assert torch.equal(images, to_uint8(final_sample(steps))[:, 0])
    assert sorted(labels.tolist()) == sorted(set(labels.tolist()))  # five different digits
    assert not torch.equal(images, generate(model, diffusion, 5, "dpm-solver", 4, seed=3, digit="none"))


def test_dpm_solver_takes_no_eta(tiny, tmp_path):
    with pytest.raises(SystemExit):
        run(tiny, tmp_path, "h", "--sampler", "dpm-solver", "--eta", "0.5")
    images = run(tiny, tmp_path, "i", "--n", "2", "--sampler", "dpm-solver", "--steps", "5")
    assert images.shape == (2, 28, 28)


def test_guided_generation_is_the_loop_over_the_guided_model(conditional):
    from ddpm.guidance import ClassifierFreeGuidance
    from ddpm.sampling import ddim_sample_loop_progressive, final_sample

    model, diffusion = checkpoint.load(conditional)
    images = generate(model, diffusion, 2, "ddim", 4, seed=3, digit=4, guidance=2.0)
    generator = torch.Generator().manual_seed(3)
    guided = ClassifierFreeGuidance(model, torch.tensor([4, 4]), 2.0)
    steps = ddim_sample_loop_progressive(diffusion, guided, (2, 1, 28, 28), steps=4, generator=generator)
    from ddpm.images import to_uint8

    assert torch.equal(images, to_uint8(final_sample(steps))[:, 0])
    assert not torch.equal(images, generate(model, diffusion, 2, "ddim", 4, seed=3, digit=4, guidance=0.0))
    # a named digit's default weight is the one default
    assert torch.equal(images, generate(model, diffusion, 2, "ddim", 4, seed=3, digit=4))


def test_digits_need_a_conditional_model(tiny, conditional):
    model, diffusion = checkpoint.load(tiny)
    with pytest.raises(ValueError, match="without class labels"):
        generate(model, diffusion, 2, "ddim", 3, digit=3)
    model, diffusion = checkpoint.load(conditional)
    with pytest.raises(ValueError, match="digit 12"):
        generate(model, diffusion, 2, "ddim", 3, digit=12)
    with pytest.raises(ValueError, match="needs digits"):
        generate(model, diffusion, 2, "ddim", 3, digit="none", guidance=1.0)


def test_a_generation_request_is_checked_and_reduced_to_what_the_loop_takes():
    from ddpm.inference import generation_request

    assert generation_request(16, "ddpm", 20, 0.5, 1000, 64) == (16, "ddpm", None, 0.0)  # S and η unused
    assert generation_request(16, "ddim", 20, 0.5, 1000, 64) == (16, "ddim", 20, 0.5)
    assert generation_request(4.0, "dpm-solver", 999, 0.5, 1000, 64) == (4, "dpm-solver", 999, 0.0)
    bad = [
        ((0, "ddpm", 1, 0.0), "number of digits must be between 1 and 64, got 0"),
        ((65, "ddpm", 1, 0.0), "got 65"),
        ((4, "euler", 1, 0.0), "sampler"),
        ((4, "ddim", 1001, 0.0), "DDIM steps must be between 1 and T = 1000, got 1001"),
        ((4, "dpm-solver", 1000, 0.0), r"DPM-Solver steps must be between 1 and T − 1 = 999, got 1000"),
        ((4, "ddim", 10, 1.5), "η must be between 0 and 1, got 1.5"),
    ]
    for args, message in bad:
        with pytest.raises(ValueError, match=message):
            generation_request(*args, 1000, 64)


@pytest.mark.slow
def test_the_true_reverse_sampler_draws_training_digits_and_says_which(tiny, tmp_path):
    from ddpm.data import training_digits

    images, labels = training_digits()
    args = [
        "--checkpoint",
        str(tiny),
        "--device",
        "cpu",
        "--sampler",
        "true-reverse",
        "--n",
        "3",
        "--batch-size",
        "2",
    ]
    main([*args, "--out", str(tmp_path / "a.npz"), "--seed", "1"])
    main([*args, "--out", str(tmp_path / "b.npz"), "--seed", "1"])
    main([*args, "--out", str(tmp_path / "c.npz"), "--seed", "1", "--digit", "7"])
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b, np.load(tmp_path / "c.npz") as c:
        assert a["images"].shape == (3, 28, 28) and a["images"].dtype == np.uint8
        assert np.array_equal(a["images"], images[a["training_index"]].numpy())  # copies, pixel for pixel
        assert a["labels"].tolist() == labels[a["training_index"]].tolist()
        assert np.array_equal(a["images"], b["images"])  # a seed means the same digits
        assert c["labels"].tolist() == [7, 7, 7]
        assert np.array_equal(c["images"], images[c["training_index"]].numpy())
