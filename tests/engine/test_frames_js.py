"""The page's pictures (ddpm/views/kit/static/engine/frames.js) against the core's: the grey levels
of a range (ddpm.images.to_display), a batch's grid (make_grid, kit.widgets.show_grid), the player's
sprite sheets (kit.players.sprite_sheet) and a recording's value (kit.recording.Recording), pixel
for pixel and key for key."""

from pathlib import Path

import numpy as np
import pytest
import torch
from nodekit import pack, requires_node, run_node, unpack

from ddpm.images import make_grid, to_display
from ddpm.views.kit.players import sprite_sheet
from ddpm.views.kit.recording import Recording
from ddpm.views.kit.widgets import show_grid

RUNNER = Path(__file__).with_name("frames_runner.mjs")
pytestmark = requires_node


def batch(stack: np.ndarray) -> dict:
    return {"stack": pack(stack), "n": len(stack), "height": stack.shape[1], "width": stack.shape[2]}


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 28, 28, generator=g) * 1.7  # values past ±1 and ±3 too: clipped
    x[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 0.0, 3.0])  # the ends and the middle exactly
    display = [(x, -1.0, 1.0), (x, -3.0, 3.0), (x, -0.5, 2.0)]
    stacks = [torch.randint(0, 256, (n, h, w), generator=g, dtype=torch.uint8).numpy()
              for n, h, w in [(1, 28, 28), (5, 28, 28), (13, 4, 3), (41, 7, 30)]]  # fmt: skip
    grids = [(stacks[1], 2), (stacks[1], 3), (stacks[2], 4), (stacks[3], 7)]
    shown = [
        (torch.randn(n, 1, 28, 28, generator=g), n, width) for n in (1, 4, 16, 64) for width in (0, 256, 640)
    ]
    steps = [{"t": t, "frames": {"x": stacks[2][t % 13], "x̂₀": stacks[3][t % 41]}} for t in range(9, 0, -1)]
    steps.append({"t": 0, "frames": {"x": stacks[2][0]}})  # x̂₀ keeps the last step's
    ranges = {"x̂₀": (-3.0, 3.0)}
    payload = {
        "display": [{"x": pack(v), "low": lo, "high": hi} for v, lo, hi in display],
        "grids": [{**batch(s), "nrow": r} for s, r in grids],
        "shown": [{"x": pack(v), "n": n, "max_width": w} for v, n, w in shown],
        "sheets": [batch(s) for s in stacks],
        "recording": {"ranges": ranges,
                      "steps": [{"t": s["t"], "frames": {k: pack(v) for k, v in s["frames"].items()}}
                                for s in steps]},
    }  # fmt: skip
    out = run_node(RUNNER, payload, tmp_path_factory.mktemp("frames"))
    return {"display": display, "grids": grids, "shown": shown, "stacks": stacks, "steps": steps,
            "ranges": ranges, "out": out}  # fmt: skip


def test_grey_levels_of_a_range_are_the_cores(computed):
    for (x, low, high), got in zip(computed["display"], computed["out"]["display"], strict=True):
        assert np.array_equal(unpack(got).reshape(x.shape), to_display(x, low, high)), (low, high)


def test_a_batchs_grid_is_the_cores(computed):
    for (stack, nrow), got in zip(computed["grids"], computed["out"]["grids"], strict=True):
        assert np.array_equal(unpack(got), make_grid(stack, nrow=nrow, padding=2, pad_value=96)), nrow
    for (x, _, width), got in zip(computed["shown"], computed["out"]["shown"], strict=True):
        assert np.array_equal(unpack(got), show_grid(x, max_width=width)), (len(x), width)


def test_a_sprite_sheet_is_the_players(computed):
    for stack, got in zip(computed["stacks"], computed["out"]["sheets"], strict=True):
        sheet, per_block = sprite_sheet(stack)
        assert got["per_block"] == per_block and np.array_equal(unpack(got["sheet"]), sheet), stack.shape


def test_a_recording_in_the_page_is_the_servers_value(computed):
    rec = Recording(ranges=computed["ranges"])
    for step in computed["steps"]:
        rec.keep(step["t"], step["frames"])
    server, page = rec.value(), computed["out"]["recording"]
    assert list(page) == list(server)
    assert {k: page[k] for k in ("label", "times", "start")} == {
        k: server[k] for k in ("label", "times", "start")
    }
    for ours, theirs in zip(page["series"], server["series"], strict=True):
        assert list(ours) == list(theirs)  # the documented keys, in order
        assert {k: ours[k] for k in ("name", "height", "width", "range", "per_block")} == {
            k: theirs[k] for k in ("name", "height", "width", "range", "per_block")}  # fmt: skip
        frames = np.stack(rec.frames[theirs["name"]])
        assert np.array_equal(unpack(ours["sheet"]), sprite_sheet(frames)[0])
