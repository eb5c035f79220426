"""One decorator for every handler the app serves: :func:`endpoint`, with its layers in one order.

A handler is a plain function (returns its outputs) or a generator (yields frames). Outside in,
:func:`endpoint` gives it:

1. **User errors.** The library's ``ValueError`` (bad input, the value named) and
   :class:`.results.Busy` (a full server, with when to retry) become ``gr.Error`` messages, for
   the page and API clients alike; anything else is a bug and reaches Gradio as it is.
2. **A shared result** (with ``share=kind``). Every view is a pure function of its inputs and the
   model, so identical requests share one computation (:mod:`.results`): a finished one comes from
   the cache, a running one is joined, and a new stream starts at once (while its chain waits for
   rows in the scheduler's line, its watchers get ``waiting(position, seconds)`` frames) or, past
   ``DDPM_MAX_CHAINS``, is refused with ``Busy``. The key is every argument plus ``model()``, the
   fingerprint of the networks the handler uses.
3. **The GPU** (with ``gpu_seconds``). On a ZeroGPU Space the GPU is attached for at most that long
   while the handler computes; a cached or joined result never asks for it. Elsewhere a no-op.
4. **The compute thread** (plain handlers, unless ``compute=False``). The network runs on one
   thread per process (:mod:`.compute`), as tasks of its step scheduler (:mod:`.scheduler`), whose
   network calls share one forward pass per step; a generator handler drives its chain with
   :func:`.stream.paced`, which runs it there as one task.

:func:`first_outputs` then makes an API endpoint of a shared stream whose page event gets more
outputs (a player's data) from the same computation.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import gradio as gr

from .compute import on_compute_thread
from .results import Busy, shared_call, shared_stream
from .runtime import gpu, model_fingerprint

F = TypeVar("F", bound=Callable)


def user_errors(fn: F) -> F:
    """``fn`` with the library's ValueErrors (bad input) and :class:`.results.Busy` (a full server)
    raised as gr.Error messages for the user.

    Works for plain, generator and async generator handlers (Gradio streams the latter two, so the
    wrapper must stay a function of the same kind).
    """
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def watch(*args, **kwargs):
            try:
                async for frame in fn(*args, **kwargs):
                    yield frame
            except (ValueError, Busy) as err:
                raise gr.Error(str(err)) from err

        return watch  # type: ignore[return-value]

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (ValueError, Busy) as err:
                raise gr.Error(str(err)) from err

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, Busy) as err:
            raise gr.Error(str(err)) from err

    return call  # type: ignore[return-value]


def endpoint(
    share: str | None = None,
    *,
    model: Callable[[], str] = model_fingerprint,
    gpu_seconds: int | None = None,
    waiting: Callable[[int, float], Any] | None = None,
    compute_thread: bool = True,
) -> Callable[[Callable], Callable]:
    """Serve a handler with the layers of the module docstring, always in that order.

    Args:
        share: the kind of result (a name in the cache key); None: computed for each request.
        model: the fingerprint of the networks the handler uses (a part of the shared key).
        gpu_seconds: the longest the handler holds a ZeroGPU Space's GPU; None: it needs none.
        waiting: for a shared stream, the frame its watchers see while it waits for a slot.
        compute_thread: run a plain handler on the compute thread (False for quick handlers that
            run no network, such as the forward view's, which must not wait behind a chain).

    Returns:
        A decorator. A generator handler becomes an async generator (shared) or stays a
        generator; a plain one stays plain.
    """

    def decorate(fn: Callable) -> Callable:
        served = fn
        streams = inspect.isgeneratorfunction(fn)
        if compute_thread and not streams:
            served = on_compute_thread(served)
        if gpu_seconds is not None:
            served = gpu(gpu_seconds)(served)
        if share is not None:  # the app's RESULTS (:mod:`.results`), looked up at each call
            served = (shared_stream(share, model, waiting) if streams else shared_call(share, model))(served)
        return user_errors(served)

    return decorate


def first_outputs(stream: Callable[..., AsyncIterator[tuple]], n: int) -> Callable[..., AsyncIterator[tuple]]:
    """The same stream with only each frame's first ``n`` outputs: an API endpoint beside the page's
    own event, which gets more (a player's data) from the same shared computation."""

    @functools.wraps(stream)
    async def api(*args, **kwargs):
        async for frame in stream(*args, **kwargs):
            yield tuple(frame[:n])

    return api
