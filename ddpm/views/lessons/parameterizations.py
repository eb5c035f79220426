"""Lesson: the three parameterizations — one network output read as ε, as x_0 and as v; σ² = β̃_t or β_t."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...guidance import Conditioned
from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import diffusion_cpu, learned_reverse, model_config, told_label
from ...teaching.parameterizations import parameterization_lesson
from ..kit.tab import Linked, Tab
from ..kit.widgets import explanation, image, result, seed_field, show, show_noise
from ..kit.words import SYMBOLS, TARGETS, loss_words, network_words, symbol

EXPLAIN = r"""
The network outputs one tensor. What it *means* is a choice made at training time (its
*parameterization*). Read as **ε** (Ho et al. 2020):
$\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ and
$\mu_\theta = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\varepsilon\big)$.
Read as **x₀**: $\hat x_0$ is the output and $\mu_\theta = \tilde\mu_t(x_t, \hat x_0)$.
Read as **v** $= \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$:
$\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,\hat v$.
Only the reading the network was trained for makes sense (the status line names it); the others show that the three are different
targets, not different names. Then one step $x_{t-1} = \mu_\theta + \sigma_t z$ with $\sigma_t^2 = \tilde\beta_t$
or $\beta_t$ (same $z$), and the whole learned chain from $x_t$ to $x_0$ with each.
"""


@endpoint("parameterizations", gpu_seconds=30)
def parameterizations(digit: np.ndarray, t: int = 300, seed: int = 0, told_class: bool = False):
    """(x_t, output, x̂_0 / ε̂ / μ for each reading..., one step each σ², chain end each σ², text).

    The network is :func:`ddpm.serve.runtime.learned_reverse`'s: with ``told_class`` the
    class-conditional model told the digit's class (its label, else the classifier's reading)."""
    rt = learned_reverse(bool(told_class))
    x0 = digit_tensor(digit, rt.device)
    model, told = rt.model, None
    if told_class:
        labels = told_label(digit, x0)
        model, told = Conditioned(rt.model, labels), int(labels[0])
    lesson = parameterization_lesson(rt.diffusion, model, x0, int(t), int(seed))
    view, chains, r = lesson.view, lesson.chains, lesson.view.readings
    config = rt.model.config
    text = (
        f"**t = {view.t}.** p_θ: {network_words(config, told is not None, told)}. It was trained to predict"
        f" **{symbol(config)}**, {TARGETS[config.parameterization]}, with the loss {loss_words(config)}: the"
        f" reading as {symbol(config)} is the one that makes sense. RMS of x̂₀ − x₀: "
        + ", ".join(f"read as {SYMBOLS[k]}: {error:.3f}" for k, error in lesson.x0_errors.items())
        + f". Chain ends (σ² = β̃ₜ vs βₜ) differ by RMS {lesson.chain_gap:.3f}."
    )
    return (
        show(view.x_t), show_noise(view.output),
        show(r["eps"].pred_x0), show(r["eps"].mean), show(r["x0"].pred_x0), show(r["v"].pred_x0),
        show(view.step_small), show(view.step_large), show(chains["fixed_small"]), show(chains["fixed_large"]),
        text,
    )  # fmt: skip


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button reads one network output three ways at t."""
    T = diffusion_cpu().num_timesteps
    explanation(EXPLAIN)
    with gr.Row():
        t = gr.Slider(1, T, value=max(1, 3 * T // 10), step=1, label="t", scale=4, elem_classes=["timestep"])
        seed = seed_field("Seed (ε and z)", scale=1)
        run = tab.run_button(scale=1)
    told = gr.Checkbox(False, label="Tell the model the digit's class (the class-conditional network)",
                       visible=model_config().num_classes > 0, elem_id="parameterizations-told")  # fmt: skip
    with result():
        text = gr.Markdown()
        with gr.Row(equal_height=True):
            x_t = image("xₜ")
            output = image("the network's output (−3 … 3)")
            x0_eps = image("x̂₀ reading it as ε")
            mean = image("μ_θ reading it as ε")
        with gr.Row(equal_height=True):
            x0_x0 = image("x̂₀ reading it as x₀")
            x0_v = image("x̂₀ reading it as v")
            step_small = image("one step, σ² = β̃ₜ")
            step_large = image("one step, σ² = βₜ")
        with gr.Row(equal_height=True):
            chain_small = image("whole chain, σ² = β̃ₜ", height=240)
            chain_large = image(
                "whole chain, σ² = βₜ (same z)", height=240, elem_id="parameterizations-chain"
            )
    outputs = [x_t, output, x0_eps, mean, x0_x0, x0_v, step_small, step_large, chain_small, chain_large, text]
    run.click(parameterizations, [digit, t, seed, told], outputs, api_name="parameterizations")
    return Parts(Linked({"t": t, "seed": seed, "told": told}))
