"""A chain's recording: what a streaming handler keeps of its chain, its files and the player's value.

A view's chain runs as one task of the compute thread (:func:`ddpm.serve.stream.paced`) while its
handler shows the newest step now and then. :class:`Recording` is the rest of that protocol, written
once:

- :meth:`Recording.run` drives the chain. The handler's ``record(step)`` runs on the compute thread
  at every step (what needs every step: the player's frames, the filmstrip's, a curve's points);
  ``look(step)``, the network work a shown frame needs, runs there for each frame handed out; and
  ``closing(last step)``, the work that ends the chain, runs there in the chain's own task.
- ``record`` keeps the player's frames (:meth:`~Recording.keep`), the filmstrip's columns
  (:meth:`~Recording.film`) and the entries of named logs (:meth:`~Recording.log`);
  :meth:`~Recording.snapshot` gives the logs as they were when a shown step was recorded (the chain
  runs on while the page is fed, so it may be steps ahead of what is shown).
- At the end :meth:`~Recording.save` writes the images to download, :meth:`~Recording.save_filmstrip`
  and :meth:`~Recording.save_gif` the figures (all in one folder of the recording), and
  :meth:`~Recording.value` returns the chain player's value: the format of docs/library.md, "A
  chain's recording: the player's value" (:func:`.players.chain_value`).

:class:`Redraw` is a plot of a streaming chain, redrawn mid-chain only as the streams' drawing
budget allows (:data:`ddpm.serve.stream.DRAWING`).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from ...images import save_gif
from ...serve import compute
from ...serve.stream import DRAWING, paced
from .encode import save_pngs
from .players import chain_value
from .plots import filmstrip

V = TypeVar("V")


class Shot(NamedTuple):
    """A step of the chain handed to its handler by :meth:`Recording.run`."""

    step: Any  # the chain's step record (its last one when ``last``)
    last: bool  # whether the chain has ended with this step
    extra: Any  # mid-chain: ``look(step)``; the last: ``closing(step)``; None without them
    marks: Mapping[str, int]  # each log's length when this step was recorded (see Recording.snapshot)


class Recording:
    """One chain's record: the player's frames, the filmstrip's columns, named logs, and its files.

    Args:
        label: what the player's times count (the value's ``label``: ``"t"``, the paper's t).
        logs: the names of the logs :meth:`log` fills (a curve's points, a GIF's frames); another
            name is refused, so a typo cannot start a log that nothing reads.
        ranges: series name -> (low, high), the values its frames show black and white, for the
            player's value (default :data:`.players.DISPLAY_RANGE`, the data's [−1, 1]).
    """

    def __init__(
        self,
        label: str = "t",
        logs: Sequence[str] = (),
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.label = label
        self.ranges = dict(ranges or {})
        self.times: list[int] = []  # the player's: one label value per frame
        self.frames: dict[str, list[np.ndarray]] = {}  # series name -> uint8 [H, W] per frame
        self.titles: list[str] = []  # the filmstrip's: one title per column
        self.strip: dict[str, list[np.ndarray]] = {}  # row name -> one image per column
        self.logs: dict[str, list] = {name: [] for name in logs}
        self._folder: Path | None = None

    # -- as the chain runs (``record``, on the compute thread) -----------------------------------

    def keep(self, t: int, frames: Mapping[str, np.ndarray]) -> None:
        """One frame of the player at ``t`` (what the label counts): series name -> uint8 [H, W].

        The first frame names the series, in their order on the page; a later frame may leave a
        series out, which then keeps its previous frame (x̂_0 beside the chain's x_0), but may not
        add one.
        """
        if not self.times:
            if not frames:
                raise ValueError("the player's first frame needs at least one series")
            self.frames = {name: [] for name in frames}
        elif unknown := set(frames) - set(self.frames):
            raise ValueError(f"series {sorted(unknown)} are not the player's: {list(self.frames)}")
        for name, kept in self.frames.items():
            kept.append(frames[name] if name in frames else kept[-1])
        self.times.append(int(t))

    def film(self, title: str, column: Mapping[str, np.ndarray]) -> None:
        """One column of the filmstrip, titled ``title``: row name -> image (every row, each time)."""
        if not self.titles:
            self.strip = {name: [] for name in column}
        elif list(column) != list(self.strip):
            raise ValueError(f"the filmstrip's rows are {list(self.strip)}, got {list(column)}")
        for name, image in column.items():
            self.strip[name].append(image)
        self.titles.append(title)

    def log(self, name: str, entry: Any) -> None:
        """Append ``entry`` to the log ``name`` (one of the recording's ``logs``)."""
        if name not in self.logs:
            raise ValueError(f"no log {name!r}; this recording's logs are {list(self.logs)}")
        self.logs[name].append(entry)

    # -- the stream ------------------------------------------------------------------------------

    def run(
        self,
        steps: Iterable[Any],
        record: Callable[[Any], None] | None = None,
        *,
        look: Callable[[Any], Any] | None = None,
        closing: Callable[[Any], Any] | None = None,
        period: float | None = None,
    ) -> Iterator[Shot]:
        """Drive the chain ``steps`` with :func:`~ddpm.serve.stream.paced`; yield a :class:`Shot` now and then.

        ``record(step)`` runs for every step, on the compute thread, before the step can be shown.
        ``look(step)`` runs on the compute thread for each step shown mid-chain (the network work of
        a frame, e.g. the classifier's reading of its x̂_0); ``closing(last step)`` runs there too,
        in the chain's task, after the last step (the network's verdict on where the chain ended,
        the final images, the frames of x_0). The last shot is yielded once, with ``last`` set.
        ``period``: :func:`~ddpm.serve.stream.paced`'s. Closing the iterator stops the chain.
        """
        iterator = iter(steps)

        def chain() -> Iterator[tuple[Any, dict[str, int]]]:  # one task of the compute thread
            try:
                for step in iterator:
                    if record is not None:
                        record(step)
                    yield step, {name: len(entries) for name, entries in self.logs.items()}
            finally:
                if hasattr(iterator, "close"):
                    iterator.close()  # a stopped chain's own cleanup runs now, in its task

        def close(item: tuple[Any, dict[str, int]]) -> Shot:
            step, marks = item
            return Shot(step, True, None if closing is None else closing(step), marks)

        stream = paced(chain(), period, closing=close)
        try:
            for item, last in stream:
                if last:
                    yield item
                    return
                step, marks = item
                yield Shot(step, False, None if look is None else compute.call(look, step), marks)
        finally:
            stream.close()  # stops the chain at once when the handler is closed (Stop, a closed page)

    def snapshot(self, shot: Shot) -> dict[str, list]:
        """Every log as it was when ``shot``'s step was recorded (entries logged later, by later
        steps or by ``closing``, are left out): name -> entries, in order."""
        return {name: entries[: shot.marks.get(name, 0)] for name, entries in self.logs.items()}

    # -- at the end ------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """The recording's folder of files to download (made on first use)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="ddpm-"))
        return self._folder

    def save(self, images: Mapping[str, np.ndarray | None]) -> list[str | None]:
        """Each image as ``<folder>/<name>.png``, its path, in order; a None (an output not shown) stays None."""
        named = {name: image for name, image in images.items() if image is not None}
        paths = dict(zip(named, save_pngs(named.values(), named, self.folder), strict=True))
        return [paths.get(name) for name in images]

    def save_filmstrip(self, name: str, columns: int | None = None) -> str:
        """The filmstrip (:func:`.plots.filmstrip`) as ``<folder>/<name>``; with ``columns``, at most that
        many columns, evenly spaced from the first to the last."""
        picks = list(range(len(self.titles)))
        if columns is not None and len(picks) > columns:
            picks = [round(i * (len(picks) - 1) / (columns - 1)) for i in range(columns)]
        rows = {row: [images[k] for k in picks] for row, images in self.strip.items()}
        return filmstrip(rows, [self.titles[k] for k in picks], str(self.folder / name))

    def save_gif(self, name: str, frames: list[np.ndarray]) -> str:
        """``frames`` (uint8 [H, W]) as the animated GIF ``<folder>/<name>`` (:func:`ddpm.images.save_gif`)."""
        return save_gif(frames, str(self.folder / name))

    def value(self, start: int | None = None) -> dict:
        """The chain player's value (:func:`.players.chain_value`) of the frames kept: ``times`` in
        the order kept, the series in the order the first frame named them, shown first at ``start``
        (None: the last frame, where the chain ended)."""
        if start is None:
            start = max(0, len(self.times) - 1)
        series = {name: np.stack(frames) for name, frames in self.frames.items()}
        return chain_value(series, self.times, self.label, start, self.ranges)


_NEVER = object()


class Redraw(Generic[V]):
    """A plot of a streaming chain, drawn again mid-chain only as the streams' drawing budget allows.

    Calling it with what the plot shows gives the plot: ``draw(*args)`` afresh when ``key`` (e.g.
    its number of points) has changed since the last drawing and this is the chain's last frame,
    or nothing is drawn yet, or ``every`` seconds have passed since the last drawing and
    :data:`ddpm.serve.stream.DRAWING` has time left (in a room, each stream's plots move less
    often, and the chains keep the cores); else the last drawing. Each drawing is charged to the
    budget.
    """

    def __init__(self, draw: Callable[..., V], every: float = 0.0) -> None:
        self.draw, self.every = draw, every
        self.image: V | None = None
        self.key: Hashable = _NEVER
        self.drawn = -math.inf

    def __call__(self, key: Hashable, *args: Any, final: bool = False) -> V:
        if key != self.key and (final or self.image is None or self._due()):
            start = time.perf_counter()
            self.image, self.key = self.draw(*args), key
            self.drawn = time.perf_counter()
            DRAWING.charge(self.drawn - start)
        return self.image  # type: ignore[return-value]

    def _due(self) -> bool:
        return time.perf_counter() - self.drawn >= self.every and DRAWING.allow()
