"""What a chain leaves behind in the server: nothing, once its session has expired.

The app runs in this process (a live server on a free port, as in test_app.py); chains run over
REST, each with a session of its own, half of them dropped (the stream closed after its first
event, as a closed tab closes it). Objects are counted by type with the garbage collector, not
RSS: RSS is noisy, an object count is not.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter

import httpx
import pytest

from ddpm.bench.local import free_port
from ddpm.bench.soak import run_chain
from ddpm.serve import queue, results, sessions, settings
from ddpm.views.page import build_demo

PER_CHAIN = 20
"""Objects a chain may leave at most, on average (Gradio's monitoring keeps a dict per event, up to
its bounded number; a session's state, the leak, was about 1100: 600 lists and 500 dicts)."""


@pytest.fixture(scope="module")
def server():
    pace = pytest.MonkeyPatch()
    pace.setattr(settings, "FRAME_SECONDS", 0.0)
    pace.setattr(results, "RESULTS", results.Results(max_bytes=0))  # nothing cached: every chain computes
    demo = queue.configure(build_demo())
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        **queue.launch_options(),
    )  # fmt: skip
    yield demo, url
    demo.close()
    pace.undo()


def chains(url: str, count: int, start: int) -> list[str]:
    """``count`` chains, each with a seed and a session of its own: /generate and /compare in turn,
    every other one dropped at its first event; their outcomes."""

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=120) as client:
            info = (await client.get("/gradio_api/info")).json()
            outcomes = []
            for i in range(start, start + count):
                if (i // 2) % 2:
                    name, inputs = "generate", {"n": 2, "sampler": "ddim", "steps": 4, "seed": i}
                else:
                    name, inputs = "compare", {"t": 8, "seed": i}
                outcomes.append(await run_chain(client, info, name, inputs, 0.0 if i % 2 else None))
            return outcomes

    return asyncio.run(run())


def settle(demo, timeout: float = 30.0) -> None:
    """Wait until no chain computes and Gradio holds no event."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sessions.idle() and not demo._queue.event_ids_to_events:
            time.sleep(0.5)  # the streams' last frames and their closing
            return
        time.sleep(0.1)
    raise AssertionError("the server did not go idle")


def census() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


@pytest.mark.slow
def test_dropped_and_completed_chains_leave_nothing_once_their_sessions_expire(server):
    demo, url = server
    n = 16
    counts = []
    for batch in range(3):  # the first warms up (models, plots, memos); then two measured
        outcomes = chains(url, n if batch else 8, 100 * batch)
        assert set(outcomes) == {"completed", "dropped"}
        settle(demo)
        if batch:
            assert len(demo.state_holder.session_data) >= n  # what Gradio keeps of each, until it expires
        sessions.sweep(demo.server_app, {}, 0.0)
        assert not demo.state_holder.session_data and not demo._queue.pending_event_ids_session
        counts.append(census())
    before, after = counts[1], counts[2]  # a bounded cache has filled by then; a leak grows in both
    grown = {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}
    assert grown.get("SessionState", 0) == 0 and grown.get("BlocksConfig", 0) == 0
    assert sum(grown.values()) < PER_CHAIN * n, sorted(grown.items(), key=lambda kv: -kv[1])[:10]


@pytest.mark.slow
def test_a_session_with_an_open_page_or_a_recent_call_is_kept(server):
    demo, url = server
    chains(url, 2, 200)
    settle(demo)
    held = list(demo.state_holder.session_data)
    assert len(held) >= 2
    page = held[0]  # as if its page held a heartbeat open
    assert sessions.sweep(demo.server_app, {}, 3600.0) == 0  # used a moment ago
    sessions.sweep(demo.server_app, {page: 1}, 0.0)
    assert list(demo.state_holder.session_data) == [page]
    sessions.sweep(demo.server_app, {}, 0.0)
