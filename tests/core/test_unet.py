import pytest
import torch
from tiny import TINY, randomised

from ddpm.unet import UNet, UNetConfig, count_parameters, timestep_embedding


@pytest.mark.parametrize(
    "config",
    [
        UNetConfig(**TINY),
        UNetConfig(**TINY, attention_levels=(), middle_attention=False),
        UNetConfig(**TINY, blocks_per_level=2, attention_levels=(0, 1)),
        UNetConfig(**{**TINY, "channels": (8, 16, 16)}, stem_factor=1, attention_levels=(2,)),
    ],
)
def test_output_shape_and_zero_initial_output(config):
    model = UNet(config)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999])
    out = model(x, t)
    assert out.shape == x.shape
    # the last convolution starts at zero, so an untrained model predicts ε = 0
    assert torch.count_nonzero(out) == 0


def test_time_conditioning_changes_the_output():
    model = randomised(UNet(UNetConfig(**TINY)))
    x = torch.randn(1, 1, 28, 28).expand(3, -1, -1, -1)
    out = model(x, torch.tensor([0, 10, 900]))
    assert (out[0] - out[1]).abs().max() > 1e-3 and (out[1] - out[2]).abs().max() > 1e-3
    again = model(x, torch.tensor([0, 10, 900]))
    torch.testing.assert_close(out, again)


def test_batch_elements_are_independent():
    """GroupNorm and attention act per image: one digit's output ignores the rest of the batch."""
    model = randomised(UNet(UNetConfig(**TINY)))
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([3, 300, 600, 900])
    with torch.no_grad():
        together = model(x, t)
        alone = torch.cat([model(x[i : i + 1], t[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_channels_last_gives_the_same_output():
    model = randomised(UNet(UNetConfig(**TINY)))
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([5, 700])
    with torch.no_grad():
        expected = model(x, t)
        fast = model.to(memory_format=torch.channels_last)(x, t)
    torch.testing.assert_close(fast, expected, rtol=1e-4, atol=1e-5)


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0, 1, 999]), 16)
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(8), torch.ones(8)]))  # sin 0, cos 0
    assert torch.all(emb.abs() <= 1)
    assert not torch.allclose(emb[1], emb[2])


def test_config_round_trip_and_validation():
    config = UNetConfig(**TINY)
    assert UNetConfig.from_dict(config.to_dict()) == config
    assert count_parameters(UNet(config)) > 0
    with pytest.raises(ValueError, match="'score'"):
        UNetConfig(parameterization="score")
    with pytest.raises(ValueError, match="groups=8"):
        UNetConfig(channels=(12, 24))
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(image_size=30)
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(attention_levels=(5,))
    with pytest.raises(ValueError, match="bogus"):
        UNetConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_a_conditional_learned_sigma_unet_takes_labels_and_outputs_two_channels():
    config = UNetConfig(**TINY, timesteps=50, num_classes=10, learn_sigma=True)
    model = randomised(UNet(config))
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 10, 49])
    with torch.no_grad():
        out = model(x, t, torch.tensor([1, 2, 10]))
    assert out.shape == (3, 2, 28, 28) and config.variance == "learned_range"
    assert UNetConfig(**TINY).variance == "fixed_small" and UNetConfig(**TINY).out_channels == 1


def test_configs_saved_before_labels_existed_still_load():
    old = UNetConfig(**TINY).to_dict()
    del old["num_classes"], old["learn_sigma"]
    config = UNetConfig.from_dict(old)
    assert config.num_classes == 0 and not config.learn_sigma
    with pytest.raises(ValueError, match="num_classes"):
        UNetConfig(**TINY, num_classes=-1)
