"""Static files: named folders under /ddpm-static/ and Gradio's frontend, compressed once, cached by hash."""

import asyncio
import gzip
import hashlib
import json
import os
import re
import time

import brotli
import gradio as gr
import pytest
from gradio import route_utils
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from ddpm.serve import queue
from ddpm.serve.static_files import (
    FOLDERS,
    FRONTEND,
    GRADIO,
    IMMUTABLE,
    PREFIX,
    Folder,
    StaticFiles,
    static_url,
)

SCRIPT = b"export function p_sample(x) { return x; }\n" * 200  # compresses well


class App:
    """The app behind the middleware: counts what reaches it."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
        await send({"type": "http.response.body", "body": b"from the app"})


def call(app, path, headers=(), method="GET", query=b"", root_path=""):
    """One request, as a server hands it over (``path`` already percent-decoded): status, headers, body."""
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "root_path": root_path, "query_string": query,
             "headers": [(k.encode(), v.encode()) for k, v in dict(headers).items()]}  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.fixture
def site(tmp_path):
    """Two folders (an engine with a subfolder, a hidden file and a link out; a runtime) and a
    secret file beside them that must never be served."""
    engine, vendor = tmp_path / "engine", tmp_path / "vendor"
    (engine / "sub").mkdir(parents=True)
    vendor.mkdir()
    (engine / "chain.js").write_bytes(SCRIPT)
    (engine / "sub" / "deep.mjs").write_bytes(SCRIPT[:400])
    (engine / "fixture.json").write_bytes(b'{"alphas_cumprod": [0.9999]}')
    (engine / "notes.txt").write_bytes(b"not served: no pattern admits it")
    (engine / ".hidden.js").write_bytes(SCRIPT)
    (tmp_path / "secret.js").write_bytes(b"secret")
    (engine / "link.js").symlink_to(tmp_path / "secret.js")
    wasm = gzip.compress(os.urandom(5000), mtime=0)
    (vendor / "rt.wasm.gz").write_bytes(wasm)
    folders = {"engine": Folder(engine, ("*.js", "*.mjs", "*.json")), "rt": Folder(vendor, ("*.wasm.gz",))}
    app = App()
    return {"root": tmp_path, "folders": folders, "app": app, "wasm": wasm,
            "static": StaticFiles(app, folders=folders, gradio_folders={})}  # fmt: skip


def test_a_url_with_the_files_hash_is_immutable(site):
    url = static_url("engine", "chain.js", site["folders"])
    assert url == f"{PREFIX}engine/chain.js?v={version(SCRIPT)}"
    path, query = url.split("?")
    status, headers, body = call(site["static"], path, query=query.encode())
    assert status == 200 and body == SCRIPT and headers["cache-control"] == IMMUTABLE.decode()
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["etag"] == f'"{version(SCRIPT)}"' and int(headers["content-length"]) == len(SCRIPT)
    assert static_url("engine", "sub/deep.mjs", site["folders"]).endswith(f"?v={version(SCRIPT[:400])}")
    assert not site["app"].paths


@pytest.mark.parametrize("query", [b"", b"v=0123456789abcdef", b"x=1"], ids=["no hash", "wrong", "other"])
def test_without_the_right_hash_the_browser_revalidates_and_gets_304(site, query):
    static = site["static"]
    status, headers, body = call(static, f"{PREFIX}engine/chain.js", query=query)
    assert status == 200 and body == SCRIPT and headers["cache-control"] == "no-cache"
    etag = headers["etag"]
    assert etag == f'"{version(SCRIPT)}"'
    status, again, body = call(static, f"{PREFIX}engine/chain.js", {"if-none-match": etag}, query=query)
    assert status == 304 and body == b"" and again["etag"] == etag and "content-length" not in again
    status, _, body = call(static, f"{PREFIX}engine/chain.js", {"if-none-match": '"0123456789abcdef"'})
    assert status == 200 and body == SCRIPT
    # a proxy may weaken the tag of the compressed copy: the same file, still 304
    weak = {"if-none-match": f'"other", W/"{version(SCRIPT)}-gzip"', "accept-encoding": "gzip"}
    status, headers, _ = call(static, f"{PREFIX}engine/chain.js", weak)
    assert status == 304 and headers["etag"] == f'"{version(SCRIPT)}-gzip"'


@pytest.mark.parametrize(
    "accept, coding",
    [("gzip", "gzip"), ("gzip, deflate, br, zstd", "br"), ("br;q=0, gzip", "gzip"), ("identity", None),
     ("", None), ("gzip;q=0", None), ("deflate", None)],
)  # fmt: skip
def test_text_is_compressed_when_accepted_and_the_same_bytes_after(site, accept, coding):
    status, headers, body = call(site["static"], f"{PREFIX}engine/chain.js", {"accept-encoding": accept})
    assert status == 200 and headers["vary"] == "Accept-Encoding"
    assert headers.get("content-encoding") == coding and int(headers["content-length"]) == len(body)
    decode = {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[coding]
    assert decode(body) == SCRIPT
    if coding:
        assert len(body) < len(SCRIPT) // 10 and headers["etag"] == f'"{version(SCRIPT)}-{coding}"'


class SlowStaticFiles(StaticFiles):
    """Compresses slowly, so that requests that come together overlap."""

    def compress(self, raw, coding):
        time.sleep(0.2)
        return super().compress(raw, coding)


def test_each_file_is_compressed_once_per_coding_and_again_when_it_changes(site):
    static = SlowStaticFiles(site["app"], folders=site["folders"], gradio_folders={})
    path = site["root"] / "engine" / "chain.js"

    async def many():
        async def one():
            await asyncio.to_thread(call, static, f"{PREFIX}engine/chain.js", {"accept-encoding": "gzip"})

        await asyncio.gather(*(one() for _ in range(6)))

    asyncio.run(many())  # six at once, before anything is kept
    call(static, f"{PREFIX}engine/chain.js", {"accept-encoding": "gzip"})
    call(static, f"{PREFIX}engine/fixture.json", {"accept-encoding": "gzip"})
    assert static.compressions[(path.resolve(), "gzip")] == 1 and sum(static.compressions.values()) == 2
    changed = SCRIPT.replace(b"x", b"y")
    path.write_bytes(changed)
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    status, headers, body = call(static, f"{PREFIX}engine/chain.js", {"accept-encoding": "gzip"})
    assert status == 200 and gzip.decompress(body) == changed
    assert headers["etag"] == f'"{version(changed)}-gzip"'
    assert static.compressions[(path.resolve(), "gzip")] == 2
    assert static_url("engine", "chain.js", site["folders"]).endswith(version(changed))


def test_the_gzipped_wasm_goes_as_stored_with_no_content_encoding(site):
    static = site["static"]
    url = static_url("rt", "rt.wasm.gz", site["folders"])
    path, query = url.split("?")
    status, headers, body = call(static, path, {"accept-encoding": "gzip, br"}, query=query.encode())
    assert status == 200 and body == site["wasm"] and "content-encoding" not in headers
    assert headers["content-type"] == "application/octet-stream" and "vary" not in headers
    assert headers["cache-control"] == IMMUTABLE.decode() and not static.compressions


def test_head_sends_the_headers_only(site):
    status, headers, body = call(site["static"], f"{PREFIX}engine/chain.js", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(SCRIPT)
    status, headers, _ = call(site["static"], f"{PREFIX}engine/chain.js", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "engine/../secret.js",  # up and out
        "engine/sub/../../secret.js",
        "engine/sub/../chain.js",  # even back in: no dot segments at all
        "engine/./chain.js",
        "engine//etc/passwd",  # absolute
        "engine/ABSOLUTE",  # the secret's absolute path, after the folder's name
        "engine/..\\secret.js",  # a backslash
        "engine/%2e%2e/secret.js",  # encoded twice (a server decodes once)
        "engine/.hidden.js",
        "engine/link.js",  # a link out of the folder
        "engine/notes.txt",  # no pattern admits it
        "engine/sub",  # a folder
        "engine/",
        "engine",
        "engine/missing.js",
        "vendor/rt.wasm.gz",  # the folder's name on disk is not its name here
        "rt/../engine/chain.js",
        "nope/chain.js",  # unknown name
        "../secret.js",
    ],
)
def test_nothing_outside_the_named_folders_is_served(site, path):
    path = path.replace("ABSOLUTE", (site["root"] / "secret.js").as_posix())
    status, _, body = call(site["static"], PREFIX + path)
    assert status == 404 and b"secret" not in body and not site["app"].paths


def test_static_url_refuses_what_is_not_served(site):
    with pytest.raises(ValueError, match="no static folder 'nope'"):
        static_url("nope", "chain.js", site["folders"])
    for path in ("../secret.js", "notes.txt", "missing.js"):
        with pytest.raises(ValueError, match="serves no file"):
            static_url("engine", path, site["folders"])


@pytest.mark.parametrize("path", ["/", "/gradio_api/info", "/ddpm-staticx/engine/chain.js", "/config"])
def test_everything_else_reaches_the_app(site, path):
    status, headers, body = call(site["static"], path)
    assert status == 200 and headers["x-app"] == "1" and body == b"from the app"
    assert site["app"].paths == [path]


def test_under_a_root_path(site):
    url = static_url("engine", "chain.js", site["folders"]).split("?")[0]
    status, _, body = call(site["static"], "/gradio" + url, root_path="/gradio")
    assert status == 200 and body == SCRIPT


# Gradio's frontend, as installed


def hashed_asset(suffix: str = ".js", at_least: int = 4000):
    names = sorted(p for p in (FRONTEND / "assets").glob(f"*{suffix}") if p.stat().st_size >= at_least)
    return next(p for p in names if re.search(r"-[A-Za-z0-9_-]{8}\.", p.name))


def test_the_folders_are_gradios_and_ours():
    assert GRADIO["/assets/"].root.as_posix() == str(route_utils.BUILD_PATH_LIB)
    assert GRADIO["/static/"].root.as_posix() == str(route_utils.STATIC_PATH_LIB)
    assert all(folder.root.is_dir() for folder in FOLDERS.values())
    static = launch_middleware()
    assert static[0].cls is StaticFiles, "outside the sessions and the page cache"


def test_the_vendored_files_are_linked_by_their_manifest_hash():
    vendor = FOLDERS["onnxruntime-web"].root
    manifest = json.loads((vendor / "MANIFEST.json").read_text())
    for name in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz"):
        expected = f"/ddpm-static/onnxruntime-web/{name}?v={manifest['files'][name]['sha256'][:16]}"
        assert static_url("onnxruntime-web", name) == expected
    with pytest.raises(ValueError, match="serves no file"):
        static_url("onnxruntime-web", "MANIFEST.json")  # only the runtime's two files
    gifenc = json.loads((FOLDERS["gifenc"].root / "MANIFEST.json").read_text())
    expected = f"/ddpm-static/gifenc/gifenc.esm.js?v={gifenc['files']['gifenc.esm.js']['sha256'][:16]}"
    assert static_url("gifenc", "gifenc.esm.js") == expected
    with pytest.raises(ValueError, match="serves no file"):
        static_url("gifenc", "LICENSE.md")  # only the module


def launch_middleware():
    return queue.launch_options()["app_kwargs"]["middleware"]


def test_a_gradio_asset_is_immutable_and_compressed_once():
    app = App()
    static = StaticFiles(app, folders={})
    asset = hashed_asset()
    raw = asset.read_bytes()
    for _ in range(3):
        status, headers, body = call(static, f"/assets/{asset.name}", {"accept-encoding": "gzip"})
        assert status == 200 and headers["cache-control"] == IMMUTABLE.decode()
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == raw
    assert static.compressions == {(asset.resolve(), "gzip"): 1} and not app.paths
    # not Gradio's: passed on, so Gradio answers as it always did
    call(static, "/assets/no-such-file-XXXXXXXX.js")
    assert app.paths == ["/assets/no-such-file-XXXXXXXX.js"]


def test_gradios_unhashed_static_files_are_revalidated():
    static = StaticFiles(App(), folders={})
    name = "js/iframeResizer.contentWindow.min.js"
    status, headers, _ = call(static, f"/static/{name}", {"accept-encoding": "gzip"})
    assert status == 200 and headers["cache-control"] == "no-cache" and headers["etag"]
    status, _, _ = call(static, f"/static/{name}", {"if-none-match": headers["etag"]})
    assert status == 304


def test_in_a_real_gradio_app_nothing_is_compressed_twice():
    with gr.Blocks() as demo:
        gr.Markdown("x")
    app = gr.routes.App.create_app(demo, app_kwargs={"middleware": [Middleware(StaticFiles)]})
    client = TestClient(app)
    asset = hashed_asset()
    for accept in ("gzip", "br", "gzip, deflate, br, zstd"):
        response = client.get(f"/assets/{asset.name}", headers={"accept-encoding": accept})
        assert response.status_code == 200 and response.content == asset.read_bytes()  # decoded once
        assert response.headers["content-encoding"] == ("gzip" if accept == "gzip" else "br")
        assert response.headers["cache-control"] == IMMUTABLE.decode()
    url = static_url("onnxruntime-web", "ort-wasm-simd-threaded.wasm.gz")
    response = client.get(url, headers={"accept-encoding": "gzip, br"})
    stored = (FOLDERS["onnxruntime-web"].root / "ort-wasm-simd-threaded.wasm.gz").read_bytes()
    assert "content-encoding" not in response.headers and response.content == stored
    assert response.headers["content-type"] == "application/octet-stream"
