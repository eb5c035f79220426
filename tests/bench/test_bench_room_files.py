"""python -m ddpm.bench.load --page N (ddpm.bench.room_files): N fresh browsers fetching the files a
page on its own device needs, each file once, counted on the wire, errors named."""

import asyncio
import os
from collections import Counter

import httpx

from ddpm.bench import room_files

FILES = {
    "/": b"<html>" * 100,
    "/assets/Index-CsUOoOcz.js": b"x" * 5000,
    "/ddpm-static/engine/worker.js?v=1": b"y" * 70,
}


def transport(asked: Counter, missing: str | None = None) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        asked[path] += 1
        if path == missing or path not in FILES:
            return httpx.Response(404, stream=httpx.ByteStream(b"no"))
        return httpx.Response(200, stream=httpx.ByteStream(FILES[path]))

    return httpx.MockTransport(answer)


def test_every_student_fetches_every_file_once_and_the_bytes_are_counted():
    asked = Counter()
    report = asyncio.run(room_files.room("http://app", os.getpid(), 7, list(FILES), 60, transport(asked)))
    assert asked == Counter({path: 7 for path in FILES})
    assert report["served"] == 7 and report["errors"] == 0 and report["files"] == len(FILES)
    assert report["mb_per_student"] * 1e6 == sum(len(body) for body in FILES.values())
    assert 0 <= report["median_s"] <= report["last_s"] <= report["wall_s"]
    assert "7 had everything, 0 errors" in room_files.summary(report)


def test_a_file_that_fails_is_an_error_and_the_student_is_not_served():
    asked = Counter()
    report = asyncio.run(
        room_files.room("http://app", os.getpid(), 3, list(FILES), 60, transport(asked, "/"))
    )
    assert report["served"] == 0 and report["errors"] == 3 and report["last_s"] is None
    assert report["first_errors"][0] == "/: HTTP 404"
