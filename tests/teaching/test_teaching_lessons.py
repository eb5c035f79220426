import math

import pytest
import torch
from oracles import PointDataEps, alphas_cumprod64, zero_model
from tiny import TINY, randomised

from ddpm.diffusion import GaussianDiffusion
from ddpm.schedules import SCHEDULES
from ddpm.teaching import likelihood, noise_error, parameterizations, pasts, reverse, schedules, small_steps
from ddpm.teaching.common import seeded_noise
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


# -- what the lessons' tabs show, computed here (the tabs only lay it out) -------------------------


def test_the_parameterization_lesson_reports_each_readings_error_and_the_chains_gap(
    diffusion, digit, tiny_model
):
    lesson = parameterizations.parameterization_lesson(diffusion, tiny_model, digit, 20, seed=3)
    a = float(alphas_cumprod64("linear", T)[19])
    view = lesson.view
    # x̂_0 of each reading from the output by the paper's closed forms, then its RMS error against x_0
    closed = {
        "eps": (view.x_t - math.sqrt(1 - a) * view.output) / math.sqrt(a),  # Ho et al. 2020, eq. 15
        "x0": view.output,
        "v": math.sqrt(a) * view.x_t - math.sqrt(1 - a) * view.output,  # Salimans & Ho 2022
    }
    assert set(lesson.x0_errors) == set(closed) and lesson.parameterization == "eps"
    for name, x0_hat in closed.items():
        assert lesson.x0_errors[name] == pytest.approx(float((x0_hat - digit).pow(2).mean().sqrt()), rel=1e-4)
    ends = parameterizations.variance_chains(diffusion, tiny_model, digit, 20, 3)
    gap = float((ends["fixed_small"] - ends["fixed_large"]).pow(2).mean().sqrt())
    assert lesson.chain_gap == pytest.approx(gap, rel=1e-5) and lesson.chain_gap > 0


def test_the_schedules_lesson_noises_the_digit_with_each_schedules_closed_form(digit):
    lesson = schedules.compare_schedules(digit, 300, 1000, seed=4)
    epsilon = seeded_noise(tuple(digit.shape), 4)
    assert [c.name for c in lesson.curves] == list(SCHEDULES)
    for curves, x_t, values in zip(lesson.curves, lesson.x_t, lesson.values, strict=True):
        a = float(alphas_cumprod64(curves.name, 1000)[299])
        torch.testing.assert_close(
            x_t, math.sqrt(a) * digit + math.sqrt(1 - a) * epsilon, rtol=1e-5, atol=1e-5
        )
        assert values.alpha_bar == pytest.approx(a, rel=1e-5)
    assert schedules.compare_schedules(digit, 0, 100).x_t[0].equal(digit)  # t = 0: the clean digit
    with pytest.raises(ValueError, match="timesteps=10 is too small for the linear schedule"):
        schedules.compare_schedules(digit, 5, 10)
    for t, big_t, name in ((5, 1, "T"), (5, schedules.MAX_T + 1, "T"), (11, 10, "t"), (-1, 10, "t")):
        with pytest.raises(ValueError, match=f"^{name} must be in"):
            schedules.compare_schedules(digit, t, big_t)


def test_the_small_steps_lesson_reads_its_data_and_checks_t_and_T():
    data = small_steps.parse_data("custom", "-1; 0.5, 1", 0.1)
    assert data.means == (-1.0, 0.5, 1.0) and data.stds == (0.1,) * 3 and data.weights == (1.0,) * 3
    assert small_steps.parse_data("two modes") is small_steps.PRESETS["two modes"]
    bad = [("custom", "a, b", "means must be numbers"), ("custom", "", "between 1 and 6"),
           ("custom", "1,2,3,4,5,6,7", "got 7"), ("blobs", "", "unknown data 'blobs'")]  # fmt: skip
    for preset, means, message in bad:
        with pytest.raises(ValueError, match=message):
            small_steps.parse_data(preset, means)
    lesson = small_steps.small_steps_lesson(small_steps.PRESETS["two modes"], 5, 2, seed=1, samples=500)
    assert lesson.kl == lesson.kls[small_steps.T_CHOICES.index(5)] and lesson.kl_small_steps == lesson.kls[-1]
    assert lesson.kl > lesson.kl_small_steps  # the lesson's point: many small steps fit far better
    assert [steps for steps, _ in lesson.chain_ends] == [5, 1000]
    assert all(ends.shape == (500,) for _, ends in lesson.chain_ends)
    spacing = small_steps.DENSITY_GRID[1] - small_steps.DENSITY_GRID[0]
    assert lesson.data_density.sum() * spacing == pytest.approx(1.0, abs=1e-3)  # a density
    for big_t, t, message in ((7, 1, "T must be one of"), (5, 6, r"step t must be in \[1, T = 5\]")):
        with pytest.raises(ValueError, match=message):
            small_steps.small_steps_lesson(small_steps.PRESETS["two modes"], big_t, t)


@pytest.fixture(scope="module")
def digit_classifier():
    from ddpm.classifier import load

    return load().eval()


def bundled_digit(label: int) -> torch.Tensor:
    from ddpm.data import bundled_digits
    from ddpm.images import digit_tensor

    images, labels = bundled_digits()
    return digit_tensor(images[int((labels == label).nonzero()[0, 0])].numpy())


def test_chain_ends_say_whether_the_learned_chain_landed_on_another_digit(digit_classifier):
    seven, two = bundled_digit(7), bundled_digit(2)
    same = reverse.chain_ends(digit_classifier, seven, seven)
    other = reverse.chain_ends(digit_classifier, seven, two)
    assert same.exact_class == same.learned_class == 7 and not same.landed_elsewhere
    assert (other.exact_class, other.learned_class) == (7, 2) and other.landed_elsewhere
    assert float(other.learned.sum()) == pytest.approx(1.0, abs=1e-5)


def test_the_pasts_lesson_judges_k_chains_and_tells_them_the_class_it_reads(diffusion, digit_classifier):
    seven = bundled_digit(7)
    perfect = PointDataEps(diffusion.alphas_cumprod, seven)  # every past is the digit itself
    lesson = pasts.pasts_lesson(diffusion, perfect, digit_classifier, seven, 30, 6, seed=2)
    assert lesson.pasts.shape == (6, 1, 28, 28) and lesson.label is None
    assert (
        lesson.verdict.own_class == 7 and lesson.verdict.agreement == 1.0 and sum(lesson.verdict.counts) == 6
    )
    with pytest.raises(ValueError, match="K must be between 1 and 4, got 5"):
        pasts.pasts_lesson(diffusion, perfect, digit_classifier, seven, 30, 5, max_k=4)


def test_the_bound_lesson_scores_a_learned_variance_both_ways(diffusion, digit):
    learned = randomised(UNet(UNetConfig(**TINY, timesteps=T, learn_sigma=True)))
    lesson = likelihood.bound_lesson(diffusion, learned, digit, 1, "eps", "learned_range")
    images = torch.cat(list(lesson.images.values()))
    fixed = likelihood.bound_terms(diffusion, learned, images, 1, "eps", "fixed_small")
    torch.testing.assert_close(lesson.fixed.total, fixed.total)  # the same x_t, only σ² differs
    assert not torch.allclose(lesson.bound.total, lesson.fixed.total)
    assert likelihood.bound_lesson(diffusion, learned, digit, 1, "eps", "fixed_small").fixed is None


def test_the_noise_error_of_uint8_digits_is_that_of_their_model_range(diffusion, tiny_model):
    from ddpm.images import to_model_range

    uint8 = torch.randint(0, 256, (3, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    ours = noise_error.digits_noise_error(diffusion, tiny_model, uint8, steps=5, seed=2)
    direct = noise_error.noise_prediction_error(diffusion, tiny_model, to_model_range(uint8)[:, None], 5, 2)
    assert ours.simple_loss == direct.simple_loss and ours.t.equal(direct.t)
