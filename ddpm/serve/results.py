"""Results computed once for everyone: a bounded cache of finished results, and running
computations that identical requests join.

Every view is a pure function of its inputs (the digit, t, the seed, the sampler, the model), so
a lecture hall opening the same link needs one computation. :class:`Results` keeps finished
results (least recently used first out, bounded in bytes; the key is every input plus the
checkpoint's sha256) and lets a request that arrives while the same one is computing watch that
computation instead of starting another.

A stream's computation (a *flight*) runs on a thread of its own and belongs to no request: a
watcher that leaves (Stop, a closed page) does not stop it for the others, and it stops when its
last watcher leaves. Flights compute together: their chains share each step's forward pass
(:mod:`.scheduler`), which admits them as rows free up and tells a waiting flight's watchers its
place in line (the ``waiting`` frames). Past ``max_flights`` flights a new computation is refused
with :class:`Busy`, whose message says when to retry. Watchers are async generators: a room of
them waiting costs no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from . import settings
from .cache import LRU, MISSING, fingerprint, size_of
from .stream import WATCH, Watch

R = TypeVar("R")
CROWD = 10  # watchers of one flight before each gets fewer frames


class Busy(RuntimeError):
    """The server cannot take one more computation now; the message says when to retry."""


class Flight:
    """One running stream and its watchers. The thread publishes each frame; watchers take the
    newest at their own pace; the last frame is always delivered."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.frame: Any = MISSING
        self.seq = 0
        self.done = False
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.watchers: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    def publish(self, frame: Any = MISSING, done: bool = False, error: BaseException | None = None) -> None:
        with self.lock:
            if frame is not MISSING:
                self.frame, self.seq = frame, self.seq + 1
            self.done = self.done or done
            self.error = self.error or error
            watchers = list(self.watchers.values())
        for loop, event in watchers:
            with contextlib.suppress(RuntimeError):  # that watcher's loop has closed
                loop.call_soon_threadsafe(event.set)

    def pace(self) -> float:
        """Seconds between a watcher's frames: :data:`.settings.FRAME_SECONDS`, longer in a crowd, so that
        encoding and sending frames to a room does not take the cores from the computation."""
        return settings.FRAME_SECONDS * max(1.0, len(self.watchers) / CROWD)

    async def watch(self) -> AsyncIterator[Any]:
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        token = id(event)
        with self.lock:
            self.watchers[token] = (loop, event)
            if self.seq or self.done:
                event.set()
        seen = 0
        try:
            while True:
                await event.wait()
                event.clear()
                with self.lock:
                    seq, frame, done, error = self.seq, self.frame, self.done, self.error
                if error is not None:
                    raise error
                if seq > seen:
                    seen = seq
                    yield frame
                if done and seen == seq:
                    return
                if not done:
                    await asyncio.sleep(self.pace())
        finally:
            with self.lock:
                del self.watchers[token]
                left_alone = not self.watchers and not self.done
            if left_alone:
                self.stop.set()


class Results:
    """The shared results of one process: finished ones cached, running ones joined.

    ``max_bytes`` bounds the cache; past ``max_flights`` flights running or waiting for the
    scheduler, a new one is refused with :class:`Busy`, told to retry in about :meth:`estimate`.
    """

    def __init__(self, max_bytes: int, max_flights: int = 320) -> None:
        if max_flights < 0:
            raise ValueError(f"max_flights must be ≥ 0, got {max_flights}")
        self.cache = LRU(max_bytes)
        self.max_flights = max_flights
        self.lock = threading.Lock()
        self.flights: dict[Hashable, Flight] = {}
        self.pending: dict[Hashable, Future] = {}
        self.seconds: dict[str, float] = {}  # recent duration of a computation, per kind (for estimates)
        self.computed = self.hits = self.joined = 0

    def _lookup(self, key: Hashable) -> Any:
        value = self.cache.get(key)
        if value is not MISSING:
            self.hits += 1
        return value

    def _store(self, key: Hashable, value: Any, kind: str, seconds: float) -> None:
        with self.lock:
            self.cache.put(key, value, size_of(value))
            previous = self.seconds.get(kind)
            self.seconds[kind] = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    def estimate(self, kind: str) -> float:
        """Seconds until one of the running computations of ``kind`` ends (a rough guess: the
        recent duration of one)."""
        return self.seconds.get(kind, 15.0)

    def call(self, key: Hashable, fn: Callable[[], R], kind: str = "") -> R:
        """``fn()``, computed once per key: from the cache, or joined while it computes."""
        with self.lock:
            value = self._lookup(key)
            if value is not MISSING:
                return value
            future = self.pending.get(key)
            leader = future is None
            if leader:
                future = self.pending[key] = Future()
                self.computed += 1
            else:
                self.joined += 1
        if not leader:
            return future.result()
        start = time.perf_counter()
        try:
            value = fn()
        except BaseException as err:
            future.set_exception(err)
            raise
        finally:
            with self.lock:
                del self.pending[key]
        self._store(key, value, kind, time.perf_counter() - start)
        future.set_result(value)
        return value

    async def stream(
        self,
        key: Hashable,
        make: Callable[[], Iterator[Any]],
        kind: str = "",
        waiting: Callable[[int, float], Any] | None = None,
    ) -> AsyncIterator[Any]:
        """The frames of ``make()``, computed once per key. A finished result is the one last
        frame; a running one is joined; a new one waits for a slot, with ``waiting(position,
        seconds)`` frames meanwhile (if given)."""
        with self.lock:
            value = self._lookup(key)
            flight = None if value is not MISSING else self.flights.get(key)
            if flight is not None and flight.stop.is_set():
                flight = None  # its watchers all left and it is stopping: start afresh
            if value is MISSING and flight is None:
                if len(self.flights) >= self.max_flights:
                    n = len(self.flights)
                    wait = self.estimate(kind)
                    raise Busy(
                        f"The server is busy: {n} computations are running or waiting, as many as it "
                        f"takes at once. Retry in about {max(1, math.ceil(wait))} s."
                    )
                flight = self.flights[key] = Flight(key)
                self.computed += 1
                thread = threading.Thread(
                    target=self._fly, args=(flight, make, kind, waiting), name="ddpm-flight", daemon=True
                )
                thread.start()
            elif flight is not None:
                self.joined += 1
        if value is not MISSING:
            yield value
            return
        async for frame in flight.watch():
            yield frame

    def _fly(self, flight: Flight, make: Callable[[], Iterator[Any]], kind: str, waiting) -> None:
        def on_wait(position: int, seconds: float) -> None:  # the chain's place in the scheduler's line
            flight.publish(waiting(position, seconds))

        # this thread's: the chains this flight starts tell its watchers their place in line, and
        # stop at the scheduler's next tick once the last watcher has left
        WATCH.set(Watch(on_wait if waiting is not None else None, flight.stop))
        last, finished = MISSING, False
        try:
            start = time.perf_counter()
            frames = make()
            try:
                for frame in frames:
                    last = frame
                    flight.publish(frame)
                    if flight.stop.is_set():
                        break
                else:
                    finished = True
            finally:
                if hasattr(frames, "close"):
                    frames.close()  # its cleanup (a stopped chain) runs now
            if finished and last is not MISSING:
                self._store(flight.key, last, kind, time.perf_counter() - start)
        except BaseException as err:  # every watcher raises it; nothing is cached
            flight.publish(error=err)
        finally:
            with self.lock:
                if self.flights.get(flight.key) is flight:
                    del self.flights[flight.key]
            flight.publish(done=True)


RESULTS = Results(settings.CACHE_BYTES, settings.MAX_CHAINS)
"""The app's shared results (:mod:`.settings`)."""


def key_of(kind: str, fn: Callable, args: tuple, kwargs: dict, model: str) -> Hashable:
    """The cache key of a handler call: its kind, every argument (defaults filled in), the model."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return (kind, model, fingerprint(dict(bound.arguments)))


def shared_stream(
    kind: str, model: Callable[[], str], waiting: Callable[[int, float], Any] | None = None,
    results: Callable[[], Results] = lambda: RESULTS,
) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., AsyncIterator[Any]]]:  # fmt: skip
    """Make a generator handler shared: its frames computed once per input (and ``model()``, the
    checkpoint's fingerprint), finished results from the cache."""

    def decorate(fn: Callable[..., Iterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        @functools.wraps(fn)
        async def handler(*args, **kwargs):
            key = key_of(kind, fn, args, kwargs, model())
            async for frame in results().stream(key, lambda: fn(*args, **kwargs), kind, waiting):
                yield frame

        return handler

    return decorate


def shared_call(
    kind: str, model: Callable[[], str], results: Callable[[], Results] = lambda: RESULTS
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Make a plain handler shared: computed once per input and model, then from the cache."""

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            key = key_of(kind, fn, args, kwargs, model())
            return results().call(key, lambda: fn(*args, **kwargs), kind)

        return handler

    return decorate
