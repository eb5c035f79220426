"""Lesson: the 2-D world, where every density, score and path is exact and computed in the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import gradio as gr

from ...serve.handlers import endpoint
from ...teaching.plane import TRAIN_SECONDS, preset_world, train_world
from ...toy.mlp import STEPS
from ...toy.plane import PRESETS, world_diffusion
from ..kit.tab import Linked, Tab
from ..kit.widgets import explanation, result, seed_field
from .plane_player import plane_player, plane_value

ID = "2d"  # the tab's id: ?view=2d
DATA = (*PRESETS, "drawn")
DEFAULT = "moons"
TRAIN_EVERY = 200  # steps between the training's reports

EXPLAIN = r"""
In two dimensions nothing is intractable: for data given as points or a Gaussian mixture, the noised
density $q(x_t)$, its score $\nabla \log q(x_t)$ (and the ideal $\hat\varepsilon = -\sqrt{1-\bar\alpha_t}\,\nabla\log q$),
the posterior over the data and the true reverse step $q(x_{t-\Delta} \mid x_t)$ all have closed forms.
Your browser computes them as you move. **Drag $x_t$**: red lines go to the points that could be its
past. Beside it, the true reverse step for the stride $\Delta$ and the Gaussian with the same mean and
covariance: equal for $\Delta = 1$, not for $\Delta = 200$ — why DDPM takes small steps.
**Launch particles**: from one point, the ODE (DDIM, $\eta = 0$) and SDE draws (ancestral), on the
exact and on the learned field. **Release 500**: every $\eta$ reaches the data by other paths.
Tick *the learned ε̂θ* to see where the small network's field is wrong (where there are no data).
Pick *drawn* to draw your own points, then train a network on them (about {seconds} s).
""".replace("{seconds}", f"{TRAIN_SECONDS:.0f}")


@endpoint(compute_thread=False)
def plane_data(name: str = DEFAULT) -> tuple[dict, gr.Button]:
    """(the player's value for the named data set, the Train button shown for drawn points)."""
    if name == "drawn":
        return {"name": "drawn"}, gr.Button(visible=True)
    if name not in PRESETS:
        raise ValueError(f"unknown 2-D data {name!r}; allowed: {', '.join(DATA)}")
    return plane_value(preset_world(name), name), gr.Button(visible=False)


def _recipe() -> str:
    """What a training's result depends on besides its points and seed (a part of its shared key)."""
    return f"toy-mlp:{STEPS}:{TRAIN_SECONDS}"


@endpoint(share="plane-train", model=_recipe, compute_thread=False)
def plane_train(points: list, seed: int = 0) -> Iterator[dict]:
    """Train the 2-D network on drawn points [[x, y], …]; streams the player's value with the
    progress and loss curve, then the trained network."""
    if not isinstance(points, list):
        raise ValueError(f"points must be a list of [x, y] pairs, got {type(points).__name__}")
    for report in train_world(points, int(seed), STEPS, TRAIN_SECONDS, TRAIN_EVERY):
        yield plane_value(report.world, "drawn", report.progress, TRAIN_EVERY)


class Parts(NamedTuple):
    player: gr.HTML
    train: gr.Button
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The lesson: the data set and t are Gradio controls (links set them); everything else is the
    player's own, in the page."""
    diffusion = world_diffusion()
    explanation(EXPLAIN)
    with gr.Row(equal_height=True):
        data = gr.Radio(list(DATA), value=DEFAULT, label="Data", scale=3, elem_id="plane-data")
        t = gr.Slider(0, diffusion.num_timesteps, value=100, step=1, label="t (0 = the data)", scale=4,
                      elem_id="plane-t", elem_classes=["timestep"])  # fmt: skip
        seed = seed_field("Training seed", scale=1, min_width=120)
        train = gr.Button("Train on my points", variant="primary", visible=False, scale=1, min_width=160,
                          elem_id="plane-train")  # fmt: skip
    with result():
        player = plane_player(t, plane_value(preset_world(DEFAULT), DEFAULT), diffusion, "plane-player")
    points = gr.JSON(visible=False, label="Drawn points")
    data.change(plane_data, data, [player, train], api_name="plane_data", show_progress="hidden")
    train.click(
        plane_train, [points, seed], player, api_name="plane_train",
        concurrency_limit=1, concurrency_id="plane-train",  # one training at a time: it uses both cores
        show_progress="hidden",
        js="(points, seed) => [document.querySelector('#plane-player .ddpm-plane').points(), seed]",
    )  # fmt: skip
    return Parts(player, train, Linked({"data": data, "t": t, "seed": seed}))
