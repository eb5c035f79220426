"""The app's figures drawn from many handler threads at once (Gradio runs handlers on a pool)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ddpm.teaching.schedules import schedule_curves
from ddpm.views.kit import plots


@pytest.mark.slow
def test_figures_drawn_from_many_threads_at_once_all_draw():
    """matplotlib's mathtext parser is shared; without the draw lock about 23 of these 24 drawings
    raised ParseException (and the view showed the error instead of its figure)."""
    curves = [schedule_curves("linear", 1000), schedule_curves("cosine", 1000)]
    start = threading.Barrier(8)

    def draw(i: int) -> list[np.ndarray]:
        start.wait()
        out = [plots.schedule_curves_plot(curves, 100 * i + k + 1) for k in range(2)]
        out.append(
            plots.noise_error_plot(np.arange(1, 11), np.linspace(0.5, 0.01, 10), 0.03 + i / 100, "mean", "t")
        )
        return out

    with ThreadPoolExecutor(8) as pool:
        images = [image for batch in pool.map(draw, range(8)) for image in batch]
    assert len(images) == 24 and all(image.dtype == np.uint8 and image.ndim == 3 for image in images)
    # the same figure drawn alone is the same image: the lock serializes, it does not skip anything
    assert np.array_equal(images[0], plots.schedule_curves_plot(curves, 1))


def every_figure_makers() -> dict[str, Callable[[], object]]:
    """Each of the app's figures, drawn on small made-up numbers when called."""
    from types import SimpleNamespace

    import torch

    from ddpm.serve.runtime import diffusion_cpu

    t = np.arange(200, 0, -1).astype(float)
    grid = np.stack([np.linspace(-2, 2, 50)] * 3)
    density = np.exp(-(grid**2))
    step = SimpleNamespace(
        grid=grid, true_density=density, gaussian_density=density**0.8, x_t=[-0.5, 0.1, 0.8], t=10, T=20
    )
    frames = [np.zeros((56, 56), np.uint8)] * 4
    ts = [1000, 750, 500, 250, 0]
    both = [schedule_curves("linear", 100), schedule_curves("cosine", 100)]
    return {
        "schedule": lambda: plots.SchedulePlot(diffusion_cpu()).at(250),
        "class probabilities": lambda: plots.class_probability_plot(ts, [torch.full((10,), 0.1)] * 5, 1000),
        "chain curves": lambda: plots.ChainCurves((plots.KL_TITLE,), 200).draw(({"KL": (t, t / 1e3)},)),
        "two panels": lambda: plots.ChainCurves((plots.MEAN_GAP_TITLE, plots.X0_ERROR_TITLE), 200).draw(
            ({"without y": (t, t / 1e4), "told y": (t, t / 2e4)}, {"RMS": (t, t / 1e3)})
        ),
        "filmstrip": lambda: plots.filmstrip(
            {"exact q": frames, "learned p_θ": frames}, ["t=3", "t=2", "t=1", "t=0"], os.devnull
        ),
        "bound": lambda: plots.bound_terms_plot({"digit": np.linspace(1e-4, 1e-2, 100)}),
        "noise error": lambda: plots.noise_error_plot(
            np.arange(1, 11), np.linspace(0.5, 0.01, 10), 0.03, "mean", "t"
        ),
        "schedules": lambda: plots.schedule_curves_plot(both, 5),
        "histogram": lambda: plots.class_histogram([1] * 10),
        "reverse step": lambda: plots.reverse_step_plot(step),
        "chain KL": lambda: plots.chain_kl_plot((2, 5, 10), (1.0, 0.5, 0.1), 5),
        "chain ends": lambda: plots.chain_ends_plot(
            grid[0], np.exp(-(grid[0] ** 2)), [(5, np.zeros(10)), (50, np.ones(10))]
        ),
        "copies": lambda: plots.copies_plot(
            {
                "test digits": np.linspace(2, 13, 100),
                "true reverse (1,000)": np.zeros(16),
                "p_θ": np.linspace(4, 12, 16),
            }
        ),
    }


def test_no_text_in_any_figure_is_smaller_than_text_pt(monkeypatch):
    """The plots' text is the size the page's layout counts on (plots.TEXT_PT, 18 px): every title,
    label, tick label, legend entry and caption of every figure, as drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    sizes: dict[str, list[float]] = {}
    draw = FigureCanvasAgg.draw

    def recording(canvas, *args, **kwargs):
        result = draw(canvas, *args, **kwargs)
        texts = [a for a in canvas.figure.findobj(Text) if a.get_visible() and a.get_text().strip()]
        sizes.setdefault("current", []).extend(text.get_fontsize() for text in texts)
        return result

    monkeypatch.setattr(FigureCanvasAgg, "draw", recording)
    smallest = {}
    for name, make in every_figure_makers().items():
        sizes.clear()
        make()
        assert sizes.get("current"), name  # it drew text
        smallest[name] = min(sizes["current"])
    assert all(size >= plots.TEXT_PT for size in smallest.values()), smallest
