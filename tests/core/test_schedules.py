import math

import pytest
import torch

from ddpm.schedules import SCHEDULES, cosine_alphas_cumprod, make_betas


def test_linear_endpoints_and_final_alphas_cumprod():
    betas = make_betas("linear", 1000)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    assert torch.all(betas[1:] > betas[:-1])
    # ᾱ_T of Ho et al.'s schedule: the prior N(0, I) is reached to within 4e-5 of signal.
    assert torch.prod(1 - betas).item() == pytest.approx(4.04e-5, rel=5e-3)


def test_linear_scales_with_timesteps():
    betas = make_betas("linear", 250)
    assert betas[0].item() == pytest.approx(4e-4)
    assert betas[-1].item() == pytest.approx(0.08)
    # the total noise is about the same as at T = 1000 (the reason for the 1000/T scaling)
    assert torch.prod(1 - betas).item() == pytest.approx(4.04e-5, rel=0.5)


@pytest.mark.parametrize("timesteps", [10, 100, 1000])
def test_cosine_matches_closed_form(timesteps):
    betas = make_betas("cosine", timesteps)
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    s = 0.008
    t = torch.arange(1, timesteps + 1, dtype=torch.float64)
    f = torch.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    expected = f / f0
    unclipped = betas < 0.999  # only the very last β is clipped
    torch.testing.assert_close(alphas_cumprod[: int(unclipped.sum())], expected[: int(unclipped.sum())])
    torch.testing.assert_close(cosine_alphas_cumprod(t, timesteps), expected)
    assert betas.max().item() <= 0.999


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("timesteps", [21, 50, 1000, 4000])
def test_betas_in_open_unit_interval(name, timesteps):
    betas = make_betas(name, timesteps)
    assert betas.shape == (timesteps,)
    assert torch.all(betas > 0) and torch.all(betas < 1)


def test_unknown_schedule_lists_allowed_names():
    with pytest.raises(ValueError, match=r"'quadratic'.*linear, cosine"):
        make_betas("quadratic", 1000)


@pytest.mark.parametrize("timesteps", [0, -5, 2.5, True])
def test_bad_timesteps(timesteps):
    with pytest.raises(ValueError, match="timesteps"):
        make_betas("linear", timesteps)


def test_linear_too_few_steps_is_refused():
    with pytest.raises(ValueError, match="timesteps=10"):
        make_betas("linear", 10)
