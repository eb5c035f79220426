"""Lesson: why not learn the true reverse? 16 generations of the exact reverse of the training set
beside 16 of p_θ, from the same x_T with the same z, each set beside its nearest training digits."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from ...images import upscale
from ...serve.handlers import endpoint
from ...serve.runtime import learned_reverse, test_distances, training_set, true_reverse
from ...serve.settings import WATCHERS
from ...teaching.memorisation import GENERATIONS, SUBSETS, Copies, copies, pairs_image, side_by_side, spread
from ..kit.plots import copies_plot
from ..kit.recording import Recording
from ..kit.tab import Linked, Tab
from ..kit.widgets import (
    LATEX,
    explanation,
    image,
    inline_frames,
    plot_image,
    progress_bar,
    result,
    seed_field,
    show_grid,
    waiting_status,
)
from ..kit.words import network_words

EXPLAIN = r"""
**Why not learn the true reverse?** The source texts call the reverse step $q(x_{t-1} \mid x_t) = \int q(x_{t-1} \mid x_t, x_0)\, q(x_0 \mid x_t)\, dx_0$
**intractable**, because it integrates over the data distribution, and train a network $p_\theta$ to approximate
it. But the network never sees the data distribution: it sees the training set. For those $N$ digits $x^1 \dots x^N$
the integral is a finite sum, and exact: $q(x_{t-1} \mid x_t) = \sum_i w_i\, \mathcal N(\tilde\mu_t(x_t, x^i), \tilde\beta_t I)$
with $w_i \propto \exp(-\|x_t - \sqrt{\bar\alpha_t}\, x^i\|^2 / 2(1-\bar\alpha_t))$. A network that minimised its training
loss exactly would *be* this sum. Follow it from noise and it ends on a training digit, every time: **it memorises**.
Below, 16 chains of it and 16 of $p_\theta$ start from the same $x_T$ and add the same $z$ at every step. The true
reverse copies; $p_\theta$, which does not learn its training set's true reverse, draws digits nobody wrote
(Kadkhodaie et al., ICLR 2024; Kamb & Ganguli, 2024). "Copy" means closer to a training digit than any of the 100
bundled test digits is to one. With fewer training digits the copies are easier to see, and it still copies.
"""

SUBSET_CHOICES = [
    ("10 digits", 10),
    ("100", 100),
    ("1,000", 1_000),
    ("all 60,000 (about 2 min on 2 cores)", 60_000),
]
DEFAULT_SUBSET = 1_000


def _waiting(position: int, seconds: float) -> tuple:
    return (
        gr.skip(),
        gr.skip(),
        gr.skip(),
        gr.skip(),
        gr.skip(),
        gr.skip(),
        waiting_status(position, seconds),
    )


def pairs(images: Any, nearest: Copies, training: Any) -> np.ndarray:
    """Each generation [n, 1, 28, 28] above its nearest training digit, as one picture, 3× for the page."""
    near = training.images[[n.index for n in nearest.novelty]].numpy()
    return upscale(pairs_image(images, near), 3)


def _report(name: str, found: Copies) -> str:
    distances = ", ".join(f"{d:.2f}" for d in found.distances)
    return f"**{name}: {found.copied} of {len(found.novelty)} are copies.** Distances to their nearest training digits: {distances}."


@endpoint("memorisation", gpu_seconds=180, waiting=_waiting)
def memorisation(seed: int = 0, subset: int = DEFAULT_SUBSET):
    """Stream both kinds of generation (grids of x_t), then each above its nearest training digits,
    the distances beside the test digits' and how many are copies."""
    subset = int(subset)
    if subset not in SUBSETS:
        raise ValueError(
            f"the training set's size must be one of {', '.join(map(str, SUBSETS))}, got {subset}"
        )
    rt = learned_reverse(False)
    T, seed = rt.diffusion.num_timesteps, int(seed)
    steps = side_by_side(true_reverse(subset), rt.model, GENERATIONS, seed, rt.model.config.parameterization,
                         rt.model.config.variance)  # fmt: skip
    rec = Recording()

    def closing(last) -> tuple[Copies, Copies]:  # on the compute thread: how near each kind's x_0 lie
        full, labels, test = true_reverse(), training_set().labels, test_distances()
        return copies(full, labels, last.truth.x_prev, test), copies(full, labels, last.learned.x_prev, test)

    for shot in rec.run(steps, closing=closing):
        step = shot.step
        done = T - step.truth.t
        status = f"`{progress_bar(done, T)}` t = {step.truth.t + 1} · step {done} of {T}"
        if not shot.last:
            yield show_grid(step.truth.x_t), show_grid(step.learned.x_t), None, None, None, "", status
    truth, learned = shot.extra
    training, test = training_set(), test_distances()
    held_out = spread(test)
    label = f"true reverse ({subset:,})"
    text = "\n\n".join([
        _report(f"The true reverse of {subset:,} training digits", truth),
        _report(f"p_θ, {network_words(rt.model.config)}", learned),
        f"The 100 bundled test digits lie {held_out.low:.2f}–{held_out.high:.2f} from their nearest training digits"
        f" (median {held_out.median:.2f}): a digit at least that far away is as new as a handwritten one.",
    ])  # fmt: skip
    plot = copies_plot({"test digits": test.numpy(), label: truth.distances, "p_θ": learned.distances})
    images = {
        f"true_reverse_seed{seed}_n{subset}": show_grid(step.truth.x_prev),
        f"p_theta_seed{seed}_n{subset}": show_grid(step.learned.x_prev),
        f"true_reverse_nearest_seed{seed}_n{subset}": pairs(step.truth.x_prev, truth, training),
        f"p_theta_nearest_seed{seed}_n{subset}": pairs(step.learned.x_prev, learned, training),
        f"distances_seed{seed}_n{subset}": plot,
    }
    yield (
        *rec.save(images),
        text,
        f"`{progress_bar(T, T)}` done: {T} steps of both kinds from the same $x_T$ and the same $z$.",
    )


class Parts(NamedTuple):
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: its Run button generates 16 of each kind, streamed, then sets them beside the training set."""
    explanation(EXPLAIN)
    with gr.Row(equal_height=True):
        seed = seed_field(value=0, elem_id="memorisation-seed")
        subset = gr.Radio(SUBSET_CHOICES, value=DEFAULT_SUBSET, label="True reverse over the first … training digits",
                          scale=3, elem_id="memorisation-subset")  # fmt: skip
        run = tab.run_button()
    with result():
        status = gr.Markdown(latex_delimiters=LATEX, elem_id="memorisation-status")
        with gr.Row(equal_height=True):
            truth = inline_frames(
                image("True reverse of the training set: 16 chains", height=300, elem_id="memorisation-truth")
            )
            learned = inline_frames(
                image("p_θ: 16 chains, same x_T, same z", height=300, elem_id="memorisation-learned")
            )
        truth_pairs = image(
            "True reverse: each generation (top) above its nearest training digit", height=140
        )
        learned_pairs = image("p_θ: each generation (top) above its nearest training digit", height=140)
        plot = plot_image("Distances to the nearest training digit", elem_id="memorisation-plot")
        text = gr.Markdown(latex_delimiters=LATEX, elem_id="memorisation-text")
    outputs = [truth, learned, truth_pairs, learned_pairs, plot, text, status]
    run.click(memorisation, [seed, subset], outputs, api_name="memorisation", concurrency_limit=WATCHERS,
              show_progress="hidden")  # fmt: skip
    return Parts(Linked({"seed": seed, "subset": subset}))
