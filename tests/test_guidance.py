"""Class labels and classifier-free guidance: the identities of Ho & Salimans 2022 on a real UNet."""

import pytest
import torch
from tiny import TINY, randomised

from ddpm.guidance import ClassifierFreeGuidance, Conditioned, labels_for
from ddpm.unet import UNet, UNetConfig


@pytest.fixture(scope="module", params=[False, True], ids=["fixed-sigma", "learned-sigma"])
def model(request):
    return randomised(UNet(UNetConfig(**TINY, timesteps=50, num_classes=10, learn_sigma=request.param)))


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 50, (n,), generator=g)


class Counting:
    """Counts the forward passes of a model."""

    def __init__(self, model):
        self.model, self.config, self.calls = model, model.config, 0

    def __call__(self, *args):
        self.calls += 1
        return self.model(*args)


def test_labels_for_requests():
    assert labels_for(None, 5) is None
    assert labels_for(7, 3).tolist() == [7, 7, 7]
    assert labels_for("3", 2).tolist() == [3, 3]
    assert torch.bincount(labels_for("all", 100)).tolist() == [10] * 10
    assert labels_for("all", 10).tolist() == list(range(10))
    assert labels_for([1, 2], 2).tolist() == [1, 2]


@pytest.mark.parametrize(
    ("digit", "message"),
    [(10, "digit 10"), (-1, "digit -1"), ("seven", "'seven'"), (2.5, "2.5"), ([1, 2, 3], "need 2 labels")],
)
def test_bad_labels_name_the_value(digit, message):
    with pytest.raises(ValueError, match=message):
        labels_for(digit, 2)


def test_without_labels_the_model_runs_on_the_null_label(model):
    x, t = batch()
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), model(x, t, model.null_labels(4, "cpu")))
        assert not torch.allclose(model(x, t), model(x, t, torch.full((4,), 3)))


def test_zero_guidance_is_the_conditional_model(model):
    x, t = batch(seed=1)
    labels = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        torch.testing.assert_close(ClassifierFreeGuidance(model, labels, 0.0)(x, t), model(x, t, labels))
        torch.testing.assert_close(Conditioned(model, labels)(x, t), model(x, t, labels))


def test_guidance_combines_both_halves_in_one_forward_pass(model):
    x, t = batch(seed=2)
    labels, w = torch.tensor([1, 1, 5, 8]), 2.5
    counting = Counting(model)
    with torch.no_grad():
        guided = ClassifierFreeGuidance(counting, labels, w)(x, t)
        conditional, unconditional = model(x, t, labels), model(x, t)
    assert counting.calls == 1 and guided.shape == conditional.shape
    torch.testing.assert_close(guided[:, :1], (1 + w) * conditional[:, :1] - w * unconditional[:, :1])
    # a learned variance comes from the conditional half
    torch.testing.assert_close(guided[:, 1:], conditional[:, 1:])


def test_guidance_needs_a_conditional_model_and_a_sane_weight():
    unconditional = UNet(UNetConfig(**TINY, timesteps=50))
    with pytest.raises(ValueError, match="without class labels"):
        ClassifierFreeGuidance(unconditional, torch.tensor([1]), 1.0)
    conditional = UNet(UNetConfig(**TINY, timesteps=50, num_classes=10))
    for w in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="guidance weight"):
            ClassifierFreeGuidance(conditional, torch.tensor([1]), w)
