"""The app under test in a process of its own: started on a free loopback port, always stopped, and
the CPU time it used, read from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from .local import free_port


def stat_cpu(stat: str, ticks_per_second: float) -> tuple[int, float]:
    """(parent pid, CPU seconds) from a ``/proc/<pid>/stat`` line: utime + stime of the process and
    cutime + cstime of its children that it has waited for (fields 14–17; the command name in
    parentheses may itself hold spaces and parentheses, so fields are counted after the last ')')."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / ticks_per_second


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by process ``pid`` and all its descendants (those alive and those
    reaped), read from /proc; None where /proc cannot tell (not Linux, or no such process)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    tree: dict[int, tuple[int, float]] = {}
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError):
                    tree[int(entry.name)] = stat_cpu(Path(entry.path, "stat").read_text(), ticks)
    except OSError:
        return None
    if pid not in tree:
        return None
    children: dict[int, list[int]] = {}
    for child, (parent, _) in tree.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        node = todo.pop()
        total += tree[node][1]
        todo += children.get(node, [])
    return total


@dataclass
class Server:
    """An app running in its own process on loopback."""

    url: str  # http://127.0.0.1:<port>
    process: subprocess.Popen
    ready_s: float  # seconds from the start until it answered HTTP
    log: Path  # its stdout and stderr


@contextlib.contextmanager
def serve_app(
    app: Path, env: Mapping[str, str] | None = None, timeout: float = 180.0, log_dir: Path | None = None
) -> Iterator[Server]:
    """``python <app>`` in its own process (and session) on a free 127.0.0.1 port, from the app's folder
    (so that it imports its own checkout's ``ddpm``), with ``env`` added to this environment. Yields once
    it answers HTTP; always stops it at the end, also on errors and Ctrl-C. Its output goes to a log
    file (in ``log_dir``, else the temporary folder), deleted after a clean run and kept (its path
    printed) when the app or the run failed."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {}),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}  # fmt: skip
    fd, log_name = tempfile.mkstemp(prefix="bench_load_app_", suffix=".log", dir=log_dir)
    log, start, ok = Path(log_name), time.perf_counter(), False
    with os.fdopen(fd, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(app)], cwd=app.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{app} exited with code {process.returncode} before answering:\n{_tail(log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{app} did not answer within {timeout:g} s:\n{_tail(log)}")
            time.sleep(0.1)
        yield Server(url, process, time.perf_counter() - start, log)
        ok = process.poll() is None
    finally:
        stop(process)
        if ok:
            log.unlink(missing_ok=True)
        else:
            print(f"(the app's output is in {log})", file=sys.stderr)


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Within: SIGTERM (what ``timeout`` and ``kill`` send) raises SystemExit in the main thread, so that
    ``finally`` blocks, :func:`serve_app`'s among them, still run and stop the app."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    """Stop a process started with ``start_new_session=True`` and its process group: SIGTERM, then
    SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
