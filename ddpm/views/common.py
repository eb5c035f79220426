"""Display helpers shared by the views: crisp digit images, the schedule plot with a marker."""

from __future__ import annotations

import base64
import functools
import inspect
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import gradio as gr
import numpy as np
import torch
from gradio.data_classes import ImageData
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..diffusion import GaussianDiffusion
from ..images import make_grid, to_display, to_model_range, upscale

READOUT_POINTS = 200  # the classifier reads x̂_0 at about this many t of a chain (not all T: it costs time)
SCALE = 8  # 28×28 digits are shown at 224×224, nearest neighbour: every pixel stays a crisp square
NOISE_RANGE = 3.0  # ε ~ N(0, I) is shown with −3 -> black and +3 -> white
FRAMES_CLASS = "frames"  # images that stream small frames (see inline_frames); styled in app.CSS

F = TypeVar("F", bound=Callable)


def digit_tensor(digit: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """The chosen digit, uint8 [28, 28] (0 = background), as the model's x_0: [1, 1, 28, 28] in [−1, 1]."""
    return to_model_range(np.asarray(digit, dtype=np.uint8)).reshape(1, 1, 28, 28).to(device)


def show(x: torch.Tensor, low: float = -1.0, high: float = 1.0, scale: int = SCALE) -> np.ndarray:
    """One image [1, 1, H, W] (or [H, W]) as uint8 [H·scale, W·scale]: low -> black, high -> white."""
    return upscale(to_display(x.reshape(x.shape[-2:]), low, high), scale)


def show_noise(x: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    return show(x, -NOISE_RANGE, NOISE_RANGE, scale)


def show_grid(x: torch.Tensor, low: float = -1.0, high: float = 1.0, max_width: int = 640) -> np.ndarray:
    """A batch [N, 1, H, W] as one grid, upscaled so it is about ``max_width`` pixels wide."""
    nrow = int(np.ceil(np.sqrt(len(x))))
    grid = make_grid(to_display(x, low, high), nrow=nrow, padding=2, pad_value=96)
    return upscale(grid, max(1, max_width // grid.shape[1]))


def user_errors(fn: F) -> F:
    """Turn the library's ValueErrors (bad input) into gr.Error messages for the user.

    Works for plain and generator handlers (Gradio streams the latter, so the wrapper must stay a
    generator function).
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except ValueError as err:
                raise gr.Error(str(err)) from err

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            raise gr.Error(str(err)) from err

    return call  # type: ignore[return-value]


class SchedulePlot:
    """ᾱ_t and log SNR over t, drawn once; :meth:`at` adds a marker at t in well under a millisecond."""

    def __init__(self, diffusion: GaussianDiffusion) -> None:
        T = diffusion.num_timesteps
        t = np.arange(1, T + 1)
        fig = Figure(figsize=(6.4, 2.4), dpi=100)
        ax = fig.add_subplot()
        ax.plot(t, diffusion.alphas_cumprod.cpu().numpy(), color="#1f4e9c", lw=2.5, label="ᾱ_t")
        ax.set_xlim(0, T)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("t")
        ax.set_ylabel("ᾱ_t", color="#1f4e9c")
        right = ax.twinx()
        right.plot(t, diffusion.log_snr.cpu().numpy(), color="#b3590e", lw=2.5, ls="--", label="log SNR")
        right.axhline(0.0, color="#b3590e", lw=0.8, ls=":")
        right.set_ylabel("log SNR (dashed)", color="#b3590e")
        fig.tight_layout()
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        self.base = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        height = self.base.shape[0]
        (x0, y0), (x1, y1) = ax.transData.transform([(0, -0.02), (T, 1.02)])
        self.x0, self.x1, self.T = x0, x1, T
        self.top, self.bottom = int(height - y1), int(height - y0)

    def at(self, t: int) -> np.ndarray:
        """The plot as RGB uint8 [H, W, 3] with a red vertical line at t."""
        image = self.base.copy()
        x = round(self.x0 + (self.x1 - self.x0) * t / self.T)
        image[self.top : self.bottom, max(0, x - 1) : x + 2] = (200, 20, 20)
        return image


@functools.cache
def schedule_plot(diffusion: GaussianDiffusion) -> SchedulePlot:
    return SchedulePlot(diffusion)


CLASS_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def class_probability_plot(
    ts: list[int],
    probs: list[torch.Tensor],
    T: int,
    title: str = "Classifier probabilities on x̂₀ as the chain runs",
) -> np.ndarray:
    """The 10 class probabilities [10] at each paper t in ``ts``, as lines over t (T on the left)."""
    fig = Figure(figsize=(9.6, 3.0), dpi=100)
    ax = fig.add_subplot()
    p = torch.stack(probs).numpy() if probs else np.zeros((0, 10))
    for c in range(10):
        ax.plot(ts, p[:, c] if len(p) else [], color=CLASS_COLOURS[c], lw=2, label=str(c))
    ax.set_xlim(max(ts) if ts else T, 0)  # time runs right to left, as the chain does
    ax.set_ylim(-0.03, 1.03)  # a certain class sits at 1: keep its line off the frame
    ax.set_xlabel("t")
    ax.set_ylabel("p(class | x̂₀)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    fig.tight_layout()
    return render(fig)


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """A text bar such as ``████████░░░░ 67%``: drawn with the frames, it costs the page nothing
    between them (Gradio's animated progress overlay kept a browser on the same 2 cores busy
    enough to slow a 1000-step generation by about a second)."""
    filled = round(width * done / total)
    return f"{'█' * filled}{'░' * (width - filled)} {100 * done // total:3d}%"


def render(fig: Figure) -> np.ndarray:
    """A matplotlib figure as RGB uint8 [H, W, 3] (a plain image: cheap to send, same in the API)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_image(label: str, elem_id: str | None = None) -> gr.Image:
    """An output for a rendered plot (its title is drawn in the plot; the label names it in the API)."""
    return gr.Image(
        label=label, show_label=False, format="png", interactive=False, buttons=["download"], elem_id=elem_id
    )


def inline_frames(image: gr.Image) -> gr.Image:
    """Make ``image`` send array values inside the event stream (PNG data URLs) rather than as files.

    Gradio 6 writes every image value to its cache and the page fetches each one with a request of
    its own. Beside a chain running on two cores, serving those requests is what slowed a streamed
    generation most (see the README's Speed). Streamed frames are small (a few kB of PNG), so they
    travel in the message itself: no file, no request. Values given as a path (the final,
    full-size results, see :func:`save_png`) are served as files as usual, so that they download
    with their names and API clients receive files; a streamed frame reaches an API client as
    ``{"url": "data:image/png;base64,..."}``.

    The component's ``postprocess`` is replaced on this instance (a subclass of ``gr.Image``
    would make Gradio write a type-stub file beside this module on import). It also gets the CSS
    class ``frames``, which the app styles to fill its box: Gradio shows an image no larger than
    its own pixels, and streamed frames are smaller than the final ones.
    """
    image.elem_classes = [*(image.elem_classes or []), FRAMES_CLASS]
    files = image.postprocess

    def postprocess(value):
        if not isinstance(value, np.ndarray):
            return files(value)
        png = png_bytes(value)
        return ImageData(
            url="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            size=len(png),
            orig_name="frame.png",
            mime_type="image/png",
        )

    image.postprocess = postprocess  # type: ignore[method-assign]
    return image


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 [H, W] (grey) or [H, W, 3] (RGB) as PNG bytes (fast compression: the images are small)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def save_png(image: np.ndarray, path: str | Path) -> str:
    """Save uint8 [H, W] or [H, W, 3] as a PNG file; returns the path (for a file output)."""
    Path(path).write_bytes(png_bytes(image))
    return str(path)


def save_pngs(images: Iterable[np.ndarray], names: Iterable[str], folder: str | Path) -> list[str]:
    """Save each image as ``folder/<name>.png`` (a stream's last frame, as files to download)."""
    return [save_png(image, Path(folder) / f"{name}.png") for image, name in zip(images, names, strict=True)]


def filmstrip(rows: dict[str, list[np.ndarray]], titles: list[str], path: str) -> str:
    """Save a labelled grid of images (one row per chain, one column per time) as a PNG."""
    n_rows, n_cols = len(rows), len(titles)
    fig = Figure(figsize=(1.3 * n_cols + 1.2, 1.45 * n_rows + 0.3), dpi=110)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=10)
        axes[r, 0].set_ylabel(name, fontsize=10)
    fig.tight_layout(pad=0.4)
    FigureCanvasAgg(fig).print_png(path)
    return path
