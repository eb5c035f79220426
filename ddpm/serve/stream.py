"""Stream a long computation to the page without making it wait for the page.

A Gradio generator is resumed only after each frame it yields has been post-processed (its
images encoded as PNG) and sent; if the reverse chain ran inside it, every frame would pause the
chain. :func:`paced` drives the chain from a thread of its own instead, each step computed on the
app's compute thread (:mod:`.compute`), and hands the page the newest step now and
then, so the network (which releases the GIL) keeps computing while the server encodes and sends
frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from . import compute, settings

T = TypeVar("T")

_NOTHING = object()


def paced(
    items: Iterable[T], period: float | None = None, *, name: str = "ddpm-chain"
) -> Iterator[tuple[T, bool]]:
    """Iterate ``items`` from a background thread; yield ``(newest item, is_last)`` now and then.

    The newest item is yielded as soon as there is one, then again each time ``period`` seconds
    (default :data:`.settings.FRAME_SECONDS`) have passed since the consumer came back for more (a slow
    page gets fewer frames, and the computation never waits for it), and finally the last item,
    once, with ``is_last = True`` (the chain runs one item ahead of what it hands out, so that it
    knows which is last). Items in between are skipped here, so work that needs every item
    (keeping GIF frames, adding up a curve) belongs in ``items`` itself, whose every step runs on
    the compute thread.

    Closing the generator (Gradio's Stop, a closed page) stops the chain before its next item,
    closes ``items`` and waits for that. An exception raised by ``items`` is raised here. An
    empty ``items`` yields nothing.
    """
    if period is None:
        period = settings.FRAME_SECONDS
    if period < 0:
        raise ValueError(f"period must be ≥ 0 seconds, got {period}")
    newest: list = [_NOTHING]
    error: list[BaseException] = []
    stop, changed, finished = threading.Event(), threading.Event(), threading.Event()
    iterator = iter(items)

    def work() -> None:
        try:  # one item ahead, so the last one is known to be last when it is published
            item = compute.call(next, iterator, _NOTHING)
            while item is not _NOTHING and not stop.is_set():
                following = compute.call(next, iterator, _NOTHING)
                newest[0] = (item, following is _NOTHING)
                changed.set()
                item = following
            if stop.is_set() and hasattr(iterator, "close"):
                compute.call(iterator.close)  # run its cleanup (e.g. a `finally`) now
        except BaseException as exc:  # handed to the consumer, which raises it
            error.append(exc)
        finally:
            finished.set()
            changed.set()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        shown = _NOTHING
        while True:
            changed.wait()  # a new item, or the end
            changed.clear()
            if error:
                raise error[0]
            current = newest[0]
            if current is not _NOTHING and current is not shown:
                shown = current
                yield current
                if current[1]:
                    return
                finished.wait(period)
            elif finished.is_set():
                return  # nothing came
    finally:
        stop.set()
        thread.join()
