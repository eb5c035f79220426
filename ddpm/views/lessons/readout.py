"""Lesson: when does a generation become a "7"? The digit classifier reads x̂_0 along one chain."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from ... import seeding
from ...inference import sample_loop
from ...serve.handlers import endpoint
from ...serve.runtime import classifier, learned_reverse
from ...serve.settings import WATCHERS
from ...teaching.readout import class_probabilities, reading, readout_due
from ..kit.plots import class_probability_plot
from ..kit.recording import Recording, Redraw
from ..kit.tab import Linked, Tab
from ..kit.widgets import (
    explanation,
    frame_scale,
    image,
    inline_frames,
    plot_image,
    progress_bar,
    result,
    seed_field,
    show,
    waiting_status,
)
from ..kit.words import network_words

READOUT_EXPLAIN = r"""
A generation from pure noise, with the project's digit classifier reading the model's current guess
$\hat x_0$ at each step: the plot shows its class probabilities over $t$ (right to left, as the chain runs).
"""


def _waiting(position: int, seconds: float) -> tuple:
    return (gr.skip(), gr.skip(), gr.skip(), waiting_status(position, seconds))


READOUT_SEED = 4
"""The read-out lesson's default seed: one digit that is decided early and stays decided. Checked
with the bundled model, seeds 0–7 (final class, its probability, the t below which the classifier's
reading no longer changes, changes below t = 200): 0: an 8 at 0.83 that flips between 8 and 6
three times below t = 200; 1: 8, 1.00, t < 415; 2: 0, 1.00, 505; 3: 6, 1.00, 390; **4: 3, 1.00,
575**; 5: 6, 1.00, 430; 6: 0, 1.00, 610; 7: 1, 1.00, 480 — none of 1–7 flips below t = 200."""


@endpoint("classifier_readout", gpu_seconds=60, waiting=_waiting)
def classifier_readout(seed: int = READOUT_SEED):
    """Stream (x_t, x̂_0, probabilities plot, status) while one digit is generated (1000 steps) by
    the network not told the digit (:func:`ddpm.serve.runtime.learned_reverse`)."""
    rt = learned_reverse(False)
    network = network_words(rt.model.config)
    T = rt.diffusion.num_timesteps
    loop = sample_loop(rt.model, rt.diffusion, 1, "ddpm", generator=seeding.generator(int(seed)))
    rec = Recording(logs=("readout",))  # of x̂_0, at the steps readout_due picks
    plot = Redraw(lambda points: class_probability_plot([t for t, _ in points], [q for _, q in points], T))

    def record(step) -> None:  # on the compute thread, every step
        if readout_due(step.t + 1, T):
            rec.log("readout", (step.t + 1, class_probabilities(classifier(), step.pred_x0)))

    def look(step):  # a shown frame's reading, on the compute thread
        return class_probabilities(classifier(), step.pred_x0)

    def closing(step):  # the read-out ends where the chain does: at x_0, from t = 1
        return class_probabilities(classifier(), step.x_prev)

    for shot in rec.run(loop, record, look=look, closing=closing):
        step, final, p = shot.step, shot.last, shot.extra
        shown = rec.snapshot(shot)["readout"] + ([(0, p)] if final else [])
        top, chance = reading(p)
        status = (
            f"`{progress_bar(T - step.t, T)}` "
            + (f"t = 0: the classifier reads x₀ as **{top}** ({chance:.0%})" if final else
               f"t = {step.t + 1}: the classifier reads x̂₀ as **{top}** ({chance:.0%})")
            + f" · p_θ: {network}"
        )  # fmt: skip
        scale = frame_scale(final)
        images = (
            show(step.x_prev, scale=scale),
            show(step.pred_x0, scale=scale),
            plot(len(shown), shown, final=final),
        )
        if final:  # files, to download; the streamed frames travel inside the stream (inline_frames)
            names = (f"xt_seed{seed}", f"x0hat_seed{seed}", f"readout_seed{seed}")
            images = rec.save(dict(zip(names, images, strict=True)))
        yield (*images, status)


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button generates one digit, streamed with the classifier's reading."""
    explanation(READOUT_EXPLAIN)
    with gr.Row():
        seed = seed_field(value=READOUT_SEED)
        run = tab.run_button()
    with result():
        status = gr.Markdown(elem_id="readout-status")
        with gr.Row(equal_height=True):
            x_t = inline_frames(image("xₜ", height=240))
            x0_hat = inline_frames(image("x̂₀", height=240))
        plot = inline_frames(plot_image("Classifier probabilities on x̂₀ over t", elem_id="readout-plot"))
    run.click(classifier_readout, [seed], [x_t, x0_hat, plot, status], api_name="classifier_readout",
              concurrency_limit=WATCHERS, show_progress="hidden")  # fmt: skip
    return Parts(Linked({"seed": seed}))
