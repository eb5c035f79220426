"""The page cache: GET / built once per origin, sent again as it was (or gzip-compressed)."""

import asyncio
import gzip

import httpx
import pytest

from ddpm.serve.page_cache import PageCache


class FakeGradio:
    """An ASGI app that numbers its answers, so that a page served again is recognised."""

    def __init__(self, status: int = 200, content_type: bytes = b"text/html; charset=utf-8", extra=()):
        self.calls, self.status, self.content_type, self.extra = 0, status, content_type, list(extra)

    async def __call__(self, scope, receive, send):
        self.calls += 1
        host = dict(scope["headers"]).get(b"host", b"")
        body = b"<html>" + host + b" #" + str(self.calls).encode() + b" " + b"x" * 5000 + b"</html>"
        headers = [(b"content-type", self.content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers + self.extra})
        half = len(body) // 2  # in two chunks, as a streamed response would come
        await send({"type": "http.response.body", "body": body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": body[half:], "more_body": False})


def get(app, path="/", headers=None, method="GET") -> httpx.Response:
    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers_sent = {"accept-encoding": "identity", **(headers or {})}
            return await client.request(method, path, headers=headers_sent)

    return asyncio.run(run())


def test_the_page_is_built_once_and_then_sent_as_it_was():
    gradio = FakeGradio()
    cache = PageCache(gradio)
    first, second, third = get(cache), get(cache, "/?view=reverse&t=500"), get(cache)
    assert gradio.calls == 1 and cache.rendered == 1
    assert first.content == second.content == third.content and b"#1 " in first.content
    assert third.headers["content-type"].startswith("text/html")
    assert int(third.headers["content-length"]) == len(third.content)


def test_a_browser_that_accepts_gzip_gets_the_same_page_compressed():
    gradio = FakeGradio()
    cache = PageCache(gradio)
    plain = get(cache)
    raw = get(cache, headers={"accept-encoding": "gzip, deflate, br"})
    assert raw.headers["content-encoding"] == "gzip" and "accept-encoding" in raw.headers["vary"].lower()
    assert raw.content == plain.content  # httpx decodes it
    assert int(raw.headers["content-length"]) < len(plain.content) // 4
    (page,) = cache.pages.values()
    assert gzip.decompress(page.gzipped) == plain.content and gradio.calls == 1


def test_each_origin_has_its_own_page_and_the_oldest_goes_first():
    gradio = FakeGradio()
    cache = PageCache(gradio, max_pages=2)
    a = get(cache, headers={"host": "a.example"})
    b = get(cache, headers={"host": "b.example"})
    forwarded = get(cache, headers={"host": "a.example", "x-forwarded-host": "space.example"})
    assert gradio.calls == 3 and len({a.content, b.content, forwarded.content}) == 3
    assert get(cache, headers={"host": "a.example"}).content != a.content  # a was evicted
    assert gradio.calls == 4 and len(cache.pages) == 2


@pytest.mark.parametrize(
    "path, headers, method",
    [
        ("/?deep_link=abc", {}, "GET"),  # Gradio's own deep links and pages depend on the query
        ("/?page=other", {}, "GET"),
        ("/config", {}, "GET"),
        ("/gradio_api/info", {}, "GET"),
        ("/", {"authorization": "Bearer x"}, "GET"),  # a page for one user only
        ("/", {"cookie": "access-token-abc=1"}, "GET"),
        ("/", {}, "HEAD"),
        ("/", {}, "POST"),
    ],
)
def test_requests_that_are_not_the_plain_page_always_reach_gradio(path, headers, method):
    gradio = FakeGradio()
    cache = PageCache(gradio)
    for _ in range(2):
        get(cache, path, headers, method)
    assert gradio.calls == 2 and not cache.pages


@pytest.mark.parametrize(
    "gradio",
    [
        FakeGradio(status=500),
        FakeGradio(content_type=b"application/json"),
        FakeGradio(extra=[(b"set-cookie", b"a=b")]),
        FakeGradio(extra=[(b"content-encoding", b"x-custom")]),
    ],
    ids=["error", "not a page", "sets a cookie", "already compressed"],
)
def test_only_a_plain_200_page_is_kept(gradio):
    cache = PageCache(gradio)
    first, second = get(cache), get(cache)
    assert gradio.calls == 2 and first.content != second.content and not cache.pages


def test_bad_size():
    with pytest.raises(ValueError, match="max_pages must be ≥ 1, got 0"):
        PageCache(FakeGradio(), max_pages=0)
