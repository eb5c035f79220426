"""The 2-D world's benchmark: its server timings run (the page's script is run by a browser test)."""

from ddpm.bench import plane as bench
from ddpm.toy.plane import PRESETS


def test_the_server_timings_cover_every_preset_and_a_training():
    timings = bench.server_timings(train_steps=20)
    assert set(timings) == {f"first {name}" for name in PRESETS} | {"train", "train steps/s"}
    assert all(value > 0 for value in timings.values())
