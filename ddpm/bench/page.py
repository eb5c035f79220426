"""A generation computed in the page beside the same on the server: ``python -m ddpm.bench.page``.

The app runs as users run it (``python app.py`` in its own process, :func:`.server.serve_app`);
Chromium (Playwright) opens Generate's link for each case twice, ``compute=device`` (the page's
engine: onnxruntime-web in a Worker) and ``compute=server`` (the stream), alternating, ``--runs``
times each, and times the click to "done" as the page reports it. Printed per case: the median
and range of each side and their ratio; the engine's first start in a fresh browser (downloading
the runtime and the network, starting the WebAssembly) and its start once those are cached; and
the bytes the first in-page run fetched. One case at a time, nothing else running: two cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from .local import CHROMIUM_FLAGS, chromium
from .server import serve_app, sigterm_as_exit

REPO = Path(__file__).resolve().parents[2]
CASES = {
    "default": "",  # DPM-Solver++ 10 steps × 16, any digit
    "ddim-50x16": "&sampler=ddim&steps=50",
    "ancestral-1000x1": "&sampler=ddpm&n=1",
}
DONE = {
    "device": "() => /done/.test(document.querySelector('#generate-here .here-status')?.textContent ?? '')",
    "server": "() => /done/.test(document.querySelector('#generate-status')?.textContent ?? '')",
}


def spread(seconds: list[float]) -> str:
    """The median and range of some timings."""
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f})"


def timed_run(page: Any, where: str, timeout: float) -> float:
    """Seconds from Generate's click to "done" on ``where``'s side (the page or the stream)."""
    start = time.perf_counter()
    page.locator("#generate-run").click()
    # each side writes its start ("Starting…") at once, then "done" at the end
    page.wait_for_function(f"() => !({DONE[where]})()", timeout=timeout * 1000, polling=10)
    page.wait_for_function(DONE[where], timeout=timeout * 1000, polling=10)
    return time.perf_counter() - start


def open_case(browser: Any, url: str, case: str, where: str, seed: int) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{url}/?view=generate&compute={where}&seed={seed}{CASES[case]}", wait_until="load")
    page.wait_for_function(DONE[where], timeout=600_000)  # the link's own run: warms this side up
    return page


def cold_start(playwright: Any, url: str) -> dict[str, float]:
    """The engine's first run in a fresh browser (nothing cached), then in the same browser again:
    seconds to "done" for the default case, and the bytes fetched by the first."""
    out: dict[str, float] = {}
    browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
    context = browser.new_context()
    fetched = []
    for label in ("first", "cached"):
        page = context.new_page()
        page.on("requestfinished", lambda r: fetched.append(r.sizes()["responseBodySize"]))
        fetched.clear()
        page.goto(f"{url}/?view=generate&seed=9", wait_until="load")
        page.wait_for_selector("#generate-run")
        page.locator("#generate-compute input").fill("Device")
        page.keyboard.press("Enter")
        out[f"{label} (s)"] = timed_run(page, "device", 600)
        out[f"{label} (MB fetched)"] = sum(fetched) / 1e6
        page.close()
    browser.close()
    return out


def parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.page", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="timed runs per case and side (3)")
    p.add_argument("--cases", default=",".join(CASES), help=f"which of {', '.join(CASES)}")
    p.add_argument("--json", type=Path, help="also write the numbers to this file")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not chromium():
        raise SystemExit("needs Chromium (Debian: apt-get install chromium) and playwright")
    from playwright.sync_api import sync_playwright

    report: dict[str, Any] = {}
    with sigterm_as_exit(), serve_app(REPO / "app.py") as server, sync_playwright() as playwright:
        report["engine start"] = cold_start(playwright, server.url)
        print(f"engine start: {report['engine start']}", flush=True)
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        for case in args.cases.split(","):
            pages = {where: open_case(browser, server.url, case, where, 1) for where in ("device", "server")}
            times: dict[str, list[float]] = {"device": [], "server": []}
            for run in range(args.runs):
                for where in ("device", "server") if run % 2 == 0 else ("server", "device"):
                    pages[where].locator("#generate-seed input").fill(str(100 + run))
                    times[where].append(timed_run(pages[where], where, 900))
            for page in pages.values():
                page.close()
            device, server_side = (statistics.median(times[w]) for w in ("device", "server"))
            report[case] = {**times, "device / server": device / server_side}
            print(f"{case}: in the page {spread(times['device'])}, on the server {spread(times['server'])}: "
                  f"page / server = {device / server_side:.2f}", flush=True)  # fmt: skip
        browser.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
