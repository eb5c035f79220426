import itertools

import pytest
import torch
from oracles import GaussianDataEps, PointDataEps, zero_model

from ddpm import (
    GaussianDiffusion,
    chain_loop,
    ddim_sample_loop_progressive,
    ddim_timesteps,
    dpm_solver_sample_loop_progressive,
    dpm_solver_timesteps,
    draw_noise,
    final_sample,
    p_sample_loop_progressive,
    posterior_sample_loop_progressive,
    split_step,
)

T = 1000


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def images(batch, seed=0, size=8):
    return torch.rand((batch, 1, size, size), generator=gen(seed)) * 2 - 1


# -- the exact posterior reverse (reference 001's experiment) ---------------------------------------------


def posterior_z_scores(diffusion, x0, noise=None, seed=0, every=50):
    """z = (x_s − √ᾱ_s x_0)/√(1 − ᾱ_s) for the chain's x_s at every ``every``-th index."""
    x_T = diffusion.q_sample(x0, T - 1, generator=gen(seed))
    scores = {}
    last = None
    for step in posterior_sample_loop_progressive(diffusion, x0, x_T, generator=gen(seed + 1), noise=noise):
        if step.t_prev >= 0 and step.t_prev % every == 0:
            a = diffusion.alphas_cumprod[step.t_prev]
            scores[step.t_prev] = (step.x_prev - a.sqrt() * x0) / (1 - a).sqrt()
        last = step
    return scores, last


def looks_like_q_marginals(scores):
    """Each z-score field has mean 0 and variance 1 (4096 values: 5-sigma bounds)."""
    return all(abs(z.mean().item()) < 0.1 and abs(z.var().item() - 1) < 0.12 for z in scores.values())


def test_posterior_chain_ends_at_x0_and_every_step_is_a_q_marginal(diffusion):
    x0 = images(64)
    scores, last = posterior_z_scores(diffusion, x0)
    assert last.t == 0 and last.t_prev == -1 and last.index == T - 1 and last.num_steps == T
    assert torch.allclose(last.x_prev, x0, atol=1e-5)
    assert len(scores) == 20 and looks_like_q_marginals(scores)


def test_reference_bug_without_z_is_caught(diffusion):
    """Reference 001 samples ``mean + variance.sqrt()``: that is our step with z = 1 everywhere."""
    x0 = images(64)
    scores, last = posterior_z_scores(diffusion, x0, noise=torch.ones(T, *x0.shape))
    assert torch.allclose(last.x_prev, x0, atol=1e-5)  # the last step alone still returns x_0 ...
    assert not looks_like_q_marginals(scores)  # ... but the path is not the forward marginals


def test_posterior_records_are_consistent(diffusion):
    x0 = images(2, size=4)
    x_t = diffusion.q_sample(x0, 9, generator=gen(0))
    steps = list(posterior_sample_loop_progressive(diffusion, x0, x_t, 9, generator=gen(1)))
    assert [s.t for s in steps] == list(range(9, -1, -1))
    assert [s.t_prev for s in steps] == list(range(8, -2, -1))
    assert torch.equal(steps[0].x_t, x_t)
    for before, after in itertools.pairwise(steps):
        assert torch.equal(before.x_prev, after.x_t)
    for s in steps:
        assert torch.equal(s.pred_x0, x0)
        expected = diffusion.q_posterior_mean_variance(x0, s.x_t, s.t)
        torch.testing.assert_close(s.mean, expected.mean)


# -- matched noise ------------------------------------------------------------------------------------------


def test_matched_noise_makes_an_exact_model_follow_the_posterior_chain(diffusion):
    """With the ε-oracle of the single image x_0, p_θ = q(· | x_t, x_0); same z ⇒ same chain."""
    x0 = images(1, seed=3)
    oracle = PointDataEps(diffusion.alphas_cumprod, x0)
    x_t = diffusion.q_sample(x0, 599, generator=gen(4))
    q_chain = list(posterior_sample_loop_progressive(diffusion, x0, x_t, 599, generator=gen(5)))
    p_chain = list(
        p_sample_loop_progressive(
            diffusion, oracle, x_t=x_t, t_start=599, clip_denoised=False, generator=gen(5)
        )
    )
    assert len(q_chain) == len(p_chain) == 600
    for q, p in zip(q_chain[::50], p_chain[::50], strict=True):
        assert q.t == p.t
        torch.testing.assert_close(p.x_prev, q.x_prev, rtol=1e-3, atol=1e-3)
    noise = draw_noise(600, x0.shape, gen(6))
    q_end = final_sample(posterior_sample_loop_progressive(diffusion, x0, x_t, 599, noise=noise))
    p_mid = list(
        p_sample_loop_progressive(diffusion, oracle, x_t=x_t, t_start=599, clip_denoised=False, noise=noise)
    )
    q_mid = list(posterior_sample_loop_progressive(diffusion, x0, x_t, 599, noise=noise))
    torch.testing.assert_close(p_mid[300].x_prev, q_mid[300].x_prev, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(p_mid[-1].x_prev, q_end, rtol=1e-3, atol=1e-3)
    other = list(posterior_sample_loop_progressive(diffusion, x0, x_t, 599, generator=gen(7)))
    assert (other[300].x_prev - q_chain[300].x_prev).abs().max() > 0.1  # a different seed differs


# -- ancestral sampling and DDIM against exact oracles ------------------------------------------------


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_ancestral_sampling_reproduces_gaussian_data(diffusion, variance):
    m, s, n = 0.3, 0.5, 8000
    oracle = GaussianDataEps(diffusion.alphas_cumprod, m, s)
    x = final_sample(
        p_sample_loop_progressive(
            diffusion, oracle, (n, 1, 1, 1), variance=variance, clip_denoised=False, generator=gen(0)
        )
    )
    assert x.mean().item() == pytest.approx(m, abs=5 * s / n**0.5)
    assert x.var().item() == pytest.approx(s**2, rel=0.06)


def test_ddim_deterministically_maps_noise_onto_gaussian_data(diffusion):
    m, s, n = -0.2, 0.4, 8000
    oracle = GaussianDataEps(diffusion.alphas_cumprod, m, s)
    x_T = torch.randn((n, 1, 1, 1), generator=gen(1))
    x = final_sample(ddim_sample_loop_progressive(diffusion, oracle, x_t=x_T, steps=T, clip_denoised=False))
    again = final_sample(
        ddim_sample_loop_progressive(diffusion, oracle, x_t=x_T, steps=T, clip_denoised=False)
    )
    assert torch.equal(x, again)
    assert x.mean().item() == pytest.approx(m, abs=5 * s / n**0.5)
    assert x.var().item() == pytest.approx(s**2, rel=0.06)
    # for Gaussian data every DDIM step is affine, so x_0 is an increasing affine function of x_T
    assert torch.corrcoef(torch.stack([x.flatten(), x_T.flatten()]))[0, 1].item() > 0.9999


@pytest.mark.parametrize("steps", [1, 10, 50])
def test_ddim_recovers_the_single_data_point(diffusion, steps):
    point = images(1, seed=8)
    oracle = PointDataEps(diffusion.alphas_cumprod, point)
    chain = list(ddim_sample_loop_progressive(diffusion, oracle, (4, 1, 8, 8), steps=steps, generator=gen(9)))
    assert len(chain) == steps and chain[-1].t_prev == -1
    torch.testing.assert_close(chain[-1].x_prev, point.expand(4, -1, -1, -1), rtol=0, atol=1e-4)


def test_ddim_with_eta_one_on_every_step_is_ancestral_sampling(diffusion):
    """σ(η = 1) on consecutive steps is √β̃_t, and the DDIM mean is then the posterior mean."""
    x_t = torch.randn((3, 1, 4, 4), generator=gen(10))
    noise = draw_noise(200, x_t.shape, gen(11))
    kwargs = {"x_t": x_t, "t_start": 199, "noise": noise}
    ddpm = list(p_sample_loop_progressive(diffusion, zero_model, **kwargs))
    ddim = list(ddim_sample_loop_progressive(diffusion, zero_model, steps=200, eta=1.0, **kwargs))
    for a, b in zip(ddpm[::20], ddim[::20], strict=True):
        torch.testing.assert_close(b.x_prev, a.x_prev, rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(b.variance.expand_as(a.variance), a.variance, rtol=1e-3, atol=1e-7)


def test_partial_denoising_from_a_given_x_t(diffusion):
    point = images(1, seed=12)
    oracle = PointDataEps(diffusion.alphas_cumprod, point)
    x_t = diffusion.q_sample(point.expand(2, -1, -1, -1), 299, generator=gen(13))
    chain = list(p_sample_loop_progressive(diffusion, oracle, x_t=x_t, t_start=299, generator=gen(14)))
    assert len(chain) == 300 and chain[0].t == 299 and torch.equal(chain[0].x_t, x_t)
    torch.testing.assert_close(chain[-1].x_prev, point.expand(2, -1, -1, -1), rtol=0, atol=1e-4)
    ddim = list(ddim_sample_loop_progressive(diffusion, oracle, x_t=x_t, t_start=299, steps=10))
    assert ddim[0].t == 299 and [s.t for s in ddim][-1] == 0
    torch.testing.assert_close(ddim[-1].x_prev, point.expand(2, -1, -1, -1), rtol=0, atol=1e-4)


def test_same_seed_same_samples_and_grad_mode_untouched(diffusion):
    def run(seed):
        return final_sample(
            p_sample_loop_progressive(diffusion, zero_model, (2, 1, 4, 4), generator=gen(seed))
        )

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
    loop = p_sample_loop_progressive(diffusion, zero_model, (1, 1, 2, 2))
    next(loop)
    assert torch.is_grad_enabled()  # a paused loop does not leak no_grad into the caller


def test_ddim_timesteps():
    assert ddim_timesteps(999, 5) == [999, 749, 500, 250, 0]
    assert ddim_timesteps(9, 10) == list(range(9, -1, -1))
    assert ddim_timesteps(500, 1) == [500]
    for steps in (2, 7, 50, 1000):
        ts = ddim_timesteps(999, steps)
        assert len(ts) == steps and ts[0] == 999 and ts[-1] == 0
        assert all(a > b for a, b in itertools.pairwise(ts))


def test_bad_loop_arguments(diffusion):
    x = torch.zeros(2, 1, 4, 4)
    cases = [
        (lambda: ddim_timesteps(99, 101), "101"),
        (lambda: ddim_timesteps(99, 0), "got 0"),
        (lambda: next(p_sample_loop_progressive(diffusion, zero_model)), "shape"),
        (lambda: next(p_sample_loop_progressive(diffusion, zero_model, x_t=x, t_start=T)), str(T)),
        (lambda: next(p_sample_loop_progressive(diffusion, zero_model, (2, 1, 4, 4), t_start=5)), "t_start"),
        (
            lambda: next(p_sample_loop_progressive(diffusion, zero_model, (3, 1, 4, 4), x_t=x)),
            r"\(3, 1, 4, 4\)",
        ),
        (lambda: next(posterior_sample_loop_progressive(diffusion, x[:1], x)), r"\(1, 1, 4, 4\)"),
        (
            lambda: next(
                posterior_sample_loop_progressive(diffusion, x, x, 9, noise=torch.zeros(5, 2, 1, 4, 4))
            ),
            "5",
        ),
        (
            lambda: next(
                posterior_sample_loop_progressive(diffusion, x, x, 3, noise=torch.zeros(4, 1, 4, 4))
            ),
            r"\(1, 4, 4\)",
        ),
        (lambda: next(ddim_sample_loop_progressive(diffusion, zero_model, x_t=x, steps=0)), "steps"),
        (lambda: next(ddim_sample_loop_progressive(diffusion, zero_model, x_t=x, eta=-0.5)), "-0.5"),
        (lambda: draw_noise(0, (1,)), "num_steps"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_chain_loop_with_a_lockstep_rule_equals_the_separate_loops(diffusion):
    """Two chains advanced as one batch by chain_loop give what their own loops give."""
    x0, x_t = images(2, seed=3), images(2, seed=4)
    model = GaussianDataEps(diffusion.alphas_cumprod, 0.1, 0.5)
    noise = draw_noise(30, x0.shape, gen(5))

    def both(x, t, t_prev, z):
        (x_q, x_p), (z_q, z_p), t = x.split(2), z.split(2), t[:2]
        exact = diffusion.q_posterior_sample(x0, x_q, t, z=z_q)
        learned = diffusion.p_sample(model(x_p, t), x_p, t, z=z_p)
        return type(exact)(*(torch.cat(pair) for pair in zip(exact, learned, strict=True)))

    lockstep = chain_loop(torch.cat([x_t, x_t]), range(29, -1, -1), both, torch.cat([noise, noise], dim=1))
    exact = posterior_sample_loop_progressive(diffusion, x0, x_t, 29, noise=noise)
    learned = p_sample_loop_progressive(diffusion, model, x_t=x_t, t_start=29, noise=noise)
    for record, q, p in zip(lockstep, exact, learned, strict=True):
        split_q, split_p = split_step(record, (2, 2))
        for mine, theirs in ((split_q, q), (split_p, p)):
            assert mine[:4] == theirs[:4]  # index, num_steps, t, t_prev
            for a, b in zip(mine[4:], theirs[4:], strict=True):
                torch.testing.assert_close(a, b.expand_as(a), rtol=1e-6, atol=1e-6)


def test_chain_loop_checks_its_noise(diffusion):
    with pytest.raises(ValueError, match="noise has 2 steps but the loop takes 3"):
        next(chain_loop(images(1), [2, 1, 0], lambda *a: None, draw_noise(2, (1, 1, 8, 8))))


# -- DPM-Solver++(2M) ---------------------------------------------------------------------------------------


def gaussian_flow(diffusion, m, s, x_T):
    """The exact probability-flow ODE for N(m, s²) data: x at index t as a function of x_T."""
    a = diffusion.alphas_cumprod.double()
    z = (x_T.double() - a[-1].sqrt() * m) / (a[-1] * s**2 + 1 - a[-1]).sqrt()
    return lambda t: a[t].sqrt() * m + (a[t] * s**2 + 1 - a[t]).sqrt() * z


def test_dpm_solver_is_second_order_on_gaussian_data(diffusion):
    """On N(m, s²) data the ODE's solution is known in closed form. At t = 500 the error of the
    multistep solver falls about 4× per doubling of the steps (second order); the same steps taken
    first order (no previous x̂_0: DDIM) fall about 2×, so the gap between them doubles each time."""
    m, s = 0.2, 0.5
    oracle = GaussianDataEps(diffusion.alphas_cumprod.double(), m, s)
    x_T = torch.randn((2000, 1, 1, 1), generator=gen(20))
    exact = gaussian_flow(diffusion, m, s, x_T)

    def first_order(x, t, t_prev, z):
        return diffusion.dpm_solver_step(oracle(x, t), x, t, t_prev, None, clip_denoised=False)

    errors = {"second": [], "first": []}
    for steps in (20, 40, 80):
        times = dpm_solver_timesteps(T - 1, steps)
        chains = {
            "second": dpm_solver_sample_loop_progressive(
                diffusion, oracle, x_t=x_T, steps=steps, clip_denoised=False
            ),
            "first": chain_loop(x_T, times, first_order),
        }
        for order, chain in chains.items():
            at_500 = next(step for step in chain if step.t == 500)
            errors[order].append((at_500.x_t.double() - exact(500)).abs().max().item())
    second, first = errors["second"], errors["first"]
    assert all(3.3 < a / b < 5 for a, b in itertools.pairwise(second)), second
    assert all(1.6 < a / b < 2.6 for a, b in itertools.pairwise(first)), first
    gaps = [e1 / e2 for e2, e1 in zip(second, first, strict=True)]  # measured: 3.7, 7.0, 13.5
    assert gaps[0] > 2.5 and all(b > 1.6 * a for a, b in itertools.pairwise(gaps))


def test_dpm_solver_first_step_is_ddim_and_its_records_are_consistent(diffusion):
    oracle = GaussianDataEps(diffusion.alphas_cumprod.double(), 0.1, 0.6)
    chain = list(
        dpm_solver_sample_loop_progressive(diffusion, oracle, (3, 1, 4, 4), steps=8, generator=gen(21))
    )
    first = chain[0]
    ddim = diffusion.ddim_step(oracle(first.x_t, torch.full((3,), first.t)), first.x_t, first.t, first.t_prev)
    torch.testing.assert_close(first.x_prev, ddim.sample, rtol=1e-5, atol=1e-5)
    assert [s.t for s in chain] == dpm_solver_timesteps(T - 1, 8) and chain[-1].t_prev == -1
    for before, after in itertools.pairwise(chain):
        assert torch.equal(before.x_prev, after.x_t) and before.t_prev == after.t
    torch.testing.assert_close(chain[-1].x_prev, chain[-1].pred_x0)  # first order into x_0
    assert all(float(s.variance.abs().max()) == 0 for s in chain)  # deterministic
    again = final_sample(
        dpm_solver_sample_loop_progressive(diffusion, oracle, (3, 1, 4, 4), steps=8, generator=gen(21))
    )
    assert torch.equal(again, chain[-1].x_prev)


def test_dpm_solver_recovers_the_single_data_point(diffusion):
    point = images(1, seed=22)
    oracle = PointDataEps(diffusion.alphas_cumprod, point)
    x = final_sample(
        dpm_solver_sample_loop_progressive(diffusion, oracle, (2, 1, 8, 8), steps=6, generator=gen(23))
    )
    torch.testing.assert_close(x, point.expand(2, -1, -1, -1), rtol=0, atol=1e-4)


def test_dpm_solver_timesteps_and_bad_arguments(diffusion):
    assert dpm_solver_timesteps(999, 10) == [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    assert dpm_solver_timesteps(9, 9) == list(range(9, 0, -1))
    for steps in (0, 1000):
        with pytest.raises(ValueError, match=f"got {steps}"):
            dpm_solver_timesteps(999, steps)
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="previous step's index"):
        diffusion.dpm_solver_step(x, x, 10, 5, (x, 10))
    with pytest.raises(ValueError, match="t_prev"):
        diffusion.dpm_solver_step(x, x, 10, 10)
