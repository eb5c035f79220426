import json
import math

import pytest
import torch
from oracles import alphas_cumprod64, zero_model

from ddpm import GaussianDiffusion, discretized_gaussian_log_likelihood, normal_kl
from ddpm.diffusion import STEP_TABLES

T = 100  # the properties below hold for any T; small T keeps the tests fast


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


def images(batch=8, seed=0, shape=(1, 6, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *shape), generator=g) * 2 - 1


# -- tables and the index convention ----------------------------------------------------------------


def test_index_convention_and_tables(diffusion):
    a64 = alphas_cumprod64("linear", T)
    assert diffusion.betas.dtype == torch.float32 and diffusion.betas.shape == (T,)
    # index 0 is the paper's t = 1: ᾱ_1 = α_1 = 1 − β_1, and ᾱ_0 = 1 precedes it
    assert diffusion.alphas_cumprod[0].item() == pytest.approx(1 - diffusion.betas[0].item())
    assert diffusion.alphas_cumprod_prev[0].item() == 1.0
    torch.testing.assert_close(diffusion.alphas_cumprod, a64.float())
    torch.testing.assert_close(diffusion.alphas_cumprod_prev[1:], diffusion.alphas_cumprod[:-1])
    assert diffusion.posterior_variance[0].item() == 0.0  # q(x_0 | x_1, x_0) is a point mass
    assert math.isfinite(diffusion.posterior_log_variance_clipped[0].item())
    torch.testing.assert_close(diffusion.snr, (a64 / (1 - a64)).float())
    assert torch.all(diffusion.snr[1:] < diffusion.snr[:-1])


def test_to_moves_every_table(diffusion):
    moved = GaussianDiffusion.from_schedule("cosine", 10).to("meta")
    for name in GaussianDiffusion._TABLES:
        assert getattr(moved, name).device.type == "meta", name
    assert moved.device.type == "meta"


# -- forward process --------------------------------------------------------------------------------


def test_q_sample_matches_composed_one_step_transitions(diffusion):
    """Running q(x_t | x_{t−1}) t+1 times reaches the closed-form marginal at index t (eq. 4)."""
    n = 200_000
    x0 = torch.full((n, 1, 1, 1), 0.8, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    x = x0.clone()
    betas = diffusion.betas.double()
    checks = {0, 9, 49, T - 1}
    for index in range(T):
        x = (1 - betas[index]).sqrt() * x + betas[index].sqrt() * torch.randn(
            x.shape, generator=g, dtype=x.dtype
        )
        if index in checks:
            q = diffusion.q_mean_variance(x0[:1], index)
            sem = math.sqrt(q.variance.item() / n)
            assert x.mean().item() == pytest.approx(q.mean.item(), abs=5 * sem), index
            assert x.var().item() == pytest.approx(q.variance.item(), rel=5 * math.sqrt(2 / n)), index
            direct = diffusion.q_sample(x0.float(), index, generator=g)
            assert direct.mean().item() == pytest.approx(q.mean.item(), abs=5 * sem)
            assert direct.var().item() == pytest.approx(q.variance.item(), rel=5 * math.sqrt(2 / n))


def test_q_sample_uses_given_noise_and_generator(diffusion):
    x0 = images()
    noise = torch.randn_like(x0)
    t = torch.arange(8) * 12
    a = diffusion.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(diffusion.q_sample(x0, t, noise), a.sqrt() * x0 + (1 - a).sqrt() * noise)
    one = diffusion.q_sample(x0, t, generator=torch.Generator().manual_seed(3))
    two = diffusion.q_sample(x0, t, generator=torch.Generator().manual_seed(3))
    assert torch.equal(one, two)


# -- exact posterior --------------------------------------------------------------------------------


def test_posterior_is_bayes_rule_for_gaussians(diffusion):
    """Precision-weighted product of q(x_t | x_{t−1}) and q(x_{t−1} | x_0), computed in float64."""
    x0, x_t = images(T, seed=1).double(), images(T, seed=2).double() * 3
    t = torch.arange(T)
    betas = diffusion.betas.double()
    a64 = alphas_cumprod64("linear", T)
    a_prev = torch.cat([torch.ones(1, dtype=torch.float64), a64[:-1]])
    shape = (-1, 1, 1, 1)
    precision = 1 / (1 - a_prev[1:]) + (1 - betas[1:]) / betas[1:]
    var = (1 / precision).reshape(shape)
    mean = var * (
        a_prev[1:].sqrt().reshape(shape) * x0[1:] / (1 - a_prev[1:]).reshape(shape)
        + (1 - betas[1:]).sqrt().reshape(shape) * x_t[1:] / betas[1:].reshape(shape)
    )
    post = diffusion.q_posterior_mean_variance(x0, x_t, t)
    torch.testing.assert_close(post.mean[1:], mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(post.variance[1:].double(), var, rtol=1e-5, atol=0)
    # index 0 (paper t = 1): the posterior is the point mass at x_0
    torch.testing.assert_close(post.mean[0], x0[0], rtol=1e-6, atol=1e-6)
    assert post.variance[0].item() == 0


@pytest.mark.parametrize("index", [1, 30, 99])
def test_posterior_matches_numerical_bayes_on_a_grid(diffusion, index):
    """q(x_{t−1} | x_t, x_0) ∝ q(x_t | x_{t−1}) q(x_{t−1} | x_0), normalised numerically in 1-D."""
    x0, x_t = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64)
    beta = diffusion.betas.double()[index]
    a_prev = alphas_cumprod64("linear", T)[index - 1]
    post = diffusion.q_posterior_mean_variance(x0.reshape(1, 1), x_t.reshape(1, 1), index)
    std = post.variance.double().sqrt().item()
    grid = torch.linspace(
        post.mean.item() - 12 * std, post.mean.item() + 12 * std, 20001, dtype=torch.float64
    )
    log_density = -((x_t - (1 - beta).sqrt() * grid) ** 2) / (2 * beta) - (grid - a_prev.sqrt() * x0) ** 2 / (
        2 * (1 - a_prev)
    )
    w = torch.exp(log_density - log_density.max())
    w = w / w.sum()
    mean = (w * grid).sum()
    var = (w * (grid - mean) ** 2).sum()
    assert mean.item() == pytest.approx(post.mean.item(), abs=1e-4 * max(1.0, abs(mean.item())))
    assert var.item() == pytest.approx(post.variance.item(), rel=1e-3)


# -- parameterizations ------------------------------------------------------------------------------


def test_conversions_round_trip(diffusion):
    x0, eps = images(seed=3), torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([0, 1, 5, 20, 50, 70, 98, 99])
    x_t = diffusion.q_sample(x0, t, eps)
    tol = {"rtol": 1e-4, "atol": 2e-4}
    torch.testing.assert_close(diffusion.predict_start_from_noise(x_t, t, eps), x0, **tol)
    torch.testing.assert_close(diffusion.predict_noise_from_start(x_t[1:], t[1:], x0[1:]), eps[1:], **tol)
    v = diffusion.predict_v(x0, eps, t)
    a = alphas_cumprod64("linear", T)[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(v.double(), a.sqrt() * eps - (1 - a).sqrt() * x0, **tol)
    torch.testing.assert_close(diffusion.predict_start_from_v(x_t, t, v), x0, **tol)
    torch.testing.assert_close(diffusion.predict_noise_from_v(x_t, t, v), eps, **tol)
    # mean parameterization: μ̃(x_0, x_t) → x_0
    mean = diffusion.q_posterior_mean_variance(x0, x_t, t).mean
    torch.testing.assert_close(diffusion.predict_start_from_mean(x_t, t, mean), x0, **tol)


def test_eq11_mean_from_noise_is_posterior_mean_of_predicted_start(diffusion):
    x_t = images(seed=5) * 2
    eps = torch.randn_like(x_t)
    t = torch.tensor([1, 2, 10, 30, 50, 80, 90, 99])
    eq11 = diffusion.mean_from_noise(x_t, t, eps)
    x0_hat = diffusion.predict_start_from_noise(x_t, t, eps)
    torch.testing.assert_close(
        eq11, diffusion.q_posterior_mean_variance(x0_hat, x_t, t).mean, rtol=1e-4, atol=1e-4
    )
    out = diffusion.p_mean_variance(eps, x_t, t, "eps", clip_denoised=False)
    torch.testing.assert_close(out.mean, eq11, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_p_mean_variance_with_the_true_output_is_the_posterior(diffusion, parameterization):
    x0, eps = images(seed=6), torch.randn(8, 1, 6, 6)
    t = torch.tensor([0, 3, 10, 25, 40, 60, 80, 99])
    x_t = diffusion.q_sample(x0, t, eps)
    output = {"eps": eps, "x0": x0, "v": diffusion.predict_v(x0, eps, t)}[parameterization]
    out = diffusion.p_mean_variance(output, x_t, t, parameterization, "fixed_small", clip_denoised=False)
    post = diffusion.q_posterior_mean_variance(x0, x_t, t)
    torch.testing.assert_close(out.mean, post.mean, rtol=1e-4, atol=2e-4)
    torch.testing.assert_close(out.variance, post.variance)
    torch.testing.assert_close(out.pred_x0, x0, rtol=1e-4, atol=2e-4)
    torch.testing.assert_close(out.pred_noise[1:], eps[1:], rtol=1e-3, atol=2e-3)
    large = diffusion.p_mean_variance(output, x_t, t, parameterization, "fixed_large", clip_denoised=False)
    torch.testing.assert_close(large.variance.flatten()[1:], diffusion.betas[t[1:]])


def test_clip_denoised_clamps_predicted_start(diffusion):
    x_t = torch.full((2, 1, 4, 4), 5.0)
    t = torch.tensor([50, 99])
    out = diffusion.p_mean_variance(torch.full_like(x_t, -3.0), x_t, t, "x0", clip_denoised=True)
    assert torch.all(out.pred_x0 == -1.0)
    torch.testing.assert_close(out.mean, diffusion.q_posterior_mean_variance(out.pred_x0, x_t, t).mean)


def test_p_sample_adds_sigma_z_and_no_noise_at_index_zero(diffusion):
    x_t, eps = images(seed=7), torch.randn(8, 1, 6, 6)
    t = torch.tensor([0, 0, 1, 10, 20, 50, 75, 99])
    z = torch.randn_like(x_t)
    for variance in ("fixed_small", "fixed_large"):
        out = diffusion.p_mean_variance(eps, x_t, t, variance=variance)
        step = diffusion.p_sample(eps, x_t, t, variance=variance, z=z)
        expected = out.mean + (t > 0).float().reshape(-1, 1, 1, 1) * out.variance.sqrt() * z
        torch.testing.assert_close(step.sample, expected)
        assert torch.equal(step.sample[:2], out.mean[:2])
    seeded = diffusion.p_sample(eps, x_t, t, generator=torch.Generator().manual_seed(9))
    drawn = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(seeded.sample, diffusion.p_sample(eps, x_t, t, z=drawn).sample)
    # all at index 0: the step is the mean and draws nothing from the generator
    g = torch.Generator().manual_seed(11)
    zero = diffusion.p_sample(eps, x_t, 0, generator=g)
    assert torch.equal(zero.sample, zero.mean)
    assert torch.equal(
        torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(11))
    )


# -- training loss ------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_training_losses_targets(diffusion, parameterization):
    x0, noise = images(seed=8), torch.randn(8, 1, 6, 6)
    t = torch.arange(8) * 14
    expected_target = {"eps": noise, "x0": x0, "v": diffusion.predict_v(x0, noise, t)}[parameterization]
    out = diffusion.training_losses(zero_model, x0, t, noise, parameterization)
    torch.testing.assert_close(out.target, expected_target)
    torch.testing.assert_close(out.x_t, diffusion.q_sample(x0, t, noise))
    torch.testing.assert_close(out.loss, (expected_target**2).flatten(1).mean(1))
    perfect = diffusion.training_losses(lambda x, tt: expected_target, x0, t, noise, parameterization)
    assert torch.all(perfect.loss == 0)


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_min_snr_weighted_loss_is_clipped_snr_times_the_x0_error(diffusion, parameterization):
    # a wrong prediction in any parameterization, seen as the x̂_0 it implies
    x0, noise = images(seed=10), torch.randn(8, 1, 6, 6)
    t = torch.tensor([0, 3, 10, 20, 40, 60, 80, 99])
    wrong = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(11))
    out = diffusion.training_losses(lambda x, tt: wrong, x0, t, noise, parameterization)
    pred_x0 = {
        "eps": diffusion.predict_start_from_noise(out.x_t, t, wrong),
        "x0": wrong,
        "v": diffusion.predict_start_from_v(out.x_t, t, wrong),
    }[parameterization]
    x0_error = ((x0 - pred_x0) ** 2).flatten(1).mean(1).double()
    snr = alphas_cumprod64("linear", T)[t] / (1 - alphas_cumprod64("linear", T)[t])
    for gamma in (1.0, 5.0):
        weighted = (out.loss * diffusion.min_snr_weight(t, gamma, parameterization)).double()
        torch.testing.assert_close(weighted, snr.clamp(max=gamma) * x0_error, rtol=2e-3, atol=1e-6)
    # the ε weight is 1 where SNR ≤ γ and falls as 1/SNR on the nearly clean steps
    w = diffusion.min_snr_weight(torch.arange(T), 5.0)
    assert torch.all(w[diffusion.snr <= 5] == 1) and torch.all(w[diffusion.snr > 5] < 1)
    with pytest.raises(ValueError, match="gamma"):
        diffusion.min_snr_weight(t, 0.0)


# -- variational bound --------------------------------------------------------------------------------


def test_normal_kl_against_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    lv1, lv2 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected, rtol=1e-5, atol=1e-6)


def test_kl_term_zero_iff_posterior_mean_and_posterior_variance(diffusion):
    x0, eps = images(seed=9), torch.randn(8, 1, 6, 6)
    t = torch.tensor([1, 5, 10, 30, 50, 70, 90, 99])
    x_t = diffusion.q_sample(x0, t, eps)
    exact = diffusion.vb_terms_bpd(eps, x0, x_t, t, "eps", "fixed_small", clip_denoised=False)
    assert torch.all(exact.abs() < 1e-4)
    wrong_mean = diffusion.vb_terms_bpd(eps + 0.1, x0, x_t, t, "eps", "fixed_small", clip_denoised=False)
    wrong_var = diffusion.vb_terms_bpd(eps, x0, x_t, t, "eps", "fixed_large", clip_denoised=False)
    assert torch.all(wrong_mean > 1e-4)
    # σ² = β_t ≠ β̃_t costs a KL that is largest at small t (β̃_t → β_t as t grows)
    assert torch.all(wrong_var >= -1e-6) and torch.all(wrong_var[:4] > 1e-4)
    assert torch.all(wrong_var[:-1] >= wrong_var[1:])


def test_discretized_gaussian_is_a_distribution_over_256_levels():
    levels = torch.arange(256, dtype=torch.float32) / 127.5 - 1
    for mean, log_scale in [(0.0, -1.0), (0.9, -3.0), (-0.3, 0.5), (levels[17].item(), -8.0)]:
        logp = discretized_gaussian_log_likelihood(
            levels, torch.full_like(levels, mean), torch.full_like(levels, log_scale)
        )
        assert torch.all(logp <= 0)
        assert logp.exp().sum().item() == pytest.approx(1.0, abs=2e-3)
    # a narrow Gaussian centred on level 17 puts (almost) all its mass there
    assert logp[17].exp().item() > 0.999


# -- bad input ----------------------------------------------------------------------------------------


def test_bad_choices_raise_value_errors_naming_the_value(diffusion):
    x = images(batch=2)
    t = torch.tensor([3, 4])
    cases = [
        (lambda: GaussianDiffusion.from_schedule("quadratic"), "'quadratic'"),
        (lambda: diffusion.p_mean_variance(x, x, t, parameterization="score"), "'score'"),
        (lambda: diffusion.p_mean_variance(x, x, t, variance="learned"), "'learned'"),
        (lambda: diffusion.training_losses(zero_model, x, t, parameterization="mu"), "'mu'"),
        (lambda: diffusion.q_sample(x, torch.tensor([0, T])), str(T)),
        (lambda: diffusion.q_sample(x, torch.tensor([-1, 0])), "-1"),
        (lambda: diffusion.q_sample(x, 1000), "1000"),
        (lambda: diffusion.q_sample(x, torch.tensor([0.5, 1.0])), "float"),
        (lambda: diffusion.q_sample(x, torch.tensor([1, 2, 3])), "3 entries"),
        (lambda: diffusion.q_sample(x, t, torch.randn(2, 1, 5, 5)), r"\(2, 1, 5, 5\)"),
        (lambda: diffusion.p_mean_variance(torch.randn(2, 1, 3, 3), x, t), r"\(2, 1, 3, 3\)"),
        (lambda: diffusion.q_posterior_mean_variance(x, x[:1], t), r"\(1, 1, 6, 6\)"),
        (lambda: diffusion.ddim_step(x, x, t, t_prev=t), "t_prev"),
        (lambda: diffusion.ddim_step(x, x, t, t_prev=-1, eta=2.0), "2.0"),
        (lambda: diffusion.p_sample(x, x, t, z=torch.randn(3, 1, 6, 6)), r"\(3, 1, 6, 6\)"),
        (lambda: GaussianDiffusion(torch.tensor([0.1, 1.5])), "1.5"),
        (lambda: GaussianDiffusion(torch.tensor([[0.1, 0.2]])), r"\(1, 2\)"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


# -- learned variance (Nichol & Dhariwal 2021) and the hybrid loss -----------------------------------


def test_learned_variance_interpolates_log_beta_tilde_and_log_beta(diffusion):
    x = images(batch=3)
    t = torch.tensor([0, 20, 99])
    a = alphas_cumprod64("linear", T)
    betas = 1 - a / torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])
    tilde = betas * (1 - torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])) / (1 - a)
    tilde[0] = tilde[1]  # improved-diffusion's clipping at index 0
    for v, expected in ((-1.0, tilde.log()), (1.0, betas.log()), (0.0, 0.5 * (tilde.log() + betas.log()))):
        values = torch.full_like(x, v)
        out = diffusion.p_mean_variance(
            torch.cat([torch.zeros_like(x), values], 1), x, t, variance="learned_range"
        )
        assert out.log_variance.shape == x.shape
        torch.testing.assert_close(out.log_variance[:, 0, 0, 0], expected[t].float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.variance, out.log_variance.exp())
    # the mean is the fixed-variance model's: only σ² is learned
    eps = torch.randn_like(x)
    learned = diffusion.p_mean_variance(
        torch.cat([eps, torch.zeros_like(x)], 1), x, t, variance="learned_range"
    )
    fixed = diffusion.p_mean_variance(eps, x, t)
    torch.testing.assert_close(learned.mean, fixed.mean)
    with pytest.raises(ValueError, match="2 channels"):
        diffusion.p_mean_variance(eps, x, t, variance="learned_range")
    # read with a fixed σ², a learned-variance output's extra channels are ignored
    both = diffusion.p_mean_variance(torch.cat([eps, torch.ones_like(x)], 1), x, t, variance="fixed_large")
    torch.testing.assert_close(both.mean, fixed.mean)
    torch.testing.assert_close(
        both.variance, diffusion.p_mean_variance(eps, x, t, variance="fixed_large").variance
    )


def test_the_hybrid_loss_adds_the_bound_and_trains_only_sigma_with_it(diffusion):
    x0 = images(batch=4, seed=3).round()
    t = torch.tensor([0, 5, 50, 99])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    output = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(5)).mul(0.3).requires_grad_()
    out = diffusion.training_losses(
        lambda x, t: output, x0, t, noise, variance="learned_range", vlb_weight=0.01
    )
    vb = diffusion.vb_terms_bpd(
        output.detach(), x0, out.x_t, t, variance="learned_range", clip_denoised=False
    )
    torch.testing.assert_close(out.vb, vb)
    torch.testing.assert_close(out.mse, ((noise - output[:, :1]) ** 2).flatten(1).mean(1))
    torch.testing.assert_close(out.loss, out.mse + 0.01 * T * vb)
    # the bound's gradient reaches the variance channels only: the mean's comes from the MSE alone
    (grad,) = torch.autograd.grad(out.vb.sum(), output)
    assert grad[:, :1].abs().max() == 0 and grad[:, 1:].abs().max() > 0


def test_timestep_distributions(diffusion):
    uniform = diffusion.timestep_distribution("uniform")
    noisy = diffusion.timestep_distribution("high-noise")
    for p in (uniform, noisy):
        assert p.shape == (T,) and p.sum().item() == pytest.approx(1.0)
    assert torch.all(uniform == 1 / T)
    assert torch.all(noisy[1:] >= noisy[:-1]) and torch.all(noisy >= 0.5 / T)
    noise = 1 - alphas_cumprod64("linear", T)
    torch.testing.assert_close(noisy, 0.5 / T + 0.5 * noise / noise.sum(), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="'logit'"):
        diffusion.timestep_distribution("logit")


def test_step_tables_are_the_float32_tables_exactly(diffusion):
    """What the page's engine is given: every table the step rules read, bit for bit through JSON."""
    tables = json.loads(json.dumps(diffusion.step_tables()))
    assert tuple(tables) == STEP_TABLES
    for name, values in tables.items():
        assert torch.equal(torch.tensor(values, dtype=torch.float32), getattr(diffusion, name)), name
        assert torch.equal(torch.tensor(values, dtype=torch.float64), getattr(diffusion, name).double()), name
