"""Lessons on the loss: the variational bound of one digit term by term (bits/dim), and where
noise prediction is hard (the ε-error over t, whose average is Algorithm 1's loss)."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch

from ..images import to_model_range
from ..teaching.likelihood import bound_terms, contrast_images
from ..teaching.noise_error import NoiseError, noise_prediction_error
from .compute import on_compute_thread
from .plots import BOUND_COLOURS, bound_terms_plot, noise_error_plot
from .results import shared_call
from .runtime import digits, gpu, model_fingerprint, runtime
from .widgets import LATEX, digit_tensor, image, plot_image, show, user_errors

BPD_EXPLAIN = r"""
$-\log p_\theta(x_0) \le L_T + \sum_{t=2}^{T} L_{t-1} + L_0$ with the **prior** $L_T = \mathrm{KL}(q(x_T \mid x_0)\,\|\,\mathcal N(0, I))$,
the **steps** $L_{t-1} = \mathrm{KL}(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t))$ and the **decoder**
$L_0 = -\log p_\theta(x_0 \mid x_1)$ (8-bit pixels), in bits per dimension (÷ 784 ln 2). All $T$ terms
are evaluated (one $x_t$ each). A digit the model knows costs few bits; noise added to it, or random
pixels, cost many: the bound is a likelihood.
"""

NOISE_EXPLAIN = r"""
**Algorithm 1 (training):** repeat: $x_0 \sim q(x_0)$, $t \sim \mathrm{Uniform}(\{1, \dots, T\})$,
$\varepsilon \sim \mathcal N(0, I)$; take a gradient step on
$\nabla_\theta \big\| \varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t) \big\|^2$.
The curve is that error per pixel at each $t$ for the bundled model on the 100 bundled MNIST test
digits; its average over $t$ is $L_\text{simple}$. Near $t = 0$ the noise is tiny and hard to tell from
the digit's own pixels; near $t = T$, $x_t$ is almost all noise and $\hat\varepsilon \approx x_t$ is easy.
"""


@gpu(duration=60)
@user_errors
@shared_call("bits_per_dim", model_fingerprint)
@on_compute_thread
def bits_per_dim(digit: np.ndarray, seed: int = 0):
    """(plot of the terms over t, the three images, a table of totals).

    A model that learned its variance is scored with it, and beside that with σ² fixed at β̃_t
    (the same network's means, the same x_t): the gap is what learning σ² buys."""
    rt = runtime()
    config = rt.model.config
    images = contrast_images(digit_tensor(digit, rt.device), int(seed))
    batch = torch.cat(list(images.values()))
    bpd = bound_terms(rt.diffusion, rt.model, batch, int(seed), config.parameterization, config.variance)
    plot = bound_terms_plot({name: bpd.terms[i].cpu().numpy() for i, name in enumerate(images)})
    learned = config.variance == "learned_range"
    fixed = (
        bound_terms(rt.diffusion, rt.model, batch, int(seed), config.parameterization) if learned else None
    )
    rows = [
        f"| {name} | **{float(bpd.total[i]):.3f}** | {float(bpd.prior[i]):.5f} | {float(bpd.steps[i]):.3f} "
        f"| {float(bpd.decoder[i]):.3f} |" + (f" {float(fixed.total[i]):.3f} |" if learned else "")
        for i, name in enumerate(images)
    ]
    header = "| image | total (bits/dim) | prior L<sub>T</sub> | steps: Σ L<sub>t−1</sub>, t ≥ 2 | decoder L<sub>0</sub> |"
    header += (
        " total with σ² = β̃ₜ instead |\n|---|---|---|---|---|---|\n"
        if learned
        else "\n|---|---|---|---|---|\n"
    )
    table = header + "\n".join(rows)
    return (plot, *(show(x[None]) for x in images.values()), table)


@functools.lru_cache(maxsize=4)
def _noise_error(seed: int) -> NoiseError:
    rt = runtime()
    test_digits, _ = digits()
    x0 = to_model_range(test_digits)[:, None].to(rt.device)
    return noise_prediction_error(
        rt.diffusion, rt.model, x0, steps=50, seed=seed, parameterization=rt.model.config.parameterization
    )


@gpu(duration=60)
@user_errors
@shared_call("noise_error", model_fingerprint)
@on_compute_thread
def noise_error(seed: int = 0):
    """(plot of E‖ε − ε_θ‖²/D over t, markdown with L_simple)."""
    result = _noise_error(int(seed))
    text = (
        f"$L_\\text{{simple}}$ ≈ **{result.simple_loss:.4f}** (mean over {len(result.t)} evenly spaced t); "
        f"hardest at t = {result.hardest_t}, easiest at t = {result.easiest_t}."
    )
    return noise_error_plot(result.t.numpy(), result.mse.numpy(), result.simple_loss), text


def build_likelihood_tabs(digit: gr.State) -> None:
    with gr.Tab("Bits per dimension", id="bits-per-dim"):
        gr.Markdown(BPD_EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=2**31 - 1)
            run = gr.Button("Compute the bound (all T steps)", variant="primary", elem_id="bpd-run")
        table = gr.Markdown(latex_delimiters=LATEX)
        plot = plot_image("Terms of the bound over t", elem_id="bpd-plot")
        with gr.Row(equal_height=True):
            shown = [image(name) for name in BOUND_COLOURS]
    run.click(bits_per_dim, [digit, seed], [plot, *shown, table], api_name="bits_per_dim")

    with gr.Tab("Noise-prediction error", id="noise-error") as tab:
        gr.Markdown(NOISE_EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            seed = gr.Number(0, precision=0, label="Seed (t's noise)", minimum=0, maximum=2**31 - 1)
        text = gr.Markdown(latex_delimiters=LATEX)
        plot = plot_image("Noise-prediction error over t", elem_id="noise-error-plot")
    gr.on([tab.select, seed.submit], noise_error, [seed], [plot, text], api_name="noise_error")
