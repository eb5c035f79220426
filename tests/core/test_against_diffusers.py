"""Cross-checks against an independent implementation: diffusers' DDPM and DDIM schedulers.

diffusers indexes timesteps from 0 like we do, so index t means the same step in both.
"""

import pytest
import torch

from ddpm import GaussianDiffusion

diffusers = pytest.importorskip("diffusers", reason="diffusers is a dev-only test oracle")

T = 1000
PREDICTION = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.from_schedule("linear", T)


@pytest.mark.parametrize(("ours", "theirs"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_schedules_agree(ours, theirs):
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=theirs)
    mine = GaussianDiffusion.from_schedule(ours, T)
    torch.testing.assert_close(mine.betas, scheduler.betas.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(mine.alphas_cumprod, scheduler.alphas_cumprod.float(), rtol=1e-4, atol=1e-7)


def test_same_noised_images(diffusion):
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=T)
    x0 = torch.rand((6, 1, 8, 8), generator=gen(0)) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen(1))
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    torch.testing.assert_close(diffusion.q_sample(x0, t, noise), scheduler.add_noise(x0, noise, t))


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
@pytest.mark.parametrize("clip", [True, False])
def test_same_ancestral_step(diffusion, variance, parameterization, clip):
    scheduler = diffusers.DDPMScheduler(
        num_train_timesteps=T,
        variance_type=variance,
        prediction_type=PREDICTION[parameterization],
        clip_sample=clip,
    )
    x_t = torch.randn((4, 1, 8, 8), generator=gen(2)) * 1.5
    output = torch.randn(x_t.shape, generator=gen(3))
    for t in (0, 1, 7, 250, 999):
        theirs = scheduler.step(output, t, x_t, generator=gen(t))
        ours = diffusion.p_sample(output, x_t, t, parameterization, variance, clip, generator=gen(t))
        torch.testing.assert_close(ours.pred_x0, theirs.pred_original_sample, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.sample, theirs.prev_sample, rtol=1e-4, atol=5e-4)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_same_ddim_step(diffusion, eta, parameterization):
    scheduler = diffusers.DDIMScheduler(
        num_train_timesteps=T, prediction_type=PREDICTION[parameterization], clip_sample=True
    )
    scheduler.set_timesteps(50)
    x_t = torch.randn((4, 1, 8, 8), generator=gen(4))
    output = torch.randn(x_t.shape, generator=gen(5))
    z = torch.randn(x_t.shape, generator=gen(6))
    for t in scheduler.timesteps[[0, 1, 25, 48, 49]].tolist():
        t_prev = max(t - T // 50, -1)  # diffusers uses ᾱ = 1 before index 0, our -1
        kwargs = {"variance_noise": z} if eta > 0 else {}
        theirs = scheduler.step(output, t, x_t, eta=eta, use_clipped_model_output=True, **kwargs)
        ours = diffusion.ddim_step(output, x_t, t, t_prev, eta, parameterization, True, z=z)
        torch.testing.assert_close(ours.pred_x0, theirs.pred_original_sample, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.sample, theirs.prev_sample, rtol=1e-4, atol=5e-4)


@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_same_ancestral_step_with_a_learned_variance(diffusion, parameterization):
    """diffusers' learned_range interpolates log β̃_t and log β_t with (v + 1)/2, as we do.

    At index 0 no noise is added, so its different clipping of log β̃_1 does not show.
    """
    scheduler = diffusers.DDPMScheduler(
        num_train_timesteps=T, variance_type="learned_range", prediction_type=PREDICTION[parameterization]
    )
    x_t = torch.randn((4, 1, 8, 8), generator=gen(7)) * 1.5
    output = torch.cat(
        [torch.randn(x_t.shape, generator=gen(8)), torch.rand(x_t.shape, generator=gen(9)) * 2 - 1], 1
    )
    for t in (0, 1, 7, 250, 999):
        theirs = scheduler.step(output, t, x_t, generator=gen(t))
        ours = diffusion.p_sample(output, x_t, t, parameterization, "learned_range", generator=gen(t))
        torch.testing.assert_close(ours.pred_x0, theirs.pred_original_sample, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.sample, theirs.prev_sample, rtol=1e-4, atol=5e-4)


@pytest.mark.parametrize("steps", [5, 10, 25])
@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_same_dpm_solver_chain(diffusion, parameterization, steps):
    """DPM-Solver++(2M) from the same x_T with the same (nonlinear) network: diffusers' scheduler at
    its defaults (linspace timesteps, σ = 0 at the end, first order there) and our loop agree."""
    from ddpm.sampling import dpm_solver_sample_loop_progressive

    def model(x, t):  # any smooth function of (x_t, t) will do as the network
        return torch.tanh(1.3 * x) + 0.5 * torch.sin(t.float() / 150).reshape(-1, 1, 1, 1)

    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=T, algorithm_type="dpmsolver++", solver_order=2,
        prediction_type=PREDICTION[parameterization],
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    x_T = torch.randn((4, 1, 8, 8), generator=gen(10))
    theirs, x = [], x_T.clone()
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, torch.full((4,), int(t))), t, x).prev_sample
        theirs.append(x)
    ours = list(
        dpm_solver_sample_loop_progressive(
            diffusion, model, x_t=x_T, steps=steps, parameterization=parameterization, clip_denoised=False
        )
    )
    assert [s.t for s in ours] == scheduler.timesteps.tolist()
    assert len(ours) == steps and ours[-1].t_prev == -1
    for mine, their in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine.x_prev, their, rtol=1e-4, atol=1e-4)
