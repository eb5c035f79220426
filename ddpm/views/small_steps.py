"""Lesson: why small steps matter — the true reverse step of 1-D data against the best Gaussian."""

from __future__ import annotations

import gradio as gr
import numpy as np

from .. import toy
from ..teaching.small_steps import T_CHOICES, gaussian_chain_samples, kl_curve, reverse_step
from ..toy import Mixture1D
from .compute import on_compute_thread
from .plots import chain_ends_plot, chain_kl_plot, reverse_step_plot
from .widgets import LATEX, plot_image, user_errors

PRESETS = {"two modes": toy.TWO_MODES, "three points": toy.THREE_POINTS}
SAMPLES = 4000

EXPLAIN = r"""
The true reverse step $q(x_{t-1} \mid x_t) \propto q(x_t \mid x_{t-1})\, q_{t-1}(x_{t-1})$ needs the data
distribution, so for images it is intractable, and DDPM learns a **Gaussian** $p_\theta(x_{t-1} \mid x_t)$.
For 1-D data it can be computed (Bayes' rule on a grid). Same noise path for every $T$ (cosine
schedule, $\bar\alpha_T \approx 0$), cut into $T$ steps. With few large steps the true reverse is
multimodal and no Gaussian fits it; with many small ones it is nearly Gaussian, and a chain of
Gaussian steps (here with the exact optimal mean and variance) lands on the data.
"""


def parse_data(preset: str, means: str, std: float) -> Mixture1D:
    """A preset, or equal-weight Gaussians at the comma-separated ``means`` with one ``std``."""
    if preset in PRESETS:
        return PRESETS[preset]
    if preset != "custom":
        raise ValueError(f"unknown data {preset!r}; allowed: {', '.join([*PRESETS, 'custom'])}")
    try:
        values = tuple(float(m) for m in str(means).replace(";", ",").split(",") if m.strip())
    except ValueError:
        raise ValueError(f"means must be numbers separated by commas, got {means!r}") from None
    if not 1 <= len(values) <= 6:
        raise ValueError(f"give between 1 and 6 means, got {len(values)}")
    return Mixture1D((1.0,) * len(values), values, (float(std),) * len(values))


@user_errors
@on_compute_thread
def small_steps(preset: str = "two modes", means: str = "-0.6, 0.6", std: float = 0.08, T: int = 5,
                t: int = 1, seed: int = 0):  # fmt: skip
    """(reverse densities plot, KL-vs-T plot, histograms plot, summary markdown)."""
    data = parse_data(preset, means, std)
    T, t = int(T), int(t)
    if T not in T_CHOICES:
        raise ValueError(f"T must be one of {list(T_CHOICES)}, got {T}")
    if not 1 <= t <= T:
        raise ValueError(f"step t must be in [1, T = {T}], got {t}")
    step = reverse_step(data, T, t)
    kls = kl_curve(data)
    grid = np.linspace(-2, 2, 801)
    histograms = chain_ends_plot(
        grid, toy.marginal_density(data, 1.0, grid),
        [(steps, gaussian_chain_samples(data, steps, int(seed), SAMPLES)) for steps in (T, 1000)],
    )  # fmt: skip
    summary = (
        f"**T = {T}:** Σ KL = {kls[T_CHOICES.index(T)]:.4f} nats; **T = 1000:** {kls[-1]:.5f} nats. "
        f"β at step {t}: {step.beta:.4f}."
    )
    return reverse_step_plot(step), chain_kl_plot(T_CHOICES, kls, T), histograms, summary


def build_small_steps_tab() -> None:
    with gr.Tab("Small steps", id="small-steps") as tab:
        gr.Markdown(EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            preset = gr.Radio([*PRESETS, "custom"], value="two modes", label="Data")
            means = gr.Textbox("-0.6, 0.6", label="Custom means (comma-separated)")
            std = gr.Slider(0.02, 0.5, value=0.08, step=0.01, label="Custom std")
        with gr.Row():
            T = gr.Radio(list(T_CHOICES), value=5, label="T (steps)", scale=3)
            t = gr.Slider(1, 5, value=1, step=1, label="Show step t", scale=2)
            seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=2**31 - 1, scale=1)
        summary = gr.Markdown()
        with gr.Row():
            densities = plot_image("True reverse step vs best Gaussian", elem_id="small-steps-density")
            kl_plot = plot_image("KL of the Gaussian chain vs T")
        histograms = plot_image("Where Gaussian reverse chains end")
    inputs = [preset, means, std, T, t, seed]
    outputs = [densities, kl_plot, histograms, summary]
    T.change(lambda T: gr.Slider(1, int(T), value=1), T, t, api_visibility="private")
    gr.on(
        [tab.select, preset.change, std.release, t.change, seed.submit, means.submit],
        small_steps, inputs, outputs, api_name="small_steps", trigger_mode="always_last",
    )  # fmt: skip
