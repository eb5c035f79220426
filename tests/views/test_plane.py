"""The 2-D world's data for the page and its script (ddpm.views.lessons.plane_player), and its
handlers (ddpm.views.lessons.plane)."""

import base64
import json
import re
import shutil
import subprocess

import gradio as gr
import numpy as np
import pytest
import torch

from ddpm.sampling import ddim_timesteps
from ddpm.teaching.plane import ERROR_TIMES, preset_world
from ddpm.toy import mlp, plane
from ddpm.unet import timestep_embedding
from ddpm.views.kit.inpage import COMMON_JS, player_script
from ddpm.views.lessons import plane as lesson
from ddpm.views.lessons import plane_player as player
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


# -- the player's script: its maths (pinned to ddpm.toy), then its drawing ---------------------------


def without_comments(js: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", js, flags=re.S)


def test_the_players_script_is_the_kits_helpers_then_its_maths_then_its_drawing():
    diffusion = plane.world_diffusion()
    with gr.Blocks():
        t = gr.Slider(0, 1000, elem_id="t")
        html = player.plane_player(t, plane_value(preset_world("moons"), "moons"), diffusion, "p")
    assert player.SCRIPTS == ("plane_maths.js", "plane_draw.js", "plane_panels.js", "plane_controls.js")
    assert html.js_on_load == player_script(*(player.STATIC / name for name in player.SCRIPTS))
    assert html.js_on_load.startswith(COMMON_JS.read_text())


def test_the_maths_draws_nothing_and_is_all_that_the_browser_tests_pin():
    maths = without_comments((player.STATIC / "plane_maths.js").read_text())
    drawing = "\n".join(without_comments((player.STATIC / name).read_text()) for name in player.SCRIPTS[1:])
    page = re.findall(r"\b(element|document|window|state|canvas|getContext|requestAnimationFrame)\b", maths)
    assert not page, page  # no page, no state on screen: functions of numbers only
    (api,) = re.findall(r"root\.api = \{([^}]*)\}", drawing)
    names = {name.strip() for name in api.split(",")} - {"launch", "releaseCloud", "load", "state"}
    defined = set(re.findall(r"^function (\w+)\(", maths, flags=re.M))
    assert len(names) > 10 and names <= defined, sorted(names - defined)
    assert not set(re.findall(r"^function (\w+)\(", drawing, flags=re.M)) & defined  # each defined once


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_maths_runs_without_a_page_and_gives_the_cores_numbers(tmp_path):
    """plane_maths.js alone (after common.js), in Node: no element, no canvas."""
    diffusion, data = plane.world_diffusion(), preset_world("moons").data
    value = plane_value(preset_world("moons"), "moons")
    points = [[0.0, 0.0], [0.6, -0.4], [-1.5, 1.2]]
    maths = player_script(player.STATIC / "plane_maths.js")
    script = f"""const run = new Function("props", {json.dumps(maths)} + `
      const data = mixture(props.value), out = {{}};
      for (const t of [1, 300, 1000]) {{
        const ab = alphaBar(t), m = marginal(data, ab);
        out[t] = {{ab, eps: props.points.map(([x, y]) => exactEps(m, ab, x, y)),
                  log: props.points.map(([x, y]) => evaluate(m, x, y).logDensity)}};
      }}
      out.timesteps = ddimTimesteps(999, 7);
      return out;`);
    console.log(JSON.stringify(run(JSON.parse(require("fs").readFileSync(0, "utf8")))));"""
    (tmp_path / "maths.js").write_text(script)
    props = {"tables": player.plane_tables(diffusion), "value": value, "points": points}
    out = subprocess.run([NODE, str(tmp_path / "maths.js")], input=json.dumps(props), capture_output=True,
                         text=True, check=True, timeout=60)  # fmt: skip
    got = json.loads(out.stdout)
    for t in (1, 300, 1000):
        ab = plane.alpha_bar_at(diffusion, t)
        assert got[str(t)]["ab"] == ab
        x = np.array(points)
        np.testing.assert_allclose(got[str(t)]["eps"], plane.eps(data, ab, x), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got[str(t)]["log"], plane.log_density(data, ab, x), rtol=1e-10)
    assert got["timesteps"] == ddim_timesteps(999, 7)
