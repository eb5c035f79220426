"""Lessons with the project's digit classifier: one noisy image has many pasts, and when does a
generation become a "7"?"""

from __future__ import annotations

import tempfile

import gradio as gr
import numpy as np
import torch

from ..inference import sample_loop
from ..teaching.pasts import judge_pasts, many_pasts
from ..teaching.readout import class_probabilities, read_class, readout_due
from . import compute
from .compute import on_compute_thread
from .plots import class_histogram, class_probability_plot
from .results import shared_call, shared_stream
from .runtime import classifier, diffusion_cpu, gpu, model_config, model_fingerprint, runtime
from .serving import WATCHERS
from .stream import paced
from .widgets import (
    LATEX,
    digit_tensor,
    image,
    inline_frames,
    plot_image,
    progress_bar,
    save_pngs,
    show,
    show_grid,
    user_errors,
    waiting_status,
)

MAX_PASTS = 64

PASTS_EXPLAIN = r"""
The reverse process is not a function: one noisy $x_t$ is consistent with many clean digits. From one
$x_t$ of your digit, $K$ learned reverse chains with different noise $z$ each reach an $x_0$; the
classifier says what they became. At large $t$ the pasts disagree; at small $t$ they agree. The exact
posterior chain, which knows $x_0$, always returns your digit.
"""

READOUT_EXPLAIN = r"""
A generation from pure noise, with the project's digit classifier reading the model's current guess
$\hat x_0$ at each step: the plot shows its class probabilities over $t$ (right to left, as the chain runs).
"""


@gpu(duration=60)
@user_errors
@shared_call("pasts", model_fingerprint)
@on_compute_thread
def pasts(digit: np.ndarray, t: int = 500, k: int = 16, seed: int = 0, told_class: bool = False):
    """(x_t, grid of K pasts, class histogram, exact posterior's x_0, summary).

    With ``told_class`` every chain of a class-conditional model is given the digit's class (the
    classifier's reading of x_0)."""
    rt = runtime()
    k = int(k)
    if not 1 <= k <= MAX_PASTS:
        raise ValueError(f"the number of chains K must be between 1 and {MAX_PASTS}, got {k}")
    x0 = digit_tensor(digit, rt.device)
    label = None
    if told_class:  # many_pasts refuses a model without labels
        label = read_class(classifier(), x0)
    config = rt.model.config
    x_t, results = many_pasts(
        rt.diffusion, rt.model, x0, int(t), k, int(seed), config.parameterization, config.variance, label
    )
    verdict = judge_pasts(classifier(), x0, results)
    told = "" if label is None else f" Every chain was told the class {label}."
    text = (
        f"From t = {int(t)}: {verdict.distinct} different classes among {k} pasts; "
        f"{verdict.agreement:.0%} are read as your digit's class ({verdict.own_class}).{told}"
    )
    return show(x_t), show_grid(results), class_histogram(verdict.counts), show(x0), text


def _waiting(position: int, seconds: float) -> tuple:
    return (gr.skip(), gr.skip(), gr.skip(), waiting_status(position, seconds))


READOUT_SEED = 4
"""The read-out lesson's default seed: one digit that is decided early and stays decided. Checked
with the bundled model, seeds 0–7 (final class, its probability, the t below which the classifier's
reading no longer changes, changes below t = 200): 0: an 8 at 0.83 that flips between 8 and 6
three times below t = 200; 1: 8, 1.00, t < 415; 2: 0, 1.00, 505; 3: 6, 1.00, 390; **4: 3, 1.00,
575**; 5: 6, 1.00, 430; 6: 0, 1.00, 610; 7: 1, 1.00, 480 — none of 1–7 flips below t = 200."""


@user_errors
@shared_stream("classifier_readout", model_fingerprint, _waiting)
@gpu(duration=60)
def classifier_readout(seed: int = READOUT_SEED):
    """Stream (x_t, x̂_0, probabilities plot, status) while one digit is generated (1000 steps)."""
    rt = runtime()
    T = rt.diffusion.num_timesteps
    loop = sample_loop(
        rt.model, rt.diffusion, 1, "ddpm", generator=torch.Generator(rt.device).manual_seed(int(seed))
    )
    readout: list[tuple[int, torch.Tensor]] = []  # (paper t, class probabilities [10]) of x̂_0

    def chain():  # every step on the compute thread (see views.stream)
        for step in loop:
            if readout_due(step.t + 1, T):
                readout.append((step.t + 1, class_probabilities(classifier(), step.pred_x0)))
            yield step

    for step, final in paced(chain()):
        # the read-out ends where the chain does: at x_0, the step from t = 1
        p = compute.call(class_probabilities, classifier(), step.x_prev if final else step.pred_x0)
        shown = [r for r in readout[:] if r[0] >= step.t + 1]  # the chain may be a few steps ahead
        if final:
            shown.append((0, p))
        top = int(p.argmax())
        status = (
            f"`{progress_bar(T - step.t, T)}` "
            + (f"t = 0: the classifier reads x₀ as **{top}** ({float(p[top]):.0%})" if final else
               f"t = {step.t + 1}: the classifier reads x̂₀ as **{top}** ({float(p[top]):.0%})")
        )  # fmt: skip
        scale = 8 if final else 4
        images = (
            show(step.x_prev, scale=scale),
            show(step.pred_x0, scale=scale),
            class_probability_plot([t for t, _ in shown], [q for _, q in shown], T),
        )
        if final:  # files, to download; the streamed frames travel inside the stream (inline_frames)
            names = (f"xt_seed{seed}", f"x0hat_seed{seed}", f"readout_seed{seed}")
            images = save_pngs(images, names, tempfile.mkdtemp(prefix="ddpm-"))
        yield (*images, status)


def build_pasts_tabs(digit: gr.State) -> None:
    T = diffusion_cpu().num_timesteps
    with gr.Tab("Many pasts", id="many-pasts"):
        gr.Markdown(PASTS_EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            t = gr.Slider(
                1, T, value=500, step=1, label="t of the shared xₜ", scale=3, elem_classes=["timestep"]
            )
            k = gr.Slider(1, MAX_PASTS, value=16, step=1, label="K chains", scale=2)
            seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=2**31 - 1, scale=1)
            run = gr.Button("Run K chains", variant="primary", scale=1, elem_id="pasts-run")
        told = gr.Checkbox(False, label="Tell every chain the digit's class (the classifier's reading of x₀)",
                           visible=model_config().num_classes > 0)  # fmt: skip
        text = gr.Markdown()
        with gr.Row(equal_height=True):
            x_t = image("the shared xₜ", height=240)
            grid = image("K learned pasts x₀", height=240, elem_id="pasts-grid")
            exact = image("exact posterior's x₀ (knows x₀)", height=240)
        histogram = plot_image("What the pasts became")
    run.click(pasts, [digit, t, k, seed, told], [x_t, grid, histogram, exact, text], api_name="many_pasts")

    with gr.Tab("When does it become a digit?", id="readout"):
        gr.Markdown(READOUT_EXPLAIN, latex_delimiters=LATEX)
        with gr.Row():
            seed = gr.Number(READOUT_SEED, precision=0, label="Seed", minimum=0, maximum=2**31 - 1)
            run = gr.Button("Generate one digit", variant="primary", elem_id="readout-run")
        status = gr.Markdown()
        with gr.Row(equal_height=True):
            x_t = inline_frames(image("xₜ", height=240))
            x0_hat = inline_frames(image("x̂₀", height=240))
        plot = inline_frames(plot_image("Classifier probabilities on x̂₀ over t", elem_id="readout-plot"))
    run.click(classifier_readout, [seed], [x_t, x0_hat, plot, status], api_name="classifier_readout",
              concurrency_limit=WATCHERS, show_progress="hidden")  # fmt: skip
