"""Stream a long computation to the page without making it wait for the page.

A Gradio generator is resumed only after each frame it yields has been post-processed (its
images encoded as PNG) and sent; if the reverse chain ran inside it, every frame would pause the
chain. :func:`paced` runs the chain as one task of the compute thread's step scheduler instead
(:mod:`.scheduler`: its network calls share each tick's forward pass with every other running
chain) and hands the page the newest step now and then, so the chain keeps computing while the
server encodes and sends frames.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

from . import compute, settings
from .scheduler import Stopped

T = TypeVar("T")

_NOTHING = object()


class Watch(NamedTuple):
    """Who watches the chains that :func:`paced` starts in this context (a shared stream's flight,
    :mod:`.results`): ``on_wait(position from 1, seconds)`` hears a chain's place in the scheduler's
    line (called on the compute thread, so it must be quick), and ``stop`` set stops the chain at
    the next tick, even one still waiting in line."""

    on_wait: Callable[[int, float], None] | None
    stop: threading.Event | None


WATCH: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("WATCH", default=None)
"""The :class:`Watch` of the chains started in this context (None: nobody but the caller)."""


ROOM_FRAMES = 8.0
"""Frames per second that all the streams of the process send together, at most (:func:`pace`)."""

_streams = 0  # chains streaming now, in this process
_streams_lock = threading.Lock()


def streams() -> int:
    """Chains streaming now (each :func:`paced` from its start to its end)."""
    return _streams


def pace(period: float) -> float:
    """Seconds between a stream's frames: ``period`` while few chains stream, and in a room long
    enough that all the streams together send at most :data:`ROOM_FRAMES` frames a second. In a
    room of 50, encoding and sending every stream's frames at 2.5 a second took Gradio's event loop
    two thirds of the GIL and left the chains a third: what each student gets is the chain done
    sooner, its progress shown every few seconds."""
    return max(period, streams() / ROOM_FRAMES)


class Budget:
    """A share of one core for work a stream may skip (redrawing a plot before the end), shared by
    every stream of the process: a token bucket that fills at ``share`` seconds per second, up to
    ``burst`` seconds. :meth:`allow` says whether there is time left; :meth:`charge` takes what the
    work cost. Alone, a comparison's redraws use about 0.12 of a core and never wait; in a room of
    50 the redraws together still take at most ``share`` of a core, each stream's less often."""

    def __init__(self, share: float, burst: float = 0.5) -> None:
        if not share > 0 or burst < 0:
            raise ValueError(f"share must be > 0 and burst ≥ 0, got {share} and {burst}")
        self.share, self.burst = share, burst
        self.tokens, self.last = burst, time.perf_counter()
        self.lock = threading.Lock()

    def _fill(self) -> None:  # under self.lock
        now = time.perf_counter()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.share)
        self.last = now

    def allow(self) -> bool:
        with self.lock:
            self._fill()
            return self.tokens > 0

    def charge(self, seconds: float) -> None:
        with self.lock:
            self._fill()
            self.tokens -= seconds


DRAWING = Budget(share=0.25)
"""The budget of every stream's optional redraws (a quarter of one core)."""


def paced(
    items: Iterable[T],
    period: float | None = None,
    *,
    name: str = "ddpm-chain",
    closing: Callable[[T], Any] | None = None,
) -> Iterator[tuple[Any, bool]]:
    """Run ``items`` as a task of the compute thread; yield ``(newest item, is_last)`` now and then.

    The first item is always yielded (a chain that ends before its page looks still shows where
    it started), then the newest item each time ``period`` seconds
    (default :data:`.settings.FRAME_SECONDS`; longer in a crowd, :func:`pace`) have passed since the
    consumer came back for more (a slow page gets fewer frames, and the computation never waits for
    it), and finally the last item,
    once, with ``is_last = True`` (the chain runs one item ahead of what it hands out, so that it
    knows which is last). Items in between are skipped here, so work that needs every item
    (keeping GIF frames, adding up a curve) belongs in ``items`` itself, whose every step runs on
    the compute thread.

    ``closing(last item)`` is the chain's closing work (the network's verdict on where it ended,
    its final images): it runs in the same task, on the compute thread, as soon as the last item
    exists, and what it returns is yielded as the last item, ``(closing(last), True)``. So the
    network work that ends a chain never runs on the consumer's thread, and a chain stopped before
    its end never does it.

    Closing the generator (Gradio's Stop, a closed page) stops the chain at the scheduler's next
    tick (its rows leave the batch), closes ``items`` and waits for that. An exception raised by
    ``items`` or ``closing`` is raised here. An empty ``items`` yields nothing (and runs no
    ``closing``). ``name`` names the task in errors.
    """
    if period is None:
        period = settings.FRAME_SECONDS
    if period < 0:
        raise ValueError(f"period must be ≥ 0 seconds, got {period}")
    if compute.on_thread():
        raise RuntimeError(f"{name}: paced() waits for the compute thread, so it cannot run on it")
    newest: list = [_NOTHING]
    first: list = [_NOTHING]
    stop, changed = threading.Event(), threading.Event()
    watch = WATCH.get() or Watch(None, None)
    iterator = iter(items)

    def stopped() -> bool:
        return stop.is_set() or (watch.stop is not None and watch.stop.is_set())

    def drive() -> None:  # the whole chain, one task; one item ahead, so the last is known as last
        try:
            item = next(iterator, _NOTHING)
            while item is not _NOTHING and not stopped():
                following = next(iterator, _NOTHING)
                if following is _NOTHING and closing is not None:
                    item = closing(item)
                newest[0] = (item, following is _NOTHING)
                if first[0] is _NOTHING:
                    first[0] = newest[0]
                changed.set()
                item = following
        finally:
            if hasattr(iterator, "close"):
                iterator.close()  # a stopped chain's cleanup (a `finally`) runs now

    global _streams
    future = compute.SCHEDULER.submit(drive, stop=stopped, on_wait=watch.on_wait)
    future.add_done_callback(lambda _: changed.set())
    with _streams_lock:
        _streams += 1
    try:
        shown = _NOTHING
        while True:
            if future.done() and not isinstance(future.exception(), (Stopped, type(None))):
                raise future.exception()
            current = newest[0] if shown is not _NOTHING else first[0]
            if current is _NOTHING or current is shown:
                if future.done():
                    return  # nothing (more) came
                changed.wait()  # a new item, or the end
                changed.clear()
                continue
            shown = current
            yield current
            if current[1]:
                return
            _wait(future, pace(period))
    finally:
        with _streams_lock:
            _streams -= 1
        stop.set()
        compute.SCHEDULER.wake()
        concurrent.futures.wait([future])


def _wait(future: concurrent.futures.Future, seconds: float) -> None:
    """Wait ``seconds``, or less if ``future`` ends first."""
    concurrent.futures.wait([future], timeout=seconds)
