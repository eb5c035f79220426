import itertools
import math

import numpy as np
import pytest
import torch

from ddpm.toy import line as toy
from ddpm.toy.line import THREE_POINTS, TWO_MODES, Mixture1D

_trapezoid = toy._trapezoid


@pytest.mark.parametrize("T, t", [(2, 1), (2, 2), (5, 3), (100, 1), (100, 50), (1000, 1), (1000, 999)])
def test_exact_reverse_density_integrates_to_one_and_has_the_closed_form_moments(T, t):
    x_t = np.array([-1.3, -0.2, 0.0, 0.5, 1.1])
    exact = toy.reverse_density(TWO_MODES, T, t, x_t)
    spacing = np.diff(exact.grid, axis=1)
    assert np.allclose(spacing, spacing[:, :1])  # evenly spaced rows
    np.testing.assert_allclose(_trapezoid(exact.density, exact.grid, axis=1), 1.0, rtol=1e-9)
    # the numerical Bayes rule and the closed-form mixture algebra are independent computations
    mean = _trapezoid(exact.density * exact.grid, exact.grid, axis=1)
    var = _trapezoid(exact.density * (exact.grid - mean[:, None]) ** 2, exact.grid, axis=1)
    moments = toy.reverse_moments(TWO_MODES, T, t, x_t)
    np.testing.assert_allclose(mean, moments.mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(var, moments.variance, rtol=1e-5)


def test_reverse_density_is_bayes_rule_on_a_brute_force_grid():
    """Independent of the local grids: q(x_t | x_{t−1}) q_{t−1}(x_{t−1}) normalised on one wide grid."""
    T, t, x_t = 5, 2, 0.3
    betas, alpha_bar = toy.toy_schedule(T)
    y = np.linspace(-6, 6, 200_001)
    v = alpha_bar[t - 2] * 0.08**2 + 1 - alpha_bar[t - 2]  # both components of TWO_MODES, noised
    prior = sum(
        0.5 * np.exp(-0.5 * (y - math.sqrt(alpha_bar[t - 2]) * m) ** 2 / v) / math.sqrt(2 * math.pi * v)
        for m in (-0.6, 0.6)
    )
    joint = np.exp(-0.5 * (x_t - math.sqrt(1 - betas[t - 1]) * y) ** 2 / betas[t - 1]) * prior
    brute = joint / _trapezoid(joint, y)
    exact = toy.reverse_density(TWO_MODES, T, t, x_t)
    np.testing.assert_allclose(np.interp(exact.grid[0], y, brute), exact.density[0], rtol=1e-4, atol=1e-8)


def test_the_true_reverse_of_one_gaussian_is_gaussian():
    """Gaussian data: the reverse step is exactly Gaussian, so the best fit has KL 0 for every T."""
    gaussian = Mixture1D((1.0,), (0.2,), (0.5,))
    for T in (2, 10):
        assert np.all(np.abs(toy.gaussian_fit_kl(gaussian, T, 1, np.array([-1.0, 0.4, 2.0]))) < 1e-8)


def test_the_gaussian_fit_gets_better_with_more_smaller_steps():
    kls = [toy.chain_kl(TWO_MODES, T, max_steps=20) for T in (2, 5, 10, 100)]
    assert all(a > b for a, b in itertools.pairwise(kls)), kls
    assert kls[-1] < 0.05 * kls[0]
    assert all(k >= -1e-9 for k in kls)


def test_many_small_gaussian_steps_reach_the_modes_and_few_large_ones_do_not():
    g = torch.Generator().manual_seed(0)
    near = {}
    for T in (2, 200):
        x0 = toy.sample_gaussian_reverse(THREE_POINTS, T, 4000, generator=g)
        distance = np.min(np.abs(x0[:, None] - np.array(THREE_POINTS.means)[None]), axis=1)
        near[T] = float(np.mean(distance < 0.1))  # within ~3 data standard deviations of a point
    assert near[200] > 0.9 and near[2] < 0.6, near


def test_sampling_is_reproducible_with_a_generator():
    a = toy.sample_gaussian_reverse(TWO_MODES, 10, 50, torch.Generator().manual_seed(3))
    b = toy.sample_gaussian_reverse(TWO_MODES, 10, 50, torch.Generator().manual_seed(3))
    assert np.array_equal(a, b)


def test_bad_arguments_name_the_bad_value():
    with pytest.raises(ValueError, match="same non-zero length"):
        Mixture1D((1.0,), (0.0, 1.0), (0.1,))
    with pytest.raises(ValueError, match=r"-0\.5"):
        Mixture1D((-0.5, 1.0), (0.0, 1.0), (0.1, 0.1))
    with pytest.raises(ValueError, match=r"0\.001"):
        Mixture1D((1.0,), (0.0,), (0.001,))
    with pytest.raises(ValueError, match="T must"):
        toy.toy_schedule(0)
    with pytest.raises(ValueError, match="7"):
        toy.reverse_moments(TWO_MODES, 5, 7, 0.0)
