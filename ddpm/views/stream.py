"""Stream a long computation to the page without making it wait for the page.

A Gradio generator is resumed only after each frame it yields has been post-processed (a PNG
written to the cache) and sent; if the reverse chain ran inside it, every frame would pause the
chain. :func:`paced` runs the chain in a thread of its own instead and hands the page the newest
step now and then, so the chain's network (which releases the GIL) keeps computing while the server
encodes and sends frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_NOTHING = object()


def paced(items: Iterable[T], period: float, *, name: str = "ddpm-chain") -> Iterator[tuple[T, bool]]:
    """Iterate ``items`` in a background thread; yield ``(newest item, is_last)`` now and then.

    The newest item is yielded as soon as there is one, then again each time ``period`` seconds
    have passed since the consumer came back for more (a slow page gets fewer frames, and
    the computation never waits for it), and finally the last item with ``is_last = True``. Items
    in between are skipped here, so work that needs every item (keeping GIF frames, adding up a
    curve) belongs in ``items`` itself, which runs in the thread.

    Closing the generator (Gradio's Stop, a closed page) stops the thread before its next item and
    waits for it. An exception raised by ``items`` is raised here. An empty ``items`` yields
    nothing.
    """
    if period < 0:
        raise ValueError(f"period must be ≥ 0 seconds, got {period}")
    newest: list = [_NOTHING]
    error: list[BaseException] = []
    stop, changed, finished = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        try:
            for item in items:
                newest[0] = item
                changed.set()
                if stop.is_set():
                    break
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
            changed.wait()  # the first item, or the end
            changed.clear()
            if error:
                raise error[0]
            if finished.is_set():
                break
            if newest[0] is not shown:
                shown = newest[0]
                yield shown, False
            finished.wait(period)
        if newest[0] is not _NOTHING:
            yield newest[0], True
    finally:
        stop.set()
        thread.join()
