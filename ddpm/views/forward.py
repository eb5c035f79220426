"""View 1: the forward process q(x_t | x_0) on a timestep slider."""

from __future__ import annotations

import functools
from typing import NamedTuple

import gradio as gr
import numpy as np
from gradio.data_classes import ImageData

from ..images import digit_tensor
from ..serve.handlers import endpoint
from ..serve.runtime import checkpoint_path, diffusion_cpu
from ..teaching.common import seeded_noise
from ..teaching.forward import ScheduleValues, forward_view
from . import forward_player
from .kit.plots import schedule_plot
from .kit.tab import Linked, Tab
from .kit.widgets import LATEX, inline_frames, inline_png_bytes, seed_field, show, show_noise

EQUATION = r"""
$$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad
\varepsilon \sim \mathcal{N}(0, I),\qquad \bar\alpha_t = \prod_{s=1}^{t} (1-\beta_s)$$

Drag the slider: the same $\varepsilon$ (fixed by the seed) is mixed in with a growing weight, so
you watch one continuous path from $x_0$ ($t = 0$) to almost pure noise ($t = T$).
Grey levels: black $-1$, white $+1$ (clipped); $\varepsilon$ is shown from $-3$ (black) to $+3$.
"""


def values_markdown(r: ScheduleValues) -> str:
    """The schedule's values at t as a Markdown table. Plain Unicode, no LaTeX: it changes on every slider
    move, and typesetting it each time would cost the browser more than the server spends."""
    if r.t == 0:
        return "### t = 0\nThe clean digit: ᾱ₀ = 1, no noise yet."
    return (
        f"### t = {r.t}\n"
        f"| βₜ | ᾱₜ | √ᾱₜ | √(1 − ᾱₜ) | SNR | log SNR |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {r.beta:.5f} | {r.alpha_bar:.5f} | {r.sqrt_alpha_bar:.4f} | {r.sqrt_one_minus_alpha_bar:.4f} "
        f"| {r.snr:.4g} | {r.log_snr:+.2f} |"
    )


@endpoint(compute_thread=False)  # no network: it must not wait behind a chain
def forward(digit: np.ndarray, t: int, seed: int):
    """x_t, x_0, ε, √ᾱ_t x_0, √(1 − ᾱ_t) ε, the schedule's values and its plot at the paper's t.

    The ``/forward`` endpoint for API clients; the page draws the same in the browser
    (:func:`.forward_player.forward_player`) and never calls it.
    """
    diffusion = diffusion_cpu()
    x0 = digit_tensor(digit)
    view = forward_view(diffusion, x0, int(t), seeded_noise(x0.shape, int(seed)))
    return (
        show(view.x_t),
        show(view.x0),
        show_noise(view.noise),
        show(view.signal),
        show(view.scaled_noise),
        values_markdown(view.values),
        _plot(checkpoint_path(), view.values.t),
    )


@functools.lru_cache(maxsize=1024)
def _plot(path: str, t: int) -> ImageData:
    """The schedule plot at t, encoded once: the same for every digit and seed (a palette PNG of
    about 9 kB: its RGB encoding, 25 kB, was most of a /forward call's own work)."""
    return inline_png_bytes(schedule_plot(diffusion_cpu()).png_at(t))


forward_value = endpoint(compute_thread=False)(forward_player.forward_value)
"""The forward player's x_0 and ε for a digit and a seed (:func:`.forward_player.forward_value`)."""


def api_outputs() -> list:
    """Hidden outputs of ``/forward``: its images travel inline, as PNG data URLs (no file each)."""
    images = [inline_frames(gr.Image(label=label, format="png", visible=False)) for label in
              ("xₜ = sum", "x₀ (clean)", "ε (noise)", "√ᾱₜ · x₀", "√(1−ᾱₜ) · ε")]  # fmt: skip
    table = gr.Markdown(visible=False)
    plot = inline_frames(gr.Image(label="ᾱₜ and log SNR; red line: current t", format="png", visible=False))
    return [*images, table, plot]


class Parts(NamedTuple):
    t: gr.Slider
    seed: gr.Number
    player: gr.HTML  # refreshed with :data:`forward_value` of (digit, seed) when either changes
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The tab (``tab``: its entry in :mod:`.tabs`). The slider drives the player in the page (no
    request per tick); the server sends the player a digit's x_0 and ε when the digit or the seed
    changes (and on page load: the app calls :data:`forward_value` for :attr:`Parts.player`).
    """
    diffusion = diffusion_cpu()
    T = diffusion.num_timesteps
    with gr.Row():
        t = gr.Slider(0, T, value=T // 4, step=1, label="t (0 = clean digit)", scale=4, elem_id="forward-t",
                      elem_classes=["timestep"])  # fmt: skip
        seed = seed_field("Noise seed", scale=1, elem_id="forward-seed")
        new_noise = gr.Button("New noise", scale=1, elem_id="forward-new-noise")
    player = forward_player.forward_player(
        t, forward_player.forward_value(digit.value, 0), diffusion, elem_id="forward-player"
    )
    gr.Markdown(EQUATION, latex_delimiters=LATEX)
    api = gr.Button(visible=False)
    outputs = api_outputs()
    api.click(forward, [digit, t, seed], outputs, api_name="forward")
    # a new ε or x_0 for the player: typed, "New noise", a preset or a link (all change the seed)
    refresh = {"api_visibility": "private", "show_progress": "hidden", "trigger_mode": "always_last"}
    seed.change(forward_value, [digit, seed], player, **refresh)
    digit.change(forward_value, [digit, seed], player, **refresh)
    new_noise.click(None, seed, seed, js="(s) => Number(s) + 1")
    return Parts(t, seed, player, Linked({"t": t, "seed": seed}))
