"""Lesson: one noisy image has many pasts — K learned reverse chains from one x_t, and what the
digit classifier reads them as."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import classifier, diffusion_cpu, model_config, runtime
from ...teaching.pasts import pasts_lesson
from ..kit.plots import class_histogram
from ..kit.tab import Linked, Tab
from ..kit.widgets import LATEX, image, plot_image, seed_field, show, show_grid

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

    With ``told_class`` every chain of a class-conditional model is given the digit's class (the
    classifier's reading of x_0)."""
    rt = runtime()
    x0 = digit_tensor(digit, rt.device)
    lesson = pasts_lesson(
        rt.diffusion, rt.model, classifier(), x0, int(t), int(k), int(seed), told_class, MAX_PASTS
    )
    verdict = lesson.verdict
    told = "" if lesson.label is None else f" Every chain was told the class {lesson.label}."
    text = (
        f"From t = {int(t)}: {verdict.distinct} different classes among {len(lesson.pasts)} pasts; "
        f"{verdict.agreement:.0%} are read as your digit's class ({verdict.own_class}).{told}"
    )
    return show(lesson.x_t), show_grid(lesson.pasts), class_histogram(verdict.counts), show(x0), text


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button runs K learned chains from one x_t of the chosen digit."""
    T = diffusion_cpu().num_timesteps
    gr.Markdown(PASTS_EXPLAIN, latex_delimiters=LATEX)
    with gr.Row():
        t = gr.Slider(1, T, value=500, step=1, label="t of the shared xₜ", scale=3, elem_classes=["timestep"])
        k = gr.Slider(1, MAX_PASTS, value=16, step=1, label="K chains", scale=2)
        seed = seed_field(scale=1)
        run = tab.run_button(scale=1)
    told = gr.Checkbox(False, label="Tell every chain the digit's class (the classifier's reading of x₀)",
                       visible=model_config().num_classes > 0)  # fmt: skip
    text = gr.Markdown()
    with gr.Row(equal_height=True):
        x_t = image("the shared xₜ", height=240)
        grid = image("K learned pasts x₀", height=240, elem_id="many-pasts-grid")
        exact = image("exact posterior's x₀ (knows x₀)", height=240)
    histogram = plot_image("What the pasts became")
    run.click(pasts, [digit, t, k, seed, told], [x_t, grid, histogram, exact, text], api_name="many_pasts")
    return Parts(Linked({"t": t, "chains": k, "seed": seed, "told": told}))
