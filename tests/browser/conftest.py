"""The browser tests' shared fixtures: one app process (served as ``python app.py`` serves it) and
one Chromium for every file of this folder (tests/conftest.py hands the folder to one worker)."""

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
from ddpm.bench.local import CHROMIUM_FLAGS, chromium, free_port  # noqa: E402

CHROMIUM = chromium()


@pytest.fixture(scope="session")
def url():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
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
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
