"""One seeding rule: every draw comes from a CPU generator seeded with the user's seed, then moves."""

import re
from pathlib import Path

import pytest
import torch

from ddpm import seeding
from ddpm.diffusion import GaussianDiffusion
from ddpm.sampling import draw_noise, final_sample, p_sample_loop_progressive
from ddpm.teaching.common import seeded_noise

PACKAGE = Path(__file__).resolve().parents[2] / "ddpm"


def test_a_seed_draws_what_a_cpu_generator_seeded_alike_draws():
    expected = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    assert seeding.generator(5).device.type == "cpu"
    assert seeding.randn((2, 1, 28, 28), seeding.generator(5)).equal(expected)
    assert seeding.randn((2, 1, 28, 28), seeding.generator(5), "cpu", torch.float32).equal(expected)
    assert seeded_noise((2, 1, 28, 28), 5).equal(expected)
    assert seeding.randn((3,), seeding.generator(5), dtype=torch.float64).dtype == torch.float64


def test_a_chain_draws_x_T_then_each_steps_z_from_the_one_generator():
    """Ancestral sampling with a zero network: x_{t−1} = μ + σ_t z, every number from the seed."""
    diffusion = GaussianDiffusion.from_schedule("linear", 30)

    def zero(x, t):
        return torch.zeros_like(x)

    run = final_sample(
        p_sample_loop_progressive(diffusion, zero, (2, 1, 4, 4), generator=seeding.generator(9))
    )
    g = seeding.generator(9)
    x = seeding.randn((2, 1, 4, 4), g)
    for t in range(29, -1, -1):
        out = diffusion.p_mean_variance(zero(x, None), x, t, "eps", "fixed_small")
        z = seeding.randn(x.shape, g)
        x = out.mean + (out.variance.sqrt() * z if t > 0 else 0)
    torch.testing.assert_close(run, x)
    assert draw_noise(3, (2,), seeding.generator(1)).equal(
        torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    )


def test_no_module_seeds_a_generator_on_the_device():
    """A CUDA generator seeded alike draws other numbers: the rule would break on a GPU Space.
    (Training keeps its own device generator, in train.py and ddpm/training/: its runs are
    reproducible on their own machine.)"""
    device_seeded = re.compile(r"torch\.Generator\(\s*[^)\s]")
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "train.py" and "training" not in path.relative_to(PACKAGE).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if device_seeded.search(line)
    ]
    assert not wrong, wrong


@pytest.mark.gpu
def test_a_seed_means_the_same_noise_on_the_gpu():
    on_gpu = seeding.randn((4, 1, 28, 28), seeding.generator(3), "cuda")
    assert on_gpu.device.type == "cuda" and on_gpu.cpu().equal(seeded_noise((4, 1, 28, 28), 3))
