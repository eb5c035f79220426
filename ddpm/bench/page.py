"""Chains computed in the page beside the same on the server: ``python -m ddpm.bench.page``.

The app runs as users run it (``python app.py`` in its own process, :func:`.server.serve_app`);
Chromium (Playwright) opens each case's link (Generate's three, and the reverse view's comparison
from t = T) twice, ``compute=device`` (the page's engine: onnxruntime-web in a Worker) and
``compute=server`` (the stream), alternating, ``--runs`` times each, and times the click to "done"
as the page reports it. Printed per case: the median and range of each side and their ratio; the
engine's first start in a fresh browser (downloading the runtime and the network, starting the
WebAssembly) and its start once those are cached; and the bytes the first in-page run fetched.
One case at a time, nothing else running: two cores.

``--busy N`` measures the automatic choice instead: with N students' comparisons kept running on
the server (:mod:`.busy`), each case runs ``compute=auto`` beside ``compute=server``, alternating;
printed: where Auto computed, why (the page's own words), and both sides' times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .busy import busy_server
from .local import CHROMIUM_FLAGS, chromium
from .server import serve_app, sigterm_as_exit

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class View:
    """Where a view's Run, seed and both sides' status lines are."""

    name: str
    run: str
    seed: str
    device: str  # the in-page panel's status
    server: str  # the server stream's status


VIEWS = {
    "generate": View("generate", "#generate-run", "#generate-seed input", "#generate-here .here-status",
                     "#generate-status"),
    "reverse": View("reverse", "#reverse-run", "#reverse-seed input", "#reverse-here .here-status",
                    "#reverse-status"),
}  # fmt: skip
CASES = {
    "default": ("generate", ""),  # DPM-Solver++ 10 steps × 16, any digit
    "ddim-50x16": ("generate", "&sampler=ddim&steps=50"),
    "ancestral-1000x1": ("generate", "&sampler=ddpm&n=1"),
    "compare-from-T": ("reverse", ""),  # the reverse view's link starts at t = T
}
STATUS = "(selector) => document.querySelector(selector)?.textContent ?? ''"
NEW_DONE = """([device, server]) => {  // the side whose status left "done" and came back to it, or null
  const seen = (globalThis.__ddpmLeft ??= { device: false, server: false });
  for (const [side, selector] of [['device', device], ['server', server]]) {
    const done = /done/.test(document.querySelector(selector)?.textContent ?? '');
    if (!done) seen[side] = true;
    else if (seen[side]) return side;
  }
  return null;
}"""
FORGET = "() => { globalThis.__ddpmLeft = { device: false, server: false }; }"


def spread(seconds: list[float]) -> str:
    """The median and range of some timings."""
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f})"


def timed_run(page: Any, view: View, timeout: float) -> tuple[float, str]:
    """Seconds from the view's Run to "done" on either side (the page's panel or the server's
    stream) after its status said something else (each writes its start at once), and that side:
    "device" or "server"."""
    page.evaluate(FORGET)
    start = time.perf_counter()
    page.locator(view.run).click()
    handle = page.wait_for_function(
        NEW_DONE, arg=[view.device, view.server], timeout=timeout * 1000, polling=10
    )
    return time.perf_counter() - start, handle.json_value()


def open_case(browser: Any, url: str, case: str, where: str, seed: int) -> tuple[Any, View]:
    view, query = CASES[case]
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{url}/?view={view}&compute={where}&seed={seed}{query}", wait_until="load")
    page.wait_for_function(
        NEW_DONE, arg=[VIEWS[view].device, VIEWS[view].server], timeout=600_000
    )  # the link's run
    return page, VIEWS[view]


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
        out[f"{label} (s)"] = timed_run(page, VIEWS["generate"], 600)[0]
        out[f"{label} (MB fetched)"] = sum(fetched) / 1e6
        page.close()
    browser.close()
    return out


BUSY_SETTLE = 15.0
"""Seconds the busy clients run before the first timed run (their chains start, the tick is measured)."""


def why(page: Any, view: View, side: str) -> str:
    """The page's own words for where a chain ran: the panel's reason for the server, or the end
    of its status line (after "with the engine's start, ") for the device."""
    if side == "server":
        return page.evaluate(STATUS, view.device.replace(".here-status", ".here-why")) or "(no reason given)"
    text = page.evaluate(STATUS, view.device)
    return text.split("with the engine's start, ", 1)[-1].split(")")[0]


def parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.page", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="timed runs per case and side (3)")
    p.add_argument("--cases", default=",".join(CASES), help=f"which of {', '.join(CASES)}")
    p.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="time compute=auto beside compute=server while N comparisons run on the server",
    )
    p.add_argument("--json", type=Path, help="also write the numbers to this file")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not chromium():
        raise SystemExit("needs Chromium (Debian: apt-get install chromium) and playwright")
    from playwright.sync_api import sync_playwright

    report: dict[str, Any] = {}
    with sigterm_as_exit(), serve_app(REPO / "app.py") as server, sync_playwright() as playwright:
        if not args.busy:
            report["engine start"] = cold_start(playwright, server.url)
            print(f"engine start: {report['engine start']}", flush=True)
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        sides = ("auto", "server") if args.busy else ("device", "server")
        for case in args.cases.split(","):
            pages = {where: open_case(browser, server.url, case, where, 1) for where in sides}
            with busy_server(server.url, args.busy) as busy:
                if args.busy:
                    time.sleep(
                        BUSY_SETTLE
                    )  # the busy chains are running, and the server has measured its tick
                times: dict[str, list[float]] = {where: [] for where in sides}
                chosen: list[str] = []
                for run in range(args.runs):
                    for where in sides if run % 2 == 0 else sides[::-1]:
                        page, view = pages[where]
                        # a seed of each side's own: one side's result is never the other's, cached
                        page.locator(view.seed).fill(str(100 + run + 1000 * sides.index(where)))
                        seconds, side = timed_run(page, view, 900)
                        times[where].append(seconds)
                        if where == "auto":
                            chosen.append(f"{side}: {why(page, view, side)}")
            for page, _ in pages.values():
                page.close()
            first, server_side = (statistics.median(times[w]) for w in sides)
            report[case] = {**times, f"{sides[0]} / server": first / server_side}
            ratio = f"{sides[0]} / server = {first / server_side:.2f}"
            line = (f"{case}: {'auto' if args.busy else 'in the page'} {spread(times[sides[0]])}, "
                    f"on the server {spread(times['server'])}: {ratio}")  # fmt: skip
            if args.busy:
                report[case].update(
                    busy=args.busy, auto_chose=chosen, busy_served=busy.served, busy_other=busy.other
                )
                line += (
                    f" (with {args.busy} comparisons running there)\n  auto chose: "
                    + "\n  auto chose: ".join(chosen)
                )
            print(line, flush=True)
        browser.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
