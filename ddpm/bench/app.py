"""How fast the app feels: ``python -m ddpm.bench.app`` from the repository root (needs the dev dependencies).

Measured in one run, on this machine, against Gradio's own floor:

- the slider handler's server compute (called directly);
- a ``/forward`` round trip on loopback through gradio_client, beside a no-op handler with the same
  outputs, whose time is Gradio's overhead; in Chromium (Playwright), a key press on the slider to
  the new frame: our page draws it itself (the forward player, no request), the floor page after a
  round trip to its no-op handler;
- the streamed generation (16 digits, 1000 ancestral steps) and the exact-vs-learned comparison
  from t = T: time to the first frame and to the end, against ``python app.py`` in its own
  process, through gradio_client (another process on the same cores, receiving every frame) and,
  for the generation, clicked in Chromium (a fresh page, a second after the button shows); each
  ``--runs`` times (range and median: two-core timings drift from run to run);
- how long ``python app.py`` takes until it answers HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr
import numpy as np

from ..serve.runtime import diffusion_cpu, runtime
from ..views.digits import default_digit
from ..views.forward import forward
from .local import CHROMIUM_FLAGS, chromium, free_port

REPO = Path(__file__).resolve().parents[2]  # the repository: ddpm/bench/ is two below


def canned_forward() -> dict[int, tuple]:
    """/forward's outputs for the default digit and seed at the t the round trips visit."""
    digit = default_digit()
    return {t: forward(digit, t, 0) for t in [*range(100, 170), *range(250, 300)]}


def floor_app() -> gr.Blocks:
    """A slider wired to a handler that only looks up precomputed outputs shaped like /forward's.

    The outputs differ from t to t (as real ones do, so the browser sees a new image each time),
    but cost nothing to compute: what remains is Gradio's own overhead.
    """
    canned = canned_forward()
    with gr.Blocks() as demo:
        t = gr.Slider(0, 1000, value=250, step=1, elem_id="forward-t")
        first = canned[250]
        images = [
            gr.Image(first[i], format="png", elem_id="forward-xt" if i == 0 else None) for i in range(5)
        ]
        table = gr.Markdown(first[5])
        plot = gr.Image(first[6], format="png")
        outputs = [*images, table, plot]
        t.input(
            lambda t: canned[int(t)],
            t,
            outputs,
            api_name="forward",
            trigger_mode="always_last",
            show_progress="hidden",
        )
    return demo


def floor_in_our_page() -> gr.Blocks:
    """The whole app with its slider wired to the lookup of :func:`floor_app` instead of /forward.

    A browser's time to show an update also depends on the page around it (its size, layout and
    styles); this floor has our page and Gradio, but not our handler.
    """
    from ..views import forward as forward_view
    from ..views.page import build_demo

    canned, real = canned_forward(), forward_view.forward

    def lookup(digit, t, seed):
        return canned[int(t)]

    forward_view.forward = lookup
    try:
        return build_demo()
    finally:
        forward_view.forward = real


def launch(demo: gr.Blocks) -> str:
    demo.queue(max_size=64)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    return url


def client_round_trips(url: str, n: int, *extra) -> list[float]:
    """Seconds per /forward call at t = 100, 101, … (after 3 warm-up calls)."""
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False)
    times = []
    for i in range(n + 3):
        start = time.perf_counter()
        client.predict(100 + i, *extra, api_name="/forward")
        if i >= 3:
            times.append(time.perf_counter() - start)
    client.close()
    return times


@contextlib.contextmanager
def browser_page(url: str) -> Iterator:
    """A Chromium page (Playwright) open at ``url``, or None when playwright or chromium is missing."""
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        yield None
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load")
            yield page
        finally:
            browser.close()


# What a key press on the slider changes: our page draws the frame itself (the forward player, no
# request), a floor page shows the image its handler sent back.
FRAME_SHOWN = """() => {
    const player = document.querySelector("#forward-player .ddpm-forward");
    return player ? "t=" + player.dataset.t : document.querySelector("#forward-xt img")?.getAttribute("src");
}"""


def browser_round_trips(url: str, n: int) -> list[float] | None:
    """Seconds from a key press on the forward slider to the new frame on screen."""
    times = []
    with browser_page(url) as page:
        if page is None:
            return None
        page.wait_for_selector("#forward-t input[type=range]", timeout=60_000)
        slider = page.locator("#forward-t input[type=range]")
        slider.focus()
        for i in range(n + 3):
            before = page.evaluate(FRAME_SHOWN)
            start = time.perf_counter()
            slider.press("ArrowRight")
            page.wait_for_function(f"before => ({FRAME_SHOWN})() !== before", arg=before)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return times


def stream_times(url: str, api_name: str, args: tuple) -> tuple[float, float, int]:
    """Seconds to the first streamed frame and to the end, and the number of frames."""
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False)
    start = time.perf_counter()
    first, frames = None, 0
    for _ in client.submit(*args, api_name=api_name):
        frames += 1
        first = first or time.perf_counter() - start
    total = time.perf_counter() - start
    client.close()
    return first, total, frames


# Times a generation inside the page, from the click to the frame painted after the first streamed
# image and after "done". Mutation observers wait without polling: Playwright's waits poll on
# every animation frame, and on two cores that polling alone slowed the chain it was timing.
WATCH_GENERATION = """() => {
    const button = document.querySelector("#generate-run");
    const status = document.querySelector("#generate-status");
    const image = document.querySelector("#generate-xt");
    const before = image.querySelector("img")?.getAttribute("src");
    let start = null, first = null;
    const painted = () => new Promise(resolve => requestAnimationFrame(() => resolve(performance.now() - start)));
    button.addEventListener("click", () => { start = performance.now(); }, {capture: true, once: true});
    window.generationTimes = new Promise(resolve => {
        const images = new MutationObserver(() => {
            const img = image.querySelector("img");
            if (start !== null && img && img.getAttribute("src") !== before) {
                images.disconnect();
                first = painted();
            }
        });
        images.observe(image, {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
        const text = new MutationObserver(async () => {
            if (start !== null && status.innerText.includes("done")) {
                text.disconnect();
                const total = await painted();
                resolve([(await first) / 1000, total / 1000, status.innerText]);
            }
        });
        text.observe(status, {subtree: true, childList: true, characterData: true});
    });
}"""


def browser_generation(url: str) -> tuple[float, float, str] | None:
    """A generation of the page's 16 digits with ancestral sampling (1000 steps; the page's default
    sampler is faster) run in Chromium: seconds from the click to the first streamed image and to
    "done" (each once painted), and the final status line. The click comes a second after the
    button shows, as a user's would."""
    with browser_page(url + "?view=generate") as page:
        if page is None:
            return None
        page.wait_for_selector("#generate-run", state="visible", timeout=60_000)
        page.locator("#generate-sampler").get_by_text("Ancestral").click()
        page.wait_for_timeout(1000)
        page.evaluate(WATCH_GENERATION)
        page.locator("#generate-run").click()
        first, total, status = page.evaluate("() => window.generationTimes")
    return first, total, status


@contextlib.contextmanager
def app_process() -> Iterator[tuple[str, float]]:
    """``python app.py`` in its own process, as users run it: yields (url, seconds until it answered)."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port)}
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if time.perf_counter() - start > 120:
                    raise RuntimeError("app.py did not answer within 120 s") from None
                time.sleep(0.05)
        yield url, time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)


def ms(values: list[float]) -> str:
    return f"{1e3 * statistics.median(values):7.1f} ms"


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.app", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each stream (default 3)")
    return p


def main(argv: list[str] | None = None) -> None:
    runs = parser().parse_args(argv).runs
    if runs < 1:
        raise SystemExit(f"--runs must be ≥ 1, got {runs}")
    digit, T = default_digit(), diffusion_cpu().num_timesteps
    forward(digit, 1, 0)  # warm up (the schedule plot is drawn once)
    rng = np.random.default_rng(0)
    compute = []
    for t in rng.integers(0, T + 1, 300):
        start = time.perf_counter()
        forward(digit, int(t), 0)
        compute.append(time.perf_counter() - start)
    print(f"slider handler, server compute (median of 300):      {ms(compute)}")

    from ..views.page import build_demo

    runtime()  # load the model before timing anything that uses it
    ours, floor = launch(build_demo()), launch(floor_app())
    ours_c, floor_c = client_round_trips(ours, 60, 0), client_round_trips(floor, 60)
    print(f"slider round trip, gradio_client: ours {ms(ours_c)}, no-op {ms(floor_c)}, "
          f"ratio {statistics.median(ours_c) / statistics.median(floor_c):.2f}")  # fmt: skip
    page = launch(floor_in_our_page())
    ours_b, floor_b, page_b = (browser_round_trips(url, 40) for url in (ours, floor, page))
    if ours_b and floor_b and page_b:  # ours and page_b: drawn in the page (the player), no request
        print(f"slider key -> frame, Chromium:    ours {ms(ours_b)} (drawn in the page), no-op round trip {ms(floor_b)}, "
              f"ratio {statistics.median(ours_b) / statistics.median(floor_b):.2f}; "
              f"our page with the no-op /forward {ms(page_b)}")  # fmt: skip
    else:
        print("slider round trip, Chromium: skipped (playwright or chromium missing)")
    with app_process() as (url, ready):
        stream_times(url, "/generate", (1, "ddim", 5, 0.0, 0))  # let the model finish loading
        streams = {
            "generate 16 digits, ancestral 1000 steps, gradio_client": lambda: stream_times(
                url, "/generate", (16, "ddpm", 50, 0.0, 0)
            ),
            "the same in Chromium (Generate clicked)": lambda: browser_generation(url),
            "compare exact vs learned from t = T, gradio_client": lambda: stream_times(
                url, "/compare", (T, 0, "fixed_small")
            ),
        }
        for name, run in streams.items():
            results = [run() for _ in range(runs)]
            if None in results:
                print(f"{name}: skipped (playwright or chromium missing)")
                continue
            firsts, totals = [r[0] for r in results], [r[1] for r in results]
            print(
                f"{name}: first frame {min(firsts):.2f}–{max(firsts):.2f} s (median {statistics.median(firsts):.2f}), "
                f"done {min(totals):.2f}–{max(totals):.2f} s (median {statistics.median(totals):.2f}) in {runs} runs"
            )
    print(f"python app.py ready after {ready:.1f} s")


if __name__ == "__main__":
    main()
