"""A lecture's room on the app: ``python -m ddpm.bench.load`` from the repository root.

A lecturer puts a link on the screen and 50–200 students open it at once on a free 2-core Space.
This starts ``python app.py`` in its own process (``ddpm.bench.server``; ``--app`` for another
checkout's, say a git worktree of the commit before; the environment, e.g. ``DDPM_QUEUE_SIZE``,
passes through) and plays the room against it over loopback with Gradio's REST API
(``ddpm.bench.http``): one asyncio event loop of plain HTTP clients, light enough to share the
server's two cores.

- ``--visitors`` students arrive at random within ``--arrival`` seconds. Each opens the page (GET /,
  then /forward at the page's t and seed: the page's own load event computes that, but it is
  private, so the public /forward with the same inputs stands in), picks a random digit
  (/pick_digit) and drags the forward slider: ``--drags`` /forward calls at increasing t, each
  sent ``--think`` seconds (default 0.1) after the last answer came back, as the page does
  (``trigger_mode="always_last"``: a new value goes out once the last update has arrived).
- Then the first ``--group`` of them open one deep link, ``/?view=reverse&digit=2&t=500&seed=3``
  (t: ``--link-t``), pick its digit and, once all of them are there, send the same /compare at the
  same moment (the same inputs from every one of them).
- ``--streams`` more clients each run /generate (its defaults, or ``--generate``) and then /compare
  from t = ``--compare-t`` (default T, /compare's own default).

``--explore N`` plays the next part of a lecture instead: "now try your own". N students arrive at
random within ``--arrival`` seconds (default 10 in this mode); each picks a digit of their own
(/pick_digit) and runs /compare with a seed of their own from a t drawn from T/4, T/2, 3T/4 and T.
With ``--explore-generate`` each instead runs /generate of 16 digits with DDIM-50 and a seed of
their own. Before the room, one such request runs alone (/compare from t = T; the same generation),
so the report can say how much slower the room's slowest student was than one alone.

Every request is served, refused (HTTP 503 / 429 or a busy / queue-full error: its message is kept,
to check that it says when to retry) or failed (any other error, a timeout, or still unfinished
after ``--max-seconds``, when the run stops). Printed per endpoint: the counts and the latency
(request sent → complete event) of the served, p50 / p95 / max; and the server's CPU seconds over
the run. ``--forward-cpu N`` instead times N sequential /forward calls: server CPU seconds per call.

``--soak N`` plays a lecture day on the server's memory instead (:mod:`ddpm.bench.soak`): N chains
of /generate, /compare, the read-out and Many pasts, completed and dropped, each with a session of
its own; printed: the server's RSS after each tenth, the growth per chain, and whether the server
is idle at the end.

``--page N`` plays a room on its own devices instead (:mod:`ddpm.bench.room_files`): the files one
student's browser fetches for ``?view=generate&compute=device`` and its first in-page generation,
recorded once with Chromium, then fetched by N fresh browsers at once; printed: who had everything
and when, the errors, the bytes per student and the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import room_files
from .http import EndpointStats, Outcome, api_data, call, get_page, table
from .server import process_tree_cpu, serve_app, sigterm_as_exit
from .soak import soak, summary

REPO = Path(__file__).resolve().parents[2]  # the repository: ddpm/bench/ is two below


class Group:
    """Students who open one deep link together (``/?view=reverse&digit=2&t=<t>&seed=3``): each waits at
    the door until all ``size`` are there (asyncio.Barrier is 3.11+), then all send the same /compare."""

    digit, seed = 2, 3

    def __init__(self, size: int, t: int) -> None:
        self.size, self.t, self.arrived, self.open = size, t, 0, asyncio.Event()
        self.path = f"/?view=reverse&digit={self.digit}&t={t}&seed={self.seed}"

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.size:
            self.open.set()
        await self.open.wait()


@dataclass
class Room:
    """The clients' shared connection pool, the app's API description and every request's outcome."""

    client: httpx.AsyncClient
    info: dict[str, Any]
    think: float
    stats: defaultdict[str, EndpointStats]

    async def record(self, name: str, request: Awaitable[Outcome]) -> Outcome:
        """Await one request and keep its outcome; one cut off by the deadline counts as failed."""
        start = time.perf_counter()
        try:
            outcome = await request
        except asyncio.CancelledError:
            self.stats[name].add(
                Outcome("failed", time.perf_counter() - start, None, "unfinished at the deadline")
            )
            raise
        self.stats[name].add(outcome)
        return outcome

    async def api(self, api_name: str, session: str | None, **inputs: Any) -> Outcome:
        """Call ``/<api_name>`` with its defaults but for ``inputs`` (parameter name → value)."""
        return await self.record(
            "/" + api_name, call(self.client, api_name, api_data(self.info, api_name, inputs), session)
        )

    async def page(self, path: str) -> Outcome:
        return await self.record(
            "GET " + path.split("?")[0] + ("?…" if "?" in path else ""), get_page(self.client, path)
        )


def drag(T: int, drags: int, rng: random.Random) -> list[int]:
    """The t values of one drag of the forward slider: from the page's T // 4 towards T, in even steps
    (a random offset per student, so that students seldom ask for the same t)."""
    step = max(1, (T - T // 4) // max(1, drags))
    start = T // 4 + rng.randrange(step)
    return [min(T, start + k * step) for k in range(1, drags + 1)]


async def visitor(
    room: Room, T: int, drags: int, arrival: float, rng: random.Random, group: Group | None
) -> None:
    """One student: the page, a digit, a drag of the forward slider; in the ``group``, then the deep link."""
    session = secrets.token_hex(6)  # the page's session: /pick_digit's choice is what /forward reads
    await asyncio.sleep(arrival)
    await room.page("/")
    await room.api("forward", session)
    await asyncio.sleep(room.think)
    await room.api("pick_digit", session, digit_class=rng.randrange(10))
    for t in drag(T, drags, rng):
        await asyncio.sleep(room.think)
        await room.api("forward", session, t=t)
    if group is not None:
        await room.page(group.path)
        await room.api("pick_digit", session, digit_class=group.digit)
        await group.wait()
        await room.api("compare", session, t=group.t, seed=group.seed)


async def streamer(room: Room, arrival: float, generate: dict[str, Any], compare_t: int) -> None:
    """One client of the long streams: a generation, then the comparison from ``compare_t``."""
    session = secrets.token_hex(6)
    await asyncio.sleep(arrival)
    await room.api("generate", session, **generate)
    await room.api("compare", session, t=compare_t)


def connect(url: str) -> httpx.AsyncClient:
    """One pool for the whole room: unbounded connections (each event stream holds one), loopback only.

    An idle connection is dropped after 2 s, well before the server's 5 s (uvicorn's keep-alive):
    reusing one just as the server closes it fails the request (a ReadError) — a race of equal
    timeouts in the client, not the server's doing, which a browser would retry."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2.0)
    return httpx.AsyncClient(
        base_url=url, trust_env=False, limits=limits, timeout=httpx.Timeout(60, pool=None)
    )


async def warm_up(client: httpx.AsyncClient, info: dict[str, Any]) -> None:
    """A slider update and a tiny generation, so the models are loaded before anything is measured."""
    for api_name, inputs in (("forward", {}), ("generate", {"n": 1, "sampler": "ddim", "steps": 2})):
        outcome = await call(client, api_name, api_data(info, api_name, inputs))
        if outcome.kind != "served":
            raise RuntimeError(f"warm-up /{api_name} was {outcome.kind}: {outcome.message}")


def clients(room: Room, T: int, args: argparse.Namespace) -> list[Coroutine[Any, Any, None]]:
    """The room's clients (students, then streams), each waiting for its random arrival first."""
    rng = random.Random(args.seed)
    group = Group(min(args.group, args.visitors), args.link_t)
    jobs = [visitor(room, T, args.drags, rng.uniform(0, args.arrival), random.Random(rng.random()),
                    group if i < args.group else None) for i in range(args.visitors)]  # fmt: skip
    return jobs + [streamer(room, rng.uniform(0, args.arrival), args.generate, args.compare_t or T)
                   for _ in range(args.streams)]  # fmt: skip


async def until(seconds: float, jobs: list[Coroutine[Any, Any, None]]) -> int:
    """Run ``jobs`` together for at most ``seconds``, then cancel those still running; returns their
    number. An exception in a job (a bug of the benchmark's) is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if not tasks:
        return 0
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()
    return len(pending)


async def play_room(
    url: str, pid: int, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, EndpointStats]]:
    """Play the whole room against the app at ``url`` (server process ``pid``): the numbers, JSON-ready,
    and each endpoint's outcomes."""
    # the table's rows in the order of a visit; an endpoint that no request reached keeps its row
    rows = ["GET /", "/forward", "/pick_digit"] * bool(args.visitors)
    rows += ["GET /?…", "/compare"] * bool(args.visitors and args.group)
    rows += ["/generate", "/compare"] * bool(args.streams)
    async with connect(url) as client:
        info = (await client.get("/gradio_api/info")).json()
        T = int(api_data(info, "compare")[0])  # /compare's t starts at T
        api_data(info, "generate", args.generate)  # a --generate the app does not take fails here, first
        await warm_up(client, info)
        room = Room(
            client, info, args.think, defaultdict(EndpointStats, {row: EndpointStats() for row in rows})
        )
        cpu, client_cpu, start = process_tree_cpu(pid), time.process_time(), time.perf_counter()
        cut_off = await until(args.max_seconds, clients(room, T, args))
        wall, end_cpu = time.perf_counter() - start, process_tree_cpu(pid)
        client_cpu = time.process_time() - client_cpu
    return {
        "url": url, "T": T, "wall_s": wall, "stopped_at_deadline": cut_off,
        "server_cpu_s": None if cpu is None or end_cpu is None else end_cpu - cpu, "client_cpu_s": client_cpu,
        "endpoints": {name: st.summary() for name, st in room.stats.items()},
    }, room.stats  # fmt: skip


EXPLORE_GENERATE = {"n": 16, "sampler": "ddim", "steps": 50}
"""What each student of ``--explore-generate`` asks /generate for (with a seed of their own)."""


Student = tuple[float, str, dict[str, Any], int]
"""One student of ``--explore``: arrival in [0, 1), endpoint, its inputs, the digit they pick."""


def explore_requests(T: int, n: int, generate: bool, seed: int) -> list[Student]:
    """The room of ``--explore``: (arrival in [0, 1), endpoint, inputs, digit) per student, arrivals to be
    scaled by ``--arrival``. Seeds are distinct and ≥ 1 (seed 0 is the lone request's), so that no
    student's request is another's or the lone one's and every chain is computed."""
    rng = random.Random(seed)
    seeds = rng.sample(range(1, 1_000_000), n)
    starts = [T // 4, T // 2, 3 * T // 4, T]
    room = []
    for student_seed in seeds:
        if generate:
            name, inputs = "generate", {**EXPLORE_GENERATE, "seed": student_seed}
        else:
            name, inputs = "compare", {"t": rng.choice(starts), "seed": student_seed}
        room.append((rng.random(), name, inputs, rng.randrange(10)))
    return room


async def explorer(room: Room, arrival: float, name: str, inputs: dict[str, Any], digit: int) -> None:
    """One student trying their own: a digit of their own, then their own chain."""
    session = secrets.token_hex(6)
    await asyncio.sleep(arrival)
    if name == "compare":
        await room.api("pick_digit", session, digit_class=digit)
    await room.api(name, session, **inputs)


async def explore(
    url: str, pid: int, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, EndpointStats]]:
    """One request alone, then ``args.explore`` students each running their own (see the module
    docstring): the numbers, JSON-ready, and each endpoint's outcomes."""
    name = "generate" if args.explore_generate else "compare"
    async with connect(url) as client:
        info = (await client.get("/gradio_api/info")).json()
        T = int(api_data(info, "compare")[0])
        await warm_up(client, info)
        alone_inputs = {**EXPLORE_GENERATE, "seed": 0} if name == "generate" else {"t": T, "seed": 0}
        alone = await call(client, name, api_data(info, name, alone_inputs), secrets.token_hex(6))
        if alone.kind != "served":
            raise RuntimeError(f"the lone /{name} was {alone.kind}: {alone.message}")
        rows = ["/pick_digit", "/" + name] if name == "compare" else ["/" + name]
        room = Room(client, info, 0.0, defaultdict(EndpointStats, {row: EndpointStats() for row in rows}))
        students = explore_requests(T, args.explore, name == "generate", args.seed)
        jobs = [explorer(room, arrival * args.arrival, *rest) for arrival, *rest in students]
        cpu, start = process_tree_cpu(pid), time.perf_counter()
        cut_off = await until(args.max_seconds, jobs)
        wall, end_cpu = time.perf_counter() - start, process_tree_cpu(pid)
    chains = room.stats["/" + name].summary()
    slowest = chains["max_s"]
    return {
        "url": url, "T": T, "endpoint": "/" + name, "students": args.explore, "alone_s": alone.seconds,
        "wall_s": wall, "stopped_at_deadline": cut_off,
        "served": chains["served"], "refused": chains["refused"], "failed": chains["failed"],
        "p50_s": chains["p50_s"], "slowest_s": slowest,
        "slowest_over_alone": None if slowest is None else slowest / alone.seconds,
        "chains_per_minute": chains["served"] / (wall / 60),
        "server_cpu_s": None if cpu is None or end_cpu is None else end_cpu - cpu,
        "endpoints": {row: st.summary() for row, st in room.stats.items()},
    }, room.stats  # fmt: skip


async def forward_cpu(url: str, pid: int, n: int) -> dict[str, Any]:
    """Server CPU seconds and wall seconds per /forward call, over ``n`` sequential calls at t = 1, 2, …
    (each t once, as in a drag, so that no answer can be a cached one), after a warm-up; one
    session, as a dragging client has (a call without one also pays for a new session's state)."""
    async with connect(url) as client:
        info = (await client.get("/gradio_api/info")).json()
        T = int(api_data(info, "compare")[0])
        await warm_up(client, info)
        await asyncio.sleep(1.0)
        idle = process_tree_cpu(pid)
        await asyncio.sleep(1.0)
        session = secrets.token_hex(6)
        await call(client, "forward", api_data(info, "forward", {"t": T}), session)  # the session's state
        cpu, start = process_tree_cpu(pid), time.perf_counter()
        outcomes = [
            await call(client, "forward", api_data(info, "forward", {"t": 1 + i % T}), session)
            for i in range(n)
        ]
        wall, end_cpu = time.perf_counter() - start, process_tree_cpu(pid)
    bad = [o.message for o in outcomes if o.kind != "served"]
    known = None not in (idle, cpu, end_cpu)
    return {
        "url": url, "calls": n, "not_served": bad, "wall_per_call_s": wall / n,
        "server_cpu_per_call_s": (end_cpu - cpu) / n if known else None,
        "server_idle_cpu_per_s": cpu - idle if known else None,
    }  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """The command line's parser (:func:`parse_args` adds the checks across options)."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--app", type=Path, default=REPO / "app.py", help="the app to start (default: this checkout's)"
    )
    p.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="more environment for the app"
    )
    p.add_argument("--visitors", type=int, default=50, help="students (0–200, default 50)")
    p.add_argument("--drags", type=int, default=20, help="/forward calls per student's drag (default 20)")
    p.add_argument("--think", type=float, default=0.1, help="seconds between a student's calls (default 0.1)")
    p.add_argument("--arrival", type=float, default=None,
                   help="students arrive within this many seconds (5; 10 with --explore)")  # fmt: skip
    p.add_argument("--group", type=int, default=10, help="students opening the same deep link at once (10)")
    p.add_argument("--link-t", type=int, default=500, help="the deep link's t (default 500)")
    p.add_argument("--streams", type=int, default=4, help="clients running /generate then /compare (4)")
    p.add_argument("--generate", type=json.loads, default={}, metavar="JSON",
                   help='/generate inputs other than its defaults, e.g. {"n": 1}')  # fmt: skip
    p.add_argument("--compare-t", type=int, default=0, help="t of the streams' /compare (default T)")
    p.add_argument("--max-seconds", type=float, default=300.0, help="stop the run after this long (300)")
    p.add_argument("--seed", type=int, default=0, help="seed of arrivals, digits and drags (0)")
    p.add_argument("--forward-cpu", type=int, default=0, metavar="N",
                   help="only time N sequential /forward calls: server CPU seconds per call")  # fmt: skip
    p.add_argument("--explore", type=int, default=0, metavar="N",
                   help="N students each running their own /compare (see above), not the room")  # fmt: skip
    p.add_argument("--explore-generate", action="store_true",
                   help="with --explore: each student generates 16 digits with DDIM-50 instead")  # fmt: skip
    p.add_argument("--soak", type=int, default=0, metavar="N",
                   help="N chains, completed and dropped, and the server's RSS (see above)")  # fmt: skip
    p.add_argument("--soak-clients", type=int, default=4, help="with --soak: chains running at once (4)")
    p.add_argument("--drop-after", type=float, default=0.6,
                   help="with --soak: seconds before a dropped chain's stream is closed (0.6)")  # fmt: skip
    p.add_argument("--settle", type=float, default=60.0,
                   help="with --soak: seconds to wait at most for the server to go idle (60)")  # fmt: skip
    p.add_argument("--rest", type=float, default=0.0,
                   help="with --soak: seconds to wait once idle before the RSS at rest (0; the sessions "
                        "of the last chains expire after DDPM_SESSION_SECONDS)")  # fmt: skip
    p.add_argument("--page", type=int, default=0, metavar="N",
                   help="N students fetching what the page and its engine need (see above)")  # fmt: skip
    p.add_argument("--json", type=Path, help="also write the numbers to this file")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if a request failed or an endpoint served none"
    )
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.arrival is None:
        args.arrival = 10.0 if args.explore else 5.0
    if not 0 <= args.explore <= 400:
        p.error(f"--explore must be within 0 … 400, got {args.explore}")
    if args.explore_generate and not args.explore:
        p.error("--explore-generate goes with --explore N")
    if args.soak < 0 or args.soak_clients < 1 or min(args.drop_after, args.settle, args.rest) < 0:
        p.error("--soak must be ≥ 0, --soak-clients ≥ 1, --drop-after, --settle and --rest ≥ 0")
    if not 0 <= args.page <= 1000:
        p.error(f"--page must be within 0 … 1000, got {args.page}")
    if not 0 <= args.visitors <= 200:
        p.error(f"--visitors must be within 0 … 200, got {args.visitors}")
    if min(args.drags, args.group, args.streams, args.forward_cpu) < 0 or args.max_seconds <= 0:
        p.error("counts must be ≥ 0 and --max-seconds > 0")
    if not isinstance(args.generate, dict):
        p.error(f"--generate must be a JSON object, got {args.generate!r}")
    if bad := [kv for kv in args.env if "=" not in kv]:
        p.error(f"--env takes KEY=VALUE, got {bad}")
    return args


def known(value: float | None, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted by ``spec``, or 'unknown' (a CPU time /proc could not tell)."""
    return "unknown" if value is None else format(value * scale, spec)


def explore_summary(report: dict[str, Any]) -> str:
    """The ``--explore`` room in three lines: what was served, how long the slowest waited, and the rate."""
    slowest = report["slowest_s"]
    ratio = report["slowest_over_alone"]
    return (
        f"{report['students']} students, each their own {report['endpoint']}: {report['served']} served, "
        f"{report['refused']} refused, {report['failed']} failed ({report['stopped_at_deadline']} unfinished "
        f"at the deadline)\n"
        f"one alone {report['alone_s']:.1f} s; p50 {known(report['p50_s'], '.1f')} s, slowest "
        f"{known(slowest, '.1f')} s = {known(ratio, '.1f')}× one alone\n"
        f"{report['chains_per_minute']:.1f} chains per minute over {report['wall_s']:.0f} s; server CPU "
        f"{known(report['server_cpu_s'], '.0f')} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 with ``--check`` when something failed)."""
    args = parse_args(argv)
    env = dict(kv.split("=", 1) for kv in args.env)
    with sigterm_as_exit(), serve_app(args.app.resolve(), env) as server:
        print(f"{args.app} answered after {server.ready_s:.1f} s at {server.url}", flush=True)
        if args.forward_cpu:
            report = asyncio.run(forward_cpu(server.url, server.process.pid, args.forward_cpu))
            wall, cpu = 1e3 * report["wall_per_call_s"], known(report["server_cpu_per_call_s"], ".1f", 1e3)
            idle = known(report["server_idle_cpu_per_s"], ".2f")
            print(f"/forward, {args.forward_cpu} sequential calls: {wall:.1f} ms wall, {cpu} ms server CPU "
                  f"per call (idle, the server used {idle} CPU s per s)")  # fmt: skip
            failed = bool(report["not_served"])
        elif args.page:
            files = room_files.recorded_files(server.url)
            fetching = room_files.room(server.url, server.process.pid, args.page, files, args.max_seconds)
            report = asyncio.run(fetching)
            print(room_files.summary(report))
            failed = bool(report["errors"]) or report["served"] < args.page
        elif args.soak:
            soaked = asyncio.run(soak(server.url, server.process.pid, args))
            print(summary(soaked))
            report = vars(soaked)
            failed = any(k.split(" ", 1)[1].startswith("failed") for k in soaked.outcomes) or not soaked.idle
        elif args.explore:
            report, stats = asyncio.run(explore(server.url, server.process.pid, args))
            print(table(stats))
            print(explore_summary(report))
            failed = bool(report["failed"]) or not report["served"]
        else:
            report, stats = asyncio.run(play_room(server.url, server.process.pid, args))
            print(table(stats))
            cpu = known(report["server_cpu_s"], ".1f")
            print(f"{args.visitors} visitors, {args.streams} streams in {report['wall_s']:.1f} s "
                  f"({report['stopped_at_deadline']} clients stopped at the deadline); CPU: server {cpu} s, "
                  f"this client {report['client_cpu_s']:.1f} s")  # fmt: skip
            failed = any(r["failed"] or not r["served"] for r in report["endpoints"].values())
    report["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
