"""Lesson: why small steps matter — the true reverse step of 1-D data against the best Gaussian."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from ...serve.handlers import endpoint
from ...teaching.small_steps import DENSITY_GRID, PRESETS, T_CHOICES, parse_data, small_steps_lesson
from ..kit.plots import chain_ends_plot, chain_kl_plot, reverse_step_plot
from ..kit.tab import Linked, Tab
from ..kit.widgets import explanation, plot_image, result, seed_field

EXPLAIN = r"""
The true reverse step $q(x_{t-1} \mid x_t) \propto q(x_t \mid x_{t-1})\, q_{t-1}(x_{t-1})$ needs the data
distribution, so for images it is intractable, and DDPM learns a **Gaussian** $p_\theta(x_{t-1} \mid x_t)$.
For 1-D data it can be computed (Bayes' rule on a grid). Same noise path for every $T$ (cosine
schedule, $\bar\alpha_T \approx 0$), cut into $T$ steps. With few large steps the true reverse is
multimodal and no Gaussian fits it; with many small ones it is nearly Gaussian, and a chain of
Gaussian steps (here with the exact optimal mean and variance) lands on the data.
"""


@endpoint()
def small_steps(preset: str = "two modes", means: str = "-0.6, 0.6", std: float = 0.08, T: int = 5,
                t: int = 1, seed: int = 0):  # fmt: skip
    """(reverse densities plot, KL-vs-T plot, histograms plot, summary markdown)."""
    lesson = small_steps_lesson(parse_data(preset, means, std), T, t, int(seed))
    histograms = chain_ends_plot(DENSITY_GRID, lesson.data_density, lesson.chain_ends)
    summary = (
        f"**T = {lesson.T}:** Σ KL = {lesson.kl:.4f} nats; **T = 1000:** {lesson.kl_small_steps:.5f} nats. "
        f"β at step {lesson.step.t}: {lesson.step.beta:.4f}."
    )
    return reverse_step_plot(lesson.step), chain_kl_plot(T_CHOICES, lesson.kls, lesson.T), histograms, summary


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson; it draws itself when opened and on every change (no Run button)."""
    explanation(EXPLAIN)
    with gr.Row():
        preset = gr.Radio([*PRESETS, "custom"], value="two modes", label="Data")
        means = gr.Textbox("-0.6, 0.6", label="Custom means (comma-separated)")
        std = gr.Slider(0.02, 0.5, value=0.08, step=0.01, label="Custom std")
    with gr.Row():
        T = gr.Radio(list(T_CHOICES), value=5, label="T (steps)", scale=3)
        t = gr.Slider(1, 5, value=1, step=1, label="Show step t", scale=2)
        seed = seed_field(scale=1)
    with result():
        summary = gr.Markdown()
        with gr.Row():
            densities = plot_image("True reverse step vs best Gaussian", elem_id="small-steps-density")
            kl_plot = plot_image("KL of the Gaussian chain vs T")
        histograms = plot_image("Where Gaussian reverse chains end")
    inputs = [preset, means, std, T, t, seed]
    outputs = [densities, kl_plot, histograms, summary]
    # a T chosen by hand starts t at 1 (a link sets both: `input`, not `change`); a slider needs two
    # ends: with T = 1 it stays at its one step
    T.input(
        lambda T: gr.Slider(1, max(2, int(T)), value=1, interactive=int(T) > 1),
        T,
        t,
        api_visibility="private",
    )
    gr.on(
        [block.select, preset.change, std.release, t.change, seed.submit, means.submit],
        small_steps, inputs, outputs, api_name="small_steps", trigger_mode="always_last",
    )  # fmt: skip
    linked = {"data": preset, "means": means, "std": std, "T": T, "t": t, "seed": seed}
    return Parts(Linked(linked, {"t": "T"}))  # the step shown: 1 ≤ t ≤ T
