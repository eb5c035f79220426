"""The 2-D world's data for the page (ddpm.views.lessons.plane_player) and its handlers
(ddpm.views.lessons.plane)."""

import base64

import gradio as gr
import numpy as np
import pytest
import torch

from ddpm.teaching.plane import ERROR_TIMES, preset_world
from ddpm.toy import mlp, plane
from ddpm.unet import timestep_embedding
from ddpm.views.lessons import plane as lesson
from ddpm.views.lessons.plane_player import network_value, plane_tables, plane_value


def decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


@pytest.mark.parametrize("name", ["circle", "moons"])
def test_a_presets_value_is_its_data_and_network_exactly(name):
    world = preset_world(name)
    value = plane_value(world, name)
    assert value["name"] == name
    assert np.array_equal(decode(value["weights"], "<f8"), world.data.weights)
    assert np.array_equal(decode(value["means"], "<f8").reshape(-1, 2), world.data.means)
    assert np.array_equal(decode(value["covs"], "<f8").reshape(-1, 2, 2), world.data.covs)
    layers = [*world.model.hidden, world.model.out]
    assert len(value["network"]["layers"]) == len(layers)
    for sent, layer in zip(value["network"]["layers"], layers, strict=True):
        assert (sent["rows"], sent["cols"]) == tuple(layer.weight.shape)
        assert np.array_equal(
            decode(sent["w"], "<f4").reshape(layer.weight.shape), layer.weight.detach().numpy()
        )
        assert np.array_equal(decode(sent["b"], "<f4"), layer.bias.detach().numpy())
    assert value["error"]["ts"] == list(ERROR_TIMES) and len(value["error"]["values"]) == len(ERROR_TIMES)
    assert "points" not in value and "training" not in value


def test_the_sent_frequencies_rebuild_the_unets_time_embedding():
    model = mlp.ToyMLP(mlp.ToyMLPConfig(time_dim=16))
    sent = network_value(model)
    freqs = torch.from_numpy(decode(sent["freqs"], "<f4").copy())
    t = torch.tensor([0, 1, 17, 999])
    args = (t.float() * sent["scale"])[:, None] * freqs[None]
    assert torch.equal(torch.cat([args.sin(), args.cos()], 1), timestep_embedding(t, 16, 1000))


def test_the_tables_are_the_cores_float32_tables():
    diffusion = plane.world_diffusion()
    tables = plane_tables(diffusion)
    assert tables["T"] == 1000 and tables["extent"] == plane.EXTENT
    for name in ("alphas_cumprod", "sqrt_recip_alphas_cumprod", "posterior_variance", "posterior_mean_coef2"):
        assert np.array_equal(decode(tables[name], "<f4"), getattr(diffusion, name).numpy())


def test_a_drawn_value_carries_its_points_and_a_trainings_progress():
    points = [[0.0, 0.5], [1.0, -1.0], [-0.5, 0.25]]
    *_, last = lesson.train_world(points, steps=40, log_every=20)
    assert last.progress.done and last.world is not None
    value = plane_value(last.world, "drawn", last.progress, 20)
    assert value["points"] == points
    assert value["training"] == {"step": 40, "total": 40, "losses": last.progress.losses,
                                 "seconds": last.progress.seconds, "done": True, "every": 20}  # fmt: skip
    assert "network" in value and len(value["error"]["values"]) == len(ERROR_TIMES)


def test_the_data_handler_sends_a_preset_and_hides_or_shows_training():
    value, button = lesson.plane_data("spiral")
    assert value["name"] == "spiral" and "network" in value and button.visible is False
    value, button = lesson.plane_data("drawn")
    assert value == {"name": "drawn"} and button.visible is True
    with pytest.raises(gr.Error, match="swiss"):
        lesson.plane_data("swiss")
