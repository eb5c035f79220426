"""Every setting of the serving layer, read once from the environment (defaults for a free 2-core
CPU Space; docs/serving.md explains how to size them for a room).

- ``DDPM_CHECKPOINT``: the model's folder or a shipped name (``default``, ``conditional``, ``eps``);
  unset: :data:`ddpm.checkpoint.DEFAULT` (read by :mod:`.runtime`).
- ``DDPM_QUEUE_SIZE`` (512): requests waiting in all of Gradio's queues together.
- ``DDPM_EVENT_QUEUE`` (256): requests waiting for one endpoint (a room of 200 opening the page at
  once sends 200), so that a flood of one kind (a room dragging a slider through the API) cannot
  fill the queue for the others.
- ``DDPM_QUICK_CONCURRENCY`` (2): quick handlers (the forward readouts, a digit pick, a lesson's
  plot) running at once per endpoint — one per core.
- ``DDPM_WATCHERS`` (256): visitors watching the shared streams at once (/compare, /generate).
  Watching costs no thread (:mod:`.results`). Gradio runs no more events at once than its
  ``max_threads`` (:data:`MAX_THREADS`).
- ``DDPM_MAX_ROWS`` (auto: 256 on a CPU, 4096 on a GPU): rows (images) per forward pass of the step
  scheduler (:mod:`.scheduler`): every running chain advances one step per tick, in one batch; a
  chain whose rows do not fit waits in line until some finish.
- ``DDPM_MAX_CHAINS`` (320): computations running or waiting at once (a room of 200, one chain
  each, fits); past it a new one is refused, told when to retry.
- ``DDPM_CACHE_MB`` (256): finished results kept for everyone (:mod:`.results`).
- ``DDPM_SESSION_SECONDS`` (60): how long Gradio's state of a session without an open page (an API
  client's, a closed tab's) is kept once its last event has ended (:mod:`.sessions`).
- ``DDPM_SESSIONS`` (1000): sessions kept at most, open pages included (Gradio's
  ``state_session_capacity``; past it the least recently used goes).
- ``DDPM_MALLOC_ARENAS`` (2): glibc's malloc arenas at most (0: glibc's default, 8 per core);
  ``MALLOC_ARENA_MAX``, if set, wins.
- ``DDPM_PAGE_CACHE`` (1): the page itself is built once and sent compressed (:mod:`.page_cache`);
  0 leaves every page to Gradio.
"""

from __future__ import annotations

import os


def env_int(name: str, default: int) -> int:
    """The whole number in environment variable ``name``, or ``default`` when it is unset or empty.

    Raises:
        ValueError: naming the variable when it holds something else.
    """
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as err:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from err


QUEUE_SIZE = env_int("DDPM_QUEUE_SIZE", 512)
EVENT_QUEUE = env_int("DDPM_EVENT_QUEUE", 256)
QUICK_CONCURRENCY = env_int("DDPM_QUICK_CONCURRENCY", 2)
WATCHERS = env_int("DDPM_WATCHERS", 256)
MAX_THREADS = WATCHERS + 64
"""Gradio's ``max_threads``: it also caps the events it runs at once, watchers included (its
default, 40, would hold a room's watchers of one shared stream in the queue)."""
MAX_ROWS = env_int("DDPM_MAX_ROWS", 0)
"""Rows per forward pass; 0: :data:`CPU_ROWS` or :data:`GPU_ROWS`, for the device (:mod:`.compute`)."""
CPU_ROWS = 256
GPU_ROWS = 4096
MAX_CHAINS = env_int("DDPM_MAX_CHAINS", 320)
CACHE_BYTES = env_int("DDPM_CACHE_MB", 256) * 2**20
PAGE_CACHE = bool(env_int("DDPM_PAGE_CACHE", 1))
SESSION_SECONDS = env_int("DDPM_SESSION_SECONDS", 60)
SESSIONS = env_int("DDPM_SESSIONS", 1000)
MALLOC_ARENAS = env_int("DDPM_MALLOC_ARENAS", 2)
SWEEP_SECONDS = 10.0
"""How often expired sessions are looked for (:mod:`.sessions`)."""

FRAME_SECONDS = 0.4
"""At most ~2.5 streamed frames a second, for a chain's own stream (:func:`.stream.paced`) and for
each watcher of a shared one (:class:`.results.Flight`): smooth enough to watch, and on two cores
every frame the server sends and the browser draws takes CPU from a running chain
(docs/performance.md)."""
