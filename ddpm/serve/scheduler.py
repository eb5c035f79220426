"""One forward pass per step for every running chain: the step scheduler of the compute thread.

A room of students each running a chain of their own would otherwise cost one network call per
student per step, while the network (tiny, 28×28) costs far less per image in a batch: on 2 CPU
cores batch 1 took 7.4 ms and batch 64 took 84 ms (1.3 ms per image). So every piece of network
work of the app runs as a *task* of one :class:`Scheduler`, on the compute thread:

- A task is a function (a plain handler, or a chain driven by :func:`.stream.paced`) running in a
  greenlet of its own on the compute thread. When it calls a network wrapped by :func:`batched`
  (the runtime's models and the classifier are), it hands the scheduler its inputs, a
  :class:`Forward` request, and sleeps until the output is there.
- At each **tick** the scheduler runs **one forward pass per network** over every request of the
  running tasks (each row with its own t and label: chains at different t share a batch), hands
  each task its slice of the output, and lets each run on to its next request. A task whose step
  calls two networks (a chain and its classifier read-out) gets both within one tick, so every
  running chain advances one step per tick, whatever its batch size.
- Tasks join between ticks. A task is **admitted** when its rows fit under ``max_rows`` (a setting
  sized for the machine, :data:`.settings.MAX_ROWS`); until then it waits in line, in order of
  arrival, told its place and a wait estimated from the measured tick time. A task alone always
  runs, however many rows it asks for.
- A task whose ``stop`` event is set (Gradio's Stop, a closed page) leaves at the next tick: its
  greenlet gets ``GreenletExit`` where it waits, so its ``finally`` blocks run, and its rows free up.

Everything stays on one OS thread, so PyTorch keeps one OpenMP team, hot (see :mod:`.compute`),
and a chain's own arithmetic (its noise, from its own generator) runs exactly as it would alone:
its results do not depend on its company, up to the float rounding of a larger batch.

A task must not block on something only the compute thread can do, nor switch greenlets while in
``torch.inference_mode()`` (a network called there runs at once, unbatched). Called outside a task
(a test, a command-line tool), a batched network is simply called.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, NamedTuple

import greenlet
import torch

__all__ = ["Batched", "Forward", "Scheduler", "Stopped"]


class Stopped(Exception):
    """The result of a task stopped by its ``stop`` event before it finished."""


class Forward(NamedTuple):
    """One network call a task hands the scheduler: ``module.<method>(*args)`` on its ``rows``."""

    module: Any
    method: str
    args: tuple[torch.Tensor | None, ...]
    rows: int

    def key(self) -> Hashable:
        """Requests with the same key run as one call, their rows concatenated."""
        pattern = tuple(None if a is None else (tuple(a.shape[1:]), a.dtype, a.device) for a in self.args)
        return (id(self.module), self.method, pattern)


class _Task:
    """A function running in a greenlet on the compute thread, and its place in the scheduler."""

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        stop: threading.Event | Callable[[], bool] | None,
        on_wait: Callable[[int, float], None] | None,
    ) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.stop, self.on_wait = stop, on_wait
        self.future: Future = Future()
        self.glet: _Greenlet | None = None
        self.request: Forward | None = None
        self.admitted = False
        self.rows = 0
        self.ticks = 0
        self.told: int | None = None

    def stopped(self) -> bool:
        if self.stop is None:
            return False
        return self.stop.is_set() if isinstance(self.stop, threading.Event) else self.stop()


class _Greenlet(greenlet.greenlet):
    task: _Task
    scheduler: Scheduler


class _Done(NamedTuple):
    value: Any


_local = threading.local()


class Scheduler:
    """The compute thread and its step scheduler (see the module docstring).

    Args:
        max_rows: rows per forward pass before a new task waits in line (≥ 1).
        name: the compute thread's name.
    """

    def __init__(self, max_rows: int, name: str = "ddpm-compute") -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be ≥ 1, got {max_rows}")
        self.max_rows, self.name = max_rows, name
        self.cond = threading.Condition()
        self.inbox: deque[_Task] = deque()
        self.running: list[_Task] = []  # admitted, in order of admission
        self.line: deque[_Task] = deque()  # waiting for rows, in order of arrival
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.hub: greenlet.greenlet | None = None
        # measured (exponential moving averages), for estimates and the docs
        self.tick_seconds = 0.0
        self.ticks_per_task = 0.0
        self.ticks = self.forwards = self.rows_run = 0
        self.unfinished = 0  # tasks submitted and not ended
        self.closing = False

    # -- from any thread -------------------------------------------------------------------------

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        stop: threading.Event | Callable[[], bool] | None = None,
        on_wait: Callable[[int, float], None] | None = None,
        **kwargs: Any,
    ) -> Future:
        """Run ``fn(*args, **kwargs)`` as a task; its future gets the result, the exception, or
        :class:`Stopped` when ``stop`` was set (or returned True) first. ``on_wait(position,
        seconds)`` is called (on the compute thread: it must be quick) when the task's place in
        line changes."""
        task = _Task(fn, args, kwargs, stop, on_wait)
        with self.cond:
            self._start_thread()
            self.inbox.append(task)
            self.unfinished += 1
            self.cond.notify_all()
        return task.future

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` as a task, waited for: its result, or its exception raised here.
        Called on the compute thread itself (a task calling another function), it runs at once."""
        if self.on_thread():
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def on_thread(self) -> bool:
        """Whether the caller runs on this scheduler's compute thread."""
        return getattr(_local, "scheduler", None) is self and self.pid == os.getpid()

    def estimate(self, position: int) -> float:
        """Seconds until the task ``position``-th in line (from 1) is admitted: the measured tick
        time × the measured ticks a task takes × the rounds of running tasks ahead of it."""
        rounds = math.ceil(position / max(1, len(self.running)))
        return self.tick_seconds * max(1.0, self.ticks_per_task) * rounds

    def tasks(self) -> int:
        """Tasks submitted and not yet ended (running, waiting in line, or about to start)."""
        return self.unfinished

    def wake(self) -> None:
        """Have the compute thread look at its tasks now (a stop event set from outside)."""
        with self.cond:
            self.cond.notify_all()

    # -- in a task -------------------------------------------------------------------------------

    def forward(self, module: Any, method: str, *args: torch.Tensor | None) -> Any:
        """``getattr(module, method)(*args)``, batched with the other tasks' requests at the next
        tick when called from a task; called at once otherwise."""
        current = greenlet.getcurrent()
        if (
            not isinstance(current, _Greenlet)
            or current.scheduler is not self
            or torch.is_inference_mode_enabled()
        ):
            return getattr(module, method)(*args)
        rows = next(a.shape[0] for a in args if a is not None)
        grad = torch.is_grad_enabled()  # grad mode is per thread: keep this task's own
        try:
            return self.hub.switch(Forward(module, method, args, rows))
        finally:
            torch.set_grad_enabled(grad)

    # -- the compute thread ----------------------------------------------------------------------

    def _start_thread(self) -> None:  # under self.cond
        if self.thread is not None and self.pid == os.getpid():
            return
        # first use, or a forked child (a ZeroGPU worker) that must not count on its parent's thread
        self.pid, self.inbox, self.running, self.line = os.getpid(), deque(), [], deque()
        self.closing = False
        self.thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every task and end the compute thread (at exit: a thread killed by the interpreter's
        finalization while it holds greenlets aborts the process)."""
        thread = self.thread
        if thread is None or self.pid != os.getpid() or not thread.is_alive():
            return
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _serve(self) -> None:
        _local.scheduler = self
        self.hub = greenlet.getcurrent()
        while True:
            with self.cond:
                while not self.inbox and not self.running and not self.line and not self.closing:
                    self.cond.wait()
                arrived = list(self.inbox)
                self.inbox.clear()
                closing = self.closing
            if closing:
                for task in arrived:
                    with self.cond:
                        self.unfinished -= 1
                    task.future.set_exception(Stopped("the scheduler closed"))
                for task in [*self.running, *self.line]:
                    self._stop(task)
                self.thread = None
                return
            for task in arrived:
                task.glet = _Greenlet(self._body(task), parent=self.hub)
                task.glet.task, task.glet.scheduler = task, self
                self._resume(task)
            self._admit()
            if self.running:
                self._tick()

    @staticmethod
    def _body(task: _Task) -> Callable[[], _Done]:
        def run(*_: Any) -> _Done:  # started with switch(None), as every resumption
            torch.set_grad_enabled(True)  # the default, whatever the task before left (a task's own)
            return _Done(task.fn(*task.args, **task.kwargs))

        return run

    def _resume(self, task: _Task, value: Any = None, error: BaseException | None = None) -> None:
        """Run ``task`` until it asks for a forward pass or ends."""
        try:
            out = task.glet.throw(error) if error is not None else task.glet.switch(value)
        except BaseException as err:  # the task raised: its caller gets the exception
            self._end(task)
            task.future.set_exception(err)
            return
        if isinstance(out, Forward):
            task.request = out
            if task.admitted:
                task.rows = max(task.rows, out.rows)
            elif task not in self.line:
                self.line.append(task)
            return
        self._end(task)
        if isinstance(out, greenlet.GreenletExit):
            task.future.set_exception(Stopped("stopped"))
        else:
            task.future.set_result(out.value)

    def _end(self, task: _Task) -> None:
        with self.cond:
            self.unfinished -= 1
        # its greenlet is dead: drop it here, on its own thread (a greenlet left for the garbage
        # collector of another thread, at exit, aborted the process)
        task.glet.task = task.glet.scheduler = None
        task.glet, task.request = None, None
        if task.admitted:
            self.running.remove(task)
            self.ticks_per_task = _average(self.ticks_per_task, task.ticks)
        elif task in self.line:
            self.line.remove(task)

    def _stop(self, task: _Task) -> None:
        """End a stopped task where it waits (its ``finally`` blocks run)."""
        while task.glet is not None:
            self._resume(task, error=greenlet.GreenletExit())
            if task.glet is None:
                return
            # it asked for the network again while stopping: answer it alone, then stop it again
            request, task.request = task.request, None
            self._resume_with(task, request, _call(request))

    def _admit(self) -> None:
        """Admit tasks from the head of the line while their rows fit; tell the others their place."""
        for task in [t for t in self.line if t.stopped()]:
            self._stop(task)
        rows = sum(t.rows for t in self.running)
        while self.line:
            task = self.line[0]
            if self.running and rows + task.request.rows > self.max_rows:
                break
            self.line.popleft()
            task.admitted, task.rows = True, task.request.rows
            self.running.append(task)
            rows += task.rows
        for position, task in enumerate(self.line, 1):
            if task.on_wait is not None and position != task.told:
                task.told = position
                task.on_wait(position, self.estimate(position))

    def _tick(self) -> None:
        """One forward pass per network over every running task's request; each task once per network."""
        start = time.perf_counter()
        for task in [t for t in self.running if t.stopped()]:
            self._stop(task)
        served: set[tuple[int, Hashable]] = set()
        while True:
            pending = [
                t for t in self.running if t.request is not None and (id(t), t.request.key()) not in served
            ]
            if not pending:
                break
            groups: dict[Hashable, list[_Task]] = {}
            for task in pending:
                groups.setdefault(task.request.key(), []).append(task)
            answers: list[tuple[_Task, Forward, Any]] = []
            for key, tasks in groups.items():
                requests = [t.request for t in tasks]
                for task, answer in zip(tasks, self._run(requests), strict=True):
                    served.add((id(task), key))
                    answers.append((task, task.request, answer))
            for task, request, answer in answers:
                task.request = None
                self._resume_with(task, request, answer)
        for task in self.running:
            task.ticks += 1
        self.ticks += 1
        self.tick_seconds = _average(self.tick_seconds, time.perf_counter() - start)

    def _resume_with(self, task: _Task, request: Forward, answer: Any) -> None:
        if isinstance(answer, BaseException):
            self._resume(task, error=answer)
        else:
            self._resume(task, answer)

    def _run(self, requests: list[Forward]) -> list[Any]:
        """The outputs (or exceptions) of requests that share a key: one call on their rows together."""
        self.forwards += 1
        self.rows_run += sum(r.rows for r in requests)
        if len(requests) == 1:
            return [_call(requests[0])]
        first = requests[0]
        args = tuple(
            None if first.args[i] is None else torch.cat([r.args[i] for r in requests])
            for i in range(len(first.args))
        )
        joined = _call(Forward(first.module, first.method, args, sum(r.rows for r in requests)))
        if isinstance(joined, BaseException):  # let each request fail (or not) on its own
            return [_call(r) for r in requests]
        return _split(joined, [r.rows for r in requests])


def _call(request: Forward) -> Any:
    """The output of one request, or the exception it raised."""
    try:
        with torch.no_grad():
            return getattr(request.module, request.method)(*request.args)
    except Exception as err:
        return err


def _split(output: Any, sizes: list[int]) -> list[Any]:
    """Cut a batched output (a tensor, or a tuple of them) into each request's rows."""
    if isinstance(output, torch.Tensor):
        return list(output.split(sizes))
    parts = [_split(o, sizes) for o in output]
    return [type(output)(p) for p in zip(*parts, strict=True)]


def _average(mean: float, value: float, weight: float = 0.2) -> float:
    return value if mean == 0.0 else (1 - weight) * mean + weight * value


class Batched:
    """A network whose calls (and ``methods``) go through a :class:`Scheduler`.

    Everything else (``config``, ``parameters()``, ``eval()``, …) is the network's own, so callers
    treat it as the network. For a class-conditional UNet (``config.num_classes`` > 0), a call
    without labels is given the null label, so that chains with and without a class share a batch.
    """

    def __init__(self, module: Any, scheduler: Scheduler, methods: tuple[str, ...] = ()) -> None:
        null = getattr(getattr(module, "config", None), "num_classes", 0) or None
        self.__dict__.update(module=module, scheduler=scheduler, methods=methods, null=null)

    def __call__(self, *args: torch.Tensor | None) -> Any:
        if self.null is not None and (len(args) == 2 or args[2] is None):  # (x, t): the null label
            args = (args[0], args[1], torch.full_like(args[1], self.null))
        return self.scheduler.forward(self.module, "__call__", *args)

    def __getattr__(self, name: str) -> Any:  # only for what the wrapper itself does not have
        if name in self.methods:
            return lambda *args: self.scheduler.forward(self.module, name, *args)
        return getattr(self.module, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.module, name, value)

    def __repr__(self) -> str:
        return f"Batched({self.module!r})"
