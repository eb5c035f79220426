"""The load benchmark: its pure pieces against hand-made and recorded cases, and a CI-sized room."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import pytest

from ddpm.bench import load as bench_load
from ddpm.bench.http import (
    EndpointStats,
    Outcome,
    SSEParser,
    api_data,
    classify_error,
    classify_status,
    percentile,
    table,
)
from ddpm.bench.server import process_tree_cpu, serve_app, stat_cpu

# Recorded from this app's GET /gradio_api/call/generate/<event_id> and /forward (data URLs and file
# paths shortened), plus a heartbeat, an error without a message and a comment line.
RECORDED_SSE = """\
event: generating
data: [{"path": null, "url": "data:image/png;base64,iVBORw0K", "size": null, "orig_name": null, \
"mime_type": null, "is_stream": false, "meta": {"_type": "gradio.FileData"}}, "step 1 of 2"]

event: heartbeat
data: null

: a comment, ignored
event: complete
data: [{"path": "/tmp/gradio/9689/generation_seed0_xt.png"}, "done"]

event: error
data: {"error": null}

event: error
data: {"error": "Value 5000 is greater than maximum value 1000.", "duration": 10, "visible": true, \
"title": "Error"}

"""

# The parts of this app's GET /gradio_api/info that the benchmark reads (gr.State inputs are absent).
INFO = {
    "named_endpoints": {
        "/forward": {"parameters": [
            {"parameter_name": "t", "parameter_has_default": True, "parameter_default": 250},
            {"parameter_name": "seed", "parameter_has_default": True, "parameter_default": 0},
        ]},
        "/compare": {"parameters": [
            {"parameter_name": "t", "parameter_has_default": True, "parameter_default": 1000},
            {"parameter_name": "seed", "parameter_has_default": True, "parameter_default": 0},
            {"parameter_name": "variance", "parameter_has_default": True, "parameter_default": "fixed_small"},
            {"parameter_name": "told_class", "parameter_has_default": True, "parameter_default": False},
        ]},
        "/use_upload": {"parameters": [
            {"parameter_name": "image", "parameter_has_default": False, "parameter_default": None},
        ]},
    }
}  # fmt: skip


def test_percentile_interpolates_like_numpy():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5  # unsorted input
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    rng = np.random.default_rng(0)
    for n in (2, 7, 100):
        values = rng.exponential(size=n).tolist()
        for q in (0, 50, 95, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_sse_parser_reads_a_recorded_stream():
    parser = SSEParser()
    events = [e for line in RECORDED_SSE.splitlines() if (e := parser.feed(line)) is not None]
    assert [e.name for e in events] == ["generating", "heartbeat", "complete", "error", "error"]
    assert (
        events[0].data[0]["url"].startswith("data:image/png;base64,") and events[0].data[1] == "step 1 of 2"
    )
    assert events[1].data is None
    assert events[2].data[1] == "done"
    assert events[3].data == {"error": None}
    assert events[4].data["error"] == "Value 5000 is greater than maximum value 1000."


def test_sse_parser_joins_data_lines_and_keeps_text_that_is_not_json():
    parser = SSEParser()
    for line in ("event: error", "data: Server stopped", "data: unexpectedly."):
        assert parser.feed(line) is None
    event = parser.feed("")
    assert (event.name, event.data) == ("error", "Server stopped\nunexpectedly.")
    assert parser.feed("") is None  # a blank line with nothing pending is no event


def test_refusals_are_told_apart_from_failures():
    full = json.dumps({"detail": "Queue is full. Max size is 32 and size is 32."})
    assert classify_status(503, full) == (
        "refused",
        "HTTP 503: Queue is full. Max size is 32 and size is 32.",
    )
    assert classify_status(429, "slow down")[0] == "refused"
    assert classify_status(500, "Internal Server Error") == ("failed", "HTTP 500: Internal Server Error")
    assert classify_status(422, json.dumps({"detail": "bad input"}))[0] == "failed"
    kind, message = classify_error({"error": None})
    assert kind == "failed" and "without a message" in message
    assert classify_error(None)[0] == "failed"
    assert classify_error({"error": "The server is busy. Retry in about 3 s."}) == (
        "refused",
        "The server is busy. Retry in about 3 s.",
    )
    assert classify_error({"error": "Value 5000 is greater than maximum value 1000."})[0] == "failed"
    assert classify_error("Server stopped unexpectedly.") == ("failed", "Server stopped unexpectedly.")


def test_api_data_fills_the_defaults_of_the_api_description():
    assert api_data(INFO, "forward") == [250, 0]
    assert api_data(INFO, "compare", {"t": 500, "seed": 3}) == [500, 3, "fixed_small", False]
    with pytest.raises(ValueError, match=r"no parameter steps.*\['t', 'seed'\]"):
        api_data(INFO, "forward", {"steps": 5})
    with pytest.raises(ValueError, match="'image' has no default"):
        api_data(INFO, "use_upload")
    with pytest.raises(ValueError, match="no endpoint /nope"):
        api_data(INFO, "nope")


def test_endpoint_stats_count_and_table_shows_the_messages():
    stats = EndpointStats()
    for seconds in (0.1, 0.2, 0.3, 0.4):
        stats.add(Outcome("served", seconds, first=seconds / 2))
    stats.add(Outcome("refused", 0.01, message="Queue is full. Max size is 2 and size is 2."))
    stats.add(Outcome("failed", 5.0, message="unfinished at the deadline"))
    stats.add(Outcome("failed", 5.0, message="unfinished at the deadline"))
    s = stats.summary()
    assert (s["sent"], s["served"], s["refused"], s["failed"]) == (7, 4, 1, 2)
    assert (
        s["p50_s"] == pytest.approx(0.25) and s["max_s"] == 0.4 and s["first_p50_s"] == pytest.approx(0.125)
    )
    assert s["failures"] == {"unfinished at the deadline": 2}
    text = table({"/forward": stats, "/compare": EndpointStats()})
    assert "/forward refused ×1: Queue is full. Max size is 2 and size is 2." in text
    assert "/forward failed ×2: unfinished at the deadline" in text
    assert text.splitlines()[2].split()[:5] == ["/compare", "0", "0", "0", "0"]


def test_stat_cpu_reads_the_fields_after_a_command_name_with_spaces_and_parentheses():
    # fields: pid (comm) state ppid pgrp session tty tpgid flags 4 × faults, utime stime cutime cstime …
    line = "4242 (my (odd) app) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 3 0 99 1000 50"
    assert stat_cpu(line, 100) == (17, pytest.approx(3.5))


def test_process_tree_cpu_counts_this_process_and_a_live_child():
    assert process_tree_cpu(2**22 + 12345) is None  # no such process
    if process_tree_cpu(os.getpid()) is None:
        pytest.skip("no /proc here")
    # compared as increments: the tree also holds the children this process has run and reaped
    tree, own = process_tree_cpu(os.getpid()), time.process_time()
    deadline = own + 0.3
    while time.process_time() < deadline:
        pass
    assert process_tree_cpu(os.getpid()) - tree == pytest.approx(time.process_time() - own, abs=0.05)
    burn = "import time\nwhile time.process_time() < 0.5: pass\nprint('ready', flush=True)\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        assert process_tree_cpu(os.getpid()) - time.process_time() >= 0.45
        assert process_tree_cpu(child.pid) >= 0.45  # /proc counts in ticks of 10 ms
    finally:
        child.kill()
        child.wait()


def test_a_drag_goes_up_the_slider():
    import random

    for drags in (1, 3, 20):
        ts = bench_load.drag(1000, drags, random.Random(drags))
        assert len(ts) == drags and ts == sorted(ts) and len(set(ts)) == drags
        assert ts[0] > 250 and ts[-1] <= 1000


def test_the_deadline_cancels_and_counts_what_is_unfinished():
    async def scenario() -> tuple[int, dict[str, EndpointStats]]:
        room = bench_load.Room(None, INFO, 0.0, defaultdict(EndpointStats))

        async def answer(after: float) -> Outcome:
            await asyncio.sleep(after)
            return Outcome("served", after)

        async def client(name: str, after: float) -> None:
            await room.record(name, answer(after))
            await room.record(name, answer(after))  # never sent when the first is cut off

        return await bench_load.until(0.3, [client("/compare", 10.0), client("/forward", 0.01)]), room.stats

    cut_off, stats = asyncio.run(scenario())
    assert cut_off == 1
    assert stats["/compare"].summary()["sent"] == 1
    assert stats["/compare"].failed == {"unfinished at the deadline": 1}
    assert stats["/forward"].served == [0.01, 0.01]


def test_a_group_goes_through_its_door_together():
    async def scenario() -> list[str]:
        group, seen = bench_load.Group(3, 500), []

        async def member(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            seen.append(f"{name} arrives")
            await group.wait()
            seen.append(f"{name} sends")

        await asyncio.gather(member("a", 0.0), member("b", 0.05), member("c", 0.1))
        return seen

    seen = asyncio.run(scenario())
    assert seen[:3] == ["a arrives", "b arrives", "c arrives"] and len(seen) == 6
    assert bench_load.Group(3, 500).path == "/?view=reverse&digit=2&t=500&seed=3"


# A stand-in for app.py: answers HTTP on the port and address it is given, nothing else.
FAKE_APP = """
import http.server, os
assert os.environ["GRADIO_SERVER_NAME"] == "127.0.0.1" and os.environ["EXTRA"] == "passed"
http.server.HTTPServer(("127.0.0.1", int(os.environ["GRADIO_SERVER_PORT"])),
                       http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_serve_app_starts_the_app_and_stops_it_also_on_an_error(tmp_path: Path):
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(FAKE_APP))
    with pytest.raises(KeyError), serve_app(app, {"EXTRA": "passed"}, 30, tmp_path) as server:
        assert httpx.get(server.url + "/", trust_env=False).status_code == 200
        raise KeyError("the benchmark broke")
    assert server.process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", trust_env=False, timeout=2)


def test_serve_app_reports_an_app_that_exits(tmp_path: Path):
    app = tmp_path / "app.py"
    app.write_text("print('no model here')\nraise SystemExit(3)\n")
    match = r"exited with code 3 before answering:\nno model here"
    with pytest.raises(RuntimeError, match=match), serve_app(app, timeout=30, log_dir=tmp_path):
        pass


# Started the way a benchmark holds its app, then sent SIGTERM (as `timeout` does): the app must go too.
HOLDER = """
import sys, time
from pathlib import Path
from ddpm.bench.server import serve_app, sigterm_as_exit
with sigterm_as_exit(), serve_app(Path(sys.argv[1]), {"EXTRA": "passed"}, 30, Path(sys.argv[2])) as server:
    print(server.process.pid, flush=True)
    time.sleep(60)
"""


def test_sigterm_to_the_benchmark_stops_the_app(tmp_path: Path):
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(FAKE_APP))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(app), str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    try:
        app_pid = int(holder.stdout.readline())
        holder.terminate()
        assert holder.wait(timeout=30) == 128 + 15
        with pytest.raises(ProcessLookupError):  # gone (and reaped by the holder)
            os.kill(app_pid, 0)
    finally:
        holder.kill()
        holder.wait()


# CI-sized: 10 visitors, 3 drags each, a group of 3 on a deep link at t = 2, and one stream of a
# 1-digit, 2-step DDIM generation and a comparison from t = 2, so that today's queue limits (32
# waiting, 2 streams at once) serve all of it on two busy cores.
SMALL_ROOM = ["--visitors", "10", "--drags", "3", "--group", "3", "--link-t", "2", "--streams", "1",
              "--generate", '{"n": 1, "sampler": "ddim", "steps": 2}', "--compare-t", "2",
              "--arrival", "1", "--max-seconds", "90", "--check"]  # fmt: skip


@pytest.mark.slow
def test_a_small_room_is_served_in_full(tmp_path: Path, capsys):
    out = tmp_path / "room.json"
    assert bench_load.main([*SMALL_ROOM, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    endpoints = report["endpoints"]
    assert list(endpoints) == ["GET /", "/forward", "/pick_digit", "GET /?…", "/compare", "/generate"]
    for name, r in endpoints.items():
        assert r["failed"] == 0 and r["served"] >= 1, (name, r)
    assert endpoints["/forward"]["sent"] == 10 * (1 + 3)  # the page's own, then the drag
    assert endpoints["/compare"]["sent"] == 3 + 1 and endpoints["/generate"]["sent"] == 1
    assert report["stopped_at_deadline"] == 0 and report["server_cpu_s"] > 0
    assert "/pick_digit" in capsys.readouterr().out
    with pytest.raises(httpx.ConnectError):  # the app was stopped
        httpx.get(report["url"] + "/", trust_env=False, timeout=2)


@pytest.mark.slow
def test_forward_cpu_times_sequential_calls(tmp_path: Path):
    out = tmp_path / "forward.json"
    assert bench_load.main(["--forward-cpu", "5", "--json", str(out), "--check"]) == 0
    report = json.loads(out.read_text())
    assert report["calls"] == 5 and report["not_served"] == []
    assert 0 < report["server_cpu_per_call_s"] < 5 and 0 < report["wall_per_call_s"] < 5


def test_the_explore_room_gives_every_student_their_own_seed_t_and_digit():
    room = bench_load.explore_requests(T=1000, n=200, generate=False, seed=1)
    assert len(room) == 200 and len({inputs["seed"] for _, _, inputs, _ in room}) == 200
    assert all(0 <= arrival < 1 and name == "compare" for arrival, name, _, _ in room)
    assert {inputs["t"] for _, _, inputs, _ in room} == {250, 500, 750, 1000}
    assert all(inputs["seed"] >= 1 and 0 <= digit <= 9 for _, _, inputs, digit in room)  # 0 is the lone one's
    assert bench_load.explore_requests(1000, 200, False, 1) == room  # reproducible from its seed
    generating = bench_load.explore_requests(T=1000, n=20, generate=True, seed=1)
    assert all(name == "generate" and inputs == {**bench_load.EXPLORE_GENERATE, "seed": inputs["seed"]}
               for _, name, inputs, _ in generating)  # fmt: skip


def test_the_explore_summary_states_the_counts_the_slowest_and_its_ratio():
    report = {"students": 50, "endpoint": "/compare", "served": 48, "refused": 2, "failed": 0,
              "stopped_at_deadline": 0, "alone_s": 10.0, "p50_s": 20.0, "slowest_s": 35.0,
              "slowest_over_alone": 3.5, "chains_per_minute": 60.0, "wall_s": 48.0,
              "server_cpu_s": None}  # fmt: skip
    text = bench_load.explore_summary(report)
    assert "48 served, 2 refused, 0 failed" in text and "slowest 35.0 s = 3.5× one alone" in text
    assert "server CPU unknown" in text
