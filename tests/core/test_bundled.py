"""The checkpoints that ship with the repository: they load, and their digits are readable."""

import pytest
import torch

from ddpm import checkpoint, classifier
from ddpm.data import to_model_range
from ddpm.guidance import labels_for
from ddpm.inference import generate, prepare_for_inference


def test_the_eps_model_generates_digits_the_classifier_is_sure_of():
    model, diffusion = checkpoint.load("eps")
    assert model.config.parameterization == "eps" and diffusion.num_timesteps == 1000
    model = prepare_for_inference(model)
    images = generate(model, diffusion, 64, "ddim", 20, seed=0)  # 64: a mean over 32 varies by ±0.03
    assert images.dtype == torch.uint8 and images.shape == (64, 28, 28)
    # MNIST-like: mostly background, some bright ink
    assert 0.6 < (images < 32).float().mean() < 0.95 and (images > 200).any()
    _, probs = classifier.predict(classifier.load(), to_model_range(images).unsqueeze(1))
    confidence = probs.max(1).values
    assert confidence.mean() > 0.9
    assert len(set(probs.argmax(1).tolist())) >= 8  # not one digit over and over


def test_the_default_checkpoint_draws_the_digit_asked_for():
    model, diffusion = checkpoint.load()
    config = model.config
    assert (config.num_classes, config.learn_sigma, config.parameterization) == (10, True, "v")
    model = prepare_for_inference(model)
    images = generate(model, diffusion, 40, "ddim", 20, seed=0, digit="all", guidance=2.0)
    asked = labels_for("all", 40)  # the ten digits in order, four of each
    _, probs = classifier.predict(classifier.load(), to_model_range(images).unsqueeze(1))
    # a label embedding that were ignored or shuffled would agree on about 10%
    assert (probs.argmax(1) == asked).float().mean() >= 0.9 and probs.max(1).values.mean() > 0.9


def test_the_default_checkpoint_draws_from_the_class_prior():
    """The default request (:mod:`ddpm.choices`, :mod:`ddpm.guidance`): labels from the class prior,
    the conditional model at w = 0, the default sampler; the judge reads the drawn labels (an even
    split of 60) in nearly all."""
    from ddpm.guidance import prior_labels

    model, diffusion = checkpoint.load()
    images = generate(prepare_for_inference(model), diffusion, 60, seed=0)
    drawn = prior_labels(60, 10, torch.Generator().manual_seed(0))
    _, probs = classifier.predict(classifier.load(), to_model_range(images).unsqueeze(1))
    assert torch.bincount(probs.argmax(1), minlength=10).min() >= 3  # every digit, about 6 each
    assert (probs.argmax(1) == drawn).float().mean() >= 0.9 and probs.max(1).values.mean() > 0.9


def test_the_default_checkpoint_without_a_label_is_an_unconditional_model():
    model, diffusion = checkpoint.load()
    images = generate(prepare_for_inference(model), diffusion, 64, "ddim", 20, seed=0, digit="none")
    _, probs = classifier.predict(classifier.load(), to_model_range(images).unsqueeze(1))
    assert probs.max(1).values.mean() > 0.85
    assert len(set(probs.argmax(1).tolist())) >= 8  # the null label is not one digit over and over


def test_shipped_checkpoints_are_found_by_name_and_a_real_folder_wins(tmp_path, monkeypatch):
    from ddpm.serve import runtime

    assert checkpoint.resolve("conditional") == checkpoint.CONDITIONAL
    assert checkpoint.resolve("default") == checkpoint.DEFAULT
    assert checkpoint.resolve("eps") == checkpoint.EPS == checkpoint.BUNDLED
    assert checkpoint.read_config("conditional") == checkpoint.read_config(checkpoint.CONDITIONAL)
    assert checkpoint.read_config("eps")["model"]["parameterization"] == "eps"
    monkeypatch.setenv("DDPM_CHECKPOINT", "conditional")
    assert runtime.checkpoint_path() == str(checkpoint.CONDITIONAL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conditional").mkdir()
    assert checkpoint.resolve("conditional").resolve() == tmp_path / "conditional"  # a folder wins
    monkeypatch.delenv("DDPM_CHECKPOINT")
    assert runtime.checkpoint_path() == str(checkpoint.DEFAULT)


def test_the_reverse_view_s_unconditional_network_is_named_by_the_checkpoint(tmp_path, monkeypatch):
    """``"unconditional_from"`` in config.json names the network of p_θ(x_{t−1} | x_t) without a
    class (a shipped name or a folder); without it the model's own null label is used."""
    import json

    from ddpm.serve import runtime
    from tests.tiny import tiny_checkpoint

    plain = tiny_checkpoint(tmp_path / "plain", timesteps=10, num_classes=10)
    naming = tiny_checkpoint(tmp_path / "naming", timesteps=10, num_classes=10)
    config = json.loads((naming / "config.json").read_text())
    (naming / "config.json").write_text(json.dumps({**config, "unconditional_from": "eps"}))
    monkeypatch.setenv("DDPM_CHECKPOINT", str(plain))
    assert runtime.unconditional_path() == runtime.checkpoint_path() == str(plain)
    monkeypatch.setenv("DDPM_CHECKPOINT", str(naming))
    assert runtime.unconditional_path() == str(checkpoint.EPS)
    assert runtime.unconditional_config().parameterization == "eps"
    # the shared results' key covers both networks a view may run
    assert runtime.model_fingerprint() != runtime._fingerprint(str(naming))
    # one rule everywhere: not told the class, the named network; told, the model itself
    assert runtime.learned_config(False).num_classes == 0
    assert runtime.learned_config(True).num_classes == 10


def test_a_model_without_labels_cannot_be_told_the_class(tmp_path, monkeypatch):
    from ddpm.serve import runtime
    from tests.tiny import tiny_checkpoint

    monkeypatch.setenv("DDPM_CHECKPOINT", str(tiny_checkpoint(tmp_path / "plain", timesteps=10)))
    with pytest.raises(ValueError, match="takes no class labels"):
        runtime.learned_reverse(True)
