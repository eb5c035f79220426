"""Regenerate every picture in docs/screenshots from the current app, each once its result is complete.

    python scripts/screenshots.py                  # all of them, into docs/screenshots
    python scripts/screenshots.py --only lecture reverse --out /tmp/shots

The app is started as ``python app.py`` serves it (on a free port on 127.0.0.1) and driven by Debian's
Chromium through Playwright. Every picture is a deep link (``?view=…``: a link opens with its
result), taken at its size and layout once the view says it is done: its status line's final words
or its result image, and no output of the page still pending. The list :data:`SHOTS` is the one
place that names the pictures; ``tests/test_screenshots.py`` checks that the docs show no other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddpm.bench.local import CHROMIUM_FLAGS, chromium, free_port  # noqa: E402

LAPTOP, PROJECTOR, PHONE = (1366, 768), (1920, 1080), (390, 844)
PLANE = "#plane-player .ddpm-plane"


def status_says(selector: str, words: str) -> str:
    return f"(document.querySelector('{selector}')?.innerText ?? '').includes({words!r})"


def shown(selector: str) -> str:
    return f"!!document.querySelector('{selector}')"


READY = {
    "forward": shown("#forward-player .ddpm-forward[data-t]"),
    "reverse": "("  # on the server, or computed in the page (compute=device)
    + status_says("#reverse-status", "done")
    + " || "
    + status_says("#reverse-here .here-status", "done")
    + ") && "
    + shown("#reverse-player .ddpm-chain:not(.empty)"),
    "generate": "("  # on the server, or computed in the page (compute=device)
    + status_says("#generate-status", "done")
    + " || "
    + status_says("#generate-here .here-status", "done")
    + ") && "
    + shown("#generate-player .ddpm-chain:not(.empty)"),
    "small-steps": shown("#small-steps-density img"),
    "schedules": shown("#schedules-t"),
    "parameterizations": shown("#parameterizations-chain img"),
    "bits-per-dim": shown("#bits-per-dim-plot img"),
    "noise-error": shown("#noise-error-plot img"),
    "many-pasts": shown("#many-pasts-grid img"),
    "readout": status_says("#readout-status", "t = 0") + " && " + shown("#readout-plot img"),
    "memorisation": status_says("#memorisation-status", "done") + " && " + shown("#memorisation-plot img"),
    "2d": shown(f"{PLANE}[data-t][data-data]"),
}
"""A JavaScript expression for each view that is true once its result is complete."""

IDLE = "![...document.querySelectorAll('.pending, .generating')].some((e) => e.offsetParent !== null)"
"""No output of the page is still waiting for its event."""


class Shot(NamedTuple):
    name: str  # the file's name, without its extension
    link: str  # the deep link's query (its view names the READY condition)
    size: tuple[int, int] = LAPTOP
    full_page: bool = False  # the whole page, not only the first screen
    jpeg: bool = False  # the views at each size and layout: a fifth of the bytes
    then: Callable | None = None  # what to do on the page once it is ready (the 2-D world's drag)
    phone: bool = False  # a phone's browser: touch, the narrow layout (with size PHONE)

    @property
    def view(self) -> str:
        return dict(part.split("=") for part in self.link.split("&"))["view"]


def open_menu(page) -> None:
    """The narrow layout's menu, opened."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.locator("#menu").tap()
    page.wait_for_function("() => document.body.classList.contains('menu-open')")
    page.wait_for_timeout(300)


def drag_and_launch(page) -> None:
    """The 2-D world as the docs show it: x_t dragged to a point between the moons, then launched."""
    canvas = page.locator(f"{PLANE} canvas[data-plot=plane]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + 0.55 * box["width"], box["y"] + 0.45 * box["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 12, y + 8, steps=4)
    page.mouse.up()
    page.wait_for_timeout(1500)


LESSON_LINKS = {
    "small": "view=small-steps",
    "schedules": "view=schedules&digit=7",
    "parameterizations": "view=parameterizations&digit=7",
    "bits": "view=bits-per-dim&digit=7",
    "noise": "view=noise-error",
    "many": "view=many-pasts&digit=7",
    "when": "view=readout",
    "true": "view=memorisation",
}
PAGES = (
    "reverse",
    "small-steps",
    "schedules",
    "bits-per-dim",
    "noise-error",
    "many-pasts",
    "readout",
    "memorisation",
)
MAIN_LINKS = {
    "forward": "view=forward&digit=7&t=250&seed=0",
    "reverse": "view=reverse&digit=2&t=500&seed=3",
    "generate": "view=generate&seed=0",
}
IN_PAGE = "view=generate&compute=device&sampler=ddim&steps=20&ask=7&guidance=2&seed=3"
"""A generation computed in the student's page (the engine), as the docs show it."""
REVERSE_IN_PAGE = "view=reverse&compute=device&digit=7&t=500&seed=3"
"""The reverse view's comparison computed in the student's page, as the docs show it."""
PHONE_LINKS = {
    **MAIN_LINKS,
    **{view: f"view={view}&digit=7" for view in PAGES if view != "reverse"},
    "parameterizations": "view=parameterizations&digit=7",
    "2d": "view=2d&data=moons&t=300",
}

SHOTS: tuple[Shot, ...] = (
    Shot("lecture", "view=reverse&digit=2&t=500&seed=3&lecture=1"),
    Shot("reverse", "view=reverse&digit=7&t=500&seed=0", full_page=True),
    Shot("true-reverse", "view=reverse&digit=3&t=400&seed=1&truth=1", full_page=True),
    Shot("forward", MAIN_LINKS["forward"], full_page=True),
    Shot("generate", MAIN_LINKS["generate"], full_page=True),
    *(Shot(f"lesson-{name}", link, full_page=True) for name, link in LESSON_LINKS.items()),
    Shot("lesson-2d-1366", "view=2d&data=moons&t=300", then=drag_and_launch),
    Shot("lesson-2d-1920", "view=2d&data=moons&t=300", PROJECTOR, then=drag_and_launch),
    Shot("lesson-2d-1366-lecture", "view=2d&data=moons&t=300&lecture=1", then=drag_and_launch),
    *(
        Shot(
            f"first-screen-{view}-{size[0]}-{mode}",
            link + ("&lecture=1" if mode == "lecture" else ""),
            size,
            jpeg=True,
        )
        for view, link in MAIN_LINKS.items()
        for size in (LAPTOP, PROJECTOR)
        for mode in ("normal", "lecture")
    ),
    *(Shot(f"phone-{view}", link, PHONE, jpeg=True, phone=True) for view, link in PHONE_LINKS.items()),
    Shot("phone-menu", MAIN_LINKS["reverse"], PHONE, jpeg=True, phone=True, then=open_menu),
    Shot("generate-in-page-1366", IN_PAGE),
    Shot("generate-in-page-phone", IN_PAGE, PHONE, phone=True),
    Shot("reverse-in-page-1366", REVERSE_IN_PAGE),
    Shot("reverse-in-page", REVERSE_IN_PAGE, full_page=True),
    *(
        Shot(
            f"page-{view}-{size[0]}-{mode}",
            f"view={view}&digit=7" + ("&lecture=1" if mode == "lecture" else ""),
            size,
            full_page=True,
            jpeg=True,
        )
        for view in PAGES
        for size in (LAPTOP, PROJECTOR)
        for mode in ("normal", "lecture")
    ),
)
"""Every picture of docs/screenshots: its name, its link, its size and what it shows of the page."""


def start_app() -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port; returns the process and its address once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}")
        time.sleep(1)
    process.terminate()
    raise RuntimeError("the app did not answer within 180 s")


def take(browser, url: str, shot: Shot, out: Path, timeout_s: float = 300) -> Path:
    """Open the shot's link at its size, wait for its result and a quiet page, save the picture."""
    touch = {"is_mobile": True, "has_touch": True} if shot.phone else {}
    page = browser.new_page(viewport={"width": shot.size[0], "height": shot.size[1]}, **touch)
    try:
        page.goto(f"{url}?{shot.link}", wait_until="load")
        if "lecture=1" in shot.link:
            page.wait_for_function("() => document.body.classList.contains('lecture')", timeout=60_000)
        page.wait_for_function(f"() => {READY[shot.view]} && {IDLE}", timeout=timeout_s * 1000, polling=250)
        page.wait_for_timeout(800)  # the last frame drawn, the layout settled
        if shot.then is not None:
            shot.then(page)
        else:
            page.evaluate("() => window.scrollTo(0, 0)")  # the first screen, as a visitor sees it
        path = out / f"{shot.name}.{'jpg' if shot.jpeg else 'png'}"
        options = {"type": "jpeg", "quality": 80} if shot.jpeg else {}
        page.screenshot(path=str(path), full_page=shot.full_page, **options)
        return path
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="the pictures' folder"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="only these pictures (names without extension)"
    )
    args = parser.parse_args()
    shots = [s for s in SHOTS if not args.only or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in SHOTS}
    if unknown:
        parser.error(f"unknown picture(s): {', '.join(sorted(unknown))}")
    executable = chromium()
    if executable is None:
        sys.exit("Debian's chromium is needed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    process, url = start_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            for i, shot in enumerate(shots, 1):
                start = time.perf_counter()
                try:
                    path = take(browser, url, shot, args.out)
                except Exception as err:  # one picture's failure is reported; the others are taken
                    failed.append(shot.name)
                    print(f"[{i}/{len(shots)}] {shot.name} FAILED: {type(err).__name__}: {err}", flush=True)
                    continue
                print(f"[{i}/{len(shots)}] {path.name} ({time.perf_counter() - start:.1f} s)", flush=True)
            browser.close()
    finally:
        process.terminate()
        process.wait(30)
    if failed:
        sys.exit(f"not taken: {', '.join(failed)}")


if __name__ == "__main__":
    main()
