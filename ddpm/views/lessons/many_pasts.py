"""Lesson: one noisy image has many pasts — K learned reverse chains from one x_t, and what the
digit classifier reads them as."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import (
    bundled_label,
    classifier,
    diffusion_cpu,
    learned_config,
    learned_reverse,
    model_config,
)
from ...serve.settings import FRAME_SECONDS
from ...teaching.pasts import PastsVerdict, pasts_lesson
from ..digits import DIGIT_DATA
from ..kit.here import compute_choice, in_page_panel, in_page_plots, run_js, stop_js
from ..kit.plots import CLASS_COLOURS, class_histogram
from ..kit.tab import Linked, Tab
from ..kit.widgets import QUIET, SCALE, explanation, image, plot_image, result, seed_field, show, show_grid
from ..kit.words import network_words

MAX_PASTS = 64
"""The most chains one request may run (the slider's end)."""
GRID_WIDTH = 640  # the pasts' grid, as show_grid draws it by default
STREAM_WIDTH = 256  # the grid streamed while the page computes (scaled up, pixelated)
IMAGES = (
    ("x_t", "the shared xₜ"),
    ("pasts", "K learned pasts x₀"),
    ("x0", "exact posterior's x₀ (knows x₀)"),
)
"""The in-page panel's canvases, (name, caption), captioned as the server's images."""
HISTOGRAM = {"title": "What the pasts became", "x": "class of x₀ (project classifier)", "y": "chains"}
"""The class histogram's words (kit.plots.class_histogram's, without LaTeX)."""

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
    text = (
        f"{summary(int(t), len(lesson.pasts), verdict, known is not None)}. "
        f"p_θ: {network_words(rt.model.config, lesson.label is not None, lesson.label)}."
    )
    return show(lesson.x_t), show_grid(lesson.pasts), class_histogram(verdict.counts), show(x0), text


def summary(t: int, k: int, verdict: PastsVerdict, known: bool) -> str:
    """What K pasts from t became, in one sentence (the status says the network after it);
    ``known``: the digit's class is its label, else the classifier's reading of it. The page's
    engine writes the same (``static/engine/view_pasts.js``: ``summary``)."""
    whose = "its label" if known else "the classifier's reading: this digit has no label"
    return (
        f"From t = {t}: {verdict.distinct} different classes among {k} pasts; "
        f"{verdict.agreement:.0%} are read as your digit's class, {verdict.own_class} ({whose})"
    )


REQUEST = ["t", "k", "seed", "told"]
"""The lesson's inputs by name, in the order of its controls (the page's engine reads them)."""


def in_page_settings() -> dict:
    """What the page's engine needs of this lesson to show what :func:`pasts` shows: the sizes of
    the images and of the grid (streamed and final), the pace of the frames, the histogram's
    colours and words, and what the status calls the network, told each class and not told."""
    told = (
        [network_words(learned_config(True), True, label) for label in range(model_config().num_classes)]
        if model_config().num_classes
        else []
    )
    return {"scale": SCALE, "grid_width": GRID_WIDTH, "stream_width": STREAM_WIDTH,
            "frame_seconds": FRAME_SECONDS, "colours": CLASS_COLOURS, "histogram": HISTOGRAM,
            "networks": {"told": told, "untold": network_words(learned_config(False))}}  # fmt: skip


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
        seed = seed_field(scale=1, elem_id="many-pasts-seed")
        with gr.Column(scale=1, min_width=140, elem_classes=["run-column"]):
            compute = compute_choice("many-pasts-compute")
            run = tab.run_button()
            on_server = gr.Button(
                "Run on the server", elem_id="many-pasts-server-run", elem_classes=["server-run"]
            )
            stop = gr.Button("Stop", variant="stop", size="sm", elem_id="many-pasts-stop")
    told = gr.Checkbox(False, label="Tell every chain the digit's class (its label; an upload's as the classifier reads it)",
                       visible=model_config().num_classes > 0)  # fmt: skip
    with result():
        in_page_panel("many-pasts-here", "many-pasts-server-run", None, in_page_settings(), view="pasts",
                      images=IMAGES, plots="many-pasts-here-plots")  # fmt: skip
        text = gr.Markdown(elem_id="many-pasts-status", elem_classes=["server-result"])
        with gr.Row(equal_height=True, elem_classes=["server-result"]):
            x_t = image(IMAGES[0][1], height=240)
            grid = image(IMAGES[1][1], height=240, elem_id="many-pasts-grid")
            exact = image(IMAGES[2][1], height=240)
        with gr.Column(elem_classes=["server-result"]):
            histogram = plot_image(HISTOGRAM["title"])
        in_page_plots("many-pasts-here-plots", [("histogram", HISTOGRAM["title"])])
    inputs, outputs = [digit, t, k, seed, told], [x_t, grid, histogram, exact, text]
    # Run: the page decides where the chains run (kit/here.py); on the server it presses on_server
    here = run_js("many-pasts-here", [*REQUEST, "compute"], digit=DIGIT_DATA)
    run.click(None, [t, k, seed, told, compute], None, js=here, **QUIET)
    on_server_run = on_server.click(pasts, inputs, outputs, api_visibility="private")
    # Stop: the page's chains at once (its Worker), the server's while they wait in the line
    stop.click(None, None, None, js=stop_js("many-pasts-here"), cancels=[on_server_run], **QUIET)
    api = gr.Button(visible=False)  # /many_pasts' trigger, for API clients
    api.click(pasts, inputs, outputs, api_name="many_pasts")
    return Parts(Linked({"t": t, "chains": k, "seed": seed, "told": told, "compute": compute}))
