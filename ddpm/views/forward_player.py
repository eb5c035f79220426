"""The forward process' player: q(x_t | x_0) on the forward tab's slider, drawn in the page.

A ``gr.HTML`` whose ``js_on_load`` (``static/forward_player.js``, after the helpers of
:mod:`.kit.inpage`) draws on canvases. The server sends it the schedule's tables when the page is
built (:func:`schedule_tables`) and a digit's x_0 and ε when the digit or the seed changes
(:func:`forward_value`); every slider tick and key press is then drawn in the browser without a
request, so a lecture hall dragging sliders costs the server nothing.

The page computes only x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (and its two terms) in float32, and the grey
levels of :func:`ddpm.images.to_display`, both replicated operation by operation (``Math.fround``
after each float32 operation, round half to even); ``tests/browser/test_forward_page.py`` pins them to
the core. Arrays travel as base64 little-endian floats (:func:`.kit.inpage.base64_array`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from ..diffusion import GaussianDiffusion
from ..images import digit_tensor
from ..teaching.common import seeded_noise
from ..teaching.forward import ScheduleValues, schedule_values
from .kit.inpage import base64_array, icon, player_script
from .kit.style import PLAYERS_CSS

STATIC = Path(__file__).with_name("static")
"""This module's neighbour ``static/``: the forward player's script."""

READOUT = ("beta", "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar", "snr", "log_snr")
"""The :class:`ScheduleValues` fields the forward player shows (its readout and its plot)."""
assert set(READOUT) <= set(ScheduleValues._fields)


def schedule_tables(diffusion: GaussianDiffusion) -> dict[str, str | int]:
    """What the forward player reads at each t, computed once per checkpoint (base64 arrays).

    ``sqrt_alphas_cumprod`` and ``sqrt_one_minus_alphas_cumprod``: the core's float32 tables [T] that
    :meth:`~ddpm.diffusion.GaussianDiffusion.q_sample` uses (index t − 1 for the paper's t). The
    :data:`READOUT` fields: :func:`~ddpm.teaching.forward.schedule_values` at every paper t in
    [0, T], float64 [T + 1] (at t = 0: β = 0, ᾱ = 1, SNR = log SNR = +inf).
    """
    T = diffusion.num_timesteps
    values = [schedule_values(diffusion, t) for t in range(T + 1)]
    readout = {name: base64_array(np.array([getattr(v, name) for v in values]), "<f8") for name in READOUT}
    return {
        "T": T,
        "sqrt_alphas_cumprod": base64_array(diffusion.sqrt_alphas_cumprod, "<f4"),
        "sqrt_one_minus_alphas_cumprod": base64_array(diffusion.sqrt_one_minus_alphas_cumprod, "<f4"),
        **readout,
    }


def forward_value(digit: np.ndarray, seed: int) -> dict[str, str | int]:
    """The forward player's data for a digit and a noise seed: x_0 and ε, float32 [28 · 28] in base64.

    x_0 = :func:`~ddpm.images.digit_tensor` (in [−1, 1]) and ε =
    :func:`~ddpm.teaching.common.seeded_noise` of its shape, exactly as :func:`.forward.forward`
    draws them; about 8 kB.
    """
    x0 = digit_tensor(digit)
    noise = seeded_noise(x0.shape, int(seed))
    height, width = x0.shape[-2:]
    return {"height": height, "width": width, "seed": int(seed), "x0": base64_array(x0, "<f4"),
            "eps": base64_array(noise, "<f4")}  # fmt: skip


FORWARD_HTML = f"""
<div class="ddpm-forward">
  <button type="button" class="fullscreen" title="Fullscreen" aria-label="Fullscreen">{icon("fullscreen")}</button>
  <div class="panels">
    <figure><canvas data-image="x0" width="28" height="28"></canvas><figcaption>x₀ (clean)</figcaption></figure>
    <figure><canvas data-image="eps" width="28" height="28"></canvas><figcaption>ε (noise)</figcaption></figure>
    <div class="sum">
      <figure><canvas data-image="signal" width="28" height="28"></canvas>
        <figcaption>√ᾱₜ · x₀ <span class="weight" data-weight="signal"></span></figcaption></figure>
      <span class="op">+</span>
      <figure><canvas data-image="scaled" width="28" height="28"></canvas>
        <figcaption>√(1−ᾱₜ) · ε <span class="weight" data-weight="scaled"></span></figcaption></figure>
      <span class="op">=</span>
      <figure class="result"><canvas data-image="xt" width="28" height="28"></canvas>
        <figcaption>xₜ = sum</figcaption></figure>
    </div>
  </div>
  <div class="lower">
    <div class="readout">
      <h3 class="readout-t"></h3>
      <p class="clean">The clean digit: ᾱ₀ = 1, no noise yet.</p>
      <table><thead><tr><th>βₜ</th><th>ᾱₜ</th><th>√ᾱₜ</th><th>√(1 − ᾱₜ)</th><th>SNR</th><th>log SNR</th></tr></thead>
        <tbody><tr><td data-value="beta"></td><td data-value="alpha_bar"></td><td data-value="sqrt_alpha_bar"></td>
          <td data-value="sqrt_one_minus_alpha_bar"></td><td data-value="snr"></td><td data-value="log_snr"></td></tr></tbody>
      </table>
    </div>
    <figure class="schedule"><canvas class="plot" aria-label="ᾱₜ and log SNR over t"></canvas>
      <figcaption>ᾱₜ (solid) and log SNR (dashed) over t; red line: current t</figcaption></figure>
  </div>
</div>
"""


def forward_player(slider: gr.Slider, value: dict, diffusion: GaussianDiffusion, elem_id: str) -> gr.HTML:
    """The forward process at ``slider``'s t, drawn in the page: x_0, ε, √ᾱ_t x_0, √(1 − ᾱ_t) ε and
    x_t (28×28 canvases, upscaled crisply), the schedule's values and a plot of ᾱ_t and log SNR.

    ``value``: :func:`forward_value` (send a new one when the digit or the seed changes).
    ``slider`` must have an ``elem_id``. The player listens to its input events itself (drags and
    keys, drawn within the event); a ``change`` listener with no Python function (so no request)
    redraws it when the value is set without one (a deep link, a preset).
    """
    player = gr.HTML(
        value,
        html_template=FORWARD_HTML,
        css_template=PLAYERS_CSS,
        js_on_load=player_script(STATIC / "forward_player.js"),
        elem_id=elem_id,
        slider=slider.elem_id,
        tables=schedule_tables(diffusion),
    )
    slider.change(None, slider, None, js=f"(t) => {{ document.querySelector('#{elem_id} .ddpm-forward')?.show?.(t); }}")  # fmt: skip
    return player
