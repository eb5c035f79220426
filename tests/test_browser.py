"""The app in a real browser: Playwright driving Debian's Chromium (no browser download).

Set DDPM_SCREENSHOTS=<folder> to keep the screenshots (the README's come from this test).
"""

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
from ddpm.views.local import CHROMIUM_FLAGS, chromium, free_port  # noqa: E402

CHROMIUM = chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

import app  # noqa: E402


@pytest.fixture(scope="module")
def url():
    demo = app.build_demo()
    demo.queue(max_size=16)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        theme=app.THEME, css=app.CSS, js=app.JS,
    )  # fmt: skip
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def requested(url, browser):
    """The page, and every URL it requested while loading."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(url, wait_until="load")
    page.wait_for_selector("#forward-xt img", timeout=60_000)
    yield page, urls
    page.close()


@pytest.fixture(scope="module")
def page(requested):
    return requested[0]


def screenshot(page, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DDPM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_slider_moves_the_noisy_image(page, tmp_path):
    before = page.locator("#forward-xt img").get_attribute("src")
    slider = page.locator("#forward-t input[type=range]")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    page.wait_for_function(
        "src => document.querySelector('#forward-xt img')?.getAttribute('src') !== src",
        arg=before,
        timeout=15_000,
    )
    assert page.locator("#forward-t input[type=number]").input_value() == "255"
    assert screenshot(page, "forward", tmp_path).stat().st_size > 10_000


CATCH_STREAMED_FRAME = """() => {
    const box = document.querySelector("#generate-xt");
    window.streamedFrameFit = new Promise(resolve => {
        new MutationObserver((_, observer) => {
            const img = box.querySelector("img");
            if (img && img.getAttribute("src").startsWith("data:image/png;base64,")) {
                observer.disconnect();
                resolve(getComputedStyle(img).objectFit);
            }
        }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
    });
}"""


def test_a_short_generation_runs_to_the_end(page, tmp_path):
    page.get_by_role("tab", name="3 · Generate").click()
    page.locator("#generate-sampler").get_by_text("DDIM").click()
    steps = page.locator("#generate-steps input[type=number]")
    steps.fill("20")
    steps.press("Enter")
    page.evaluate(CATCH_STREAMED_FRAME)
    page.locator("#generate-run").click()
    page.wait_for_selector("#generate-status :text('done')", timeout=60_000)
    time.sleep(0.5)
    assert "20 steps" in page.locator("#generate-status").inner_text()
    # streamed frames come inside the stream and fill the box; the last is a file, to download
    assert page.evaluate("() => window.streamedFrameFit") == "contain"
    assert "/file=" in page.locator("#generate-xt img").get_attribute("src")
    assert screenshot(page, "generate", tmp_path).stat().st_size > 10_000


def test_exact_and_learned_chains_run_side_by_side(page, tmp_path):
    page.get_by_role("tab", name="2 · Reverse: exact vs learned").click()
    start = page.locator("#reverse-t input[type=number]")
    start.fill("300")
    start.press("Enter")
    page.locator("#reverse-run").click()
    page.wait_for_selector("#reverse-status :text('done')", timeout=60_000)
    assert "step 300 of 300" in page.locator("#reverse-status").inner_text()
    assert screenshot(page, "reverse", tmp_path).stat().st_size > 10_000


def test_nothing_is_fetched_from_the_internet(requested, url):
    _, urls = requested
    host = urlsplit(url).netloc
    outside = [
        u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
    ]
    assert len(urls) > 5 and not outside, outside


def test_arrow_keys_step_the_timestep_when_not_typing(page):
    page.get_by_role("tab", name="1 · Forward: adding noise").click()
    number = page.locator("#forward-t input[type=number]")
    before = int(number.input_value())
    page.locator("h1").first.click()  # focus on the page, not on a field
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function(
        f"() => document.querySelector('#forward-t input[type=number]').value === '{before + 11}'"
    )


def test_a_deep_link_opens_the_view_it_names(browser, url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + "?view=reverse&digit=2&t=500&seed=3&lecture=1", wait_until="load")
    page.wait_for_function("() => document.querySelector('#reverse-t input[type=number]')?.value === '500'",
                           timeout=60_000)  # fmt: skip
    assert page.locator("#reverse-seed input").input_value() == "3"
    assert page.locator("#digit-class input[value='2']").is_checked()
    assert "lecture" in page.evaluate("document.body.className")
    page.locator("#copy-link").click()
    page.wait_for_function(
        "() => document.querySelector('#link textarea, #link input')?.value.includes('view=')"
    )
    link = page.locator("#link textarea, #link input").first.input_value()
    assert "view=reverse" in link and "digit=2" in link and "lecture=1" in link
    screenshot(page, "lecture", tmp_path)
    page.close()


@pytest.mark.parametrize(
    ("tab", "button", "result"),
    [
        ("Small steps", None, "#small-steps-density img"),
        ("Schedules & SNR", None, "#schedules-t"),
        ("Parameterizations", "#parameterizations-run", "#parameterizations-chain img"),
        ("Bits per dimension", "#bpd-run", "#bpd-plot img"),
        ("Noise-prediction error", None, "#noise-error-plot img"),
        ("Many pasts", "#pasts-run", "#pasts-grid img"),
        ("When does it become a digit?", "#readout-run", "#readout-plot img"),
    ],
)
def test_every_lesson_runs(page, tab, button, result, tmp_path):
    page.get_by_role("tab", name="4 · Lessons").click()
    page.get_by_role("tab", name=tab).click()
    if button:
        page.locator(button).click()
    page.wait_for_selector(result, timeout=120_000)
    time.sleep(0.5)  # let a streamed view draw its last frame
    screenshot(page, "lesson-" + tab.split()[0].lower().strip("?&"), tmp_path)
