"""The GPU path: the loops, the checkpoint and the app's streams on CUDA agree with the CPU.

Marked ``gpu``: skipped where no CUDA device is present (see conftest.py); ``scripts/gpu_check.sh``
runs them on a GPU machine. The CPU is the reference: the same start and the same noise give the
same chain on both devices, up to float32 rounding (cuDNN's convolutions sum in another order).
"""

import asyncio

import numpy as np
import pytest
import torch

from ddpm import checkpoint
from ddpm.inference import BACKENDS, prepare_for_inference
from ddpm.sampling import ddim_sample_loop_progressive, draw_noise, final_sample, p_sample_loop_progressive

pytestmark = pytest.mark.gpu

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def models():
    cpu_model, diffusion = checkpoint.load(checkpoint.BUNDLED, "cpu")
    cuda_model, cuda_diffusion = checkpoint.load(checkpoint.BUNDLED, CUDA)
    return cpu_model, diffusion, cuda_model, cuda_diffusion


def test_the_checkpoint_loads_onto_cuda_with_the_same_weights(models):
    cpu_model, _, cuda_model, cuda_diffusion = models
    assert next(cuda_model.parameters()).device.type == "cuda"
    assert cuda_diffusion.alphas_cumprod.device.type == "cuda"
    for (name, a), (_, b) in zip(
        cpu_model.state_dict().items(), cuda_model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b.cpu()), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_predicts_on_cuda_what_the_cpu_predicts(models, backend):
    cpu_model, diffusion, cuda_model, _ = models
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0, diffusion.num_timesteps - 1, 8).long()
    with torch.no_grad():
        expected = cpu_model(x, t)
        fast = prepare_for_inference(cuda_model, CUDA, backend)
        got = fast(x.to(CUDA), t.to(CUDA)).cpu()
    assert torch.allclose(got, expected, atol=2e-4), (got - expected).abs().max()


def test_ddim_from_the_same_start_ends_at_the_same_digits(models):
    cpu_model, diffusion, cuda_model, cuda_diffusion = models
    x_T = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    kind = cpu_model.config.parameterization
    with torch.no_grad():
        cpu = final_sample(
            ddim_sample_loop_progressive(diffusion, cpu_model, x_t=x_T, steps=20, parameterization=kind)
        )
        gpu = final_sample(
            ddim_sample_loop_progressive(
                cuda_diffusion, cuda_model, x_t=x_T.to(CUDA), steps=20, parameterization=kind
            )
        )
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-3), (gpu.cpu() - cpu).abs().max()


def test_ancestral_steps_with_the_same_noise_agree(models):
    cpu_model, diffusion, cuda_model, cuda_diffusion = models
    x_t = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    noise = draw_noise(50, x_t.shape, torch.Generator().manual_seed(3))
    kind = cpu_model.config.parameterization
    with torch.no_grad():
        cpu = [
            s.x_prev
            for s in p_sample_loop_progressive(
                diffusion, cpu_model, x_t=x_t, t_start=49, noise=noise, parameterization=kind
            )
        ]
        gpu = [
            s.x_prev.cpu()
            for s in p_sample_loop_progressive(
                cuda_diffusion,
                cuda_model,
                x_t=x_t.to(CUDA),
                t_start=49,
                noise=noise.to(CUDA),
                parameterization=kind,
            )
        ]
    assert len(gpu) == len(cpu) == 50
    assert max(float((a - b).abs().max()) for a, b in zip(cpu, gpu, strict=True)) < 1e-3


def test_the_apps_streams_run_on_cuda():
    from ddpm.serve import results
    from ddpm.serve.runtime import runtime
    from ddpm.views import generate, reverse
    from ddpm.views.digits import default_digit

    assert runtime().device.type == "cuda"
    patch = pytest.MonkeyPatch()
    patch.setattr(results, "RESULTS", results.Results(max_bytes=2**26))
    try:

        async def frames(stream):
            return [f async for f in stream]

        *_, final = asyncio.run(frames(reverse.compare_in_page(default_digit(), 50, 0, "fixed_small")))
        assert "done" in final.status and final.player["times"][0] == 50
        exact = final.exact
        assert isinstance(exact, str)  # the last frame's images are files
        *_, done = asyncio.run(frames(generate.generate_in_page(16, "ddim", 20, 0.0, 0)))
        assert "on cuda" in done[2] and done[3].endswith(".gif")
        assert np.asarray(done[5]["times"]).min() == 0
    finally:
        patch.undo()
