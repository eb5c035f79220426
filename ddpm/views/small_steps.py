"""Lesson: why small steps matter — the true reverse step of 1-D data against the best Gaussian."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import toy
from ..toy import Mixture1D
from .common import plot_image, render, user_errors
from .compute import on_compute_thread
from .forward import LATEX

PRESETS = {"two modes": toy.TWO_MODES, "three points": toy.THREE_POINTS}
T_CHOICES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
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


@functools.lru_cache(maxsize=16)
def kl_curve(data: Mixture1D) -> list[float]:
    """Σ_t E KL(true ‖ Gaussian fit) for every T in :data:`T_CHOICES` (cached per data set)."""
    return [toy.chain_kl(data, T, max_steps=20, points=48) for T in T_CHOICES]


@functools.lru_cache(maxsize=32)
def gaussian_chain_samples(data: Mixture1D, T: int, seed: int) -> np.ndarray:
    return toy.sample_gaussian_reverse(data, T, SAMPLES, torch.Generator().manual_seed(seed))


@user_errors
@on_compute_thread
def small_steps(preset: str = "two modes", means: str = "-0.6, 0.6", std: float = 0.08, T: int = 5,
                t: int = 1, seed: int = 0):  # fmt: skip
    """(reverse densities plot, KL-vs-T plot, histograms plot, summary markdown)."""
    data = parse_data(preset, means, std)
    T, t = int(T), int(t)
    if T not in T_CHOICES:
        raise ValueError(f"T must be one of {T_CHOICES}, got {T}")
    if not 1 <= t <= T:
        raise ValueError(f"step t must be in [1, T = {T}], got {t}")
    _, alpha_bar = toy.toy_schedule(T)
    w, m, _ = data.arrays()
    x_t = np.sqrt(alpha_bar[t - 1]) * np.array([m.min() - 0.1, float(np.dot(w, m)), m.max() + 0.1])

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    exact = toy.reverse_density(data, T, t, x_t)
    fit = toy.reverse_moments(data, T, t, x_t)
    for i, colour in enumerate(("#1f4e9c", "#b3590e", "#2e7d32")):
        grid = exact.grid[i]
        ax.plot(grid, exact.density[i], color=colour, lw=2.5, label=f"true, x_t = {x_t[i]:+.2f}")
        gauss = np.exp(-0.5 * (grid - fit.mean[i]) ** 2 / fit.variance[i]) / np.sqrt(
            2 * np.pi * fit.variance[i]
        )
        ax.plot(grid, gauss, color=colour, lw=1.8, ls="--")
    ax.set_xlim(-2.0, 2.0)
    ax.set_xlabel("x_{t−1}")
    ax.set_title(f"q(x_{{t−1}} | x_t) at step t = {t} of T = {T} (dashed: best Gaussian)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    densities = render(fig)

    kls = kl_curve(data)
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    ax.loglog(T_CHOICES, np.maximum(kls, 1e-6), "o-", color="#1f4e9c", lw=2.5)
    ax.plot([T], [max(kls[T_CHOICES.index(T)], 1e-6)], "o", color="#c81414", ms=12)
    ax.set_xlabel("T (number of steps)")
    ax.set_ylabel("Σ_t E KL(true ‖ Gaussian) (nats)")
    ax.set_title("How far the best Gaussian reverse chain is from the truth")
    fig.tight_layout()
    kl_plot = render(fig)

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    grid = np.linspace(-2, 2, 801)
    ax.plot(grid, toy.marginal_density(data, 1.0, grid), color="black", lw=2, label="data")
    for steps, colour in ((T, "#c81414"), (1000, "#1f4e9c")):
        x0 = gaussian_chain_samples(data, steps, int(seed))
        ax.hist(x0, bins=160, range=(-2, 2), density=True, histtype="step", lw=1.8, color=colour,
                label=f"Gaussian reverse, T = {steps}")  # fmt: skip
    ax.set_xlabel("x_0")
    ax.set_title(f"{SAMPLES} samples through Gaussian reverse steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    histograms = render(fig)

    summary = (
        f"**T = {T}:** Σ KL = {kls[T_CHOICES.index(T)]:.4f} nats; **T = 1000:** {kls[-1]:.5f} nats. "
        f"β at step {t}: {1 - alpha_bar[t - 1] / (alpha_bar[t - 2] if t > 1 else 1.0):.4f}."
    )
    return densities, kl_plot, histograms, summary


def build_small_steps_tab() -> None:
    with gr.Tab("Small steps", id="small-steps") as tab:
        gr.Markdown(EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            preset = gr.Radio([*PRESETS, "custom"], value="two modes", label="Data")
            means = gr.Textbox("-0.6, 0.6", label="Custom means (comma-separated)")
            std = gr.Slider(0.02, 0.5, value=0.08, step=0.01, label="Custom std")
        with gr.Row():
            T = gr.Radio(T_CHOICES, value=5, label="T (steps)", scale=3)
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
