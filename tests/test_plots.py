"""The app's figures drawn from many handler threads at once (Gradio runs handlers on a pool)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ddpm.teaching.schedules import schedule_curves
from ddpm.views import plots


def test_figures_drawn_from_many_threads_at_once_all_draw():
    """matplotlib's mathtext parser is shared; without the draw lock about 23 of these 24 drawings
    raised ParseException (and the view showed the error instead of its figure)."""
    curves = [schedule_curves("linear", 1000), schedule_curves("cosine", 1000)]
    start = threading.Barrier(8)

    def draw(i: int) -> list[np.ndarray]:
        start.wait()
        out = [plots.schedule_curves_plot(curves, 100 * i + k + 1) for k in range(2)]
        out.append(plots.noise_error_plot(np.arange(1, 11), np.linspace(0.5, 0.01, 10), 0.03 + i / 100))
        return out

    with ThreadPoolExecutor(8) as pool:
        images = [image for batch in pool.map(draw, range(8)) for image in batch]
    assert len(images) == 24 and all(image.dtype == np.uint8 and image.ndim == 3 for image in images)
    # the same figure drawn alone is the same image: the lock serializes, it does not skip anything
    assert np.array_equal(images[0], plots.schedule_curves_plot(curves, 1))
