"""The chain player, for any tab: a finished chain's frames, scrubbed and played in the page.

The player is a ``gr.HTML`` whose ``js_on_load`` (``static/chain_player.js``, after the helpers of
:mod:`.inpage`) draws on canvases. The server sends it all the frames of a finished trajectory
once, as one PNG sprite sheet per series; every key press, scrub and animation frame is then drawn
in the browser without a request, so a lecture hall scrubbing chains costs the server nothing.
(The players of one tab live beside it: the forward process' in :mod:`ddpm.views.forward_player`,
the 2-D world's in :mod:`ddpm.views.lessons.plane_player`.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import gradio as gr
import numpy as np

from .encode import data_url, png_bytes
from .inpage import STATIC, icon, player_script
from .style import PLAYERS_CSS

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


DISPLAY_RANGE = (-1.0, 1.0)
"""The model's values a series shows black and white unless told otherwise (x_t, x̂_0: the data's
range; :func:`ddpm.images.to_display`)."""


def chain_value(series: Mapping[str, np.ndarray], times: Sequence[int], label: str = "t",
                start: int = 0, ranges: Mapping[str, tuple[float, float]] | None = None) -> dict:  # fmt: skip
    """A chain player's data: named series of N frames each, shown together frame by frame.

    Args:
        series: name -> uint8 frames [N, H, W] (grey, 0 = black), the same N for every series; a
            series' frames share one size (e.g. 28×28 digits, or grids of a batch).
        times: a label per frame, N integers (e.g. the paper's t of each frame).
        label: what ``times`` counts, shown as "label = times[k]".
        start: the frame shown first.
        ranges: name -> (low, high), the values of the series' quantity drawn black and white
            (ε̂: ±:data:`.widgets.NOISE_RANGE`); a series not named takes :data:`DISPLAY_RANGE`.

    Returns:
        ``{"label", "times", "start", "series": [{"name", "height", "width", "range", "per_block", "sheet"}]}``
        with ``sheet`` a PNG data URL of :func:`sprite_sheet`'s layout: 1000 frames of an exact reverse
        chain (28×28) take about 0.65 MB of base64, the forward process' 0.15 MB. An empty
        ``series`` is an empty chain (the player shows its hint).
    """
    times = [int(t) for t in times]
    if not 0 <= start < max(1, len(times)):
        raise ValueError(f"start must be a frame index in [0, {len(times) - 1}], got {start}")
    ranges = dict(ranges or {})
    if unknown := set(ranges) - set(series):
        raise ValueError(f"ranges name series {sorted(unknown)} that the chain does not have: {list(series)}")
    entries = []
    for name, frames in series.items():
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 3 or len(frames) != len(times) or not len(frames):
            raise ValueError(
                f"series {name!r} must be uint8 frames [N, H, W] with N = len(times) = {len(times)} >= 1, "
                f"got dtype {frames.dtype} and shape {frames.shape}"
            )
        sheet, per_block = sprite_sheet(frames)
        low, high = (float(v) for v in ranges.get(name, DISPLAY_RANGE))
        if not low < high:
            raise ValueError(f"series {name!r}'s range must have low < high, got ({low}, {high})")
        entries.append({"name": name, "height": frames.shape[1], "width": frames.shape[2], "range": [low, high],
                        "per_block": per_block, "sheet": data_url(png_bytes(sheet, PNG_LEVEL))})  # fmt: skip
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
