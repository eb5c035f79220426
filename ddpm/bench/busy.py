"""A busy server for the page benchmark: N students' chains kept running on the app over loopback.

:func:`busy_server` starts, in a thread of its own, N plain HTTP clients (:mod:`.http`), each running
/compare from t = T with a seed of its own, one after another, until the block ends (the clients are
cancelled then, and their chains stopped by the server as a closed page's are). It is what an
automatic choice of where to compute meets in a lecture: the step scheduler busy with N chains and
the line behind them (``GET /ddpm-load``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from .http import api_data, call
from .load import connect


@dataclass
class Busy:
    """What the busy clients did: chains served, and the other outcomes' messages."""

    served: int = 0
    other: list[str] = field(default_factory=list)


async def _client(url: str, k: int, busy: Busy, stop: asyncio.Event) -> None:
    async with connect(url) as client:
        info = (await client.get("/gradio_api/info")).json()
        T = int(api_data(info, "compare")[0])
        for run in itertools.count():
            if stop.is_set():
                return
            data = api_data(info, "compare", {"t": T, "seed": 1000 * k + run + 7})  # a chain of its own
            outcome = await call(client, "compare", data, secrets.token_hex(6))
            if outcome.kind == "served":
                busy.served += 1
            else:
                busy.other.append(f"{outcome.kind}: {outcome.message}")


@contextlib.contextmanager
def busy_server(url: str, clients: int) -> Iterator[Busy]:
    """``clients`` chains kept running on the app at ``url`` while the block runs (none: nothing)."""
    busy = Busy()
    if clients <= 0:
        yield busy
        return
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    async def main() -> None:
        ready.set()
        tasks = [asyncio.ensure_future(_client(url, k, busy, stop)) for k in range(clients)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="busy-server", daemon=True)
    thread.start()
    ready.wait()
    try:
        yield busy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
