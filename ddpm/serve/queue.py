"""How the app serves a room: Gradio's queue with this layer's sizes, and what a full server says.

The sizes are environment settings (:mod:`.settings`; docs/serving.md). Launch with
:func:`launch_options`. A request refused because a queue is full gets HTTP 503 with a message that
says the server is busy and when to retry (Gradio's own says only that the queue is full), in the
page and for API clients alike.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
from gradio import route_utils
from starlette.middleware import Middleware

from .engine import LoadRoute
from .page_cache import PageCache
from .sessions import Sessions, limit_arenas
from .settings import EVENT_QUEUE, MAX_THREADS, PAGE_CACHE, QUEUE_SIZE, QUICK_CONCURRENCY, SESSIONS
from .static_files import StaticFiles


def launch_options() -> dict[str, Any]:
    """The keyword arguments of ``demo.launch`` that serve a room: Gradio's thread limit, the sessions
    it keeps at most, and four middlewares of the app Gradio creates, outermost first: the static
    files (:mod:`.static_files`), the server's load for the page's engine (:mod:`.engine`), the
    expiry of unused sessions (:mod:`.sessions`) and the page cache."""
    middleware = [Middleware(StaticFiles), Middleware(LoadRoute), Middleware(Sessions)]
    middleware += [Middleware(PageCache)] if PAGE_CACHE else []
    return {"max_threads": MAX_THREADS, "state_session_capacity": SESSIONS,
            "app_kwargs": {"middleware": middleware}}  # fmt: skip


def busy_message(waiting: int, seconds: float) -> str:
    """What a refused request is told."""
    waiting_text = "1 request is waiting" if waiting == 1 else f"{waiting} requests are waiting"
    return f"The server is busy: {waiting_text}. Retry in about {max(1, math.ceil(seconds))} s."


def retry_seconds(queue: Any, fn: Any, waiting: int) -> float:
    """A guess at when a place frees up: the endpoint's mean time (Gradio measures it) times the
    requests ahead, over how many run at once."""
    event_queue = queue.event_queue_per_concurrency_id.get(fn.concurrency_id)
    limit = (event_queue.concurrency_limit if event_queue else None) or 1
    stats = queue.process_time_per_fn.get(fn)
    each = stats.avg_time if stats is not None and stats.count else 1.0
    return each * (waiting + 1) / limit


def limit_queues(demo: gr.Blocks, per_event: int = EVENT_QUEUE) -> None:
    """Refuse a request when its endpoint already has ``per_event`` waiting, and word every
    refusal for a full queue as :func:`busy_message`. Call after ``demo.queue(...)``."""
    queue = demo._queue
    push = queue.push

    async def limited_push(body, request, username):
        try:
            fn = route_utils.get_fn(demo, None, body)
        except Exception:  # no such function: Gradio's own push says so
            fn = None
        if fn is not None:
            event_queue = queue.event_queue_per_concurrency_id.get(fn.concurrency_id)
            waiting = len(event_queue.queue) if event_queue else 0
            if waiting >= per_event:
                return False, busy_message(waiting, retry_seconds(queue, fn, waiting)), "queue_full"
        success, detail, state = await push(body, request, username)
        if state == "queue_full":
            waiting = len(queue)
            seconds = retry_seconds(queue, fn, waiting) if fn is not None else 5.0
            detail = busy_message(waiting, seconds)
        return success, detail, state

    queue.push = limited_push


ANALYTICS_EVERY = 500  # events between two summaries of Gradio's monitoring statistics
ANALYTICS_EVENTS = 2000  # events those statistics keep


def thin_analytics(demo: gr.Blocks) -> None:
    """Let Gradio summarize its per-event statistics every :data:`ANALYTICS_EVERY` events instead of
    after each one. By default it builds a pandas table of the last 10 000 events (grouped,
    percentiles) after every event: in a lecture's worth of slider updates that summary came to
    cost more server CPU than the update itself. (Gradio reads the same settings from
    ``GRADIO_ANALYTICS_CACHE_FREQUENCY`` and ``GRADIO_ANALYTICS_MAX_EVENTS`` when it creates the
    queue; they are set here on the queue itself, whatever the environment says.)"""
    queue = demo._queue
    if hasattr(queue, "ANAYLTICS_CACHE_FREQUENCY"):  # sic: Gradio's spelling
        queue.ANAYLTICS_CACHE_FREQUENCY = ANALYTICS_EVERY
    if hasattr(queue, "ANALYTICS_MAX_EVENTS"):
        queue.ANALYTICS_MAX_EVENTS = ANALYTICS_EVENTS


def configure(demo: gr.Blocks) -> gr.Blocks:
    """Queue ``demo`` with the settings of :mod:`.settings` (see the module docstring), and cap glibc's
    arenas before the server's threads start (:func:`.sessions.limit_arenas`)."""
    limit_arenas()
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=QUICK_CONCURRENCY)
    limit_queues(demo)
    thin_analytics(demo)
    return demo
