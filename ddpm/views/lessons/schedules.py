"""Lesson: schedules and signal-to-noise — linear vs cosine, and the digit at the same t under each."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ...images import digit_tensor
from ...serve.handlers import endpoint
from ...serve.runtime import diffusion_config
from ...teaching.schedules import MAX_T, compare_schedules
from ..kit.plots import schedule_curves_plot
from ..kit.tab import Linked, Tab
from ..kit.widgets import explanation, image, plot_image, result, seed_field, show

EXPLAIN = r"""
A schedule fixes how fast the signal fades: $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$
with $\mathrm{SNR}(t) = \bar\alpha_t / (1-\bar\alpha_t)$. The **linear** $\beta_t$ of Ho et al. destroys the
digit early: long before $t = T$ almost nothing of it is left, so many steps are spent on pure noise.
The **cosine** schedule of Nichol & Dhariwal keeps $\log$ SNR falling nearly linearly. Dots mark
where SNR = 1 (as much signal as noise). The bundled model was trained on the **{trained}** schedule
with $T = {T}$; the other one is shown for the forward process only.
"""


@endpoint()
def schedules(digit: np.ndarray, t: int = 250, T: int = 1000, seed: int = 0):
    """(curves plot, x_t under linear, x_t under cosine, readout markdown) at the paper's t."""
    lesson = compare_schedules(digit_tensor(digit), t, T, int(seed))
    lines = [
        f"| {c.name} | {r.alpha_bar:.4f} | {r.log_snr:+.2f} | {c.snr_one_t} ({c.snr_one_t / lesson.T:.0%} of T) |"
        for c, r in zip(lesson.curves, lesson.values, strict=True)
    ]
    table = "| schedule | ᾱₜ | log SNR | SNR = 1 at t |\n|---|---|---|---|\n" + "\n".join(lines)
    images = [show(x) for x in lesson.x_t]
    return (
        schedule_curves_plot(lesson.curves, lesson.t), images[0], images[1],
        f"### t = {lesson.t} of T = {lesson.T}\n" + table,
    )  # fmt: skip


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson; it draws itself when opened and on every change (no Run button)."""
    trained = diffusion_config()
    explain = EXPLAIN.replace("{trained}", trained.schedule).replace("{T}", str(trained.timesteps))
    explanation(explain)
    with gr.Row():
        t = gr.Slider(
            0,
            1000,
            value=250,
            step=1,
            label="t",
            scale=4,
            elem_id="schedules-t",
            elem_classes=["timestep"],
        )
        T = gr.Number(1000, precision=0, label="T", minimum=2, maximum=MAX_T, scale=1)
        seed = seed_field("Noise seed", scale=1)
    with result():
        plot = plot_image("βₜ, ᾱₜ and log SNR; red line: t; dots: SNR = 1")
        with gr.Row(equal_height=True):
            linear = image("xₜ, linear schedule", height=240)
            cosine = image("xₜ, cosine schedule (same ε)", height=240)
            table = gr.Markdown(elem_id="schedules-table")
    T.submit(
        lambda T, t: gr.Slider(0, int(T), value=min(int(t), int(T))), [T, t], t, api_visibility="private"
    )
    gr.on(
        [block.select, t.input, T.submit, seed.submit, digit.change],
        schedules, [digit, t, T, seed], [plot, linear, cosine, table],
        api_name="schedules", trigger_mode="always_last", show_progress="hidden",
    )  # fmt: skip
    return Parts(Linked({"t": t, "T": T, "seed": seed}, {"t": "T"}))
