"""Every endpoint × every parameter × every kind of bad value: a message, never a silent failure.

Sent over Gradio's REST API (``/gradio_api/call/<name>``), as any client would: each bad value in
one parameter, the others at their defaults. Each must be refused with a message (or, where it
happens to be acceptable, served), never answered with an error without one, never hang, never
echo a file of the server; afterwards the server still serves.
"""

import json
import math

import httpx
import pytest

from ddpm.bench.local import free_port
from ddpm.serve import queue, results
from ddpm.views.page import build_demo

BAD = {
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "huge": 1e308,
    "negative": -1,
    "very negative": -(10**12),
    "text": "seven",
    "empty": "",
    "none": None,
    "long text": "x" * 100_000,
    "system file": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
    "list": [1, 2],
    "object": {"a": 1},
}


@pytest.fixture(scope="module")
def server():
    patch = pytest.MonkeyPatch()
    patch.setattr(results, "RESULTS", results.Results(max_bytes=64 * 2**20))
    demo = queue.configure(build_demo())
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
        yield client
    demo.close()
    patch.undo()


def call(client: httpx.Client, name: str, data: list, session: str | None = None) -> tuple[str, str | None]:
    """("served" | "refused" | "silent", message): how the server answered one call, made in
    ``session`` (a client's session hash; a new session for each call without one)."""
    body = json.dumps({"data": data, "session_hash": session}, allow_nan=True)
    posted = client.post(
        f"/gradio_api/call/{name}", content=body, headers={"content-type": "application/json"}
    )
    if posted.status_code != 200:
        detail = (
            posted.json().get("detail")
            if posted.headers.get("content-type", "").startswith("application/json")
            else None
        )
        return ("refused", str(detail)) if detail else ("silent", None)
    event = posted.json()["event_id"]
    kind, message = "silent", None
    with client.stream("GET", f"/gradio_api/call/{name}/{event}") as stream:
        current = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                current = line.removeprefix("event: ")
            elif line.startswith("data: ") and current in ("complete", "error"):
                payload = json.loads(line.removeprefix("data: "))
                if current == "complete":
                    return "served", None
                message = payload.get("error") if isinstance(payload, dict) else payload
                return ("refused", str(message)) if message else ("silent", None)
    return kind, message


def endpoints(client: httpx.Client) -> dict[str, list[dict]]:
    info = client.get("/gradio_api/info").json()["named_endpoints"]
    return {name.removeprefix("/"): spec["parameters"] for name, spec in info.items()}


@pytest.mark.slow  # about 560 requests: 10–20 s on two cores
def test_every_bad_value_gets_a_message_and_the_server_keeps_serving(server):
    silent, leaked, answered = [], [], 0
    for name, parameters in endpoints(server).items():
        defaults = [p.get("parameter_default") for p in parameters]
        for i, parameter in enumerate(parameters):
            for kind, value in BAD.items():
                data = [*defaults[:i], value, *defaults[i + 1 :]]
                # one client session per endpoint: Gradio builds every component's config for a
                # new session, half of what a refusal costs here
                outcome, message = call(server, name, data, session=f"fuzz-{name}")
                answered += 1
                where = f"/{name} {parameter['parameter_name']}={kind}"
                if outcome == "silent":
                    silent.append(where)
                elif message and ("root:" in message or "Traceback" in message or len(message) > 500):
                    leaked.append(f"{where}: {message[:80]}")
    assert answered > 300
    assert not silent, f"{len(silent)} refusals without a message: {silent}"
    assert not leaked, leaked
    assert call(server, "forward", [10, 0])[0] == "served"


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("forward", ["seven", 0], "must be a number"),
        ("forward", [10, math.nan], "must be a finite number"),
        ("forward", [10, 2**40], "between 0 and"),
        ("compare", [500, 0, "fixed_small", "yes", True], "true or false"),
        ("compare", [500, 0, "fixed_small", False, "no"], "true or false"),
        ("generate", [16, "ddpm", 50, 0.0, 0, "seven", 2.0], "must be one of"),
        ("small_steps", ["custom", "x" * 100_000, 0.08, "5", 1, 0], "too long"),
    ],
)
def test_the_message_names_the_control_and_the_problem(server, name, data, words):
    outcome, message = call(server, name, data)
    assert outcome == "refused" and words in message
