"""The load benchmark's client: Gradio's REST calls over plain HTTP, and what became of each request.

Gradio 6's REST API, as this app serves it (``GET /gradio_api/info`` lists the endpoints):

- ``POST /gradio_api/call/<api_name>`` with ``{"data": [...], "session_hash": ...}`` answers
  ``{"event_id": ...}``; ``data`` holds the endpoint's parameters in order (a ``gr.State`` input is
  not a parameter: the server reads it from the session named by ``session_hash``). A full queue
  answers HTTP 503 ``{"detail": "Queue is full. Max size is 32 and size is 32."}``.
- ``GET /gradio_api/call/<api_name>/<event_id>`` streams server-sent events, each an
  ``event: generating | complete | error | heartbeat`` line, a ``data: <JSON>`` line and a blank
  line. An error's data is ``{"error": "message", ...}``, or ``{"error": null}`` when the handler
  raised something other than ``gr.Error``, or a bare string when the server itself gave up.

Nothing here imports gradio: a room of clients on two cores needs a light client (httpx). The app
itself runs in a process of its own (:mod:`ddpm.bench.server`).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

Kind = Literal["served", "refused", "failed"]

# A refusal says the server is too busy now (and, ideally, when to come back); anything else is a failure.
REFUSAL = re.compile(r"queue is full|busy|too many|try again|retry", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """What became of one request."""

    kind: Kind
    seconds: float  # from sending the request to its complete event (or to the refusal / failure)
    first: float | None = None  # to the first generating or complete event
    message: str = ""  # a refusal's text or a failure's reason


@dataclass
class EndpointStats:
    """The outcomes of one endpoint's requests."""

    served: list[float] = field(default_factory=list)  # latencies in seconds
    first: list[float] = field(default_factory=list)  # seconds to the first event of served requests
    refused: Counter[str] = field(default_factory=Counter)  # message -> count
    failed: Counter[str] = field(default_factory=Counter)  # reason -> count

    def add(self, outcome: Outcome) -> None:
        if outcome.kind == "served":
            self.served.append(outcome.seconds)
            if outcome.first is not None:
                self.first.append(outcome.first)
        else:
            getattr(self, outcome.kind)[outcome.message] += 1

    def summary(self) -> dict[str, Any]:
        """Counts and latency percentiles (seconds; None without a served request), JSON-ready."""
        refused, failed = sum(self.refused.values()), sum(self.failed.values())
        return {
            "sent": len(self.served) + refused + failed, "served": len(self.served),
            "refused": refused, "failed": failed,
            "p50_s": percentile(self.served, 50), "p95_s": percentile(self.served, 95),
            "max_s": max(self.served, default=None), "first_p50_s": percentile(self.first, 50),
            "refusals": dict(self.refused), "failures": dict(self.failed),
        }  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 ≤ q ≤ 100) with linear interpolation between order statistics (numpy's
    default method); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def table(stats: Mapping[str, EndpointStats], messages: int = 3) -> str:
    """One row per endpoint: counts, and the served requests' latency percentiles and median time to
    the first event; then the most frequent refusal messages and failure reasons of each endpoint."""

    def s(x: float | None) -> str:
        return f"{x:9.2f}" if x is not None else f"{'—':>9}"

    lines = [f"{'endpoint':14} {'sent':>5} {'served':>6} {'refused':>7} {'failed':>6} "
             f"{'p50 s':>9} {'p95 s':>9} {'max s':>9} {'first p50':>9}"]  # fmt: skip
    notes = []
    for name, st in stats.items():
        r = st.summary()
        lines.append(f"{name:14} {r['sent']:5} {r['served']:6} {r['refused']:7} {r['failed']:6} "
                     f"{s(r['p50_s'])} {s(r['p95_s'])} {s(r['max_s'])} {s(r['first_p50_s'])}")  # fmt: skip
        for kind, counts in (("refused", st.refused), ("failed", st.failed)):
            notes += [f"  {name} {kind} ×{n}: {m}" for m, n in counts.most_common(messages)]
            if len(counts) > messages:
                notes.append(f"  {name} {kind}: {len(counts) - messages} more distinct messages (see --json)")
    return "\n".join(lines + notes)


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event: its name and its data (parsed as JSON when it is JSON)."""

    name: str
    data: Any


class SSEParser:
    """Server-sent events from a stream's lines, fed one at a time (without their line endings)."""

    def __init__(self) -> None:
        self._name, self._data = "message", []

    def feed(self, line: str) -> SSEEvent | None:
        """The event that a blank line completes, else None."""
        if line:
            if not line.startswith(":"):  # a line starting with ':' is a comment
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    self._name = value
                elif key == "data":
                    self._data.append(value)
            return None
        if not self._data and self._name == "message":
            return None
        text, name = "\n".join(self._data), self._name
        self._name, self._data = "message", []
        try:
            return SSEEvent(name, json.loads(text))
        except ValueError:
            return SSEEvent(name, text)


def classify_status(status: int, body: str) -> tuple[Kind, str]:
    """A POST that did not answer 200: HTTP 503 / 429 (or a busy message) is a refusal, else a failure."""
    try:
        detail = json.loads(body).get("detail", body)
    except (ValueError, AttributeError):
        detail = body
    message = f"HTTP {status}: {str(detail)[:200]}"  # not a whole error page
    return ("refused" if status in (429, 503) or REFUSAL.search(str(detail)) else "failed"), message


def classify_error(data: Any) -> tuple[Kind, str]:
    """An ``error`` event's data: a busy / queue-full message is a refusal; anything else, including an
    error without a message (``{"error": null}``), is a failure."""
    message = data.get("error") if isinstance(data, dict) else data
    if not message:
        return "failed", f"error event without a message: {json.dumps(data)}"
    return ("refused" if REFUSAL.search(str(message)) else "failed"), str(message)


def api_data(info: Mapping[str, Any], api_name: str, overrides: Mapping[str, Any] | None = None) -> list:
    """The ``data`` list of ``POST /gradio_api/call/<api_name>``: each parameter of ``GET /gradio_api/info``
    in order, its default unless ``overrides`` names it."""
    endpoints = info["named_endpoints"]
    if "/" + api_name not in endpoints:
        raise ValueError(f"no endpoint /{api_name}; the app has {sorted(endpoints)}")
    params = endpoints["/" + api_name]["parameters"]
    overrides = dict(overrides or {})
    names = [p["parameter_name"] for p in params]
    if unknown := sorted(set(overrides) - set(names)):
        raise ValueError(f"/{api_name} has no parameter {', '.join(unknown)}; its parameters: {names}")
    data = []
    for p in params:
        name = p["parameter_name"]
        if name not in overrides and not p["parameter_has_default"]:
            raise ValueError(f"/{api_name}: parameter {name!r} has no default, give it a value")
        data.append(overrides.pop(name) if name in overrides else p["parameter_default"])
    return data


async def call(
    client: httpx.AsyncClient, api_name: str, data: list, session_hash: str | None = None
) -> Outcome:
    """One REST call: POST the inputs, then read the event stream to its complete or error event."""
    start, first, stage = time.perf_counter(), None, "POST"

    def outcome(kind: Kind, message: str = "") -> Outcome:
        return Outcome(kind, time.perf_counter() - start, first, message)

    try:
        posted = await client.post(
            f"/gradio_api/call/{api_name}", json={"data": data, "session_hash": session_hash}
        )
        if posted.status_code != 200:
            return outcome(*classify_status(posted.status_code, posted.text))
        parser, stage = SSEParser(), "stream"
        async with client.stream("GET", f"/gradio_api/call/{api_name}/{posted.json()['event_id']}") as stream:
            async for line in stream.aiter_lines():
                event = parser.feed(line)
                if event is None or event.name == "heartbeat":
                    continue
                if event.name in ("generating", "complete") and first is None:
                    first = time.perf_counter() - start
                if event.name == "complete":
                    return outcome("served")
                if event.name == "error":
                    return outcome(*classify_error(event.data))
        return outcome("failed", "the stream ended without a complete event")
    except httpx.TimeoutException as e:
        return outcome("failed", f"timeout ({type(e).__name__}, {stage})")
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return outcome("failed", f"{type(e).__name__} ({stage}): {e}")


async def get_page(client: httpx.AsyncClient, path: str = "/") -> Outcome:
    """GET a page: served on 200, refused on 503 / 429, failed otherwise."""
    start = time.perf_counter()
    try:
        page = await client.get(path)
        kind, message = (
            ("served", "") if page.status_code == 200 else classify_status(page.status_code, page.text)
        )
    except httpx.HTTPError as e:
        kind, message = "failed", f"{type(e).__name__}: {e}"
    return Outcome(kind, time.perf_counter() - start, None, message)
