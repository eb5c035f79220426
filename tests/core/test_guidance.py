"""Class labels and classifier-free guidance: the identities of Ho & Salimans 2022 on a real UNet."""

import pytest
import torch
from tiny import TINY, randomised

from ddpm.guidance import (
    DEFAULT_GUIDANCE,
    DIGIT_REQUESTS,
    ClassifierFreeGuidance,
    Conditioned,
    check_guidance,
    default_guidance,
    labels_for,
    prior_labels,
)
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
    assert labels_for("none", 5) is None and labels_for(" none ", 5) is None
    assert labels_for(7, 3).tolist() == [7, 7, 7]
    assert labels_for("3", 2).tolist() == [3, 3]
    assert torch.bincount(labels_for("all", 100)).tolist() == [10] * 10
    assert labels_for("all", 10).tolist() == list(range(10))
    assert labels_for([1, 2], 2).tolist() == [1, 2]


@pytest.mark.parametrize("n", [1, 7, 10, 23, 100])
def test_prior_draw_is_as_even_as_n_allows_and_reproducible(n):
    labels = labels_for("prior", n, 10, generator=torch.Generator().manual_seed(n))
    counts = torch.bincount(labels, minlength=10)
    assert labels.shape == (n,) and labels.dtype == torch.long
    assert counts.max() - counts.min() <= 1 and int(counts.sum()) == n
    if n % 10 == 0:
        assert counts.tolist() == [n // 10] * 10
    again = labels_for("prior", n, 10, generator=torch.Generator().manual_seed(n))
    assert torch.equal(labels, again)


def test_every_position_of_the_prior_draw_is_uniform():
    """Stratified, yet each sample's label is a draw from p(y): over 4000 seeds, the label at each
    position of a draw of 3 (and of 13) is each class about 10% of the time (a 5σ band)."""
    for n in (3, 13):
        draws = torch.stack([prior_labels(n, 10, torch.Generator().manual_seed(s)) for s in range(4000)])
        freq = torch.nn.functional.one_hot(draws, 10).double().mean(0)  # [n, 10]
        sigma = (0.1 * 0.9 / 4000) ** 0.5
        assert (freq - 0.1).abs().max() < 5 * sigma, freq
    # the order differs from draw to draw (13 labels: 50 draws, no two alike)
    assert len({tuple(d.tolist()) for d in draws[:50]}) == 50


def test_a_model_without_labels_takes_prior_and_none_only():
    assert labels_for("prior", 4, num_classes=0) is None
    assert labels_for("none", 4, num_classes=0) is None
    for digit in ("all", "3", 3):
        with pytest.raises(ValueError, match="without class labels"):
            labels_for(digit, 4, num_classes=0)


def test_one_default_guidance_weight():
    assert (
        default_guidance("prior") == 0.0 and default_guidance("none") == 0.0 and default_guidance(None) == 0.0
    )
    for digit in ("all", "7", 7, [1, 2]):
        assert default_guidance(digit) == DEFAULT_GUIDANCE
    assert set(DIGIT_REQUESTS) == {"prior", "all", "none", *map(str, range(10))}
    assert check_guidance("1.5") == 1.5
    for bad in (-0.5, 11, float("nan"), "much"):
        with pytest.raises(ValueError, match="guidance weight"):
            check_guidance(bad)


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
