import math

import pytest
import torch
from oracles import PointDataEps, alphas_cumprod64, zero_model
from tiny import TINY, randomised

from ddpm.diffusion import GaussianDiffusion
from ddpm.teaching import likelihood, noise_error, parameterizations, pasts, schedules
from ddpm.teaching.reverse import compare_reverse
from ddpm.unet import UNet, UNetConfig

T = 50


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


@pytest.fixture(scope="module")
def digit():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(1, 1, 28, 28, generator=g) > 0.7).float() * 2 - 1


@pytest.fixture(scope="module")
def tiny_model():
    return randomised(UNet(UNetConfig(**TINY, timesteps=T)))


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedule_curves_and_the_snr_crossing(name):
    curves = schedules.schedule_curves(name, 1000)
    torch.testing.assert_close(curves.alphas_cumprod, alphas_cumprod64(name, 1000), rtol=1e-6, atol=1e-9)
    a = curves.alphas_cumprod
    torch.testing.assert_close(curves.log_snr, torch.log(a / (1 - a)), rtol=1e-5, atol=1e-5)
    s = curves.snr_one_t  # the paper's t: index s − 1
    assert a[s - 1] <= 0.5 < a[s - 2]  # SNR = ᾱ/(1 − ᾱ) ≤ 1  ⇔  ᾱ ≤ 1/2


def test_the_cosine_schedule_keeps_signal_longer():
    assert (
        schedules.schedule_curves("cosine", 1000).snr_one_t
        > schedules.schedule_curves("linear", 1000).snr_one_t
    )


def test_each_reading_of_one_output_is_consistent_with_x_t(diffusion, digit, tiny_model):
    view = parameterizations.parameterization_view(diffusion, tiny_model, digit, 20, seed=3)
    a = float(alphas_cumprod64("linear", T)[19])
    assert view.readings["eps"].pred_noise.equal(view.output)
    assert view.readings["x0"].pred_x0.equal(view.output)
    for reading in view.readings.values():
        # x_t = √ᾱ x̂_0 + √(1 − ᾱ) ε̂ whatever the output is taken to mean
        rebuilt = math.sqrt(a) * reading.pred_x0 + math.sqrt(1 - a) * reading.pred_noise
        torch.testing.assert_close(rebuilt, view.x_t, rtol=1e-4, atol=1e-4)
        posterior = diffusion.q_posterior_mean_variance(reading.pred_x0, view.x_t, 19).mean
        torch.testing.assert_close(reading.mean, posterior, rtol=1e-4, atol=1e-5)
    v = view.readings["v"]
    torch.testing.assert_close(
        math.sqrt(a) * v.pred_noise - math.sqrt(1 - a) * v.pred_x0, view.output, rtol=1e-4, atol=1e-4
    )


def test_the_two_variances_share_the_mean_and_the_noise(diffusion, digit, tiny_model):
    view = parameterizations.parameterization_view(diffusion, tiny_model, digit, 20, seed=3)
    mean = view.readings["eps"].mean.clamp(-10, 10)
    eps_mean = diffusion.p_mean_variance(view.output, view.x_t, 19, "eps", "fixed_small").mean
    z_small = (view.step_small - eps_mean) / diffusion.posterior_variance[19].sqrt()
    z_large = (view.step_large - eps_mean) / diffusion.betas[19].sqrt()
    torch.testing.assert_close(z_small, z_large, rtol=1e-3, atol=1e-3)
    assert mean.shape == digit.shape


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_variance_chains_match_the_comparison_view(diffusion, digit, tiny_model, variance):
    chains = parameterizations.variance_chains(diffusion, tiny_model, digit, 15, seed=2)
    *_, last = compare_reverse(diffusion, tiny_model, digit, 15, seed=2, variance=variance)
    torch.testing.assert_close(chains[variance], last.learned.x_prev, rtol=1e-5, atol=1e-5)


def test_with_a_perfect_model_every_past_is_the_digit(diffusion, digit):
    oracle = PointDataEps(diffusion.alphas_cumprod, digit)
    chains = parameterizations.variance_chains(diffusion, oracle, digit, T, seed=1)
    for x0 in chains.values():
        torch.testing.assert_close(x0, digit, rtol=0, atol=1e-4)
    x_t, results = pasts.many_pasts(diffusion, oracle, digit, T, k=5, seed=1)
    assert x_t.shape == digit.shape and results.shape == (5, 1, 28, 28)
    torch.testing.assert_close(results, digit.expand(5, -1, -1, -1), rtol=0, atol=1e-4)


def test_many_pasts_differ_and_are_reproducible(diffusion, digit, tiny_model):
    _, a = pasts.many_pasts(diffusion, tiny_model, digit, 30, k=4, seed=5)
    _, b = pasts.many_pasts(diffusion, tiny_model, digit, 30, k=4, seed=5)
    assert a.equal(b)
    assert (a[0] - a[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="K must"):
        pasts.many_pasts(diffusion, tiny_model, digit, 30, k=0)
    with pytest.raises(ValueError, match="batch of 2"):
        pasts.many_pasts(diffusion, tiny_model, digit.expand(2, -1, -1, -1), 30, k=3)


def test_noise_prediction_error_of_closed_form_models(diffusion, digit):
    perfect = noise_error.noise_prediction_error(
        diffusion, PointDataEps(diffusion.alphas_cumprod, digit), digit
    )
    assert perfect.mse.max() < 1e-8 and perfect.t[0] == 1 and perfect.t[-1] == T
    batch = digit.expand(64, -1, -1, -1)
    zero = noise_error.noise_prediction_error(diffusion, zero_model, batch, steps=10)
    # predicting 0 leaves E‖ε‖²/D = 1 at every t (64 × 784 draws: ±0.02)
    assert torch.all((zero.mse - 1).abs() < 0.02) and zero.simple_loss == pytest.approx(
        float(zero.mse.mean())
    )
    with pytest.raises(ValueError, match="500"):
        noise_error.noise_prediction_error(diffusion, zero_model, digit, steps=500)


@pytest.mark.parametrize("parameterization", ["x0", "v"])
def test_noise_prediction_error_reads_every_parameterization_as_eps(diffusion, digit, parameterization):
    """The exact model of a one-digit data set, written as x̂_0 or v̂, has no ε error either; and
    an imperfect ε-model keeps its error when its output is rewritten (the default model
    predicts v, and reading v̂ as ε̂ would score about 1)."""
    eps_model = PointDataEps(diffusion.alphas_cumprod, digit)

    def rewritten(model):
        def call(x, t):
            x0, eps = diffusion.predictions(model(x, t), x, t, "eps", clip_denoised=False)
            return x0 if parameterization == "x0" else diffusion.predict_v(x0, eps, t)

        return call

    perfect = noise_error.noise_prediction_error(
        diffusion, rewritten(eps_model), digit, steps=10, parameterization=parameterization
    )
    assert perfect.mse.max() < 1e-6

    def blurred(x, t):  # an ε-model that is off by a known amount
        return 0.9 * eps_model(x, t)

    batch = digit.expand(8, -1, -1, -1)
    as_eps = noise_error.noise_prediction_error(diffusion, blurred, batch, steps=10)
    as_other = noise_error.noise_prediction_error(
        diffusion, rewritten(blurred), batch, steps=10, parameterization=parameterization
    )
    torch.testing.assert_close(as_other.mse, as_eps.mse, rtol=1e-3, atol=1e-6)


def test_contrast_images_live_on_the_8_bit_grid(digit):
    images = likelihood.contrast_images(digit, seed=1)
    assert images["digit"].equal(digit)
    for x in images.values():
        levels = (x + 1) * 127.5
        torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-4)
        assert x.min() >= -1 and x.max() <= 1
    assert not images["noisy digit"].equal(digit)


def test_bound_terms_add_up(diffusion, digit, tiny_model):
    bpd = likelihood.bound_terms(diffusion, tiny_model, torch.cat([digit, -digit]))
    assert bpd.terms.shape == (2, T) and bpd.exact
    torch.testing.assert_close(bpd.total, bpd.prior + bpd.terms.sum(1), rtol=1e-6, atol=1e-6)
