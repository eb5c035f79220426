"""The exact reverse process of a finite data set (ddpm.true_reverse), against closed forms and
Bayes' rule computed independently."""

import math

import numpy as np
import pytest
import torch

from ddpm.data import to_model_range, training_digits
from ddpm.diffusion import GaussianDiffusion
from ddpm.sampling import draw_noise
from ddpm.seeding import generator
from ddpm.toy import line as toy
from ddpm.true_reverse import TrueReverse, choice_uniforms, sample_true_reverse, true_reverse_loop


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", 1000)


@pytest.fixture(scope="module")
def digits():
    images, labels = training_digits()
    return to_model_range(images[:2000]).unsqueeze(1), labels[:2000]  # [2000, 1, 28, 28] in [−1, 1]


def brute_log_weights(data, x_t, t, diffusion):
    """log q(x_0 = x^i | x_t) from the pixels, in float64, without any shortcut."""
    a = diffusion.sqrt_alphas_cumprod[t].double().item()
    var = diffusion.sqrt_one_minus_alphas_cumprod[t].double().item() ** 2
    d2 = (x_t.double().reshape(1, -1) - a * data.double().reshape(len(data), -1)).pow(2).sum(1)
    logits = -d2 / (2 * var)
    return logits - logits.logsumexp(0)


def test_the_shipped_training_set_is_mnists():
    images, labels = training_digits()
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and torch.bincount(labels).tolist()[:2] == [5923, 6742]  # MNIST's counts
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_with_one_image_it_is_the_posterior_chain(diffusion, digits):
    x0 = digits[0][3:4]
    reverse = TrueReverse(x0, diffusion)
    g = generator(5)
    x_t = diffusion.q_sample(x0, torch.tensor([699]), noise=torch.randn(x0.shape, generator=g))
    z = draw_noise(700, x0.shape, g)
    x_exact, x_true = x_t, x_t
    for k, records in enumerate(
        true_reverse_loop(reverse, x_t, 699, z, torch.rand(700, 1, dtype=torch.float64))
    ):
        t = 699 - k
        exact = diffusion.q_posterior_sample(x0, x_exact, t, z=z[k])
        assert records.chosen.tolist() == [0] and records.pasts.weight[0, 0].item() == pytest.approx(1.0)
        torch.testing.assert_close(records.record.x_prev, exact.sample, rtol=0, atol=1e-6)
        torch.testing.assert_close(records.record.pred_x0, x0, rtol=0, atol=1e-6)
        x_exact, x_true = exact.sample, records.record.x_prev
    assert torch.equal(x_true, x0)


def test_weights_match_bayes_rule_from_the_pixels_and_sum_to_one_at_t_1_and_t_T(diffusion, digits):
    data = digits[0][:500]
    reverse = TrueReverse(data, diffusion)
    g = generator(1)
    for t in (0, 1, 10, 500, 999):  # the paper's t = 1, 2, 11, 501, T
        x_t = diffusion.q_sample(
            data[7:8], torch.tensor([t]), noise=torch.randn(data[7:8].shape, generator=g)
        )
        log_w = reverse.log_weights(x_t, t)[0]
        assert torch.isfinite(log_w.exp()).all() and log_w.exp().sum().item() == pytest.approx(1.0, abs=1e-12)
        brute = brute_log_weights(data, x_t, t, diffusion)
        heavy = brute.exp() > 1e-8
        torch.testing.assert_close(log_w[heavy], brute[heavy], rtol=0, atol=1e-3)
    for t in (0, 10):  # halfway between two digits: two heavy pasts, whose log-weights a float32
        # matrix product would get wrong by about 0.2 at the paper's t = 1
        x_t = diffusion.sqrt_alphas_cumprod[t] * (data[0:1] + data[1:2]) / 2
        brute = brute_log_weights(data, x_t, t, diffusion)
        heavy = brute.exp() > 1e-8
        assert int(heavy.sum()) == 2
        torch.testing.assert_close(reverse.log_weights(x_t, t)[0][heavy], brute[heavy], rtol=0, atol=1e-6)
    at_1 = reverse.pasts(diffusion.q_sample(data[7:8], torch.tensor([0])), 0, k=3)
    assert at_1.index[0, 0].item() == 7 and at_1.weight[0, 0].item() > 0.999999
    assert at_1.effective.item() == pytest.approx(1.0, abs=1e-6)
    at_T = reverse.pasts(torch.randn((1, 1, 28, 28), generator=g), 999, k=3)
    assert at_T.effective.item() > 0.9 * len(data)  # ᾱ_T ≈ 4e-5: nearly every image is a past


def test_on_1d_data_the_mixture_is_bayes_rule_on_a_grid():
    """q(x_{t−1} | x_t) ∝ q(x_t | x_{t−1}) q_{t−1}(x_{t−1}) on a grid (the small-steps lesson's
    Gaussians), against the mixture Σ w_i N(μ̃_t(x_t, x^i), β̃_t) and against samples of it."""
    T, t = 10, 4  # large steps: a multimodal reverse
    betas, alpha_bar = toy.toy_schedule(T)
    diffusion = GaussianDiffusion(torch.from_numpy(betas))
    points = torch.tensor([[-0.8], [-0.5], [0.1], [0.7], [0.75]])
    reverse = TrueReverse(points, diffusion)
    x_t = torch.tensor([[0.05]])
    grid = np.linspace(-3, 3, 6001)
    prior = np.mean(
        [
            toy.normal_pdf(grid, math.sqrt(alpha_bar[t - 2]) * p, 1 - alpha_bar[t - 2])
            for p in points[:, 0].numpy()
        ],
        0,
    )
    bayes = toy.normal_pdf(0.05, math.sqrt(1 - betas[t - 1]) * grid, betas[t - 1]) * prior
    bayes /= np.trapezoid(bayes, grid)
    w = reverse.log_weights(x_t, t - 1)[0].exp().numpy()
    post = diffusion.q_posterior_mean_variance(
        points.reshape(5, 1), x_t.expand(5, 1), torch.full((5,), t - 1)
    )
    mixture = (
        w[:, None] * toy.normal_pdf(grid[None], post.mean.double().numpy(), post.variance.double().numpy())
    ).sum(0)
    assert np.abs(mixture - bayes).max() < 1e-4 * bayes.max()
    n = 40_000
    g = generator(3)
    out, *_ = reverse.step(
        x_t.expand(n, 1), t - 1, torch.randn((n, 1), generator=g), torch.rand(n, generator=g)
    )
    cdf = np.cumsum(bayes) * (grid[1] - grid[0])
    empirical = np.searchsorted(np.sort(out.sample[:, 0].double().numpy()), grid) / n
    assert np.abs(empirical - cdf).max() < 0.015  # Kolmogorov–Smirnov: 1.63/√n ≈ 0.008 at 1%


def test_for_gaussian_data_the_ideal_denoiser_is_the_wiener_filter(diffusion):
    g = generator(11)
    mean = torch.tensor([0.3, -0.2])
    cov = torch.tensor([[0.20, 0.08], [0.08, 0.10]])
    data = (
        mean
        + torch.randn((200_000, 2), generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov.double()).T
    )
    reverse = TrueReverse(data.float(), diffusion)
    for t in (200, 400):
        a = diffusion.alphas_cumprod[t].double()
        x0 = mean + torch.randn((6, 2), generator=g) * 0.3
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn((6, 2), generator=g)
        wiener = (
            mean.double()
            + (
                a.sqrt()
                * cov.double()
                @ torch.linalg.inv(a * cov.double() + (1 - a) * torch.eye(2, dtype=torch.float64))
                @ (x_t.double() - a.sqrt() * mean.double()).T
            ).T
        )
        ideal = reverse.denoise(x_t, t)
        assert (ideal.pred_x0.double() - wiener).abs().max().item() < 0.02
        # Tweedie: the score is −ε̂ / √(1 − ᾱ_t), and ε̂ is x_t's noise given x̂_0
        torch.testing.assert_close(ideal.score, -ideal.pred_noise / (1 - a).sqrt().float())
        torch.testing.assert_close(
            a.sqrt().float() * ideal.pred_x0 + (1 - a).sqrt().float() * ideal.pred_noise,
            x_t,
            atol=1e-5,
            rtol=0,
        )


def test_a_chain_lands_on_a_training_digit_within_float_rounding(diffusion, digits):
    reverse = TrueReverse(digits[0][:1000], diffusion)
    steps = list(sample_true_reverse(reverse, 3, seed=4, t_start=300))
    final, chosen = steps[-1].record.x_prev, steps[-1].chosen
    assert len(steps) == 301
    torch.testing.assert_close(final, reverse.images[chosen].reshape(final.shape), rtol=0, atol=1e-6)
    near = reverse.nearest(final)
    assert near.index.tolist() == chosen.tolist() and near.distance.max().item() < 1e-3
    again = list(sample_true_reverse(reverse, 3, seed=4, t_start=300))[-1]
    assert torch.equal(again.record.x_prev, final)  # a seed means the same chains


def test_nearest_is_the_brute_force_nearest(digits, diffusion):
    data = digits[0][:800]
    reverse = TrueReverse(data, diffusion)
    queries = torch.cat(
        [digits[0][1500:1504], data[5:6] + 0.01 * torch.randn((1, 1, 28, 28), generator=generator(2))]
    )
    near = reverse.nearest(queries)
    brute = torch.cdist(queries.reshape(5, -1).double(), data.reshape(800, -1).double())
    assert near.index.tolist() == brute.argmin(1).tolist()
    torch.testing.assert_close(near.distance, brute.min(1).values, rtol=1e-9, atol=1e-9)
    assert near.index[-1].item() == 5


def test_bad_arguments_are_named(diffusion, digits):
    reverse = TrueReverse(digits[0][:10], diffusion)
    with pytest.raises(ValueError, match="shape"):
        reverse.log_weights(torch.zeros(1, 28, 28), 3)
    with pytest.raises(ValueError, match="k must"):
        reverse.pasts(torch.zeros(1, 1, 28, 28), 3, k=11)
    with pytest.raises(ValueError, match="subset size"):
        reverse.subset(0)
    with pytest.raises(ValueError, match="out of range"):
        reverse.denoise(torch.zeros(1, 1, 28, 28), 1000)
    with pytest.raises(ValueError, match="data must be float"):
        TrueReverse(torch.zeros(0, 4), diffusion)
    with pytest.raises(ValueError, match="uniforms"):
        next(
            true_reverse_loop(
                reverse, torch.zeros(1, 1, 28, 28), 4, draw_noise(5, (1, 1, 28, 28)), choice_uniforms(4, 1, 0)
            )
        )
