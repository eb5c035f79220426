"""Lesson: where noise prediction is hard — the ε-error over t, whose average is Algorithm 1's loss."""

from __future__ import annotations

import functools
from typing import NamedTuple

import gradio as gr

from ...serve.handlers import endpoint
from ...serve.runtime import digits, runtime
from ...teaching.noise_error import NoiseError, digits_noise_error
from ..kit.plots import noise_error_plot
from ..kit.tab import Linked, Tab
from ..kit.widgets import LATEX, plot_image, seed_field

NOISE_EXPLAIN = r"""
**Algorithm 1 (training):** repeat: $x_0 \sim q(x_0)$, $t \sim \mathrm{Uniform}(\{1, \dots, T\})$,
$\varepsilon \sim \mathcal N(0, I)$; take a gradient step on
$\nabla_\theta \big\| \varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t) \big\|^2$.
The curve is that error per pixel at each $t$ for the bundled model on the 100 bundled MNIST test
digits; its average over $t$ is $L_\text{simple}$. Near $t = 0$ the noise is tiny and hard to tell from
the digit's own pixels; near $t = T$, $x_t$ is almost all noise and $\hat\varepsilon \approx x_t$ is easy.
"""


@functools.lru_cache(maxsize=4)
def _noise_error(seed: int) -> NoiseError:
    rt = runtime()
    test_digits, _ = digits()
    return digits_noise_error(
        rt.diffusion, rt.model, test_digits, 50, seed, rt.model.config.parameterization, rt.device
    )


@endpoint("noise_error", gpu_seconds=60)
def noise_error(seed: int = 0):
    """(plot of E‖ε − ε_θ‖²/D over t, markdown with L_simple)."""
    result = _noise_error(int(seed))
    text = (
        f"$L_\\text{{simple}}$ ≈ **{result.simple_loss:.4f}** (mean over {len(result.t)} evenly spaced t); "
        f"hardest at t = {result.hardest_t}, easiest at t = {result.easiest_t}."
    )
    return noise_error_plot(result.t.numpy(), result.mse.numpy(), result.simple_loss), text


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson; it draws itself when opened, and again for a new seed."""
    gr.Markdown(NOISE_EXPLAIN, latex_delimiters=LATEX)
    with gr.Row():
        seed = seed_field("Seed (t's noise)")
    text = gr.Markdown(latex_delimiters=LATEX)
    plot = plot_image("Noise-prediction error over t", elem_id="noise-error-plot")
    gr.on([block.select, seed.submit], noise_error, [seed], [plot, text], api_name="noise_error")
    return Parts(Linked({"seed": seed}))
