"""The 2-D world's player (the lesson :mod:`.plane`'s): a ``gr.HTML`` whose script computes and draws it all.

Its script is the kit's helpers (:func:`..kit.inpage.player_script`), then ``static/plane_maths.js``
(every number: ddpm.toy's densities, posteriors, reverse steps, sampler steps and network, ported
with the core's names and pinned to it by the browser tests), then the drawing, which uses the
maths: ``static/plane_draw.js`` (the state on screen, the main plane and the reverse step),
``static/plane_panels.js`` (the particles, the error curve, the training) and
``static/plane_controls.js`` (the pointer and the controls).

The server sends the schedule's tables once, when the page is built (:func:`plane_tables`), and a
data set with its network once per data set (:func:`plane_value`); every drag of x_t, click,
slider tick and animation frame is then computed in the page, so a room of students exploring the
plane costs the server one page load each. Numbers travel as base64 little-endian arrays: the
core's float32 tables and weights exactly, the data in float64.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ...diffusion import GaussianDiffusion
from ...teaching.plane import ERROR_TIMES, World
from ...toy import mlp, plane
from ...unet import timestep_frequencies
from ..kit.inpage import base64_array, icon, player_script
from ..kit.style import PLAYERS_CSS

STATIC = Path(__file__).with_name("static")
"""This module's neighbour ``static/``: the 2-D world's scripts."""
SCRIPTS = ("plane_maths.js", "plane_draw.js", "plane_panels.js", "plane_controls.js")
"""The player's own scripts, in the order its ``js_on_load`` runs them: the maths, then the drawing
(each file uses what the files before it declare)."""


def plane_tables(diffusion: GaussianDiffusion) -> dict:
    """The core's float32 tables [T] the page's samplers read (index t − 1 for the paper's t), T,
    the plane's half-width and the most points a drawing may have."""
    names = ("alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
             "posterior_mean_coef1", "posterior_mean_coef2", "posterior_variance")  # fmt: skip
    return {"T": diffusion.num_timesteps, "extent": plane.EXTENT, "max_points": plane.MAX_POINTS,
            **{name: base64_array(getattr(diffusion, name), "<f4") for name in names}}  # fmt: skip


def network_value(model: mlp.ToyMLP) -> dict:
    """The network for the page's forward pass: each Linear's float32 weight [rows, cols] and bias,
    the time embedding's float32 frequencies (:func:`ddpm.unet.timestep_frequencies`) and the index's scale 1000 / T."""
    freqs = timestep_frequencies(model.config.time_dim)
    layers = [*model.hidden, model.out]
    return {
        "freqs": base64_array(freqs, "<f4"),
        "scale": 1000.0 / model.timesteps,
        "layers": [
            {
                "w": base64_array(layer.weight, "<f4"),
                "b": base64_array(layer.bias, "<f4"),
                "rows": layer.out_features,
                "cols": layer.in_features,
            }
            for layer in layers
        ],
    }


def plane_value(world: World | None, name: str, training: mlp.Progress | None = None, every: int = 1) -> dict:
    """What the page needs of a data set: its mixture (weights [K], means [K, 2], covariances
    [K, 2, 2], float64), its network (:func:`network_value`, or None) and that network's error
    over t; for drawn points also the points, and during a training its progress."""
    value: dict = {"name": name}
    if world is not None:
        data = world.data
        value |= {"weights": base64_array(data.weights, "<f8"), "means": base64_array(data.means, "<f8"),
                  "covs": base64_array(data.covs, "<f8")}  # fmt: skip
        if name == "drawn":
            value["points"] = data.means.tolist()
        if world.model is not None:
            value["network"] = network_value(world.model)
        if world.error is not None:
            value["error"] = {"ts": list(ERROR_TIMES), "values": [float(e) for e in world.error]}
    if training is not None:
        value["training"] = {"step": training.step, "total": training.total, "losses": training.losses,
                             "seconds": training.seconds, "done": training.done, "every": every}  # fmt: skip
    return value


PLANE_HTML = f"""
<div class="ddpm-plane" tabindex="-1">
  <button type="button" class="fullscreen" title="Fullscreen" aria-label="Fullscreen">{icon("fullscreen")}</button>
  <div class="bar">
    <fieldset><legend>Mouse or finger</legend>
      <label><input type="radio" name="mode" value="explore" checked> drag xₜ</label>
      <label><input type="radio" name="mode" value="launch"> launch particles</label>
      <label class="draw-only"><input type="radio" name="mode" value="draw"> draw points</label>
    </fieldset>
    <fieldset><legend>Arrows</legend>
      <label><input type="radio" name="arrows" value="score" checked> −ε̂ (along the score)</label>
      <label><input type="radio" name="arrows" value="eps"> ε̂</label>
      <label><input type="radio" name="arrows" value="none"> none</label>
      <label><input type="checkbox" class="learned"> and the learned ε̂θ</label>
    </fieldset>
    <label class="range">step Δ = <span class="delta-value">1</span>
      <input type="range" class="delta" min="1" max="1000" step="1" value="1" aria-label="Reverse step size Δ"></label>
    <label class="range">η = <span class="eta-value">0.00</span>
      <input type="range" class="eta" min="0" max="1" step="0.05" value="0" aria-label="DDIM η"></label>
    <button type="button" class="cloud">Release 500 particles</button>
    <button type="button" class="clear draw-only">Clear points</button>
  </div>
  <div class="panels">
    <figure class="main"><canvas data-plot="plane" aria-label="q(x_t) and its field"></canvas>
      <figcaption>q(xₜ), the data's density noised to t (darker: denser), with the exact field;
        red lines: the pasts of xₜ, as thick as their posterior weight</figcaption>
      <p class="pasts-text"></p></figure>
    <div class="side">
      <div class="pair">
        <figure><canvas data-plot="step" aria-label="The true reverse step"></canvas>
          <figcaption>true q(xₜ₋Δ | xₜ) (± the window around its mean)</figcaption></figure>
        <figure><canvas data-plot="gauss" aria-label="The Gaussian with the same mean and covariance"></canvas>
          <figcaption>Gaussian, same mean and covariance</figcaption></figure>
      </div>
      <p class="step-text"></p>
      <div class="pair">
        <figure><canvas data-plot="exact" aria-label="Particles on the exact field"></canvas></figure>
        <figure><canvas data-plot="learned" aria-label="Particles on the learned field"></canvas></figure>
      </div>
      <p class="particles-text"></p>
      <figure class="wide"><canvas data-plot="error" aria-label="The learned field's error over t"></canvas></figure>
      <div class="training" hidden>
        <progress max="1" value="0"></progress><p class="training-text"></p>
        <canvas data-plot="loss" aria-label="Training loss"></canvas>
      </div>
    </div>
  </div>
</div>
"""


def plane_player(slider: gr.Slider, value: dict, diffusion: GaussianDiffusion, elem_id: str) -> gr.HTML:
    """The 2-D world at ``slider``'s t, computed and drawn in the page.

    ``value``: :func:`plane_value` (send a new one when the data set changes or a training reports).
    ``slider`` must have an ``elem_id``; the player listens to its input events itself, and a
    ``change`` listener without a Python function (so without a request) shows a t set otherwise.
    """
    script = player_script(*(STATIC / name for name in SCRIPTS))
    player = gr.HTML(value, html_template=PLANE_HTML, css_template=PLAYERS_CSS, js_on_load=script, elem_id=elem_id,
                     slider=slider.elem_id, tables=plane_tables(diffusion))  # fmt: skip
    slider.change(None, slider, None, js=f"(t) => {{ document.querySelector('#{elem_id} .ddpm-plane')?.show?.(t); }}")  # fmt: skip
    return player
