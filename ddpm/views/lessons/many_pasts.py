"""Lesson: one noisy image has many pasts — K learned reverse chains from one x_t, and what the
digit classifier reads them as."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import bundled_label, classifier, diffusion_cpu, learned_reverse, model_config
from ...teaching.pasts import pasts_lesson
from ..kit.plots import class_histogram
from ..kit.tab import Linked, Tab
from ..kit.widgets import explanation, image, plot_image, result, seed_field, show, show_grid
from ..kit.words import network_words

MAX_PASTS = 64
"""The most chains one request may run (the slider's end)."""

PASTS_EXPLAIN = r"""
The reverse process is not a function: one noisy $x_t$ is consistent with many clean digits. From one
$x_t$ of your digit, $K$ learned reverse chains with different noise $z$ each reach an $x_0$; the
classifier says what they became. At large $t$ the pasts disagree; at small $t$ they agree. The exact
posterior chain, which knows $x_0$, always returns your digit.
"""


@endpoint("pasts", gpu_seconds=60)
def pasts(digit: np.ndarray, t: int = 500, k: int = 16, seed: int = 0, told_class: bool = False):
    """(x_t, grid of K pasts, class histogram, exact posterior's x_0, summary).

    The chains follow :func:`ddpm.serve.runtime.learned_reverse`: with ``told_class`` the
    class-conditional model, told the digit's class (its label, or the classifier's reading of an
    upload or a drawing), else the network not told the digit."""
    rt = learned_reverse(bool(told_class))
    x0 = digit_tensor(digit, rt.device)
    known = bundled_label(digit)
    lesson = pasts_lesson(
        rt.diffusion, rt.model, classifier(), x0, int(t), int(k), int(seed), told_class, MAX_PASTS, known
    )
    verdict = lesson.verdict
    whose = "its label" if known is not None else "the classifier's reading: this digit has no label"
    text = (
        f"From t = {int(t)}: {verdict.distinct} different classes among {len(lesson.pasts)} pasts; "
        f"{verdict.agreement:.0%} are read as your digit's class, {verdict.own_class} ({whose}). "
        f"p_θ: {network_words(rt.model.config, lesson.label is not None, lesson.label)}."
    )
    return show(lesson.x_t), show_grid(lesson.pasts), class_histogram(verdict.counts), show(x0), text


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button runs K learned chains from one x_t of the chosen digit."""
    T = diffusion_cpu().num_timesteps
    explanation(PASTS_EXPLAIN)
    with gr.Row():
        t = gr.Slider(
            1, T, value=T // 2, step=1, label="t of the shared xₜ", scale=3, elem_classes=["timestep"]
        )
        k = gr.Slider(1, MAX_PASTS, value=16, step=1, label="K chains", scale=2)
        seed = seed_field(scale=1)
        run = tab.run_button(scale=1)
    told = gr.Checkbox(False, label="Tell every chain the digit's class (its label; an upload's as the classifier reads it)",
                       visible=model_config().num_classes > 0)  # fmt: skip
    with result():
        text = gr.Markdown()
        with gr.Row(equal_height=True):
            x_t = image("the shared xₜ", height=240)
            grid = image("K learned pasts x₀", height=240, elem_id="many-pasts-grid")
            exact = image("exact posterior's x₀ (knows x₀)", height=240)
        histogram = plot_image("What the pasts became")
    run.click(pasts, [digit, t, k, seed, told], [x_t, grid, histogram, exact, text], api_name="many_pasts")
    return Parts(Linked({"t": t, "chains": k, "seed": seed, "told": told}))
