"""Lesson: schedules and signal-to-noise — linear vs cosine, and the digit at the same t under each."""

from __future__ import annotations

import gradio as gr
import numpy as np

from ..diffusion import GaussianDiffusion
from ..schedules import SCHEDULES
from ..teaching.common import seeded_noise
from ..teaching.forward import forward_view
from ..teaching.schedules import schedule_curves
from .compute import on_compute_thread
from .plots import schedule_curves_plot
from .runtime import diffusion_config
from .widgets import LATEX, digit_tensor, image, plot_image, show, user_errors

MAX_T = 4000

EXPLAIN = r"""
A schedule fixes how fast the signal fades: $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$
with $\mathrm{SNR}(t) = \bar\alpha_t / (1-\bar\alpha_t)$. The **linear** $\beta_t$ of Ho et al. destroys the
digit early: long before $t = T$ almost nothing of it is left, so many steps are spent on pure noise.
The **cosine** schedule of Nichol & Dhariwal keeps $\log$ SNR falling nearly linearly. Dots mark
where SNR = 1 (as much signal as noise). The bundled model was trained on the **{trained}** schedule
with $T = {T}$; the other one is shown for the forward process only.
"""


@user_errors
@on_compute_thread
def schedules(digit: np.ndarray, t: int = 250, T: int = 1000, seed: int = 0):
    """(curves plot, x_t under linear, x_t under cosine, readout markdown) at the paper's t."""
    T, t = int(T), int(t)
    if not 2 <= T <= MAX_T:
        raise ValueError(f"T must be in [2, {MAX_T}], got {T}")
    if not 0 <= t <= T:
        raise ValueError(f"t must be in [0, T = {T}], got {t}")
    x0 = digit_tensor(digit, "cpu")
    noise = seeded_noise(tuple(x0.shape), int(seed))
    curves = [schedule_curves(name, T) for name in SCHEDULES]
    images, lines = [], []
    for c in curves:
        view = forward_view(GaussianDiffusion.from_schedule(c.name, T), x0, t, noise)
        images.append(show(view.x_t))
        r, crossing = view.values, c.snr_one_t
        lines.append(
            f"| {c.name} | {r.alpha_bar:.4f} | {r.log_snr:+.2f} | {crossing} ({crossing / T:.0%} of T) |"
        )
    table = "| schedule | ᾱₜ | log SNR | SNR = 1 at t |\n|---|---|---|---|\n" + "\n".join(lines)
    return schedule_curves_plot(curves, t), images[0], images[1], f"### t = {t} of T = {T}\n" + table


def build_schedules_tab(digit: gr.State) -> None:
    trained = diffusion_config()
    explain = EXPLAIN.replace("{trained}", trained.schedule).replace("{T}", str(trained.timesteps))
    with gr.Tab("Schedules & SNR", id="schedules") as tab:
        gr.Markdown(explain, latex_delimiters=LATEX)
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
            seed = gr.Number(0, precision=0, label="Noise seed", minimum=0, maximum=2**31 - 1, scale=1)
        plot = plot_image("βₜ, ᾱₜ and log SNR; red line: t; dots: SNR = 1")
        with gr.Row(equal_height=True):
            linear = image("xₜ, linear schedule", height=240)
            cosine = image("xₜ, cosine schedule (same ε)", height=240)
            table = gr.Markdown(elem_id="schedules-table")
    T.submit(
        lambda T, t: gr.Slider(0, int(T), value=min(int(t), int(T))), [T, t], t, api_visibility="private"
    )
    gr.on(
        [tab.select, t.input, T.submit, seed.submit, digit.change],
        schedules, [digit, t, T, seed], [plot, linear, cosine, table],
        api_name="schedules", trigger_mode="always_last", show_progress="hidden",
    )  # fmt: skip
