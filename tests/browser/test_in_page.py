"""A generation computed in the student's own page (the engine: ddpm/views/kit/static/engine/,
ddpm/serve/engine.py): the same digits as the server for the same seed, nothing asked of the server
but static files, the server's path where the browser cannot, and Stop ending the chain at once;
and the many-pasts lesson computed there: the server's pasts and verdict.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from pagekit import assert_same_pixels, screenshot
from PIL import Image, ImageSequence

from ddpm import seeding
from ddpm.choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS
from ddpm.guidance import default_guidance
from ddpm.images import digit_tensor, make_grid, save_gif, upscale
from ddpm.inference import generate, generation_labels, sample_loop
from ddpm.serve.runtime import bundled_label, classifier, learned_reverse
from ddpm.teaching.pasts import pasts_lesson
from ddpm.views.digits import default_digit
from ddpm.views.generate import (
    FILM_COLUMNS,
    FILM_SCALE,
    FINAL_WIDTH,
    GIF_FRAMES,
    GIF_WIDTH,
    describe,
    in_page_settings,
)
from ddpm.views.kit.widgets import show, show_grid
from ddpm.views.lessons.many_pasts import MAX_PASTS, summary

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = pytest.mark.slow  # each test drives the app in Chromium

STATUS = "#generate-here .here-status"
PASTS_STATUS = "#many-pasts-here .here-status"
SERVER_CALLS = re.compile(r"/gradio_api/(queue/|call/|run/)")


def server_grid(seed: int, n: int = 16, sampler: str = DEFAULT_SAMPLER, steps: int = DEFAULT_STEPS,
                digit: str = "prior", guidance: float | None = None) -> np.ndarray:  # fmt: skip
    """The server's digits for a request (ddpm.inference.generate, as /generate draws them) as the
    final grid the page offers to download."""
    w = default_guidance(digit) if guidance is None else guidance
    rt = learned_reverse(digit != "none")
    digits = generate(
        rt.model, rt.diffusion, n, sampler, steps, DEFAULT_ETA, seed=seed, digit=digit, guidance=w
    )
    grid = make_grid(digits.numpy(), nrow=int(np.ceil(np.sqrt(n))), padding=2, pad_value=96)
    return upscale(grid, max(1, FINAL_WIDTH // grid.shape[1]))


def server_pasts(t: int, k: int, seed: int) -> tuple[np.ndarray, str]:
    """The server's many pasts of the default digit, not told its class (views/lessons/many_pasts.py:
    ``pasts``): the grid of pasts and the sentence of its status."""
    rt = learned_reverse(False)
    digit = default_digit()
    known = bundled_label(digit)
    lesson = pasts_lesson(rt.diffusion, rt.model, classifier(), digit_tensor(digit, rt.device), t, k, seed,
                          False, MAX_PASTS, known)  # fmt: skip
    return show_grid(lesson.pasts), summary(t, k, lesson.verdict, known is not None)


def server_files(seed: int, path, n: int = 16, sampler: str = DEFAULT_SAMPLER, steps: int = DEFAULT_STEPS,
                 digit: str = "prior") -> tuple[bytes, list[np.ndarray]]:  # fmt: skip
    """The server's GIF for a request and its filmstrip's images, left to right, taken as
    views/generate.py's ``_generate`` takes them."""
    rt = learned_reverse(digit != "none")
    generator = seeding.generator(seed)
    labels, w = generation_labels(rt.model, digit, default_guidance(digit), n, generator, rt.device)
    frames, film = [], []
    loop = sample_loop(
        rt.model, rt.diffusion, n, sampler, steps, DEFAULT_ETA, generator, labels=labels, guidance=w
    )
    for step in loop:
        done = step.index + 1
        if step.index == 0 or done % max(1, step.num_steps // GIF_FRAMES) == 0 or done == step.num_steps:
            frames.append(show_grid(step.x_prev, max_width=GIF_WIDTH))
            film.append(show(step.x_prev[0], scale=FILM_SCALE))
    picks = [round(i * (len(film) - 1) / (FILM_COLUMNS - 1)) for i in range(FILM_COLUMNS)]
    return Path(save_gif(frames, str(path))).read_bytes(), [film[k] for k in picks]


def places(strip: np.ndarray, image: np.ndarray) -> list[int]:
    """The left edges where ``image`` is drawn in ``strip`` (±1 grey level on at most 0.1% of pixels)."""
    h, w = image.shape
    windows = np.lib.stride_tricks.sliding_window_view(strip.astype(int), (h, w))
    probe = (slice(None, None, 7), slice(None, None, 7))  # a few pixels first, then the whole image
    near = np.abs(windows[..., probe[0], probe[1]] - image[probe].astype(int)).max(axis=(-2, -1)) <= 1
    found = []
    for y, x in zip(*np.nonzero(near), strict=True):
        gap = np.abs(windows[y, x] - image.astype(int))
        if gap.max() <= 1 and (gap > 0).mean() <= 1e-3:
            found.append(int(x))
    return found


def gif_frames(data: bytes) -> tuple[list[np.ndarray], list[int], int | None]:
    """A GIF's frames (grey levels), their durations (ms) and its loop count, as Pillow reads them."""
    with Image.open(io.BytesIO(data)) as gif:
        shown = [(np.asarray(f.convert("L")), f.info["duration"]) for f in ImageSequence.Iterator(gif)]
        return [f for f, _ in shown], [d for _, d in shown], gif.info.get("loop")


def link_bytes(page, suffix: str, panel: str = "#generate-here") -> bytes:
    href = page.locator(f"{panel} a[download$='{suffix}']").get_attribute("href")
    return base64.b64decode(href.split(",", 1)[1])


def downloaded(page, suffix: str, panel: str = "#generate-here") -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(link_bytes(page, suffix, panel))).convert("L"))


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    yield page
    page.close()


def test_a_link_with_compute_device_generates_in_the_page_the_servers_digits(page, url, tmp_path):
    page.goto(url + "?view=generate&compute=device&seed=0", wait_until="load")  # the link presses Generate
    page.wait_for_selector(f"{STATUS}:has-text('done')", timeout=120_000)
    assert "on this device" in page.locator(STATUS).inner_text()
    # the network that ran, named as the server's status names it (the default asks for any digit: told)
    assert f"p_θ: {in_page_settings()['networks']['told']}" in page.locator(STATUS).inner_text()
    assert_same_pixels(downloaded(page, "_xt.png"), server_grid(0))
    assert page.locator("#generate-player .ddpm-chain").get_attribute("data-frames") == str(DEFAULT_STEPS)
    # the GIF and the filmstrip, named as the server's; the GIF's frames are the server's GIF's
    _, tag = describe("prior", default_guidance("prior"))
    names = [page.locator("#generate-here a").nth(k).get_attribute("download") for k in range(4)]
    assert names[2:] == [f"generation_seed0{tag}.gif", f"filmstrip_seed0{tag}.png"]
    gif, film = server_files(0, tmp_path / "server.gif")
    ours, theirs = gif_frames(link_bytes(page, ".gif")), gif_frames(gif)
    assert ours[1:] == theirs[1:] and ours[2] == 0  # durations (80 ms, the last 1500 ms) and looping
    for page_frame, server_frame in zip(ours[0], theirs[0], strict=True):
        assert_same_pixels(page_frame, server_frame)
    # the filmstrip: the server's 8 images of the first digit, left to right, each drawn twice its size
    strip = np.asarray(Image.open(io.BytesIO(link_bytes(page, f"filmstrip_seed0{tag}.png"))).convert("L"))
    lefts = [places(strip, upscale(image, 2)) for image in film]
    assert all(lefts) and [x[0] for x in lefts] == sorted(x[0] for x in lefts), lefts
    screenshot(page, "generate-in-page", tmp_path)
    # a run pressed by hand: nothing but static files asked of the server
    asked = []
    page.on("request", lambda r: asked.append((r.method, r.url)))
    page.locator("#generate-seed input").fill("5")
    page.locator("#generate-run").click()
    page.wait_for_function(
        f"() => /done/.test(document.querySelector('{STATUS}').textContent)"
        " && document.querySelector(\"#generate-here a[download$='_xt.png']\")?.title.includes('seed5')",
        timeout=120_000,
    )
    calls = [u for _, u in asked if SERVER_CALLS.search(u)]
    assert calls == [], calls
    assert all(method == "GET" for method, _ in asked), asked
    assert_same_pixels(downloaded(page, "_xt.png"), server_grid(5))


def test_guided_ddim_in_the_page_is_the_servers_too(page, url):
    page.goto(
        url + "?view=generate&compute=device&seed=3&sampler=ddim&steps=20&ask=7&guidance=2", wait_until="load"
    )
    page.wait_for_selector(f"{STATUS}:has-text('done')", timeout=120_000)
    assert_same_pixels(
        downloaded(page, "_xt.png"), server_grid(3, sampler="ddim", steps=20, digit="7", guidance=2.0)
    )
    assert downloaded(page, "_x0hat.png").shape == downloaded(page, "_xt.png").shape


IN_PAGE = {  # view: (a long chain's link settings, a short one's, the server's status)
    "generate": ("sampler=ddpm&n=4&seed=2", "seed=1", "#generate-status"),
    "reverse": ("t=1000&seed=2", "t=20&seed=1", "#reverse-status"),
    "many-pasts": ("t=1000&chains=16&seed=2", "t=20&chains=4&seed=1", "#many-pasts-status"),
}
"""The views a page computes, each with a chain long enough to stop and a short one, and the
server's status line."""


@pytest.mark.parametrize("view", ["generate", "reverse"])
def test_without_webassembly_the_server_computes_and_the_page_says_why(page, url, view):
    page.add_init_script("delete globalThis.WebAssembly")
    page.goto(url + f"?view={view}&compute=device&{IN_PAGE[view][1]}", wait_until="load")
    page.wait_for_selector(f"{IN_PAGE[view][2]} :text('done')", timeout=120_000)
    assert "lacks WebAssembly" in page.locator(f"#{view}-here .here-why").inner_text()
    assert not page.locator(
        f"#{view}-here .here-status"
    ).is_visible()  # the server's outputs show, not the panel


@pytest.mark.parametrize("view", list(IN_PAGE))
def test_stop_ends_the_chain_in_the_page_at_once(page, url, view):
    status = f"#{view}-here .here-status"
    page.goto(url + f"?view={view}&compute=device&{IN_PAGE[view][0]}", wait_until="load")
    page.wait_for_selector(f"{status}:has-text('step')", timeout=120_000)  # running: its frames come
    page.locator(f"#{view}-stop").click()
    page.wait_for_selector(f"{status}:text-is('Stopped.')", timeout=10_000)
    page.wait_for_timeout(1500)
    assert page.locator(status).inner_text() == "Stopped."  # no frame after Stop: the Worker has ended
    player = page.locator(f"#{view}-player .ddpm-chain")
    assert player.count() == 0 or player.get_attribute("data-frames") in (None, "0")


def test_many_pasts_in_the_page_are_the_servers(page, url, tmp_path):
    """A link computes the lesson in the page: the server's grid of pasts and its verdict; a run by
    hand asks nothing of the server but static files."""
    page.goto(url + "?view=many-pasts&compute=device&t=100&chains=4&seed=3", wait_until="load")
    page.wait_for_selector(f"{PASTS_STATUS}:has-text('done')", timeout=120_000)
    said = page.locator(PASTS_STATUS).inner_text()
    print(f"many pasts in the page, t = 100, K = 4: {said}")
    grid, sentence = server_pasts(100, 4, 3)
    assert sentence in said and "on this device" in said
    assert "p_θ: the network that was not told the digit" in said
    pasts = "#many-pasts-here"
    assert_same_pixels(downloaded(page, "_pasts.png", pasts), grid)
    assert (
        page.locator("#many-pasts-here-plots canvas[data-plot='histogram']").get_attribute("width") == "640"
    )
    screenshot(page, "many-pasts-in-page", tmp_path)
    asked = []
    page.on("request", lambda r: asked.append((r.method, r.url)))
    page.locator("#many-pasts-seed input").fill("4")
    page.locator("#many-pasts-run").click()
    page.wait_for_function(
        f"() => /done/.test(document.querySelector('{PASTS_STATUS}').textContent)"
        f" && document.querySelector(\"{pasts} a[download$='_pasts.png']\")?.title.includes('seed4')",
        timeout=120_000,
    )
    calls = [u for _, u in asked if SERVER_CALLS.search(u)]
    assert calls == [], calls
    assert all(method == "GET" for method, _ in asked), asked
    grid, sentence = server_pasts(100, 4, 4)
    assert sentence in page.locator(PASTS_STATUS).inner_text()
    assert_same_pixels(downloaded(page, "_pasts.png", pasts), grid)
