"""One thread per process for the app's network work on CPU.

PyTorch's CPU kernels run on OpenMP. Every thread that starts a parallel kernel gets a team of
OpenMP workers of its own, and once a process holds more such threads than it has cores, OpenMP
stops letting idle workers spin and puts them to sleep after every kernel instead. Gradio runs
handlers on a pool of worker threads, so a server whose handlers run the network from whichever
thread they land on soon holds several teams: on 2 cores each small convolution then paid a
wake-up and a 1000-step generation took twice as long (16.2 s against 7.2 s for the same loop
started from one thread). Running all of it on one long-lived thread keeps a single team, hot.

:func:`call` runs a function there and waits for it; :func:`on_compute_thread` makes a handler do
that; :func:`.stream.paced` runs a chain there step by step, so two chains (or a chain
and an inspector click) take turns instead of competing. On a GPU the same thread queues the GPU's
kernels, which costs nothing.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

NAME = "ddpm-compute"
_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_local = threading.local()


def _mark() -> None:
    _local.compute = True


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:  # one per process: a forked child (a ZeroGPU worker) must not reuse its parent's
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix=NAME, initializer=_mark))
        return _pool[1]


def on_thread() -> bool:
    """Whether the caller is the compute thread."""
    return getattr(_local, "compute", False)


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` on the compute thread: its result, or its exception raised here.

    Called from the compute thread itself (a routed function calling another), it runs at once.
    """
    if on_thread():
        return fn(*args, **kwargs)
    return _executor().submit(fn, *args, **kwargs).result()


def on_compute_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Make a handler (a plain function, not a generator) run on the compute thread."""

    @functools.wraps(fn)
    def routed(*args: P.args, **kwargs: P.kwargs) -> R:
        return call(fn, *args, **kwargs)

    return routed
