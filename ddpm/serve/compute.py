"""One thread per process for the app's network work, with its step scheduler.

PyTorch's CPU kernels run on OpenMP. Every thread that starts a parallel kernel gets a team of
OpenMP workers of its own, and once a process holds more such threads than it has cores, OpenMP
stops letting idle workers spin and puts them to sleep after every kernel instead. Gradio runs
handlers on a pool of worker threads, so a server whose handlers run the network from whichever
thread they land on soon holds several teams: on 2 cores each small convolution then paid a
wake-up and a 1000-step generation took twice as long (16.2 s against 7.2 s for the same loop
started from one thread). Running all of it on one long-lived thread keeps a single team, hot.

That thread is :data:`SCHEDULER`'s (:mod:`.scheduler`): :func:`call` runs a function there as a
task and waits for it; :func:`on_compute_thread` makes a handler do that; :func:`.stream.paced`
runs a whole chain there. The networks of :mod:`.runtime` are :func:`batched`, so the tasks'
network calls of one step share one forward pass. On a GPU the same thread queues the GPU's
kernels: one launch per step for the whole room.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import torch

from . import settings
from .scheduler import Batched, Scheduler

P = ParamSpec("P")
R = TypeVar("R")

NAME = "ddpm-compute"


def max_rows() -> int:
    """Rows per forward pass: ``DDPM_MAX_ROWS``, else the default of the device (:mod:`.settings`)."""
    if settings.MAX_ROWS:
        return settings.MAX_ROWS
    return settings.GPU_ROWS if torch.cuda.is_available() else settings.CPU_ROWS


SCHEDULER = Scheduler(max_rows(), NAME)
"""The app's compute thread and step scheduler."""


def on_thread() -> bool:
    """Whether the caller is the compute thread (a task, or the scheduler itself)."""
    return SCHEDULER.on_thread()


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` on the compute thread: its result, or its exception raised here.

    Called from the compute thread itself (a routed function calling another), it runs at once.
    """
    return SCHEDULER.call(fn, *args, **kwargs)


def on_compute_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Make a handler (a plain function, not a generator) run on the compute thread."""

    @functools.wraps(fn)
    def routed(*args: P.args, **kwargs: P.kwargs) -> R:
        return call(fn, *args, **kwargs)

    return routed


def batched(module: Any, methods: tuple[str, ...] = ()) -> Batched:
    """``module`` with its calls (and ``methods``) batched by :data:`SCHEDULER`."""
    return Batched(module, SCHEDULER, methods)
