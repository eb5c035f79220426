"""Why not learn the true reverse: generations of the exact reverse of a data set beside p_θ's."""

import numpy as np
import pytest
import torch
from oracles import PointDataEps, zero_model

from ddpm import GaussianDiffusion
from ddpm.teaching.memorisation import copies, pairs_image, side_by_side, spread
from ddpm.true_reverse import TrueReverse


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", 100)


def digits(n, seed=0):
    return torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed)).round() * 2 - 1


def test_a_perfect_network_of_a_one_digit_set_is_its_true_reverse(diffusion):
    point = digits(1)
    oracle = PointDataEps(diffusion.alphas_cumprod, point)  # the exact ε of the data set {point}
    steps = list(side_by_side(TrueReverse(point, diffusion), oracle, n=3, seed=2))
    assert len(steps) == 100 and torch.equal(steps[0].truth.x_t, steps[0].learned.x_t)  # one x_T
    for s in steps:
        torch.testing.assert_close(s.learned.x_prev, s.truth.x_prev, rtol=0, atol=1e-4)  # same z
    assert torch.equal(steps[-1].truth.x_prev, point.expand(3, -1, -1, -1))


def test_the_true_reverse_copies_its_data_and_a_network_that_does_not_know_it_does_not(diffusion):
    data = digits(12, seed=5)
    reverse = TrueReverse(data, diffusion)
    *_, last = side_by_side(reverse, zero_model, n=4, seed=9)
    torch.testing.assert_close(last.truth.x_prev, data[last.chosen], rtol=0, atol=1e-6)
    labels = torch.arange(12) % 10
    test = torch.full((5,), 3.0)  # held-out images lie 3 from their nearest data image
    truth, learned = (
        copies(reverse, labels, last.truth.x_prev, test),
        copies(reverse, labels, last.learned.x_prev, test),
    )
    assert truth.copied == 4 and truth.distances.max() < 1e-3
    assert [n.index for n in truth.novelty] == last.chosen.tolist()
    assert [n.label for n in truth.novelty] == (last.chosen % 10).tolist()
    assert learned.copied == 0 and learned.distances.min() > 3.0  # x̂_0 = x_t/√ᾱ: nothing like the data
    again = list(side_by_side(reverse, zero_model, n=4, seed=9))[-1]
    assert torch.equal(again.truth.x_prev, last.truth.x_prev)  # a seed means the same generations


def test_the_number_of_generations_is_checked(diffusion):
    with pytest.raises(ValueError, match="generations"):
        next(side_by_side(TrueReverse(digits(2), diffusion), zero_model, n=0))


def test_the_spread_of_distances_is_their_least_middle_and_greatest():
    odd = torch.tensor([3.0, 0.5, 2.0, 9.0, 1.0])
    assert spread(odd) == (0.5, 2.0, 9.0)  # sorted: 0.5 1 2 3 9
    even = np.array([4.0, 1.0, 3.0, 2.0])
    assert spread(even) == (1.0, 2.5, 4.0)  # the middle pair's mean


def test_a_pairs_image_shows_each_generation_above_its_nearest_digit():
    images = digits(3, seed=4)
    near = (torch.rand((3, 28, 28), generator=torch.Generator().manual_seed(5)) * 255).to(torch.uint8).numpy()
    picture = pairs_image(images, near, gap=2, grey=96)
    assert picture.shape == (58, 84) and picture.dtype == np.uint8
    for k in range(3):
        top = ((images[k, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        assert np.array_equal(picture[:28, 28 * k : 28 * (k + 1)], top)
        assert np.array_equal(picture[30:, 28 * k : 28 * (k + 1)], near[k])
    assert (picture[28:30] == 96).all()
    with pytest.raises(ValueError, match="nearest"):
        pairs_image(images, near[:2])
