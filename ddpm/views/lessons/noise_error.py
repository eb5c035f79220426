"""Lesson: where noise prediction is hard — the ε-error over t, whose average is Algorithm 1's loss."""

from __future__ import annotations

import functools
from typing import NamedTuple

import gradio as gr

from ...serve.handlers import endpoint
from ...serve.runtime import digits, learned_config, learned_reverse, unconditional_path
from ...teaching.noise_error import NoiseError, digits_noise_error
from ..kit.plots import noise_error_plot
from ..kit.tab import Linked, Tab
from ..kit.widgets import LATEX, explanation, plot_image, result, seed_field
from ..kit.words import LATEX_SYMBOLS, loss_words, network_words, symbol

NOISE_EXPLAIN = r"""
**Algorithm 1 (training):** repeat: $x_0 \sim q(x_0)$, $t \sim \mathrm{Uniform}(\{1, \dots, T\})$,
$\varepsilon \sim \mathcal N(0, I)$; take a gradient step on
$\nabla_\theta \big\| \varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t) \big\|^2$.
The curve is that error per pixel at each $t$ for the network named below, on the 100 bundled MNIST
test digits. Near $t = 0$ the noise is tiny and hard to tell from
the digit's own pixels; near $t = T$, $x_t$ is almost all noise and $\hat\varepsilon \approx x_t$ is easy.
"""


@functools.lru_cache(maxsize=4)
def _noise_error(seed: int, network: str) -> NoiseError:
    """The curve for ``seed`` of the network at the folder ``network`` (the cache's key)."""
    rt = learned_reverse(False)
    test_digits, _ = digits()
    return digits_noise_error(
        rt.diffusion,
        rt.model,
        test_digits,
        min(50, rt.diffusion.num_timesteps),
        seed,
        rt.model.config.parameterization,
        rt.device,
    )


def network_note() -> str:
    """Which network the curve is of, and how its error relates to Algorithm 1 (from its config)."""
    config = learned_config(False)
    note = f"The curve is of {network_words(config)}, trained with the loss {loss_words(config)}."
    if config.parameterization == "eps":
        return note + " Its mean over uniform $t$ is $L_\\text{simple}$, the loss of Algorithm 1."
    return note + (
        f" It predicts ${LATEX_SYMBOLS[config.parameterization]}$, not $\\varepsilon$: the curve is the error of the $\\hat\\varepsilon$ its output"
        " implies at $x_t$ (the same algebra as the *Parameterizations* lesson), not the loss it was trained with."
    )


def mean_label() -> str:
    """The line's name: L_simple for an ε-network (its training loss), else the mean over t."""
    return "$L_\\mathrm{simple}$" if learned_config(False).parameterization == "eps" else "mean over $t$"


@endpoint("noise_error", gpu_seconds=60)
def noise_error(seed: int = 0):
    """(plot of E‖ε − ε̂‖²/D over t, markdown with its mean over t)."""
    result = _noise_error(int(seed), unconditional_path())
    text = (
        f"{mean_label()} ≈ **{result.simple_loss:.4f}** (mean over {len(result.t)} evenly spaced t); "
        f"hardest at t = {result.hardest_t}, easiest at t = {result.easiest_t}. {network_note()}"
    )
    title = f"Noise-prediction error over t of the network that predicts {symbol(learned_config(False))}"
    return noise_error_plot(
        result.t.numpy(), result.mse.numpy(), result.simple_loss, mean_label(), title
    ), text


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson; it draws itself when opened, and again for a new seed."""
    explanation(NOISE_EXPLAIN)
    with gr.Row():
        seed = seed_field("Seed (t's noise)")
    with result():
        text = gr.Markdown(latex_delimiters=LATEX)
        plot = plot_image("Noise-prediction error over t", elem_id="noise-error-plot")
    gr.on([block.select, seed.submit], noise_error, [seed], [plot, text], api_name="noise_error")
    return Parts(Linked({"seed": seed}))
