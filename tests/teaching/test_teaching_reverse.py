import math

import pytest
import torch
from oracles import PointDataEps, zero_model

from ddpm import GaussianDiffusion
from ddpm.teaching.common import seeded_noise
from ddpm.teaching.forward import forward_view
from ddpm.teaching.forward import schedule_values as readout
from ddpm.teaching.reverse import compare_reverse, filmstrip_times, inspect_step
from ddpm.true_reverse import TrueReverse

T = 100


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


def digit(seed=0):
    return torch.rand((1, 1, 28, 28), generator=torch.Generator().manual_seed(seed)).round() * 2 - 1


def test_readout_uses_the_paper_t(diffusion):
    r = readout(diffusion, 1)  # the paper's t = 1 is index 0
    assert r.beta == pytest.approx(float(diffusion.betas[0]))
    assert r.alpha_bar == pytest.approx(1 - r.beta)
    r = readout(diffusion, T)
    assert r.alpha_bar == pytest.approx(float(diffusion.alphas_cumprod[-1]))
    assert r.sqrt_alpha_bar**2 + r.sqrt_one_minus_alpha_bar**2 == pytest.approx(1.0)
    assert r.snr == pytest.approx(r.alpha_bar / (1 - r.alpha_bar), rel=1e-4)
    zero = readout(diffusion, 0)
    assert zero.alpha_bar == 1 and math.isinf(zero.snr)


def test_forward_view_decomposes_x_t(diffusion):
    x0, noise = digit(), seeded_noise((1, 1, 28, 28), 5)
    for t in (0, 1, 37, T):
        view = forward_view(diffusion, x0, t, noise)
        torch.testing.assert_close(view.signal + view.scaled_noise, view.x_t, rtol=1e-5, atol=1e-5)
    assert torch.equal(forward_view(diffusion, x0, 0, noise).x_t, x0)
    assert torch.equal(seeded_noise((3,), 9), seeded_noise((3,), 9))


def test_compare_with_an_exact_model_shows_no_gap(diffusion):
    x0 = digit(1)
    oracle = PointDataEps(diffusion.alphas_cumprod, x0)
    steps = list(compare_reverse(diffusion, oracle, x0, 60, seed=3))
    assert [s.t for s in steps] == list(range(60, 0, -1))
    for s in steps[:-1]:
        assert s.kl_bpd < 1e-3 and s.mean_gap < 1e-3 and s.x0_error < 1e-3
        torch.testing.assert_close(s.learned.x_prev, s.exact.x_prev, rtol=1e-3, atol=1e-3)
    assert torch.equal(steps[-1].exact.x_prev, x0)  # the exact chain always ends at x_0


def test_compare_starts_both_chains_from_the_forward_views_x_t(diffusion):
    x0 = digit(2)
    first = next(compare_reverse(diffusion, zero_model, x0, 40, seed=4))
    expected = forward_view(diffusion, x0, 40, seeded_noise(tuple(x0.shape), 4)).x_t
    torch.testing.assert_close(first.exact.x_t, expected)
    torch.testing.assert_close(first.learned.x_t, expected)
    assert first.kl_bpd > 0.01 and first.mean_gap > 0 and first.x0_error > 0.1


def test_inspect_step_matches_the_comparison(diffusion):
    x0 = digit(3)
    oracle = PointDataEps(diffusion.alphas_cumprod, x0)
    exact = inspect_step(diffusion, oracle, x0, 30, seed=2)
    torch.testing.assert_close(exact.model_mean, exact.posterior_mean, rtol=1e-3, atol=1e-3)
    wrong = inspect_step(diffusion, zero_model, x0, 30, seed=2)
    assert wrong.kl_bpd > 0.01
    torch.testing.assert_close(wrong.x_t, exact.x_t)
    first = next(compare_reverse(diffusion, zero_model, x0, 30, seed=2))
    assert wrong.kl_bpd == pytest.approx(first.kl_bpd, rel=1e-5)


def test_filmstrip_times():
    assert filmstrip_times(1000) == [1000, 750, 500, 250, 125, 62, 31, 15, 7, 3, 1]
    assert filmstrip_times(4) == [4, 3, 2, 1]


@pytest.mark.parametrize(("t", "minimum"), [(-1, 0), (T + 1, 0), (0, 1), (2.5, 0), ("7", 0)])
def test_bad_t_is_refused(diffusion, t, minimum):
    with pytest.raises(ValueError, match="t"):
        if minimum:
            next(compare_reverse(diffusion, zero_model, digit(), t))
        else:
            readout(diffusion, t)


def test_comparison_curves_are_the_steps_numbers_and_told_y_adds_a_second_curve():
    """comparison_curves() hands the plots each step's KL (decoder term left out), ‖μ̃ − μ_θ‖ and ‖x̂₀ − x₀‖."""
    from types import SimpleNamespace

    import numpy as np

    from ddpm.teaching.reverse import comparison_curves

    steps = [SimpleNamespace(t=t, kl_bpd=0.1 * t, mean_gap=0.01 * t, x0_error=0.5 / t, conditioned=None,
                             truth=None) for t in (3, 2, 1)]  # fmt: skip
    kl, mean, x0 = comparison_curves(steps)
    ((ts, values),) = kl.values()
    assert list(ts) == [3, 2] and np.allclose(values, [0.3, 0.2])  # t = 1 is the decoder, not a KL
    assert np.allclose(mean["RMS"][1], [0.03, 0.02, 0.01]) and np.allclose(x0["RMS"][1], [0.5 / 3, 0.25, 0.5])
    assert list(mean["RMS"][0]) == list(x0["RMS"][0]) == [3, 2, 1]
    told = [SimpleNamespace(**{**vars(s), "conditioned": (s.kl_bpd / 2, s.mean_gap / 4, s.x0_error / 5)})
            for s in steps]  # fmt: skip
    kl, mean, x0 = comparison_curves(told)
    assert set(kl) == {"KL without y", "KL told y"} and np.allclose(kl["KL told y"][1], [0.15, 0.1])
    assert set(mean) == set(x0) == {"without y", "told y"}
    assert np.allclose(mean["told y"][1], [0.0075, 0.005, 0.0025]) and np.allclose(
        x0["told y"][1], [0.1 / 3, 0.05, 0.1]
    )
    assert np.allclose(mean["without y"][1], [0.03, 0.02, 0.01])


def test_the_true_reverse_of_a_one_digit_set_is_the_exact_chain_and_the_exact_model_its_ideal_denoiser(
    diffusion,
):
    x0 = digit(1)
    oracle = PointDataEps(diffusion.alphas_cumprod, x0)  # exact for the data set {x0}
    steps = list(compare_reverse(diffusion, oracle, x0, 60, seed=3, true_reverse=TrueReverse(x0, diffusion)))
    for s in steps:
        torch.testing.assert_close(
            s.truth.chain.x_prev, s.exact.x_prev, rtol=0, atol=1e-5
        )  # same x_t, same z
        assert s.truth.chosen.tolist() == [0] and s.truth.effective == pytest.approx(1.0)
        assert s.truth.ideal_gap < 1e-3  # the oracle is the ideal denoiser of {x0}
    assert torch.equal(steps[-1].truth.chain.x_prev, x0)


def test_a_third_chain_leaves_the_other_two_as_they_were_and_lands_on_a_data_digit(diffusion):
    x0 = digit(2)
    data = torch.cat([digit(s) for s in range(10, 30)])  # 20 other "digits"
    reverse = TrueReverse(data, diffusion)
    alone = list(compare_reverse(diffusion, zero_model, x0, 50, seed=7))
    three = list(compare_reverse(diffusion, zero_model, x0, 50, seed=7, true_reverse=reverse))
    for a, b in zip(alone, three, strict=True):
        assert torch.equal(a.exact.x_prev, b.exact.x_prev) and torch.equal(a.learned.x_prev, b.learned.x_prev)
        assert a.kl_bpd == b.kl_bpd and b.truth is not None and a.truth is None
    torch.testing.assert_close(three[0].truth.chain.x_t, three[0].exact.x_t)  # the same start
    end = three[-1].truth
    torch.testing.assert_close(end.chain.x_prev, data[end.chosen], rtol=0, atol=1e-6)
    # the zero model's x̂_0 = x_t / √ᾱ_t is far from the ideal denoiser of 20 binary digits
    assert all(s.truth.ideal_gap > 0.1 for s in three[:-5])
    assert all(1 - 1e-9 <= s.truth.effective <= 20 for s in three) and three[-1].truth.pasts.weight.shape == (
        1,
        8,
    )


def test_with_the_true_reverse_the_curves_gain_the_ideal_denoiser_and_the_effective_pasts():
    from types import SimpleNamespace

    import numpy as np

    from ddpm.teaching.reverse import comparison_curves, pasts_curves

    def truth(t):
        return SimpleNamespace(
            ideal_gap=0.2 / t, effective=10.0 * t, pasts=SimpleNamespace(effective=torch.tensor([5.0 * t]))
        )

    steps = [SimpleNamespace(t=t, kl_bpd=0.1, mean_gap=0.01, x0_error=0.5 / t, conditioned=None,
                             truth=truth(t)) for t in (3, 2, 1)]  # fmt: skip
    _, _, x0 = comparison_curves(steps)
    assert set(x0) == {"to x₀", "to E[x₀ | xₜ]"} and np.allclose(x0["to E[x₀ | xₜ]"][1], [0.2 / 3, 0.1, 0.2])
    pasts = pasts_curves(steps)
    assert np.allclose(pasts["exact chain's xₜ"][1], [30, 20, 10]) and np.allclose(
        pasts["true reverse's xₜ"][1], [15, 10, 5]
    )
    assert list(pasts["exact chain's xₜ"][0]) == [3, 2, 1]
    assert pasts_curves([SimpleNamespace(**{**vars(s), "truth": None}) for s in steps]) == {}
