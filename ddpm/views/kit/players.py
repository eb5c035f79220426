"""Players that run in the page: the forward process on its slider, and a finished chain to scrub.

Each player is a ``gr.HTML`` whose ``js_on_load`` (the scripts in ``static/``) draws on canvases.
The server sends a player its data once: the forward player gets the schedule's tables when the
page is built and a digit's x_0 and ε when the digit or the seed changes; a chain player gets all
the frames of a finished trajectory. Every slider tick, key press and animation frame is then drawn
in the browser without a request, so a lecture hall dragging sliders costs the server nothing.

The page computes only x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (and its two terms) in float32, and the grey
levels of :func:`ddpm.images.to_display`, both replicated operation by operation (``Math.fround``
after each float32 operation, round half to even); ``tests/test_browser.py`` pins them to the core.
Arrays travel as base64 little-endian floats; a chain's frames as one PNG sprite sheet per series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import gradio as gr
import numpy as np

from ...diffusion import GaussianDiffusion
from ...images import digit_tensor
from ...teaching.common import seeded_noise
from ...teaching.forward import ScheduleValues, schedule_values
from .encode import data_url, png_bytes
from .inpage import STATIC, base64_array, icon, player_script
from .style import PLAYERS_CSS

READOUT = ("beta", "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar", "snr", "log_snr")
"""The :class:`ScheduleValues` fields the forward player shows (its readout and its plot)."""
assert set(READOUT) <= set(ScheduleValues._fields)


# -- the forward process -------------------------------------------------------------------------


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


# -- a finished chain ----------------------------------------------------------------------------


PNG_LEVEL = 6  # zlib level of the sheets: 1000 frames of an exact reverse chain take 484 kB in 0.15 s (551 kB in 0.05 s at 1)


def sprite_sheet(frames: np.ndarray) -> tuple[np.ndarray, int]:
    """Frames uint8 [N, H, W] as one sheet uint8 [H · F, ceil(N / F) · W], F frames a block.

    Blocks of F frames sit side by side; inside one, frame k's row i is the sheet's row i · F + k % F
    (in the block k // F): a frame's pixel lies just below the same pixel of the frame before it.
    PNG's Up filter then stores a chain's small changes from step to step, not each frame afresh
    (an exact reverse chain of 1000 28×28 frames: 484 kB against 636 kB tiled frame by frame).
    F makes the sheet about square. Returns the sheet and F; empty places are 0.
    """
    n, height, width = frames.shape
    per_block = max(1, min(n, math.ceil(math.sqrt(n * width / height))))
    blocks = math.ceil(n / per_block)
    padded = np.zeros((blocks * per_block, height, width), dtype=np.uint8)
    padded[:n] = frames
    sheet = padded.reshape(blocks, per_block, height, width).transpose(2, 1, 0, 3)
    return np.ascontiguousarray(sheet.reshape(height * per_block, blocks * width)), per_block


def chain_value(series: Mapping[str, np.ndarray], times: Sequence[int], label: str = "t",
                start: int = 0) -> dict:  # fmt: skip
    """A chain player's data: named series of N frames each, shown together frame by frame.

    Args:
        series: name -> uint8 frames [N, H, W] (grey, 0 = black), the same N for every series; a
            series' frames share one size (e.g. 28×28 digits, or grids of a batch).
        times: a label per frame, N integers (e.g. the paper's t of each frame).
        label: what ``times`` counts, shown as "label = times[k]".
        start: the frame shown first.

    Returns:
        ``{"label", "times", "start", "series": [{"name", "height", "width", "per_block", "sheet"}]}``
        with ``sheet`` a PNG data URL of :func:`sprite_sheet`'s layout: 1000 frames of an exact reverse
        chain (28×28) take about 0.65 MB of base64, the forward process' 0.15 MB. An empty
        ``series`` is an empty chain (the player shows its hint).
    """
    times = [int(t) for t in times]
    if not 0 <= start < max(1, len(times)):
        raise ValueError(f"start must be a frame index in [0, {len(times) - 1}], got {start}")
    entries = []
    for name, frames in series.items():
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 3 or len(frames) != len(times) or not len(frames):
            raise ValueError(
                f"series {name!r} must be uint8 frames [N, H, W] with N = len(times) = {len(times)} >= 1, "
                f"got dtype {frames.dtype} and shape {frames.shape}"
            )
        sheet, per_block = sprite_sheet(frames)
        entries.append({"name": name, "height": frames.shape[1], "width": frames.shape[2], "per_block": per_block,
                        "sheet": data_url(png_bytes(sheet, PNG_LEVEL))})  # fmt: skip
    return {"label": label, "times": times, "start": int(start), "series": entries}


CHAIN_HTML = f"""
<div class="ddpm-chain empty" tabindex="0">
  <p class="hint">${{hint}}</p>
  <div class="strip"></div>
  <div class="controls">
    <button type="button" data-action="first" title="First frame" aria-label="First frame">{icon("first")}</button>
    <button type="button" data-action="prev" title="Previous frame (←)" aria-label="Previous frame">{icon("prev")}</button>
    <button type="button" data-action="play" title="Play / pause (space)" aria-label="Play or pause">{icon("play", "play")}{icon("pause", "pause")}</button>
    <button type="button" data-action="next" title="Next frame (→)" aria-label="Next frame">{icon("next")}</button>
    <button type="button" data-action="last" title="Last frame" aria-label="Last frame">{icon("last")}</button>
    <div class="scrub"><input type="range" min="0" max="0" step="1" value="0" aria-label="Frame"></div>
    <span class="time"></span>
    <select class="speed" aria-label="Frames per second" title="Frames per second">
      <option value="10">10 fps</option><option value="30" selected>30 fps</option>
      <option value="100">100 fps</option><option value="300">300 fps</option>
    </select>
    <button type="button" class="fullscreen" title="Fullscreen" aria-label="Fullscreen">{icon("fullscreen")}</button>
  </div>
</div>
"""


def chain_player(elem_id: str, hint: str = "Run the chain to see its frames here.", height: int = 224,
                 value: dict | None = None) -> gr.HTML:  # fmt: skip
    """A player for a finished chain (its value: :func:`chain_value`, or None for the hint).

    Scrubber, play / pause, step buttons and ← / → (Shift: 10 frames) when it has focus; with
    frames, its scrubber is also a ``.timestep`` slider, so the page's ← / → (:data:`.style.JS`) step it
    when it is the first visible one. Frames are drawn ``height`` pixels high, crisp.
    """
    return gr.HTML(
        value,
        html_template=CHAIN_HTML,
        css_template=PLAYERS_CSS,
        js_on_load=player_script(STATIC / "chain_player.js"),
        elem_id=elem_id,
        hint=hint,
        size=int(height),
    )
