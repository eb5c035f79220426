"""The browser tests' shared fixtures: one app process (served as ``python app.py`` serves it) and
one Chromium for every file of this folder (tests/conftest.py hands the folder to one worker), and
in each file that asks for it, the page at 1400×1000 with every URL it requested while loading.

Playwright drives Debian's Chromium (no browser is downloaded); without either, the tests skip."""

from pathlib import Path

import pytest
from pagekit import PLAYER

from ddpm.bench.local import CHROMIUM_FLAGS, chromium, free_port

CHROMIUM = chromium()
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test of this folder needs Playwright and Chromium: skipped, with the reason, without."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is a dev dependency (pip install -r requirements-dev.txt)"
    else:
        reason = None if CHROMIUM is not None else "Debian's chromium is not installed"
    if reason is not None:
        for item in items:
            if item.path.is_relative_to(HERE):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def url():
    from ddpm.serve import queue
    from ddpm.views import page

    demo = queue.configure(page.build_demo())  # served as app.main serves it
    _, address, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        **page.launch_options(),
    )  # fmt: skip
    yield address
    demo.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
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
    page.wait_for_selector(f"{PLAYER}[data-t]", timeout=60_000)
    yield page, urls
    page.close()


@pytest.fixture(scope="module")
def page(requested):
    return requested[0]
