"""A room on its own devices, as the server sees it: ``python -m ddpm.bench.load --page N``.

With ``compute=device`` a student's browser asks the server for files and nothing else: the page,
Gradio's frontend, the engine's modules, its runtime, the Worker's config and the network. Which
files those are is recorded once, from Chromium (Playwright) opening
``/?view=generate&compute=device`` until its generation is done. Then N students fetch them at once
over loopback with httpx, each as a fresh browser would (nothing cached, six connections, the
``Accept-Encoding`` of Chromium): every file once. A later visit of the same browser sends nothing
for the files served immutable (``ddpm.serve.static_files``), so this is the room's worst case.

Printed: the students who had everything within the run, the errors, the time until the last one
had everything (and the median), the bytes per student on the wire, and the server's CPU seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .local import CHROMIUM_FLAGS, chromium
from .server import process_tree_cpu

LINK = "/?view=generate&compute=device&seed=0"
DONE = "() => /done/.test(document.querySelector('#generate-here .here-status')?.textContent ?? '')"
CONNECTIONS = 6  # a browser's connections to one host (HTTP/1.1)
HEADERS = {"accept-encoding": "gzip, deflate, br", "user-agent": "ddpm-bench-room-files"}


def recorded_files(url: str, timeout: float = 300.0) -> list[str]:
    """The paths (with their queries) one student's Chromium GETs from the server for the page and
    its first in-page generation, in order, each once; API calls left out (a room on its own
    devices makes none once the page is open; the page's own load events are counted apart)."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, None] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page()

        def keep(request: Any) -> None:
            parts = urlsplit(request.url)
            ours = parts.netloc == urlsplit(url).netloc
            if request.method == "GET" and ours and "/gradio_api/" not in parts.path:
                seen[parts.path + (f"?{parts.query}" if parts.query else "")] = None

        page.on("request", keep)
        page.goto(url + LINK, wait_until="load")
        page.wait_for_function(DONE, timeout=timeout * 1000)
        browser.close()
    return list(seen)


@dataclass
class Student:
    seconds: float | None = None  # until every file had come; None: not all came
    bytes: int = 0  # on the wire (encoded bodies)
    retries: int = 0  # GETs sent again after the server closed a kept-alive connection
    errors: list[str] = field(default_factory=list)


async def student(
    url: str, files: list[str], deadline: float, transport: httpx.AsyncBaseTransport | None = None
) -> Student:
    """One fresh browser fetching ``files`` with :data:`CONNECTIONS` connections (``transport``: a
    test's stand-in for the network)."""
    out = Student()
    start = time.perf_counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in files:
        queue.put_nowait(path)
    limits = httpx.Limits(max_connections=CONNECTIONS)
    client = httpx.AsyncClient(
        base_url=url, headers=HEADERS, limits=limits, timeout=120.0, transport=transport
    )
    async with client:

        async def fetch(path: str) -> None:
            async with client.stream("GET", path) as response:
                async for chunk in response.aiter_raw():
                    out.bytes += len(chunk)
            if response.status_code != 200:
                out.errors.append(f"{path}: HTTP {response.status_code}")

        async def fetch_all() -> None:
            while not queue.empty() and time.perf_counter() < deadline:
                path = queue.get_nowait()
                try:
                    try:
                        await fetch(path)
                    except (httpx.RemoteProtocolError, httpx.ReadError):  # a kept-alive connection closed
                        out.retries += 1  # as it was reused: a browser sends the GET again on a new one
                        await fetch(path)
                except httpx.HTTPError as error:
                    out.errors.append(f"{path}: {type(error).__name__}")

        await asyncio.gather(*(fetch_all() for _ in range(CONNECTIONS)))
    if queue.empty() and not out.errors:
        out.seconds = time.perf_counter() - start
    return out


async def room(
    url: str, pid: int, students: int, files: list[str], max_seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``students`` fresh browsers fetching ``files`` at once: the report (see the module docstring)."""
    cpu_before = process_tree_cpu(pid)
    start = time.perf_counter()
    done = await asyncio.gather(
        *(student(url, files, start + max_seconds, transport) for _ in range(students))
    )
    wall = time.perf_counter() - start
    cpu_after = process_tree_cpu(pid)
    served = [s.seconds for s in done if s.seconds is not None]
    return {
        "students": students, "files": len(files), "served": len(served),
        "errors": sum(len(s.errors) for s in done), "retries": sum(s.retries for s in done),
        "first_errors": [e for s in done for e in s.errors][:5],
        "last_s": max(served) if served else None, "median_s": statistics.median(served) if served else None,
        "wall_s": wall, "mb_per_student": statistics.mean(s.bytes for s in done) / 1e6,
        "server_cpu_s": None if None in (cpu_before, cpu_after) else cpu_after - cpu_before,
    }  # fmt: skip


def summary(report: dict[str, Any]) -> str:
    """The report in two lines."""
    last = "–" if report["last_s"] is None else f"{report['last_s']:.1f} s"
    median = "–" if report["median_s"] is None else f"{report['median_s']:.1f} s"
    cpu = "unknown" if report["server_cpu_s"] is None else f"{report['server_cpu_s']:.1f} s"
    students, files, served = report["students"], report["files"], report["served"]
    return (
        f"{students} students on their own devices, {files} files each: {served} had everything,"
        f" {report['errors']} errors ({report['retries']} GETs sent again on a new connection, as a browser"
        f" does when a kept-alive one is closed); the last after {last} (median {median})\n"
        f"{report['mb_per_student']:.2f} MB per student on the wire; server CPU {cpu}"
        f" over {report['wall_s']:.1f} s"
    )
