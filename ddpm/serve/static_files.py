"""Static files: the page's engine and its runtime, and Gradio's frontend, compressed once and cached.

:class:`StaticFiles`, an ASGI middleware inside Gradio's own, answers two kinds of ``GET``/``HEAD``:

- ``/ddpm-static/<name>/<path>``: a file of one of the named folders of :data:`FOLDERS` (the
  engine's ES modules, the vendored onnxruntime-web and gifenc), and nothing else: an unknown name, a path
  outside the folder or not matching its patterns (``..``, an absolute or hidden path, one
  percent-encoded) is a 404. The page links them with :func:`static_url`, which appends the
  file's content hash (``?v=<first 16 hex of its sha256>``).
- Gradio's built frontend, ``/assets/...`` and ``/static/...`` (:data:`GRADIO`; its routes
  ``build_resource`` and ``static_resource`` serve the same folders). A file it does not have goes on
  to Gradio.

The caching rule: a URL that carries the file's content hash (``?v=`` equal to the file's, or a
Vite build name such as ``Index-CsUOoOcz.js``) is ``Cache-Control: public, max-age=31536000,
immutable``, so a browser does not ask again; any other is ``no-cache`` with an ETag, and a request
whose ``If-None-Match`` names it gets 304. Text files (js, mjs, json, css, svg) are compressed once,
on first request, with brotli (quality 11) or gzip (level 9), whichever the client prefers (br first),
and kept in memory keyed by path, mtime and size; they are sent with ``Content-Encoding`` and ``Vary:
Accept-Encoding``. Gradio's own compression (its ``BrotliMiddleware``, outside this one, quality 4
on every response) passes a response that already has a ``Content-Encoding``, so nothing is
compressed twice. Other files go as stored: the runtime's ``.wasm.gz`` as
``application/octet-stream`` with no ``Content-Encoding`` (the Worker decompresses it with
``DecompressionStream("gzip")``; no proxy re-encodes or strips it).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import anyio.to_thread
import gradio

try:
    import brotli  # a dependency of gradio (its BrotliMiddleware)
except ImportError:  # pragma: no cover
    brotli = None

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/ddpm-static/"
KIT_STATIC = Path(__file__).resolve().parent.parent / "views" / "kit" / "static"
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
VITE_HASH = re.compile(r"-[A-Za-z0-9_-]{8}\d*\.[A-Za-z0-9]+$")
"""The end of a name Vite gave a file of Gradio's build: ``-`` and 8 characters of its content hash
(a few names have a digit more)."""


@dataclass(frozen=True)
class Folder:
    root: Path  # the folder on disk
    patterns: tuple[str, ...] = ("*",)  # what it serves: fnmatch patterns of paths below root (* spans /)
    hashed: re.Pattern[str] | None = None  # names that carry their content's hash (immutable as named)


FOLDERS: dict[str, Folder] = {
    "engine": Folder(KIT_STATIC / "engine", ("*.js", "*.mjs", "*.json")),
    "onnxruntime-web": Folder(KIT_STATIC / "vendor" / "onnxruntime-web", ("*.mjs", "*.wasm.gz")),
    "gifenc": Folder(KIT_STATIC / "vendor" / "gifenc", ("gifenc.esm.js",)),
}
"""The folders served under :data:`PREFIX`, by name. Registering one is one line here, e.g. the
networks of the in-page engine: ``"models": Folder(checkpoint.BUNDLED, ("model.onnx", "*/model.onnx"))``
(``*`` spans ``/``)."""

FRONTEND = Path(gradio.__file__).resolve().parent / "templates" / "frontend"
GRADIO: dict[str, Folder] = {
    "/assets/": Folder(FRONTEND / "assets", hashed=VITE_HASH),
    "/static/": Folder(FRONTEND / "static"),
}
"""Gradio's built frontend by URL prefix (``gradio.route_utils.BUILD_PATH_LIB`` and ``STATIC_PATH_LIB``)."""

TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
         ".json": "application/json", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
         ".wasm": "application/wasm", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
         ".png": "image/png", ".txt": "text/plain; charset=utf-8"}  # fmt: skip
COMPRESSIBLE = frozenset({".js", ".mjs", ".json", ".css", ".svg"})


def content_type(path: Path) -> str:
    """The file's Content-Type; anything unlisted (a ``.gz``, an ``.onnx``) is bytes."""
    return TYPES.get(path.suffix.lower(), "application/octet-stream")


_digests: dict[Path, tuple[tuple[int, int], str]] = {}
_digests_lock = threading.Lock()


def stamp(path: Path) -> tuple[int, int]:
    """What says the file changed: its mtime (ns) and size."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def digest(path: Path) -> str:
    """The first 16 hex digits of the file's sha256, computed once per mtime and size."""
    key = stamp(path)
    with _digests_lock:
        known = _digests.get(path)
    if known is not None and known[0] == key:
        return known[1]
    value = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    with _digests_lock:
        _digests[path] = (key, value)
    return value


def resolve(folder: Folder, relative: str) -> Path | None:
    """The file ``relative`` (a URL's path, already percent-decoded) names in ``folder``, or None
    for anything else: an empty, ``.``, ``..`` or hidden segment, a backslash, a path the folder's
    patterns do not admit, a link out of it, or no such file."""
    parts = relative.split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None
    if not any(fnmatchcase(relative, pattern) for pattern in folder.patterns):
        return None
    root = folder.root.resolve()
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def static_url(name: str, path: str, folders: Mapping[str, Folder] = FOLDERS) -> str:
    """The URL of file ``path`` of folder ``name`` with its content hash, e.g.
    ``/ddpm-static/onnxruntime-web/ort.wasm.bundle.min.mjs?v=51bd716817576732``: served immutable.

    Raises:
        ValueError: for an unknown folder or a path it does not serve.
    """
    if name not in folders:
        raise ValueError(f"no static folder {name!r}; one of {sorted(folders)}")
    file = resolve(folders[name], path)
    if file is None:
        raise ValueError(f"folder {name!r} ({folders[name].root}) serves no file {path!r}")
    return f"{PREFIX}{name}/{quote(path)}?v={digest(file)}"


def accepted(scope: Scope) -> set[str]:
    """The content codings the request's Accept-Encoding admits (those with ``q=0`` refused)."""
    header = dict(scope.get("headers", [])).get(b"accept-encoding", b"").decode("latin-1")
    codings = set()
    for item in header.split(","):
        name, *params = (piece.strip() for piece in item.split(";"))
        weights = [p.partition("=")[2] for p in params if p.replace(" ", "").startswith("q=")]
        try:
            refused = any(float(w) == 0 for w in weights)
        except ValueError:
            refused = True
        if name and not refused:
            codings.add(name.lower())
    return codings


@dataclass
class Entry:
    stamp: tuple[int, int]
    encoded: dict[str, bytes | None] = field(default_factory=dict)  # coding → body (None: no smaller)
    lock: threading.Lock = field(default_factory=threading.Lock)


class StaticFiles:
    """ASGI middleware: the files of :data:`FOLDERS` under :data:`PREFIX` and Gradio's frontend
    (:data:`GRADIO`), each compressed once and cached by the rule of the module docstring.

    ``compressions`` counts the bodies compressed, by (path, coding), for tests and benchmarks."""

    def __init__(self, app: ASGIApp, folders: Mapping[str, Folder] = FOLDERS,
                 gradio_folders: Mapping[str, Folder] = GRADIO, gzip_level: int = 9,
                 brotli_quality: int = 11) -> None:  # fmt: skip
        self.app, self.folders, self.gradio_folders = app, folders, gradio_folders
        self.gzip_level, self.brotli_quality = gzip_level, brotli_quality
        self.entries: dict[Path, Entry] = {}
        self.lock = threading.Lock()
        self.compressions: Counter[tuple[Path, str]] = Counter()

    def find(self, path: str) -> tuple[Folder | None, Path | None] | None:
        """The folder and file a request path names (None, None: a 404); None for a path this
        middleware leaves to the app."""
        if path.startswith(PREFIX):
            name, _, relative = path[len(PREFIX) :].partition("/")
            folder = self.folders.get(name)
            return (folder, resolve(folder, relative)) if folder is not None else (None, None)
        for prefix, folder in self.gradio_folders.items():
            if path.startswith(prefix):
                file = resolve(folder, path[len(prefix) :])
                return (folder, file) if file is not None else None  # Gradio answers the rest
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        found = self.find(path)
        if found is None:
            await self.app(scope, receive, send)
            return
        folder, file = found
        if scope.get("method") not in ("GET", "HEAD"):
            await respond(send, 405, [(b"allow", b"GET, HEAD")], b"Method Not Allowed")
        elif folder is None or file is None:
            await respond(send, 404, [], b"Not Found")
        else:
            await self.serve(scope, send, folder, file)

    async def serve(self, scope: Scope, send: Send, folder: Folder, file: Path) -> None:
        version = await anyio.to_thread.run_sync(digest, file)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        hashed = query.get("v", [None])[0] == version
        hashed |= folder.hashed is not None and folder.hashed.search(file.name) is not None
        headers = [(b"content-type", content_type(file).encode()),
                   (b"cache-control", IMMUTABLE if hashed else REVALIDATE)]  # fmt: skip
        compressible = file.suffix.lower() in COMPRESSIBLE
        coding = None
        if compressible:
            headers.append((b"vary", b"Accept-Encoding"))
            codings = accepted(scope)
            coding = next((c for c in ("br", "gzip") if c in codings and (c != "br" or brotli)), None)
        body = await anyio.to_thread.run_sync(self.encoded, file, coding) if coding else None
        if body is None:
            coding = None
        etag = f'"{version}-{coding}"' if coding else f'"{version}"'
        headers.append((b"etag", etag.encode()))
        if_none_match = dict(scope.get("headers", [])).get(b"if-none-match", b"").decode("latin-1")
        tags = {tag.strip().removeprefix("W/").strip('"').split("-")[0] for tag in if_none_match.split(",")}
        if version in tags or "*" in tags:
            await respond(send, 304, headers, b"", head=True)
            return
        if body is None:
            body = await anyio.to_thread.run_sync(file.read_bytes)
        else:
            headers.append((b"content-encoding", coding.encode()))
        await respond(send, 200, headers, body, head=scope.get("method") == "HEAD")

    def encoded(self, file: Path, coding: str) -> bytes | None:
        """The file compressed with ``coding``, computed once per mtime and size (in a worker thread;
        concurrent first requests wait for the one compression). None where it is not smaller."""
        key = stamp(file)
        with self.lock:
            entry = self.entries.get(file)
            if entry is None or entry.stamp != key:
                entry = self.entries[file] = Entry(key)
        with entry.lock:
            if coding not in entry.encoded:
                raw = file.read_bytes()
                body = self.compress(raw, coding)
                entry.encoded[coding] = body if len(body) < len(raw) else None
                with self.lock:
                    self.compressions[(file, coding)] += 1
            return entry.encoded[coding]

    def compress(self, raw: bytes, coding: str) -> bytes:
        if coding == "br":
            return brotli.compress(raw, quality=self.brotli_quality)
        return gzip.compress(raw, compresslevel=self.gzip_level, mtime=0)


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                  head: bool = False) -> None:  # fmt: skip
    """Send one whole response (its headers only when ``head``; Content-Length: the body's)."""
    if status >= 400:
        headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
    if status != 304:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})
