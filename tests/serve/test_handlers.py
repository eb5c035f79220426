"""The one decorator of every handler: user errors, shared result, GPU, compute thread, in that order."""

import asyncio
import functools
import threading

import gradio as gr
import pytest

from ddpm.serve import compute, handlers, results, settings
from ddpm.serve.handlers import endpoint, first_outputs
from ddpm.serve.results import Busy, Results


@pytest.fixture(autouse=True)
def fresh_results(monkeypatch):
    """Each test its own shared results (the app's are read at each call), frames unpaced."""
    monkeypatch.setattr(results, "RESULTS", Results(max_bytes=2**20))
    monkeypatch.setattr(settings, "FRAME_SECONDS", 0.0)


@pytest.fixture
def gpu_calls(monkeypatch):
    """Stand in for ZeroGPU's spaces.GPU: record each time the GPU would be attached."""
    calls = []

    def fake_gpu(duration):
        def wrap(fn):
            @functools.wraps(fn)
            def attached(*args, **kwargs):
                calls.append(duration)
                return fn(*args, **kwargs)

            return attached

        return wrap

    monkeypatch.setattr(handlers, "gpu", fake_gpu)
    return calls


def collect(stream) -> list:
    async def run():
        return [frame async for frame in stream]

    return asyncio.run(run())


def test_bad_input_and_a_full_server_become_messages_and_a_bug_stays_a_bug():
    @endpoint()
    def plain(kind: str):
        raise {"value": ValueError("t must be in [1, 1000], got 0"), "busy": Busy("busy, retry in 9 s")}.get(
            kind, KeyError(kind)
        )

    @endpoint(compute_thread=False)
    def frames(kind: str):
        yield 1
        raise ValueError(f"bad {kind}")

    with pytest.raises(gr.Error, match=r"t must be in \[1, 1000\], got 0"):
        plain("value")
    with pytest.raises(gr.Error, match="busy, retry in 9 s"):
        plain("busy")
    with pytest.raises(KeyError):  # not the user's fault: Gradio reports it as an error of the app
        plain("bug")
    stream = frames("seed")
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="bad seed"):
        next(stream)


def test_a_plain_handler_runs_on_the_compute_thread_unless_told_not_to():
    @endpoint()
    def network() -> bool:
        return compute.on_thread()

    @endpoint(compute_thread=False)
    def quick() -> tuple[bool, str]:
        return compute.on_thread(), threading.current_thread().name

    assert network() is True
    on_thread, name = quick()
    assert on_thread is False and name == threading.current_thread().name


def test_a_shared_result_is_computed_once_and_a_repeat_never_asks_for_the_gpu(gpu_calls):
    computed = []

    @endpoint("square", model=lambda: "model-a", gpu_seconds=30)
    def square(x: int, power: int = 2) -> int:
        computed.append(x)
        return x**power

    assert square(3) == square(3) == square(3, 2) == 9  # defaults are part of the key
    assert computed == [3] and gpu_calls == [30]
    assert square(4) == 16 and computed == [3, 4] and gpu_calls == [30, 30]


def test_the_models_fingerprint_is_part_of_the_key():
    model = ["a"]
    computed = []

    @endpoint("double", model=lambda: model[0])
    def double(x: int) -> int:
        computed.append(model[0])
        return 2 * x

    double(1)
    model[0] = "b"
    double(1)
    assert computed == ["a", "b"]


def test_a_shared_stream_is_computed_once_for_its_watchers_and_errors_reach_each_as_messages(gpu_calls):
    runs = []

    @endpoint("count", gpu_seconds=60, waiting=lambda position, seconds: ("waiting", position))
    def count(n: int):
        runs.append(n)
        if n < 0:
            raise ValueError(f"n must be ≥ 0, got {n}")
        yield from range(n)

    first = collect(count(3))
    again = collect(count(3))
    assert first[-1] == 2 and set(first) <= {0, 1, 2}  # a watcher gets the newest frame, and the last
    assert again == [2]  # a finished result: its last frame, from the cache
    assert runs == [3] and gpu_calls == [60]
    with pytest.raises(gr.Error, match="n must be ≥ 0, got -1"):
        collect(count(-1))
    api = first_outputs(endpoint("pairs")(lambda n: (yield from ((i, -i) for i in range(n)))), 1)
    assert collect(api(2))[-1] == (1,)  # each frame's first output


def test_a_stream_past_the_waiting_line_is_refused_with_when_to_retry(monkeypatch):
    """With no place left in the line (here: none at all), a new computation is refused with Busy,
    which the user reads as a message that says when to retry."""
    monkeypatch.setattr(results, "RESULTS", Results(max_bytes=2**20, max_flights=0))
    started = []

    @endpoint("slow")
    def slow(n: int):
        started.append(n)
        yield n

    with pytest.raises(
        gr.Error, match=r"The server is busy: 0 computations are running or waiting.*Retry in about \d+ s"
    ):
        collect(slow(1))
    assert started == []
