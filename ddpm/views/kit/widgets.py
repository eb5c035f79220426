"""UI pieces every view shares: LaTeX delimiters, image outputs and conversions, frame encoding.

Images reach the page as uint8 arrays: a 28×28 digit is upscaled by :data:`SCALE` with nearest
neighbour, so every pixel stays a crisp square. Streamed frames travel inside the event stream
(:func:`inline_frames`); the last frame's images are saved as files to download
(:func:`.encode.save_pngs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import gradio as gr
import numpy as np
import torch
from gradio.data_classes import ImageData

from ...images import make_grid, to_display, upscale
from .encode import data_url, png_bytes

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
"""Markdown's maths delimiters: ``$$ … $$`` for display, ``$ … $`` inline."""
SCALE = 8  # 28×28 digits are shown at 224×224, nearest neighbour: every pixel stays a crisp square
STREAM_SCALE = 4  # a chain's streamed frames are 112×112 (the page scales them up, pixelated)


def frame_scale(final: bool) -> int:
    """The upscaling of a chain's frame: :data:`STREAM_SCALE` while it streams, :data:`SCALE` for its
    last frame (the picture that stays)."""
    return SCALE if final else STREAM_SCALE


NOISE_RANGE = 3.0  # ε ~ N(0, I) is shown with −3 -> black and +3 -> white
INLINE = "ddpm.InlineImage"  # the meta type of images sent inside the message (see inline_png)
MAX_SEED = 2**31 - 1  # the largest seed a seed field takes
FRAMES_CLASS = "frames"  # images that stream small frames (see inline_frames); styled in static/app.css


def show(x: torch.Tensor, low: float = -1.0, high: float = 1.0, scale: int = SCALE) -> np.ndarray:
    """One image [1, 1, H, W] (or [H, W]) as uint8 [H·scale, W·scale]: low -> black, high -> white."""
    return upscale(to_display(x.reshape(x.shape[-2:]), low, high), scale)


def show_noise(x: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    return show(x, -NOISE_RANGE, NOISE_RANGE, scale)


def show_signed(x: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    """A signed image [1, 1, H, W] on its own symmetric grey scale: −max|x| black, 0 grey, +max|x| white.

    For differences, whose size is read elsewhere (a number beside them): the panel shows their shape.
    """
    high = max(float(x.abs().max()), 1e-6)
    return show(x, -high, high, scale)


def show_grid(x: torch.Tensor, low: float = -1.0, high: float = 1.0, max_width: int = 640) -> np.ndarray:
    """A batch [N, 1, H, W] as one grid, upscaled so it is about ``max_width`` pixels wide."""
    nrow = int(np.ceil(np.sqrt(len(x))))
    grid = make_grid(to_display(x, low, high), nrow=nrow, padding=2, pad_value=96)
    return upscale(grid, max(1, max_width // grid.shape[1]))


def pasts_grid(
    images: np.ndarray, weights: np.ndarray, columns: int = 3, gap: int = 2, bar: int = 4
) -> np.ndarray:
    """Training digits in a grid, each over a bar as long as its weight: the heaviest pasts of an
    x_t (:class:`ddpm.true_reverse.Pasts`) as one grey uint8 frame of ``columns`` cells a row, each
    cell 28 + 2·gap + bar high and 28 + gap wide (black around the bars, so that a full one stands
    out on a white page too). Square enough to sit beside the other series of a player.

    ``images`` uint8 [k, 28, 28] (0 = background, as in MNIST) are shown white on black like every
    digit here; ``weights`` [k] in [0, 1]: the bar under a digit is ``round(w · 28)`` pixels of white
    on a dark grey track.
    """
    k, h, w = images.shape
    if len(weights) != k:
        raise ValueError(f"need one weight per image, got {len(weights)} for {k}")
    rows = -(-k // columns)
    cell_h, cell_w = h + 2 * gap + bar, w + gap
    frame = np.zeros((rows * cell_h, columns * cell_w - gap), dtype=np.uint8)
    for i, (digit, weight) in enumerate(zip(images, weights, strict=True)):
        top, left = (i // columns) * cell_h, (i % columns) * cell_w
        frame[top : top + h, left : left + w] = digit
        frame[top + h + gap : top + h + gap + bar, left : left + w] = 48  # the track
        frame[top + h + gap : top + h + gap + bar, left : left + round(float(np.clip(weight, 0, 1)) * w)] = (
            255
        )
    return frame


STARTING = "Starting…"
"""The status of a run the page has just asked for, until its first frame (or its wait) arrives:
a Run's first, queue-less step writes it, so the last run's "done" line goes at once."""

QUIET = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
"""A page-only event that needs no queue (it answers at once and nobody waits behind it)."""


STOPPED = "Stopped."
"""The status of a run its Stop has ended (written after the run's last frame: :func:`run_chain`)."""

STOP_WAIT = 5.0
"""Seconds Stop waits for its run's stream to end before it writes :data:`STOPPED` anyway."""


class _Run:
    """A page's stream while it runs: ``stop`` set asks it to end, ``ended`` set says it has."""

    def __init__(self) -> None:
        self.stop, self.ended = asyncio.Event(), asyncio.Event()


# the page streams running now, by (session, status component); all set and read on Gradio's loop
_running: dict[tuple[str, int], set[_Run]] = {}


async def _until_stopped(frames: AsyncIterator, stop: asyncio.Event) -> AsyncIterator:
    """``frames`` until they end or ``stop`` is set, whichever comes first; then ``frames`` closed."""
    halt, step = asyncio.ensure_future(stop.wait()), None
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(anext(frames))
            await asyncio.wait([step, halt], return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return  # stopped between two frames (the step is cancelled below)
            try:
                frame = step.result()
            except StopAsyncIteration:
                return
            yield frame
    finally:
        halt.cancel()
        if step is not None and not step.done():
            step.cancel()  # the stream's own cancellation: a watcher leaves its chain
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
        await frames.aclose()


def run_chain(run: gr.Button, stop: gr.Button, status: gr.Markdown, player: gr.HTML, fn: Callable,
              inputs: list, outputs: list, **kwargs) -> gr.events.Dependency:  # fmt: skip
    """Wire a view's Run and Stop. Run: first, queue-less, :data:`STARTING` in ``status`` and the
    last chain out of ``player`` (the streamed images show the new one); then the stream
    ``fn(*inputs)`` (an async generator) into ``outputs``. Returns the stream's event.

    Stop ends the page's stream itself: the stream's last frame writes :data:`STOPPED` in
    ``status``, and Stop, which waits for the stream's end (at most :data:`STOP_WAIT`), writes it
    too. Gradio's own ``cancels`` would not do alone: the page asks for Stop's text first and
    sends the cancel only once that text has come, so a frame sent in between would stand over
    "Stopped." (with no more after it, as if the chain hung); and the end of a stream can reach
    the page after Stop's text and show its last frame again, so that frame must say "Stopped."
    itself. ``cancels`` stays, for a stream still waiting in Gradio's queue.
    """
    key = status._id
    at = [i for i, output in enumerate(outputs) if output is status]
    if len(at) != 1:
        raise ValueError(f"status must be one of the outputs, once; it is there {len(at)} times")
    # a stopped stream's last frame: "Stopped.", every other output as it is
    last_word = tuple(STOPPED if i == at[0] else gr.skip() for i in range(len(outputs)))

    def where(request: gr.Request | None) -> tuple[str | None, int]:  # this view of that page
        return (request.session_hash if request else None, key)

    async def stream(request: gr.Request, *args):
        this, here = _Run(), where(request)
        _running.setdefault(here, set()).add(this)
        try:  # closing the stream (Gradio's cancel, a closed page) closes fn's frames too
            async with contextlib.aclosing(_until_stopped(fn(*args), this.stop)) as frames:
                async for frame in frames:
                    yield frame
            if this.stop.is_set():
                yield last_word
        finally:
            this.ended.set()
            _running[here].discard(this)
            if not _running[here]:
                del _running[here]

    async def stopped(request: gr.Request) -> str:
        runs = list(_running.get(where(request), ()))
        for run in runs:
            run.stop.set()
        if runs:
            waits = [asyncio.ensure_future(run.ended.wait()) for run in runs]
            _, late = await asyncio.wait(waits, timeout=STOP_WAIT)
            for wait in late:
                wait.cancel()
        return STOPPED

    event = run.click(lambda: (STARTING, None), None, [status, player], **QUIET).then(
        stream, inputs, outputs, api_visibility="private", **kwargs
    )
    # queued (its text comes in the event stream, after the frames) but never waiting behind others
    stop.click(stopped, None, status, cancels=[event], concurrency_limit=None, api_visibility="private",
               show_progress="hidden")  # fmt: skip
    return event


def waiting_status(position: int, seconds: float) -> str:
    """The status of a chain waiting for room in the scheduler's batch (:mod:`ddpm.serve.scheduler`;
    ``seconds`` is its estimate from the measured step time)."""
    ahead = "it is next" if position == 1 else f"{position - 1} before it"
    return (
        f"**Waiting in line ({ahead}):** every running chain takes one step per forward pass of the network, and"
        f" this pass is full; it starts in about {max(1, round(seconds))} s. Everyone who asks for the same result"
        f" shares one computation."
    )


def image(label: str, height: int = 200, elem_id: str | None = None, visible: bool = True) -> gr.Image:
    """An image output with a download button (a digit, a noise image, a grid)."""
    return gr.Image(
        label=label,
        visible=visible,
        format="png",
        interactive=False,
        height=height,
        buttons=["download", "fullscreen"],
        elem_id=elem_id,
    )


RESULT_CLASS = "result"
"""A view's result (its images, player or canvas, with its status): the narrow layout (a phone,
static/narrow.css) shows it first, before the controls."""
EXPLAIN_CLASS = "explain"
"""A lesson's explanation: the narrow layout shows it after the result and the controls."""


def result() -> gr.Column:
    """A column for the view's result (``with result(): ...``): as laid out everywhere, and first of
    the view on a phone."""
    return gr.Column(elem_classes=[RESULT_CLASS])


def explanation(text: str) -> gr.Markdown:
    """A lesson's explanation (Markdown with LaTeX): above its controls, and last on a phone."""
    return gr.Markdown(text, latex_delimiters=LATEX, elem_classes=[EXPLAIN_CLASS])


PLOT_CLASS = "plot"  # every matplotlib figure's image (a browser test checks their text size on screen)


def plot_image(label: str, elem_id: str | None = None, visible: bool = True) -> gr.Image:
    """An output for a rendered plot (its title is drawn in the plot; the label names it in the API)."""
    return gr.Image(
        label=label,
        visible=visible,
        show_label=False,
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        elem_id=elem_id,
        elem_classes=[PLOT_CLASS],
    )


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """A text bar such as ``████████░░░░ 67%``: drawn with the frames, it costs the page nothing
    between them (Gradio's animated progress overlay kept a browser on the same 2 cores busy
    enough to slow a 1000-step generation by about a second)."""
    filled = round(width * done / total)
    return f"{'█' * filled}{'░' * (width - filled)} {100 * done // total:3d}%"


def inline_frames(image: gr.Image) -> gr.Image:
    """Make ``image`` send array values inside the event stream (PNG data URLs) rather than as files.

    Gradio 6 writes every image value to its cache and the page fetches each one with a request of
    its own. Beside a chain running on two cores, serving those requests is what slowed a streamed
    generation most (docs/performance.md). Streamed frames are small (a few kB of PNG), so they
    travel in the message itself: no file, no request. Values given as a path (the final,
    full-size results, see :func:`.encode.save_png`) are served as files as usual, so that they download
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
        if isinstance(value, ImageData):  # already encoded (see inline_png)
            return value
        if not isinstance(value, np.ndarray):
            return files(value)
        return inline_png(value)

    image.postprocess = postprocess  # type: ignore[method-assign]
    return shared_postprocess(image)


def shared_postprocess(component: gr.components.Component, keep: int = 8) -> gr.components.Component:
    """Convert each value once for every page that shows it: a room watching one shared stream
    (see :mod:`ddpm.serve.results`) receives the very same frame objects, and encoding a frame's images and
    tables again for each watcher would take the cores from the chain. The last ``keep`` values are
    remembered by identity (held, so that their ids stay theirs); others are converted as usual.
    """
    convert = component.postprocess
    memo: OrderedDict[int, tuple[object, object]] = OrderedDict()
    lock = threading.Lock()

    def postprocess(value):
        if value is None or isinstance(value, str | int | float | bool):
            return convert(value)  # cheap, and small values may be shared by chance
        with lock:
            hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return copy.copy(hit[1])
        result = convert(value)
        with lock:
            memo[id(value)] = (value, result)
            while len(memo) > keep:
                memo.popitem(last=False)
        return copy.copy(result)

    component.postprocess = postprocess  # type: ignore[method-assign]
    return component


def inline_png(image: np.ndarray) -> ImageData:
    """uint8 [H, W] or [H, W, 3] as an image value that travels inside the message (a PNG data URL);
    a handler may return it to an :func:`inline_frames` output to encode an image once for many calls."""
    return inline_png_bytes(png_bytes(image))


def inline_png_bytes(png: bytes) -> ImageData:
    """PNG bytes as an image value that travels inside the message (see :func:`inline_png`)."""
    return ImageData(
        url=data_url(png),
        size=len(png),
        orig_name="frame.png",
        mime_type="image/png",
        # not "gradio.FileData": Gradio then leaves it as it is instead of looking for a file to
        # cache for every page it is sent to (that search was most of a watcher's cost per frame)
        meta={"_type": INLINE},
    )


def seed_field(label: str = "Seed", value: int = 0, **kwargs) -> gr.Number:
    """A seed: a whole number in [0, 2³¹ − 1] (what ``torch.Generator.manual_seed`` takes from every
    client alike). ``kwargs`` go to ``gr.Number`` (scale, elem_id, min_width)."""
    return gr.Number(value, precision=0, label=label, minimum=0, maximum=MAX_SEED, **kwargs)
