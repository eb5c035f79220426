"""Lesson: the variational bound of one digit, term by term in bits/dim, beside images it should find
unlikely."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import learned_reverse, model_config, told_label
from ...teaching.likelihood import bound_lesson
from ..kit.plots import BOUND_COLOURS, bound_terms_plot
from ..kit.tab import Linked, Tab
from ..kit.widgets import LATEX, explanation, image, plot_image, result, seed_field, show
from ..kit.words import network_words

BPD_EXPLAIN = r"""
$-\log p_\theta(x_0) \le L_T + \sum_{t=2}^{T} L_{t-1} + L_0$ with the **prior** $L_T = \mathrm{KL}(q(x_T \mid x_0)\,\|\,\mathcal N(0, I))$,
the **steps** $L_{t-1} = \mathrm{KL}(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t))$ and the **decoder**
$L_0 = -\log p_\theta(x_0 \mid x_1)$ (8-bit pixels), in bits per dimension (÷ 784 ln 2). All $T$ terms
are evaluated (one $x_t$ each). A digit the model knows costs few bits; noise added to it, or random
pixels, cost many: the bound is a likelihood.
"""


@endpoint("bits_per_dim", gpu_seconds=60)
def bits_per_dim(digit: np.ndarray, seed: int = 0, told_class: bool = False):
    """(plot of the terms over t, the three images, a table of totals and the network's name).

    The network is :func:`ddpm.serve.runtime.learned_reverse`'s: with ``told_class`` the
    class-conditional model told the digit's class (its label, else the classifier's reading), a
    bound on −log p_θ(x_0 | y). A model that learned its variance is scored with it, and beside that
    with σ² fixed at β̃_t (the same network's means, the same x_t): the gap is what learning σ² buys."""
    rt = learned_reverse(bool(told_class))
    config = rt.model.config
    x0 = digit_tensor(digit, rt.device)
    told = int(told_label(digit, x0)[0]) if told_class else None
    lesson = bound_lesson(
        rt.diffusion, rt.model, x0, int(seed), config.parameterization, config.variance, told
    )
    bpd, fixed = lesson.bound, lesson.fixed
    plot = bound_terms_plot({name: bpd.terms[i].cpu().numpy() for i, name in enumerate(lesson.images)})
    rows = [
        f"| {name} | **{float(bpd.total[i]):.3f}** | {float(bpd.prior[i]):.5f} | {float(bpd.steps[i]):.3f} "
        f"| {float(bpd.decoder[i]):.3f} |" + (f" {float(fixed.total[i]):.3f} |" if fixed is not None else "")
        for i, name in enumerate(lesson.images)
    ]
    header = "| image | total (bits/dim) | prior L<sub>T</sub> | steps: Σ L<sub>t−1</sub>, t ≥ 2 | decoder L<sub>0</sub> |"
    header += (
        " total with σ² = β̃ₜ instead |\n|---|---|---|---|---|---|\n"
        if fixed is not None
        else "\n|---|---|---|---|---|\n"
    )
    table = f"p_θ: {network_words(config, told is not None, told)}.\n\n" + header + "\n".join(rows)
    return (plot, *(show(x[None]) for x in lesson.images.values()), table)


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button evaluates all T terms of the bound for the chosen digit."""
    explanation(BPD_EXPLAIN)
    with gr.Row():
        seed = seed_field()
        told = gr.Checkbox(False, label="Tell the model the digit's class: −log p_θ(x₀ | y)",
                           visible=model_config().num_classes > 0, elem_id="bits-per-dim-told")  # fmt: skip
        run = tab.run_button()
    with result():
        table = gr.Markdown(latex_delimiters=LATEX)
        plot = plot_image("Terms of the bound over t", elem_id="bits-per-dim-plot")
        with gr.Row(equal_height=True):
            shown = [image(name) for name in BOUND_COLOURS]
    run.click(bits_per_dim, [digit, seed, told], [plot, *shown, table], api_name="bits_per_dim")
    return Parts(Linked({"seed": seed, "told": told}))
