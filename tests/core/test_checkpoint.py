import json

import pytest
import torch
from tiny import TINY, randomised

from ddpm import DiffusionConfig, checkpoint
from ddpm.unet import UNet, UNetConfig


@pytest.fixture
def saved(tmp_path):
    model = randomised(UNet(UNetConfig(**TINY, timesteps=50)))
    checkpoint.save(tmp_path, model, DiffusionConfig("cosine", 50), extra={"steps": 7})
    return tmp_path, model


def test_round_trip(saved):
    path, model = saved
    loaded, diffusion = checkpoint.load(path)
    assert loaded.config == model.config and not loaded.training
    assert diffusion.num_timesteps == 50
    expected = DiffusionConfig("cosine", 50).build()
    torch.testing.assert_close(diffusion.betas, expected.betas)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 40])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t), model(x, t))
    config = json.loads((path / "config.json").read_text())
    assert config["extra"] == {"steps": 7} and len(config["sha256"]) == 64
    # the weights file itself is enough to find the checkpoint
    assert checkpoint.load(path / "model.safetensors")[0].config == model.config


def test_altered_weights_are_refused(saved):
    path, _ = saved
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match=r"sha256.*good copy"):
        checkpoint.load(path)


def test_truncated_weights_are_refused(saved):
    path, _ = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="damaged"):
        checkpoint.load(path)


def test_missing_files_and_bad_config(saved, tmp_path_factory):
    path, _ = saved
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(checkpoint.CheckpointError, match=r"no config\.json"):
        checkpoint.load(empty)
    (path / "model.safetensors").rename(path / "elsewhere")
    with pytest.raises(checkpoint.CheckpointError, match="missing weights"):
        checkpoint.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(checkpoint.CheckpointError, match="not valid JSON"):
        checkpoint.load(path)


def test_git_lfs_pointer_is_explained(saved):
    path, _ = saved
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
    (path / "model.safetensors").write_bytes(pointer)
    with pytest.raises(checkpoint.CheckpointError, match="git lfs pull"):
        checkpoint.load(path)


def test_mismatched_timesteps_are_refused(tmp_path):
    model = UNet(UNetConfig(**TINY, timesteps=1000))
    with pytest.raises(ValueError, match="T = 50"):
        checkpoint.save(tmp_path, model, DiffusionConfig("linear", 50))


def test_round_trip_of_a_class_conditional_learned_variance_model(tmp_path):
    model = randomised(UNet(UNetConfig(**TINY, timesteps=50, num_classes=10, learn_sigma=True)))
    checkpoint.save(tmp_path, model, DiffusionConfig("linear", 50))
    loaded, _ = checkpoint.load(tmp_path)
    assert loaded.config == model.config and loaded.config.variance == "learned_range"
    x, t, y = torch.randn(3, 1, 28, 28), torch.tensor([3, 40, 0]), torch.tensor([2, 10, 9])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, y), model(x, t, y))
        torch.testing.assert_close(loaded(x, t), model(x, t))


def test_the_default_checkpoint_says_what_its_network_takes():
    config = checkpoint.read_config(checkpoint.DEFAULT)["model"]
    loaded, _ = checkpoint.load()
    assert loaded.config.num_classes == config.get("num_classes", 0)
    assert loaded.config.learn_sigma == config.get("learn_sigma", False)
