"""A lecture day on the server's memory: ``python -m ddpm.bench.load --soak N``.

N chains, each with a seed of its own (so each is computed, and the result cache fills), run by
``--soak-clients`` clients at once against the app in its own process, over Gradio's REST API:
in turn /generate (``--generate``, default DDIM-10 × 16), /compare from t = ``--compare-t``
(default 50), the classifier read-out (/classifier_readout) and Many pasts (/many_pasts from the
same t), every other one completed and the others dropped: the stream closed ``--drop-after``
seconds in (0.6), as a closed tab closes it. Every chain has a session of its own, as every visitor
and API client has.

Printed: the server's resident memory (RSS, from /proc) after each tenth of the chains, the growth
per chain from the first tenth to the end (the first tenth loads the models and fills the caches
of the process), and whether the server is idle once all have gone: its CPU over
:data:`IDLE_WINDOW` seconds near 0 (under :data:`IDLE_CPU` of a core), waited for at most
``--settle`` seconds. Then the RSS at rest, after the sessions of the last chains expired.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .http import SSEParser, api_data, classify_error, classify_status
from .server import process_tree_cpu

SOAK_GENERATE = {"n": 16, "sampler": "ddim", "steps": 10}
"""/generate's inputs in the soak (``--generate`` overrides them), with a seed of each chain's own."""
KINDS = ("generate", "compare", "classifier_readout", "many_pasts")
"""The endpoints of the soak's chains, in turn."""
IDLE_CPU = 0.05  # cores: below this the server counts as idle
IDLE_WINDOW = 2.0  # seconds over which the idle CPU is measured
TENTHS = 10


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (VmRSS of /proc/<pid>/status), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def chain_request(
    i: int, compare_t: int, generate: dict[str, Any], seed: int = 0
) -> tuple[str, dict[str, Any], bool]:
    """The ``i``-th chain of the soak: (endpoint, inputs, dropped). The kinds of :data:`KINDS` in turn,
    each twice in a row, once completed and once dropped; every chain with a seed of its own."""
    kind = KINDS[(i // 2) % len(KINDS)]
    own = 1 + seed * 1_000_000 + i  # never the warm-up's seed (0)
    inputs: dict[str, Any] = {"seed": own}
    if kind == "generate":
        inputs.update({**SOAK_GENERATE, **generate})
    elif kind in ("compare", "many_pasts"):
        inputs["t"] = compare_t
    return kind, inputs, i % 2 == 1


async def run_chain(
    client: httpx.AsyncClient,
    info: dict[str, Any],
    name: str,
    inputs: dict[str, Any],
    drop_after: float | None,
) -> str:
    """One chain over REST with a session of its own: 'completed', 'dropped' (its stream closed
    ``drop_after`` seconds in, before it completed), 'refused' or 'failed: <why>'."""
    start = time.perf_counter()
    try:
        posted = await client.post(
            f"/gradio_api/call/{name}",
            json={"data": api_data(info, name, inputs), "session_hash": secrets.token_hex(8)},
        )
        if posted.status_code != 200:
            kind, message = classify_status(posted.status_code, posted.text)
            return kind if kind == "refused" else f"failed: {message}"
        parser = SSEParser()
        async with client.stream("GET", f"/gradio_api/call/{name}/{posted.json()['event_id']}") as stream:
            async for line in stream.aiter_lines():
                event = parser.feed(line)
                if event is None:
                    continue
                if event.name == "complete":
                    return "completed"
                if event.name == "error":
                    kind, message = classify_error(event.data)
                    return kind if kind == "refused" else f"failed: {message}"
                if drop_after is not None and time.perf_counter() - start >= drop_after:
                    return "dropped"  # leaving the block closes the stream, as a closed tab does
        return "failed: the stream ended without a complete event"
    except httpx.HTTPError as e:
        return f"failed: {type(e).__name__}: {e}"


@dataclass
class SoakReport:
    """What a soak measured (JSON-ready with ``vars``)."""

    requested: int  # --soak N
    chains: int = 0  # run: N, or fewer when --max-seconds ran out
    outcomes: dict[str, int] = field(default_factory=dict)
    rss_mb: list[float | None] = field(default_factory=list)  # before, then after each tenth (and at the end)
    after: list[int] = field(default_factory=list)  # the chains run when each RSS after the first was read
    wall_s: float = 0.0
    growth_mb_per_chain: float | None = None  # from the first tenth to the last chain run
    idle: bool = False
    idle_cpu: float | None = None  # cores, over IDLE_WINDOW seconds once idle (or at the deadline)
    settle_s: float = 0.0  # seconds until idle
    rss_at_rest_mb: float | None = None


async def idle_cpu(pid: int, window: float = IDLE_WINDOW) -> float | None:
    """The cores process ``pid`` (and its children) used over the next ``window`` seconds."""
    before = process_tree_cpu(pid)
    await asyncio.sleep(window)
    after = process_tree_cpu(pid)
    return None if before is None or after is None else (after - before) / window


async def soak(url: str, pid: int, args: argparse.Namespace) -> SoakReport:
    """Run ``args.soak`` chains (see the module docstring), printing the RSS after each tenth."""
    n = args.soak
    report = SoakReport(n, rss_mb=[rss_mb(pid)], after=[0])
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=url, trust_env=False, limits=limits, timeout=httpx.Timeout(120, pool=None)
    ) as client:
        info = (await client.get("/gradio_api/info")).json()
        print(f"RSS before: {report.rss_mb[0]:.0f} MB", flush=True)
        next_chain, done, start = 0, 0, time.perf_counter()
        marks = [max(1, round(k * n / TENTHS)) for k in range(1, TENTHS + 1)]

        async def client_loop() -> None:
            nonlocal next_chain, done
            while next_chain < n and time.perf_counter() - start < args.max_seconds:
                i, next_chain = next_chain, next_chain + 1
                name, inputs, dropped = chain_request(i, args.compare_t or 50, args.generate, args.seed)
                outcome = await run_chain(client, info, name, inputs, args.drop_after if dropped else None)
                key = f"/{name} {outcome}"
                report.outcomes[key] = report.outcomes.get(key, 0) + 1
                done += 1
                while marks and done >= marks[0]:
                    marks.pop(0)
                    report.rss_mb.append(rss := rss_mb(pid))
                    report.after.append(done)
                    rss_text = "unknown" if rss is None else f"{rss:.0f} MB"
                    print(
                        f"{done:5d} chains, {time.perf_counter() - start:6.0f} s: RSS {rss_text}", flush=True
                    )

        await asyncio.gather(*(client_loop() for _ in range(args.soak_clients)))
        report.wall_s = time.perf_counter() - start
    report.chains = done
    if report.after[-1] != done:  # --max-seconds ran out between two tenths
        report.rss_mb.append(rss_mb(pid))
        report.after.append(done)
        rss = report.rss_mb[-1] or 0
        print(f"{done:5d} chains, {report.wall_s:6.0f} s: RSS {rss:.0f} MB (--max-seconds)", flush=True)
    report.growth_mb_per_chain = growth(report)
    settle = time.perf_counter()
    while True:
        report.idle_cpu = await idle_cpu(pid)
        report.settle_s = time.perf_counter() - settle
        report.idle = report.idle_cpu is not None and report.idle_cpu < IDLE_CPU
        if report.idle or report.settle_s >= args.settle:
            break
    if args.rest > 0:
        await asyncio.sleep(args.rest)
    report.rss_at_rest_mb = rss_mb(pid)
    return report


def growth(report: SoakReport) -> float | None:
    """MB per chain from the first tenth to the last chain run (None with fewer than two readings
    after the first tenth began, or an unreadable RSS)."""
    if len(report.after) < 3:
        return None
    (first, a), (last, b) = (report.rss_mb[1], report.after[1]), (report.rss_mb[-1], report.after[-1])
    return None if first is None or last is None or b == a else (last - first) / (b - a)


def marks_first(n: int) -> int:
    """Chains in the soak's first tenth."""
    return max(1, round(n / TENTHS))


def summary(report: SoakReport) -> str:
    """The soak in a few lines: outcomes, growth per chain, idleness, RSS at rest."""
    lines = [f"{k}: {v}" for k, v in sorted(report.outcomes.items())]
    growth = report.growth_mb_per_chain
    lines.append(
        f"{report.chains} of {report.requested} chains in {report.wall_s:.0f} s; "
        f"RSS {report.rss_mb[0] or 0:.0f} MB before, "
        f"{report.rss_mb[1] or 0:.0f} MB after the first tenth, {report.rss_mb[-1] or 0:.0f} MB after the "
        "last: " + ("growth unknown" if growth is None else f"{1024 * growth:+.0f} kB per chain")
    )
    cpu = "unknown" if report.idle_cpu is None else f"{report.idle_cpu:.3f} cores"
    lines.append(
        f"idle at the end: {'yes' if report.idle else 'NO'} (CPU {cpu} over {IDLE_WINDOW:g} s, "
        f"{report.settle_s:.0f} s after the last chain); RSS at rest {report.rss_at_rest_mb or 0:.0f} MB"
    )
    return "\n".join(lines)
