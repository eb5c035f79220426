"""Every figure the app draws, as RGB uint8 arrays (plain images: cheap to send, the same in the API).

Figures are drawn with matplotlib's object API (``Figure``, no pyplot state), so handlers on
different threads never share a figure. matplotlib itself is not thread-safe, though: its mathtext
parser (every ``$…$`` label and every log axis' ``10^{k}`` tick) is one shared object, and two
threads laying out text at once make it raise ``ParseException``. So every function here that lays
out or draws a figure holds :data:`DRAW_LOCK` (drawing is a few ms to ~100 ms; handlers on 2 cores
gain nothing from drawing in parallel). A view passes the numbers (from :mod:`ddpm.teaching` or the
core); these functions only draw them.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ...diffusion import GaussianDiffusion
from .encode import png_bytes

DRAW_LOCK = threading.RLock()  # held by every function here that lays out or draws text (see above)
F = TypeVar("F", bound=Callable[..., Any])

DPI = 100
"""Every figure's pixels per inch: a figure of w inches is a w·100-pixel image."""
TEXT_PT = 13.0
"""The size of all text in every figure (titles a step larger): 18 px at :data:`DPI`. Figures are
sized to be shown at no less than about their own width at 1366×768, so no plot text on screen is
smaller than the large layout's floor (17 px, :data:`ddpm.views.kit.style.FONT_FLOOR_PX`), and the
same images serve the normal and the large layout (a room's shared results are one set of
images: plots drawn per layout would be drawn twice for every streamed frame)."""
TEXT_PX = TEXT_PT * DPI / 72
TEXT_KEYS = (
    "axes.labelsize",
    "xtick.labelsize",
    "ytick.labelsize",
    "legend.fontsize",
    "legend.title_fontsize",
)
STYLE = {
    "font.size": TEXT_PT,
    "axes.titlesize": TEXT_PT + 1,
    "figure.titlesize": TEXT_PT + 1,
    **dict.fromkeys(TEXT_KEYS, TEXT_PT),
    "lines.linewidth": 2.2,
    "axes.linewidth": 1.1,
}
"""matplotlib's settings for every figure here (applied while it is built and drawn)."""


def drawing(fn: F) -> F:
    """``fn`` run while holding :data:`DRAW_LOCK`, with :data:`STYLE` in force."""

    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with DRAW_LOCK, matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return locked  # type: ignore[return-value]


@drawing
def render(fig: Figure) -> np.ndarray:
    """A matplotlib figure as RGB uint8 [H, W, 3] (a plain image: cheap to send, same in the API)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


MARKER = (200, 20, 20)  # the schedule plot's line at the current t


class SchedulePlot:
    """ᾱ_t and log SNR over t, drawn once; :meth:`at` adds a marker at t in well under a millisecond."""

    @drawing
    def __init__(self, diffusion: GaussianDiffusion) -> None:
        T = diffusion.num_timesteps
        t = np.arange(1, T + 1)
        fig = Figure(figsize=(6.4, 2.4), dpi=DPI)
        ax = fig.add_subplot()
        ax.plot(t, diffusion.alphas_cumprod.cpu().numpy(), color="#1f4e9c", lw=2.5, label=r"$\bar\alpha_t$")
        ax.set_xlim(0, T)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("$t$")
        ax.set_ylabel(r"$\bar\alpha_t$", color="#1f4e9c")
        right = ax.twinx()
        right.plot(t, diffusion.log_snr.cpu().numpy(), color="#b3590e", lw=2.5, ls="--", label="log SNR")
        right.axhline(0.0, color="#b3590e", lw=0.8, ls=":")
        right.set_ylabel("log SNR (dashed)", color="#b3590e")
        fig.tight_layout()
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        self.base = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        # the same plot with at most 255 colours, and a 256th for the marker: a palette PNG of it is
        # encoded ~6× faster than the RGB one and is a third of its size (what /forward sends)
        quantized = Image.fromarray(self.base).quantize(255, method=Image.Quantize.MEDIANCUT)
        self.indices = np.asarray(quantized).copy()
        palette = quantized.getpalette() or []
        self.palette = (palette + [0] * 3 * 256)[: 3 * 255] + list(MARKER)
        height = self.base.shape[0]
        (x0, y0), (x1, y1) = ax.transData.transform([(0, -0.02), (T, 1.02)])
        self.x0, self.x1, self.T = x0, x1, T
        self.top, self.bottom = int(height - y1), int(height - y0)

    def _marker(self, t: int) -> tuple[slice, slice]:
        x = round(self.x0 + (self.x1 - self.x0) * t / self.T)
        return slice(self.top, self.bottom), slice(max(0, x - 1), x + 2)

    def at(self, t: int) -> np.ndarray:
        """The plot as RGB uint8 [H, W, 3] with a red vertical line at t."""
        image = self.base.copy()
        image[self._marker(t)] = MARKER
        return image

    def png_at(self, t: int) -> bytes:
        """:meth:`at` as a palette PNG (its 255 colours for the plot's ~800, the marker exact)."""
        indices = self.indices.copy()
        indices[self._marker(t)] = 255
        return png_bytes(indices, palette=self.palette)


@functools.cache
def schedule_plot(diffusion: GaussianDiffusion) -> SchedulePlot:
    return SchedulePlot(diffusion)


CLASS_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


@drawing
def class_probability_plot(
    ts: list[int],
    probs: list[torch.Tensor],
    T: int,
    title: str = "Classifier probabilities on x̂₀ as the chain runs",
) -> np.ndarray:
    """The 10 class probabilities [10] at each paper t in ``ts``, as lines over t (T on the left)."""
    fig = Figure(figsize=(9.6, 3.5), dpi=DPI)
    ax = fig.add_subplot()
    p = torch.stack(probs).numpy() if probs else np.zeros((0, 10))
    for c in range(10):
        ax.plot(ts, p[:, c] if len(p) else [], color=CLASS_COLOURS[c], lw=2, label=str(c))
    ax.set_xlim(max(ts) if ts else T, 0)  # time runs right to left, as the chain does
    ax.set_ylim(-0.03, 1.03)  # a certain class sits at 1: keep its line off the frame
    ax.set_xlabel("$t$")
    ax.set_ylabel(r"$p(\mathrm{class} \mid \hat x_0)$")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title="class", ncols=2, columnspacing=0.8)
    fig.tight_layout()
    return render(fig)


CURVE_COLOURS = ("#1f4e9c", "#b3590e", "#2e7d32", "#7b1fa2")

KL_TITLE = r"$\mathrm{KL}(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t))$ per step, bits/dim"
MEAN_GAP_TITLE = r"$\|\tilde\mu_t - \mu_\theta\|$ (RMS)"
X0_ERROR_TITLE = r"$\|\hat x_0 - x_0\|$ (RMS)"


class ChainCurves:
    """Curves over the paper's t of one reverse chain, one log-scale panel per title, on a figure
    kept for the whole chain: :meth:`draw` only moves the lines (about a fifth of the cost of a
    new figure, whose mathtext and layout dominate).

    The x-axis runs from the chain's start ``t_start`` down to 0, right to left, as the chain runs.
    """

    @drawing
    def __init__(
        self, titles: tuple[str, ...], t_start: int, width: float = 6.4, height: float = 3.4
    ) -> None:
        self.fig = Figure(figsize=(width, height), dpi=DPI)
        self.axes = self.fig.subplots(1, len(titles), squeeze=False)[0]
        for ax, title in zip(self.axes, titles, strict=True):
            ax.set_xlim(max(t_start, 1), 0)
            ax.set_yscale("log")
            ax.set_ylim(1e-3, 1.0)
            ax.set_xlabel("$t$")
            ax.set_title(title)
            ax.grid(True, which="major", alpha=0.3)
        self.fig.subplots_adjust(
            left=0.14 * len(titles) ** 0.5, right=0.97, top=0.87, bottom=0.19, wspace=0.5
        )
        self.lines: dict[tuple[int, str], Any] = {}
        self.canvas = FigureCanvasAgg(self.fig)

    @drawing
    def draw(self, panels: tuple[dict[str, tuple[np.ndarray, np.ndarray]], ...]) -> np.ndarray:
        """RGB uint8 [H, W, 3] of the curves: per panel, name -> (t [S], values [S] > 0). A legend
        appears on a panel with more than one curve."""
        for i, (ax, series) in enumerate(zip(self.axes, panels, strict=True)):
            for colour, (name, (ts, values)) in zip(CURVE_COLOURS, series.items(), strict=False):
                line = self.lines.get((i, name))
                if line is None:
                    (line,) = ax.plot([], [], color=colour, lw=2, label=name)
                    self.lines[(i, name)] = line
                    if len(series) > 1:
                        ax.legend()
                line.set_data(ts, np.maximum(values, 1e-8))
            finite = [v[v > 0] for _, v in series.values() if len(v)]
            if finite and sum(len(v) for v in finite):
                low = min(float(v.min()) for v in finite if len(v))
                high = max(float(v.max()) for v in finite if len(v))
                ax.set_ylim(low / 1.5, high * 1.5)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


@drawing
def filmstrip(rows: dict[str, list[np.ndarray]], titles: list[str], path: str) -> str:
    """Save a labelled grid of images (one row per chain, one column per time) as a PNG."""
    n_rows, n_cols = len(rows), len(titles)
    fig = Figure(figsize=(0.9 * n_cols + 1.9, 1.05 * n_rows + 0.55), dpi=DPI)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c])
        # the row's name, horizontal and readable, left of its first image
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", labelpad=8)
    fig.tight_layout(pad=0.4)
    FigureCanvasAgg(fig).print_png(path)
    return path


# -- lessons -----------------------------------------------------------------------------------------

BOUND_COLOURS = {"digit": "#1f4e9c", "noisy digit": "#b3590e", "random pixels": "#7a7a7a"}


@drawing
def bound_terms_plot(terms: dict[str, np.ndarray]) -> np.ndarray:
    """The bound's terms [T] (bits/dim, index t − 1 for the paper's t) of each named image, log scale."""
    fig = Figure(figsize=(9.6, 3.6), dpi=DPI)
    ax = fig.add_subplot()
    for name, values in terms.items():
        steps = np.arange(1, len(values) + 1)
        ax.semilogy(steps, np.maximum(values, 1e-7), color=BOUND_COLOURS[name], lw=1.6, label=name)
    ax.set_xlabel(r"$t$   ($t = 1$: the decoder term $L_0$; $t \geq 2$: $L_{t-1}$)")
    ax.set_ylabel("bits/dim")
    ax.set_title("The bound term by term")
    ax.legend()
    fig.tight_layout()
    return render(fig)


@drawing
def noise_error_plot(
    t: np.ndarray, mse: np.ndarray, simple_loss: float, mean_label: str, title: str
) -> np.ndarray:
    """E‖ε − ε̂‖² per pixel [S] at the paper's t [S], log scale, with its mean over t as a line
    (``mean_label``: L_simple for an ε-network, whose training loss it is)."""
    fig = Figure(figsize=(9.6, 3.4), dpi=DPI)
    ax = fig.add_subplot()
    ax.semilogy(t, mse, "o-", color="#1f4e9c", lw=2, ms=4)
    ax.axhline(simple_loss, color="#c81414", ls="--", lw=1.5, label=f"{mean_label} = {simple_loss:.4f}")
    ax.set_xlabel("$t$")
    ax.set_ylabel(r"$E\,\|\epsilon - \hat\epsilon\|^2$ per pixel")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return render(fig)


SCHEDULE_COLOURS = {"linear": "#1f4e9c", "cosine": "#b3590e"}


@drawing
def schedule_curves_plot(curves: list, t: int) -> np.ndarray:
    """β_t (log scale: cosine's last steps reach 0.999, linear's first are 10⁻⁴), ᾱ_t and log SNR of
    each :class:`ddpm.teaching.schedules.ScheduleCurves`, a line at t, dots where SNR = 1."""
    fig = Figure(figsize=(12.8, 3.9), dpi=DPI)
    axes = fig.subplots(1, 3)
    for c in curves:
        steps = np.arange(1, len(c.betas) + 1)
        for ax, values in zip(axes, (c.betas, c.alphas_cumprod, c.log_snr), strict=True):
            ax.plot(steps, values.numpy(), color=SCHEDULE_COLOURS[c.name], lw=2.2, label=c.name)
            ax.plot(
                [c.snr_one_t], [values[c.snr_one_t - 1].item()], "o", color=SCHEDULE_COLOURS[c.name], ms=7
            )
    titles = (
        r"$\beta_t$ (log scale)",
        r"$\bar\alpha_t$",
        r"$\log \mathrm{SNR}(t) = \log(\bar\alpha_t / (1 - \bar\alpha_t))$",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.axvline(t, color="#c81414", lw=1.5)
        ax.set_title(title)
        ax.set_xlabel("$t$")
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].legend()
    fig.suptitle(f"Schedules: red line at $t = {t}$, dots where SNR = 1")
    axes[2].set_ylim(-12, 12)
    fig.tight_layout()
    return render(fig)


@drawing
def class_histogram(counts: list[int]) -> np.ndarray:
    """How many pasts were read as each class 0 … 9, as bars."""
    fig = Figure(figsize=(6.4, 2.8), dpi=DPI)
    ax = fig.add_subplot()
    ax.bar(range(10), counts, color=CLASS_COLOURS)
    ax.set_xticks(range(10))
    ax.set_xlabel(r"class of $x_0$ (project classifier)")
    ax.set_ylabel("chains")
    ax.set_title("What the pasts became")
    fig.tight_layout()
    return render(fig)


@drawing
def reverse_step_plot(step) -> np.ndarray:
    """The true reverse densities and their best Gaussians of a :class:`ddpm.teaching.small_steps.ReverseStep`."""
    fig = Figure(figsize=(6.4, 3.6), dpi=DPI)
    ax = fig.add_subplot()
    for i, colour in enumerate(("#1f4e9c", "#b3590e", "#2e7d32")):
        ax.plot(
            step.grid[i],
            step.true_density[i],
            color=colour,
            lw=2.5,
            label=rf"true, $x_t = {step.x_t[i]:+.2f}$",
        )
        ax.plot(step.grid[i], step.gaussian_density[i], color=colour, lw=1.8, ls="--")
    ax.set_xlim(-2.0, 2.0)
    ax.set_xlabel("$x_{t-1}$")
    ax.set_title(rf"$q(x_{{t-1}} \mid x_t)$ at step $t = {step.t}$ of $T = {step.T}$ (dashed: best Gaussian)")
    ax.legend()
    fig.tight_layout()
    return render(fig)


@drawing
def chain_kl_plot(T_choices: tuple[int, ...], kls: tuple[float, ...], T: int) -> np.ndarray:
    """Σ_t E KL(true ‖ Gaussian) against the number of steps T, log-log, T marked."""
    fig = Figure(figsize=(6.4, 3.6), dpi=DPI)
    ax = fig.add_subplot()
    ax.loglog(T_choices, np.maximum(kls, 1e-6), "o-", color="#1f4e9c", lw=2.5)
    ax.plot([T], [max(kls[T_choices.index(T)], 1e-6)], "o", color="#c81414", ms=12)
    ax.set_xlabel("$T$ (number of steps)")
    ax.set_ylabel(r"$\sum_t E\,\mathrm{KL}$, nats")
    ax.set_title("The best Gaussian chain's distance from the truth", fontsize="medium")
    fig.tight_layout()
    return render(fig)


@drawing
def chain_ends_plot(
    grid: np.ndarray, density: np.ndarray, samples: list[tuple[int, np.ndarray]]
) -> np.ndarray:
    """The data density on ``grid`` and histograms of x_0 [n] from Gaussian chains of (T steps, x_0)."""
    fig = Figure(figsize=(6.4, 3.6), dpi=DPI)
    ax = fig.add_subplot()
    ax.plot(grid, density, color="black", lw=2, label="data")
    for (steps, x0), colour in zip(samples, ("#c81414", "#1f4e9c"), strict=True):
        ax.hist(x0, bins=160, range=(-2, 2), density=True, histtype="step", lw=1.8, color=colour,
                label=f"Gaussian reverse, T = {steps}")  # fmt: skip
    ax.set_xlabel("$x_0$")
    ax.set_title(f"{len(samples[0][1])} samples through Gaussian reverse steps")
    ax.legend()
    fig.tight_layout()
    return render(fig)


@drawing
def copies_plot(rows: dict[str, np.ndarray]) -> np.ndarray:
    """Distances to the nearest training digit, one row of dots per kind (name -> distances [n]),
    the first row's spread shown as a band: how far held-out digits lie from the training set."""
    fig = Figure(figsize=(8.0, 3.0), dpi=DPI)
    ax = fig.add_subplot()
    names = list(rows)
    for i, distances in enumerate(rows.values()):
        jitter = np.linspace(-0.15, 0.15, len(distances)) if len(distances) > 1 else np.zeros(1)
        ax.scatter(distances, i + jitter, s=28, color=CURVE_COLOURS[i % len(CURVE_COLOURS)], alpha=0.8)
    first = rows[names[0]]
    ax.axvspan(float(first.min()), float(first.max()), color="#999999", alpha=0.15, lw=0)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(left=-0.3)
    ax.set_xlabel("distance to the nearest training digit, ‖x − xⁱ‖")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return render(fig)
