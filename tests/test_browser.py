"""The app in a real browser: Playwright driving Debian's Chromium (no browser download).

Set DDPM_SCREENSHOTS=<folder> to keep the screenshots (the README's come from this test).
"""

import os
import time
from pathlib import Path

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
        theme=app.THEME, css=app.CSS,
    )  # fmt: skip
    yield url
    demo.close()


@pytest.fixture(scope="module")
def page(url):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="load")
        page.wait_for_selector("#forward-xt img", timeout=60_000)
        yield page
        browser.close()


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


def test_a_short_generation_runs_to_the_end(page, tmp_path):
    page.get_by_role("tab", name="3 · Generate").click()
    page.locator("#generate-sampler").get_by_text("DDIM").click()
    steps = page.locator("#generate-steps input[type=number]")
    steps.fill("20")
    steps.press("Enter")
    page.locator("#generate-run").click()
    page.wait_for_selector("#generate-status :text('done')", timeout=60_000)
    time.sleep(0.5)
    assert "20 steps" in page.locator("#generate-status").inner_text()
    assert page.locator("#generate-xt img").get_attribute("src")
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
