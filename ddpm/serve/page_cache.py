"""The page itself (``GET /``), built once and sent to every visitor, compressed.

Gradio builds the page anew for every request: it deep-copies the app's whole configuration five
times, walks it to set its root URL and writes the API's code snippets. For this app's ~200
components that is ~65 ms of server CPU per visitor for the same 556 kB each time, and a room of
200 opening the link within seconds spent the cores on it (docs/serving.md). The page
does not depend on the visitor: the deep link's view, digit and t are read from the URL in the
browser, and sessions begin with the first event. So :class:`PageCache`, an ASGI middleware
inside Gradio's own, keeps the finished page per origin (the headers from which Gradio writes the
page's root URL) and sends it again at once, gzip-compressed for browsers that accept it (about a
tenth of the bytes). Gradio's ``?page=`` and ``?deep_link=`` pages, a response other than a plain
200 page, and any request with credentials (an Authorization header or Gradio's login cookie) go
to Gradio as before.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ORIGIN_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-gradio-server")
"""The request headers Gradio builds the page's root URL from: part of the cache key."""


@dataclass(frozen=True)
class Page:
    headers: list[tuple[bytes, bytes]]  # without content-length
    body: bytes
    gzipped: bytes


class PageCache:
    """ASGI middleware: ``GET /`` answered from memory after the first time (see the module docstring).

    ``max_pages`` bounds the origins kept (least recently used first out); ``level`` is gzip's.
    ``rendered`` counts the pages the app behind it built (for tests and benchmarks).
    """

    def __init__(self, app: ASGIApp, max_pages: int = 8, level: int = 6) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be ≥ 1, got {max_pages}")
        self.app, self.max_pages, self.level = app, max_pages, level
        self.pages: OrderedDict[tuple, Page] = OrderedDict()
        self.lock = threading.Lock()
        self.rendered = 0

    @staticmethod
    def key(scope: Scope) -> tuple | None:
        """The cache key of a request, or None for one that must reach Gradio."""
        if scope.get("type") != "http" or scope.get("method") != "GET":
            return None
        root = scope.get("root_path", "").rstrip("/")
        if scope.get("path", "").rstrip("/") not in ("", root):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "page" in query or "deep_link" in query:
            return None
        headers = dict(scope.get("headers", []))
        if b"authorization" in headers or b"access-token" in headers.get(b"cookie", b""):
            return None
        scheme = scope.get("scheme", "http")
        return (root, scheme, *(headers.get(name, b"") for name in ORIGIN_HEADERS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        with self.lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
        if page is None:
            await self._render(key, scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        compress = b"gzip" in headers.get(b"accept-encoding", b"")
        body = page.gzipped if compress else page.body
        extra = [(b"content-encoding", b"gzip")] if compress else []
        response_headers = [*page.headers, *extra, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _render(self, key: tuple, scope: Scope, receive: Receive, send: Send) -> None:
        """Let Gradio answer, passing its messages on as they come, and keep the page if it is one."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, keep)
        with self.lock:
            self.rendered += 1
        if start is None or start.get("status") != 200:
            return
        headers = [(bytes(k).lower(), bytes(v)) for k, v in start.get("headers", [])]
        names = {k for k, _ in headers}
        content_type = dict(headers).get(b"content-type", b"")
        if not content_type.startswith(b"text/html") or names & {b"set-cookie", b"content-encoding"}:
            return
        body = b"".join(chunks)
        kept = [(k, v) for k, v in headers if k not in (b"content-length", b"vary")]
        page = Page([*kept, (b"vary", b"Accept-Encoding")], body, gzip.compress(body, self.level, mtime=0))
        with self.lock:
            self.pages[key] = page
            self.pages.move_to_end(key)
            while len(self.pages) > self.max_pages:
                self.pages.popitem(last=False)
