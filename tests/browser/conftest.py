"""The browser tests' shared fixtures: one app process (served as ``python app.py`` serves it) and
one Chromium for every file of this folder (tests/conftest.py hands the folder to one worker), and
in each file that asks for it, the page at 1400×1000 with every URL it requested while loading.

Playwright drives Debian's Chromium (no browser is downloaded); without either, the tests skip."""

from pathlib import Path
from typing import Any

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


class Shared:
    """The folder's one app and one Chromium: started by the first test that asks for them, closed
    after the folder's last test (:func:`pytest_runtest_teardown`), so that the tests a worker runs
    after this folder find no Playwright event loop and no app left in their process."""

    def __init__(self) -> None:
        self.demo: Any = None
        self.url: str | None = None
        self.playwright: Any = None
        self.browser: Any = None

    def start_app(self) -> str:
        if self.url is None:
            from ddpm.serve import queue
            from ddpm.views import page

            self.demo = queue.configure(page.build_demo())  # served as app.main serves it
            _, self.url, _ = self.demo.launch(
                server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **page.launch_options(),
            )  # fmt: skip
        return self.url

    def start_browser(self) -> Any:
        if self.browser is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.playwright.stop()
            self.browser = self.playwright = None
        if self.demo is not None:
            self.demo.close()
            self.demo = self.url = None


SHARED = Shared()


@pytest.fixture(scope="session")
def url():
    yield SHARED.start_app()
    SHARED.close()


@pytest.fixture(scope="session")
def browser():
    yield SHARED.start_browser()
    SHARED.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After the folder's last test, once its module fixtures (pages, contexts) have closed: close
    the app and Chromium (pytest-xdist runs the folder as one unit, then other files)."""
    yield
    if nextitem is None or not nextitem.path.is_relative_to(HERE):
        SHARED.close()


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
