"""The lessons' shared helpers and the values the views read off the lessons' results."""

import numpy as np
import pytest
import torch
from oracles import PointDataEps, zero_model

from ddpm import GaussianDiffusion, choices, classifier
from ddpm.data import bundled_digits, to_model_range
from ddpm.teaching import common, noise_error, pasts, readout, reverse, small_steps
from ddpm.toy import line as toy

T = 50


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


def digit(seed=0):
    return (torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) > 0.7).float() * 2 - 1


def test_paper_index_is_t_minus_one_and_q_sample_agrees(diffusion):
    index = common.paper_index(7, 3)
    assert index.dtype == torch.long and index.tolist() == [6, 6, 6]
    x0 = digit().expand(3, -1, -1, -1)
    eps, x_t = common.seeded_start(diffusion, x0, 7, seed=1)
    a = diffusion.alphas_cumprod[6]  # ᾱ_7 is entry 6
    torch.testing.assert_close(x_t, a.sqrt() * x0 + (1 - a).sqrt() * eps)


def test_rms():
    x = torch.tensor([[3.0, -4.0]])
    assert common.rms(x) == pytest.approx((12.5) ** 0.5)
    assert common.rms(x, x) == 0.0
    assert common.rms(x, torch.zeros(1, 2)) == common.rms(x)


def test_check_choice_names_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown sampler 'euler'; allowed: ddpm, ddim"):
        choices.check_choice("sampler", "euler", choices.SAMPLERS)
    choices.check_choice("sampler", "ddim", choices.SAMPLERS)


def test_the_comparison_keeps_a_running_sum_of_its_terms(diffusion):
    steps = list(reverse.compare_reverse(diffusion, zero_model, digit(1), 20, seed=2))
    running = np.cumsum([s.kl_bpd for s in steps])
    np.testing.assert_allclose([s.kl_sum_bpd for s in steps], running, rtol=1e-12)
    assert steps[-1].t == 1  # the last term is the decoder's


def test_the_inspection_reads_its_gaps_off_its_tensors(diffusion):
    x0 = digit(2)
    wrong = reverse.inspect_step(diffusion, zero_model, x0, 30, seed=3)
    torch.testing.assert_close(wrong.mean_difference, wrong.model_mean - wrong.posterior_mean)
    assert wrong.mean_gap == pytest.approx(float(wrong.mean_difference.pow(2).mean().sqrt()))
    assert wrong.noise_error == pytest.approx(float(wrong.true_noise.pow(2).mean().sqrt()))  # ε̂ = 0
    right = reverse.inspect_step(diffusion, PointDataEps(diffusion.alphas_cumprod, x0), x0, 30, seed=3)
    assert right.mean_gap < 1e-4 and right.noise_error < 1e-4
    # the comparison's first step and the inspection see the same x_t and the same model
    first = next(reverse.compare_reverse(diffusion, zero_model, x0, 30, seed=3))
    assert first.mean_gap == pytest.approx(wrong.mean_gap, rel=1e-5)


def test_noise_error_names_its_hardest_and_easiest_t():
    result = noise_error.NoiseError(torch.tensor([1, 10, 20]), torch.tensor([0.5, 0.1, 0.9]), 0.5)
    assert result.hardest_t == 20 and result.easiest_t == 10


def test_readout_times_cover_the_chain_and_its_last_step():
    due = [t for t in range(1000, 0, -1) if readout.readout_due(t, 1000)]
    assert len(due) == 201 and due[-1] == 1 and due[0] == 1000  # every 5th t, and t = 1
    assert [t for t in range(60, 0, -1) if readout.readout_due(t, 60)] == list(range(60, 0, -1))


def test_pasts_are_judged_by_the_classifier():
    judge = classifier.load()
    images, labels = bundled_digits()
    x = to_model_range(images)[:, None]
    sevens, ones = x[labels == 7][:3], x[labels == 1][:2]
    verdict = pasts.judge_pasts(judge, sevens[:1], torch.cat([sevens, ones]))
    assert verdict.own_class == 7 and verdict.counts[7] == 3 and verdict.counts[1] == 2
    assert verdict.agreement == pytest.approx(0.6) and verdict.distinct == 2 and sum(verdict.counts) == 5
    torch.testing.assert_close(verdict.probabilities.sum(1), torch.ones(5))


def test_the_small_steps_gaussian_matches_the_true_reverse_moments():
    step = small_steps.reverse_step(toy.TWO_MODES, 5, 2)
    betas, _ = toy.toy_schedule(5)
    assert step.beta == pytest.approx(betas[1])
    for grid, true, gauss in zip(step.grid, step.true_density, step.gaussian_density, strict=True):
        mass = np.trapezoid if hasattr(np, "trapezoid") else np.trapz  # noqa: NPY201
        assert mass(gauss, grid) == pytest.approx(1.0, abs=1e-6)
        mean = mass(true * grid, grid)
        assert mass(gauss * grid, grid) == pytest.approx(mean, abs=1e-6)
        assert mass(gauss * (grid - mean) ** 2, grid) == pytest.approx(
            mass(true * (grid - mean) ** 2, grid), rel=1e-4
        )
    with pytest.raises(ValueError, match="step t"):
        small_steps.reverse_step(toy.TWO_MODES, 5, 6)


@pytest.fixture(scope="module")
def conditional():
    from tiny import TINY, randomised

    from ddpm.unet import UNet, UNetConfig

    return randomised(UNet(UNetConfig(**TINY, timesteps=T, num_classes=10, learn_sigma=True)))


def test_a_comparison_told_the_class_runs_the_conditional_chain_and_measures_both(diffusion, conditional):
    from ddpm.guidance import Conditioned
    from ddpm.sampling import final_sample, p_sample_loop_progressive

    x0, labels = digit(4), torch.tensor([7])
    told = list(reverse.compare_reverse(diffusion, conditional, x0, 12, 5, "learned_range", labels=labels))
    blind = list(reverse.compare_reverse(diffusion, conditional, x0, 12, 5, "learned_range"))
    assert all(s.conditioned is not None for s in told) and all(s.conditioned is None for s in blind)
    # without the class: the same numbers as the run that was never told it
    assert [s.kl_bpd for s in told] == pytest.approx([s.kl_bpd for s in blind], rel=1e-5)
    # with it: the conditional model's own step and chain
    with_class = Conditioned(conditional, labels)
    first = reverse.inspect_step(diffusion, with_class, x0, 12, 5, "learned_range")
    assert told[0].conditioned.kl_bpd == pytest.approx(first.kl_bpd, rel=1e-5)
    assert told[0].conditioned.mean_gap == pytest.approx(first.mean_gap, rel=1e-4)
    _, x_t = common.seeded_start(diffusion, x0, 12, 5)
    chain = p_sample_loop_progressive(
        diffusion,
        with_class,
        x_t=x_t,
        t_start=11,
        variance="learned_range",
        noise=common.chain_noise(12, x0, 5),
    )
    torch.testing.assert_close(told[-1].learned.x_prev, final_sample(chain), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="without class labels"):
        next(reverse.compare_reverse(diffusion, zero_model, x0, 12, labels=labels))


def test_conditioned_pasts_and_the_bound_with_either_variance(diffusion, conditional):
    from ddpm.guidance import Conditioned
    from ddpm.teaching import likelihood

    x0 = digit(5)
    _, told = pasts.many_pasts(diffusion, conditional, x0, 20, 3, seed=2, variance="learned_range", label=3)
    _, blind = pasts.many_pasts(diffusion, conditional, x0, 20, 3, seed=2, variance="learned_range")
    _, direct = pasts.many_pasts(
        diffusion, Conditioned(conditional, torch.full((3,), 3)), x0, 20, 3, seed=2, variance="learned_range"
    )
    assert torch.equal(told, direct) and not torch.equal(told, blind)
    learned = likelihood.bound_terms(diffusion, conditional, x0, variance="learned_range")
    fixed = likelihood.bound_terms(diffusion, conditional, x0, variance="fixed_small")
    torch.testing.assert_close(learned.prior, fixed.prior)  # no parameters in L_T
    assert not torch.allclose(learned.total, fixed.total)


def test_read_class_reads_the_bundled_digits_as_their_labels():
    judge = classifier.load()
    images, labels = bundled_digits()
    x = to_model_range(images)[:, None]
    read = [readout.read_class(judge, x[i : i + 1]) for i in range(100)]
    assert all(isinstance(c, int) for c in read)
    assert sum(c == int(label) for c, label in zip(read, labels, strict=True)) >= 97


def test_a_reading_names_the_most_probable_class_and_its_probability():
    p = torch.tensor([0.05, 0.1, 0.02, 0.6, 0.03, 0.05, 0.05, 0.04, 0.03, 0.03])
    assert readout.reading(p) == (3, pytest.approx(0.6))
    assert readout.reading(torch.roll(p, 4)) == (7, pytest.approx(0.6))
