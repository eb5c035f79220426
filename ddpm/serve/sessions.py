"""What the server keeps per visitor, and for how long: sessions expire once nobody uses them.

Gradio keeps a ``SessionState`` for every session hash it has seen: a copy of every component's
configuration (this app's ~240 components: about 0.4 MB) and the last value of every output the
session was sent (a streamed frame's PNGs, a player's data). It drops one only when 10 000 exist
(``state_session_capacity``); a closed page's is marked closed and kept. Its queue keeps, per
session, a message queue and a set of event ids besides, and a stream dropped mid-way (a closed tab)
leaves its id there. Every API call with a session of its own (a script's, a benchmark's) and every
page ever opened thus stayed in memory: measured in-process, 0.4–0.5 MB of Python objects a session
(600 lists and 500 dicts), and glibc kept 1–1.5 MB more per chain as free memory it did not give
back, pinned between the sessions' small blocks (docs/serving.md, "Memory").

:class:`Sessions`, an ASGI middleware inside Gradio's own, counts each session's open heartbeat
streams (an open page holds one, ``/heartbeat/<session>``; so does a ``gradio_client.Client``) and,
on Gradio's event loop, every :data:`.settings.SWEEP_SECONDS`, :func:`sweep` drops the state and the
queue's bookkeeping of every session that has no open page, no event queued or running, and has
been idle for :data:`.settings.SESSION_SECONDS`. Then, when no chain is computing, :func:`trim` has
glibc give its free memory back to the system. :func:`limit_arenas` caps glibc's arenas (one per
thread by default, up to 8 per core: Gradio runs handlers on hundreds of threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import datetime
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from . import compute, results, settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEARTBEAT = re.compile(r"/heartbeat/([^/]+)/?$")
"""Gradio's heartbeat route: a page (or a gradio_client) holds it open while it is there."""

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def _libc() -> Any | None:
    """glibc, or None (another C library, another system)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


LIBC = _libc()


def limit_arenas(arenas: int = settings.MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (0: leave glibc's default) unless ``MALLOC_ARENA_MAX``
    is set; returns whether the cap was set. Arenas made before stay."""
    if arenas < 0:
        raise ValueError(f"arenas must be ≥ 0, got {arenas}")
    if not arenas or LIBC is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(LIBC.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give glibc's free memory back to the system (``malloc_trim(0)``); whether any was."""
    return bool(LIBC.malloc_trim(0)) if LIBC is not None else False


def sweep(
    app: Any, open_pages: Mapping[str, int], idle_seconds: float, now: datetime.datetime | None = None
) -> int:
    """Drop the state of every session of Gradio ``app`` (its ``state_holder`` and its queue's
    per-session bookkeeping) that has no open page in ``open_pages`` (session → heartbeat streams),
    no event queued or running, and has been unused for ``idle_seconds``; returns how many.

    Call it on Gradio's event loop (where Gradio itself reads and writes these)."""
    if idle_seconds < 0:
        raise ValueError(f"idle_seconds must be ≥ 0, got {idle_seconds}")
    holder, queue = app.state_holder, app.get_blocks()._queue
    busy = {event.session_hash for event in list(queue.event_ids_to_events.values())}
    cutoff = (now or datetime.datetime.now()) - datetime.timedelta(seconds=idle_seconds)
    with holder.lock:
        gone = [
            session
            for session, used in list(holder.time_last_used.items())
            if used <= cutoff and session not in busy and not open_pages.get(session)
        ]
        for session in gone:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
    for session in gone:
        queue.pending_event_ids_session.pop(session, None)
        queue.pending_messages_per_session.pop(session, None)
    return len(gone)


def idle() -> bool:
    """Whether no chain is computing (nothing in the step scheduler, no shared stream flying)."""
    return not compute.SCHEDULER.tasks() and not results.RESULTS.flights


class Sessions:
    """ASGI middleware: counts open pages, and sweeps expired sessions on Gradio's loop.

    ``idle_seconds`` (:data:`.settings.SESSION_SECONDS`) is how long a session without an open
    page and without a running event is kept; ``every`` (:data:`.settings.SWEEP_SECONDS`) how
    often it looks. ``swept`` and ``trims`` count what it did (for tests and benchmarks).
    """

    def __init__(
        self,
        app: ASGIApp,
        idle_seconds: float = settings.SESSION_SECONDS,
        every: float = settings.SWEEP_SECONDS,
    ) -> None:
        if idle_seconds < 0 or every <= 0:
            raise ValueError(f"idle_seconds must be ≥ 0 and every > 0, got {idle_seconds} and {every}")
        self.app, self.idle_seconds, self.every = app, idle_seconds, every
        self.open: Counter[str] = Counter()  # session -> heartbeat streams open now
        self.task: asyncio.Task | None = None
        self.swept = self.trims = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.task is None and scope.get("type") in ("http", "websocket") and "app" in scope:
            self.task = asyncio.get_running_loop().create_task(self._sweep_forever(scope["app"]))
        match = HEARTBEAT.search(scope.get("path", "")) if scope.get("type") == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        session = match.group(1)
        self.open[session] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[session] -= 1
            if self.open[session] <= 0:
                del self.open[session]

    async def _sweep_forever(self, app: Any) -> None:
        dirty = False  # sessions dropped or chains run since the last trim
        ticks = -1
        while True:
            await asyncio.sleep(self.every)
            with contextlib.suppress(AttributeError):  # not yet launched, or no queue
                self.swept += (removed := sweep(app, self.open, self.idle_seconds))
                dirty = dirty or removed > 0
            dirty = dirty or compute.SCHEDULER.ticks != ticks
            ticks = compute.SCHEDULER.ticks
            if dirty and idle():
                await asyncio.to_thread(trim)
                self.trims += 1
                dirty = False
