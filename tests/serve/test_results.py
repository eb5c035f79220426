"""The shared results: the cache, computations joined while they run, their place in the
scheduler's line, and refusals."""

import asyncio
import threading
import time

import numpy as np
import pytest
import torch

from ddpm.serve import compute, settings
from ddpm.serve.cache import LRU, MISSING, fingerprint, size_of
from ddpm.serve.results import Busy, Results, shared_call, shared_stream
from ddpm.serve.scheduler import Batched, Scheduler
from ddpm.serve.stream import paced


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(settings, "FRAME_SECONDS", 0.0)


class Source:
    """A stream of frames 0 … n−1 that counts how often it is computed and whether it was closed."""

    def __init__(self, n: int = 5, delay: float = 0.02, fail_at: int | None = None) -> None:
        self.n, self.delay, self.fail_at = n, delay, fail_at
        self.started = self.closed = self.finished = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self):
        self.started += 1
        try:
            for i in range(self.n):
                self.gate.wait()
                if i == self.fail_at:
                    raise ValueError(f"bad frame {i}")
                time.sleep(self.delay)
                yield i
            self.finished += 1
        finally:
            self.closed += 1


async def frames_of(stream) -> list:
    return [frame async for frame in stream]


def run(coroutine):
    return asyncio.run(coroutine)


def test_fingerprints_tell_inputs_apart_and_equal_inputs_alike():
    digit = np.zeros((28, 28), np.uint8)
    other = digit.copy()
    other[3, 4] = 1
    assert fingerprint((digit, 5)) == fingerprint((digit.copy(), 5))
    assert fingerprint((digit, 5)) != fingerprint((other, 5))
    assert fingerprint(True) != fingerprint(1) and fingerprint(1) != fingerprint(1.0)
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    hash(fingerprint({"x": [digit, "fixed_small", None]}))


def test_size_counts_arrays_strings_and_the_files_paths_name(tmp_path):
    path = tmp_path / "frame.png"
    path.write_bytes(b"x" * 1000)
    assert size_of(np.zeros((10, 10), np.uint8)) == 100
    assert size_of(str(path)) == len(str(path)) + 1000
    assert size_of("done") == 4
    assert size_of((np.zeros(50, np.uint8), "ab")) == 64 + 50 + 2


def test_the_cache_never_exceeds_its_byte_limit_and_drops_the_least_recent_first():
    rng = np.random.default_rng(0)
    cache = LRU(max_bytes=1000)
    for i in range(300):
        cache.put(i, i, int(rng.integers(1, 400)))
        assert cache.total <= 1000
        assert cache.total == sum(size for _, size in cache._entries.values())
    cache = LRU(max_bytes=300)
    for key in "abc":
        cache.put(key, key.upper(), 100)
    assert cache.get("a") == "A"  # now the most recent: "b" is the oldest
    cache.put("d", "D", 100)
    assert cache.get("b") is MISSING and cache.get("a") == "A"
    assert not cache.put("huge", 0, 301) and cache.get("huge") is MISSING


def test_a_repeat_is_served_from_the_cache_without_computing_again():
    shared = Results(max_bytes=10**6)
    source = Source()
    first = run(frames_of(shared.stream("k", source)))
    assert first[-1] == 4 and first == sorted(set(first))  # in order; may skip frames, never the last
    assert run(frames_of(shared.stream("k", source))) == [4]  # the finished result, at once
    assert source.started == 1 and shared.hits == 1


def test_concurrent_identical_requests_join_one_computation_and_a_different_key_does_not():
    shared = Results(max_bytes=10**6)
    source, other = Source(n=8), Source(n=3)

    async def room():
        return await asyncio.gather(
            *(frames_of(shared.stream("same", source)) for _ in range(20)),
            frames_of(shared.stream("seed 1", other)),
        )

    *watchers, different = run(room())
    assert source.started == 1 and other.started == 1
    assert all(frames[-1] == 7 for frames in watchers) and different[-1] == 2
    assert shared.computed == 2 and shared.joined == 19


def test_a_cancelled_leader_does_not_leave_its_followers_hanging():
    shared = Results(max_bytes=10**6)
    source = Source(n=10, delay=0.05)

    async def scene():
        leader = shared.stream("k", source)
        await anext(leader)
        follower = asyncio.create_task(frames_of(shared.stream("k", source)))
        await asyncio.sleep(0.1)
        await leader.aclose()  # Stop, or a closed page
        return await asyncio.wait_for(follower, timeout=10)

    assert run(scene())[-1] == 9
    assert source.started == 1 and source.finished == 1


def test_when_every_watcher_leaves_the_computation_stops_and_is_not_cached():
    shared = Results(max_bytes=10**6)
    source = Source(n=1000, delay=0.01)

    async def leave_early():
        stream = shared.stream("k", source)
        await anext(stream)
        await stream.aclose()

    run(leave_early())
    deadline = time.time() + 5
    while not source.closed and time.time() < deadline:
        time.sleep(0.01)
    assert source.closed == 1 and source.finished == 0
    assert len(shared.cache) == 0 and not shared.flights
    assert run(frames_of(shared.stream("k", Source(n=2))))[-1] == 1  # asked again: computed afresh


def test_an_error_reaches_every_watcher_and_is_not_cached():
    shared = Results(max_bytes=10**6)
    source = Source(n=5, fail_at=2)

    async def two():
        return await asyncio.gather(
            *(frames_of(shared.stream("k", source)) for _ in range(2)), return_exceptions=True
        )

    errors = run(two())
    assert all(isinstance(e, ValueError) and "bad frame 2" in str(e) for e in errors)
    assert source.started == 1 and len(shared.cache) == 0


class Chain:
    """A flight's stream as the views write one: a chain of network calls run by :func:`paced` on the
    compute thread's scheduler, one frame per step. ``delay`` seconds per network call."""

    def __init__(self, steps: int = 5, delay: float = 0.0) -> None:
        self.steps, self.delay = steps, delay
        self.calls = 0
        self.stopped = threading.Event()

    def network(self, x, t):
        self.calls += 1
        time.sleep(self.delay)
        return x + 1

    def __call__(self):
        model = Batched(self.network, compute.SCHEDULER)

        def steps():
            x = torch.zeros(1)
            try:
                for k in range(self.steps):
                    x = model(x, torch.tensor([k]))
                    yield int(x)
            finally:
                self.stopped.set()

        for value, _ in paced(steps()):
            yield value


@pytest.fixture
def one_row(monkeypatch):
    """The compute thread's scheduler with room for one row per pass: a second chain waits."""
    monkeypatch.setattr(compute, "SCHEDULER", Scheduler(max_rows=1))


def test_a_chain_waiting_for_rows_tells_its_watchers_their_place_then_runs(one_row):
    shared = Results(max_bytes=10**6)
    first, second = Chain(steps=40, delay=0.01), Chain(steps=3)

    async def scene():
        running = asyncio.create_task(frames_of(shared.stream("a", first)))
        await asyncio.sleep(0.1)
        waiting = shared.stream("b", second, waiting=lambda position, seconds: ("waiting", position, seconds))
        told = await anext(waiting)
        rest = await frames_of(waiting)
        return told, rest, await running

    told, rest, done = run(scene())
    assert told[:2] == ("waiting", 1) and told[2] >= 0
    assert rest[-1] == 3 and done[-1] == 40 and second.calls == 3


def test_a_chain_left_by_its_watchers_while_it_waits_in_line_never_computes(one_row):
    shared = Results(max_bytes=10**6)
    first, second = Chain(steps=40, delay=0.01), Chain(steps=3)

    async def scene():
        running = asyncio.create_task(frames_of(shared.stream("a", first)))
        await asyncio.sleep(0.1)
        waiting = shared.stream("b", second, waiting=lambda position, seconds: "waiting")
        assert await anext(waiting) == "waiting"
        await waiting.aclose()  # the student closes the tab
        return await running

    assert run(scene())[-1] == 40
    assert second.stopped.wait(timeout=10) and second.calls == 0
    assert "b" not in shared.flights and len(shared.cache) == 1


def test_past_max_flights_a_new_computation_is_refused_with_when_to_retry():
    shared = Results(max_bytes=10**6, max_flights=2)
    blocker = Source(n=2)
    blocker.gate.clear()

    async def scene():
        tasks = [asyncio.create_task(frames_of(shared.stream(key, blocker))) for key in ("a", "b")]
        await asyncio.sleep(0.1)  # two computations: as many as it takes
        with pytest.raises(Busy, match=r"busy: 2 computations are running or waiting.*Retry in about \d+ s"):
            await frames_of(shared.stream("c", Source()))
        joined = asyncio.create_task(frames_of(shared.stream("b", blocker)))  # joining is never refused
        await asyncio.sleep(0.05)
        blocker.gate.set()
        return await asyncio.gather(*tasks, joined)

    assert [frames[-1] for frames in run(scene())] == [1, 1, 1]
    assert run(frames_of(shared.stream("c", Source())))[-1] == 4  # a place is free again


def test_plain_calls_are_computed_once_joined_while_running_and_keyed_by_every_argument():
    shared = Results(max_bytes=10**6)
    calls = []

    @shared_call("double", lambda: "model-a", results=lambda: shared)
    def double(x: int, scale: int = 2) -> int:
        calls.append(x)
        time.sleep(0.1)
        return x * scale

    threads = [threading.Thread(target=double, args=(3,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [3] and double(3) == 6 and double(3, scale=2) == 6
    assert double(4) == 8 and double(3, 3) == 9 and calls == [3, 4, 3]


def test_a_shared_stream_handler_keys_on_the_model_too():
    shared = Results(max_bytes=10**6)
    model = ["a"]
    source = Source(n=2)

    @shared_stream("count", lambda: model[0], results=lambda: shared)
    def handler(n: int):
        yield from source()

    run(frames_of(handler(1)))
    run(frames_of(handler(1)))
    model[0] = "b"  # another checkpoint: its own results
    run(frames_of(handler(1)))
    assert source.started == 2
