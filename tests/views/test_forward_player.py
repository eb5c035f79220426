"""The forward player's payload (ddpm.views.forward_player): the page receives the core's numbers.

What the page does with them (the canvases) is tested in tests/browser/test_forward_page.py.
"""

import base64

import numpy as np

from ddpm.images import digit_tensor
from ddpm.serve.runtime import diffusion_cpu
from ddpm.teaching.common import seeded_noise
from ddpm.teaching.forward import schedule_values
from ddpm.views.digits import default_digit
from ddpm.views.forward_player import READOUT, STATIC, forward_value, schedule_tables


def floats(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def test_forward_value_is_the_cores_x0_and_noise():
    value = forward_value(default_digit(), 5)
    x0 = digit_tensor(default_digit())
    assert np.array_equal(floats(value["x0"], "<f4"), x0.flatten().numpy())
    assert np.array_equal(floats(value["eps"], "<f4"), seeded_noise(x0.shape, 5).flatten().numpy())
    assert (value["height"], value["width"], value["seed"]) == (28, 28, 5)
    assert len(value["x0"]) + len(value["eps"]) < 9_000  # what a digit or seed change sends


def test_schedule_tables_are_q_samples_tables_and_schedule_values():
    diffusion = diffusion_cpu()
    T = diffusion.num_timesteps
    tables = schedule_tables(diffusion)
    assert tables["T"] == T
    for name in ("sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod"):
        assert np.array_equal(floats(tables[name], "<f4"), getattr(diffusion, name).numpy())
    for t in (0, 1, 2, T // 2, T):
        values = schedule_values(diffusion, t)
        assert [floats(tables[name], "<f8")[t] for name in READOUT] == [getattr(values, n) for n in READOUT]
    assert sum(len(v) for v in tables.values() if isinstance(v, str)) < 80_000  # sent once, in the page


def test_the_players_script_lies_beside_it():
    assert (STATIC / "forward_player.js").is_file() and STATIC.parent.name == "views"
