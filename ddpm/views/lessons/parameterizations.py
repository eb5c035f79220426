"""Lesson: the three parameterizations — one network output read as ε, as x_0 and as v; σ² = β̃_t or β_t."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import diffusion_cpu, runtime
from ...teaching.parameterizations import parameterization_lesson
from ..kit.tab import Linked, Tab
from ..kit.widgets import LATEX, image, seed_field, show, show_noise

NAMES = {"eps": "ε", "x0": "x₀", "v": "v"}

EXPLAIN = r"""
The network outputs one tensor. What it *means* is a choice made at training time (its
*parameterization*). Read as **ε** (DDPM, this model):
$\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ and
$\mu_\theta = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\varepsilon\big)$.
Read as **x₀**: $\hat x_0$ is the output and $\mu_\theta = \tilde\mu_t(x_t, \hat x_0)$.
Read as **v** $= \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$:
$\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,\hat v$.
Only the reading the model was trained for makes sense; the others show that the three are different
targets, not different names. Then one step $x_{t-1} = \mu_\theta + \sigma_t z$ with $\sigma_t^2 = \tilde\beta_t$
or $\beta_t$ (same $z$), and the whole learned chain from $x_t$ to $x_0$ with each.
"""


@endpoint("parameterizations", gpu_seconds=30)
def parameterizations(digit: np.ndarray, t: int = 300, seed: int = 0):
    """(x_t, output, x̂_0 / ε̂ / μ for each reading..., one step each σ², chain end each σ², text)."""
    rt = runtime()
    x0 = digit_tensor(digit, rt.device)
    lesson = parameterization_lesson(rt.diffusion, rt.model, x0, int(t), int(seed))
    view, chains, r = lesson.view, lesson.chains, lesson.view.readings
    text = (
        f"**t = {view.t}.** The model was trained to predict **{NAMES[lesson.parameterization]}**. RMS of x̂₀ − x₀: "
        + ", ".join(f"read as {NAMES[k]}: {error:.3f}" for k, error in lesson.x0_errors.items())
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
    gr.Markdown(EXPLAIN, latex_delimiters=LATEX)
    with gr.Row():
        t = gr.Slider(1, T, value=300, step=1, label="t", scale=4, elem_classes=["timestep"])
        seed = seed_field("Seed (ε and z)", scale=1)
        run = tab.run_button(scale=1)
    text = gr.Markdown()
    with gr.Row(equal_height=True):
        x_t = image("xₜ")
        output = image("network output (as ε̂: −3 … 3)")
        x0_eps = image("x̂₀ reading it as ε")
        mean = image("μ_θ reading it as ε")
    with gr.Row(equal_height=True):
        x0_x0 = image("x̂₀ reading it as x₀")
        x0_v = image("x̂₀ reading it as v")
        step_small = image("one step, σ² = β̃ₜ")
        step_large = image("one step, σ² = βₜ")
    with gr.Row(equal_height=True):
        chain_small = image("whole chain, σ² = β̃ₜ", height=240)
        chain_large = image("whole chain, σ² = βₜ (same z)", height=240, elem_id="parameterizations-chain")
    outputs = [x_t, output, x0_eps, mean, x0_x0, x0_v, step_small, step_large, chain_small, chain_large, text]
    run.click(parameterizations, [digit, t, seed], outputs, api_name="parameterizations")
    return Parts(Linked({"t": t, "seed": seed}))
