"""The bound of a model over all t (ddpm.likelihood): an exact decoder term, unbiased subsets."""

import math

import pytest
import torch
from oracles import PointDataEps, alphas_cumprod64, zero_model
from tiny import TINY, randomised

from ddpm import GaussianDiffusion, calc_bpd_loop, calc_bpd_loops
from ddpm.unet import UNet, UNetConfig


def images(batch, seed, shape):
    return torch.rand((batch, *shape), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_bits_per_dim_oracle_far_below_zero_model():
    """On a one-image data set the exact ε makes every KL term vanish; ε = 0 does not.

    What remains is the decoder L_0 with its fixed variance β̃_2 (improved-diffusion's clipping),
    checked here against the Gaussian bin probabilities computed with erf.
    """
    diffusion = GaussianDiffusion.from_schedule("linear", 1000)
    levels = torch.randint(0, 256, (1, 1, 5, 5), generator=torch.Generator().manual_seed(0))
    levels[0, 0, 0, :2] = torch.tensor([0, 255])  # include both edge bins
    point = levels.float() / 127.5 - 1
    oracle = PointDataEps(diffusion.alphas_cumprod, point)
    g = torch.Generator().manual_seed(1)
    good = calc_bpd_loop(diffusion, oracle, point.expand(2, -1, -1, -1), generator=g)
    bad = calc_bpd_loop(diffusion, zero_model, point.expand(2, -1, -1, -1), generator=g)
    assert good.exact and good.terms.shape == (2, 1000) and good.timesteps.tolist() == list(range(1000))
    assert good.terms[:, 1:].abs().max() < 1e-5 and good.prior.max() < 1e-4
    a = alphas_cumprod64("linear", 1000)
    betas = 1 - a / torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])
    sigma = math.sqrt(betas[1] * (1 - a[0]) / (1 - a[1]))  # √β̃_2
    inside = math.erf(1 / 255 / sigma / math.sqrt(2))  # P(|N(0, σ²)| < half a bin)
    edge = 0.5 + 0.5 * inside
    probs = torch.where((levels == 0) | (levels == 255), edge, inside).double()
    decoder_bpd = -torch.log2(probs).mean().item()
    assert good.terms[0, 0].item() == pytest.approx(decoder_bpd, rel=2e-3)
    assert torch.all(good.total < bad.total / 5)
    assert torch.allclose(good.prior, bad.prior)  # the prior term has no parameters
    torch.testing.assert_close(good.total, good.prior + good.terms.sum(1))
    torch.testing.assert_close(good.decoder, good.terms[:, 0])
    torch.testing.assert_close(bad.steps, bad.terms[:, 1:].sum(1))


def test_bits_per_dim_subset_estimate_is_unbiased():
    diffusion = GaussianDiffusion.from_schedule("linear", 40)
    x0 = images(batch=256, seed=10, shape=(1, 2, 2))
    g = torch.Generator().manual_seed(2)
    exact = calc_bpd_loop(diffusion, zero_model, x0, generator=g).total.mean()
    estimates = [calc_bpd_loop(diffusion, zero_model, x0, num_timesteps=8, generator=g) for _ in range(60)]
    assert not estimates[0].exact and estimates[0].terms.shape == (256, 8)
    # stratified: the first K // 4 steps (the decoder and the large early terms) are always there
    assert estimates[0].timesteps[:2].tolist() == [0, 1]
    assert estimates[0].weights.sum().item() == pytest.approx(40)
    for e in estimates[:5]:  # the split into prior, steps and decoder holds for estimates too
        torch.testing.assert_close(e.prior + e.steps + e.decoder, e.total)
    mean_estimate = torch.stack([e.total.mean() for e in estimates]).mean()
    assert mean_estimate.item() == pytest.approx(exact.item(), rel=0.05)


def test_the_decoder_term_must_have_been_evaluated():
    diffusion = GaussianDiffusion.from_schedule("linear", 40)
    bound = calc_bpd_loop(diffusion, zero_model, images(2, 0, (1, 2, 2)), timesteps=[5, 9])
    with pytest.raises(ValueError, match="index 0"):
        _ = bound.decoder


def test_several_variances_from_one_network_call_per_step_are_each_its_own_bound():
    """A learned-variance model read with its own σ² and with β̃_t and β_t in one pass: each bound
    is the one computed alone (the same x_t from the same generator), from T calls, not 3T."""
    diffusion = GaussianDiffusion.from_schedule("linear", 30)
    model = randomised(UNet(UNetConfig(**TINY, timesteps=30, learn_sigma=True))).eval()
    calls = []

    def counted(x, t):
        calls.append(len(t))
        return model(x, t)

    x0 = images(batch=2, seed=3, shape=(1, 28, 28))
    variances = ("learned_range", "fixed_small", "fixed_large")
    together = calc_bpd_loops(
        diffusion, counted, x0, variances=variances, generator=torch.Generator().manual_seed(4)
    )
    assert len(calls) == 30
    for variance, bound in zip(variances, together, strict=True):
        alone = calc_bpd_loop(
            diffusion, model, x0, variance=variance, generator=torch.Generator().manual_seed(4)
        )
        torch.testing.assert_close(bound.terms, alone.terms, rtol=0, atol=0)
        torch.testing.assert_close(bound.total, alone.total, rtol=0, atol=0)
    assert len({round(b.total[0].item(), 6) for b in together}) == 3  # three different σ², three bounds
    with pytest.raises(ValueError, match="at least one"):
        calc_bpd_loops(diffusion, model, x0, variances=())
