"""How the app serves a room: queue sizes, how many run at once, and what a full server says.

The settings are environment variables (defaults for a free 2-core CPU Space; README, "Serving a
room"):

- ``DDPM_QUEUE_SIZE`` (256): requests waiting in all of Gradio's queues together.
- ``DDPM_EVENT_QUEUE`` (128): requests waiting for one endpoint, so that a flood of one kind (a
  room dragging a slider through the API) cannot fill the queue for the others.
- ``DDPM_QUICK_CONCURRENCY`` (2): quick handlers (the forward readouts, a digit pick, a lesson's
  plot) running at once per endpoint — one per core.
- ``DDPM_WATCHERS`` (256): visitors watching the shared streams at once (/compare, /generate).
  Watching costs no thread (see :mod:`.results`); what computes is bounded by ``DDPM_STREAMS``
  (2) chains at once and ``DDPM_STREAM_QUEUE`` (16) waiting, in :mod:`.results`.

A request refused because a queue is full gets HTTP 503 with a message that says the server is
busy and when to retry (Gradio's own says only that the queue is full), in the page and for API
clients alike.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
from gradio import route_utils

from .results import _env_int

QUEUE_SIZE = _env_int("DDPM_QUEUE_SIZE", 256)
EVENT_QUEUE = _env_int("DDPM_EVENT_QUEUE", 128)
QUICK_CONCURRENCY = _env_int("DDPM_QUICK_CONCURRENCY", 2)
WATCHERS = _env_int("DDPM_WATCHERS", 256)


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


def configure(demo: gr.Blocks) -> gr.Blocks:
    """Queue ``demo`` with this module's settings (see the module docstring)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=QUICK_CONCURRENCY)
    limit_queues(demo)
    return demo
