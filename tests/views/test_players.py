"""The chain player's payload: a chain's frames, compactly (the forward player's: test_forward_player.py).

What the page does with them (the canvases) is tested in tests/browser/test_chains.py.
"""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm.images import digit_tensor, to_display
from ddpm.serve.runtime import diffusion_cpu
from ddpm.teaching.common import seeded_noise
from ddpm.views.digits import default_digit
from ddpm.views.kit.players import chain_value, sprite_sheet


def frames_of(series: dict) -> np.ndarray:
    """A chain_value series' frames [N, H, W], read back from its PNG sheet."""
    png = base64.b64decode(series["sheet"].removeprefix("data:image/png;base64,"))
    sheet = np.asarray(Image.open(io.BytesIO(png)))
    height, width, per_block = series["height"], series["width"], series["per_block"]
    blocks = sheet.shape[1] // width
    stacked = sheet.reshape(height, per_block, blocks, width).transpose(2, 1, 0, 3)
    return stacked.reshape(blocks * per_block, height, width)


@pytest.mark.parametrize(("n", "height", "width"), [(1, 28, 28), (7, 5, 3), (40, 12, 10), (1000, 28, 28)])
def test_a_chains_frames_come_back_exactly_from_their_sheet(n, height, width):
    frames = np.random.default_rng(n).integers(0, 256, (n, height, width), dtype=np.uint8)
    value = chain_value({"a": frames, "b": 255 - frames}, list(range(n, 0, -1)), label="t", start=n - 1)
    assert value["times"] == list(range(n, 0, -1)) and value["start"] == n - 1 and value["label"] == "t"
    a, b = value["series"]
    assert (a["name"], b["name"]) == ("a", "b")
    assert np.array_equal(frames_of(a)[:n], frames) and np.array_equal(frames_of(b)[:n], 255 - frames)
    sheet, _ = sprite_sheet(frames)
    assert 0.5 < sheet.shape[0] / sheet.shape[1] < 2 or n < 4  # about square: within browsers' limits


def test_1000_frames_of_a_chain_are_a_small_payload():
    """The forward process' 1000 frames (one ε) as a chain: the step-to-step layout keeps it small."""
    diffusion = diffusion_cpu()
    x0 = digit_tensor(default_digit())
    noise = seeded_noise(x0.shape, 0)
    t = torch.arange(diffusion.num_timesteps - 1, -1, -1)
    x_t = diffusion.q_sample(x0.expand(len(t), -1, -1, -1), t, noise.expand(len(t), -1, -1, -1))
    value = chain_value({"xₜ": to_display(x_t)[:, 0]}, (t + 1).tolist())
    assert len(value["series"][0]["sheet"]) < 200_000  # 784 kB of pixels


def test_an_empty_chain_and_bad_frames():
    assert chain_value({}, []) == {"label": "t", "times": [], "start": 0, "series": []}
    good = np.zeros((3, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        chain_value({"x": good.astype(np.float32)}, [3, 2, 1])
    with pytest.raises(ValueError, match="N = len"):
        chain_value({"x": good}, [2, 1])
    with pytest.raises(ValueError, match="start"):
        chain_value({"x": good}, [3, 2, 1], start=3)
