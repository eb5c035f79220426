"""How fast the 2-D world is in the page: ``python -m ddpm.bench.plane`` (needs the dev dependencies).

The page computes the 2-D world itself (``ddpm/views/lessons/static/plane_maths.js``, drawn by
``plane_draw.js``, ``plane_panels.js`` and ``plane_controls.js``), so its speed is the browser's: in
Chromium (Playwright), on ``python app.py`` in its own process, for each data set it times what a
student does, each the mean of ``--repeats`` runs inside the page (``performance.now``):

- a new t (the heat map of q_t, the arrows, the reverse step beside its Gaussian, the error plot);
- a drag of x_t by one pointer move (the plane and the reverse step, for Δ = 1 and Δ = 200);
- a launch (one start point's ODE and 5 SDE paths on both fields, computed at once);
- a cloud of 500 particles (100 DDIM steps on both fields, integrated as it animates: the time to
  the last frame);
- one forward pass of the learned network at one point.

And on the server: what a data set's first request costs (the preset with its network and the
network's error over t; cached afterwards), and a training of the 2-D network on 100 drawn points
for ``--train-steps`` steps.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ..teaching import plane as teaching
from ..toy import plane
from .app import app_process
from .local import CHROMIUM_FLAGS, chromium

TIMINGS = """async ([repeats]) => {
  const root = document.querySelector('#plane-player .ddpm-plane'), api = root.api;
  const mean = (f) => {
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) f(i);
    return (performance.now() - t0) / repeats;
  };
  const canvas = root.querySelector('canvas[data-plot=plane]'), box = canvas.getBoundingClientRect();
  const move = (i) => {
    const x = box.left + box.width * (0.4 + 0.01 * (i % 10)), y = box.top + box.height * 0.45;
    canvas.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, pointerId: 1}));
  };
  const delta = root.querySelector('input.delta');
  const setDelta = (d) => { delta.value = String(d); delta.dispatchEvent(new Event('input')); };
  const out = {};
  out.t_change = mean((i) => root.show(300 + (i % 2 ? 1 : -1)));
  root.show(300);
  const centre = {clientX: box.left + box.width / 2, clientY: box.top + box.height / 2, pointerId: 1};
  canvas.dispatchEvent(new PointerEvent('pointerdown', centre));
  setDelta(1); out.drag_delta_1 = mean(move);
  setDelta(200); out.drag_delta_200 = mean(move);
  canvas.dispatchEvent(new PointerEvent('pointerup', {pointerId: 1}));
  setDelta(1);
  out.launch = mean(() => api.launch(0.5, 0.5));
  const t0 = performance.now();
  api.releaseCloud();
  await new Promise((resolve) => {
    const check = () => (root.dataset.particles === 'done' ? resolve() : setTimeout(check, 10));
    check();
  });
  out.cloud = performance.now() - t0;
  const net = api.state.net;
  const thousand = () => { for (let i = 0; i < 1000; i++) api.mlpEps(net, 0.1, 0.2, 500); };
  out.network_us = mean(thousand);  // ms per 1000 passes = µs per pass
  return out;
}"""


def page_timings(url: str, names: tuple[str, ...], repeats: int) -> dict[str, dict[str, float]]:
    """Per data set, the in-page times in ms (``network_us`` in µs) of the module docstring."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise SystemExit("Debian's chromium is not installed: apt-get install chromium")
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        for name in names:
            page.goto(f"{url}?view=2d&data={name}&t=300", wait_until="load")
            page.wait_for_selector(
                f"#plane-player .ddpm-plane[data-t='300'][data-data='{name}']", timeout=120_000
            )
            page.locator("#plane-player canvas[data-plot=plane]").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            results[name] = page.evaluate(TIMINGS, [repeats])
        browser.close()
    return results


def server_timings(train_steps: int) -> dict[str, float]:
    """The first request of each preset (s), and a training on 100 drawn points (s, steps/s)."""
    out = {}
    for name in plane.PRESETS:
        start = time.perf_counter()
        teaching.preset_world.__wrapped__(name)  # uncached
        out[f"first {name}"] = time.perf_counter() - start
    angle = [2 * math.pi * k / 100 for k in range(100)]
    points = [[1.5 * math.cos(a), 1.5 * math.sin(a)] for a in angle]
    start = time.perf_counter()
    *_, last = teaching.train_world(points, steps=train_steps, max_seconds=1e9, log_every=train_steps)
    out["train"] = time.perf_counter() - start
    out["train steps/s"] = last.progress.step / out["train"]
    return out


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = argparse.ArgumentParser(prog="python -m ddpm.bench.plane", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=list(plane.PRESETS), help="data sets (default: all four)")
    p.add_argument("--repeats", type=int, default=10, help="runs of each in-page action (default 10)")
    p.add_argument("--train-steps", type=int, default=2000, help="steps of the timed training (default 2000)")
    p.add_argument("--no-server", action="store_true", help="skip the server's timings")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    with app_process() as (url, _):  # python app.py in its own process, as users run it
        timings = page_timings(url, tuple(args.data), args.repeats)
    columns = ("t_change", "drag_delta_1", "drag_delta_200", "launch", "cloud", "network_us")
    print("in Chromium, ms (network: µs per point)")
    print(f"{'data':<14}" + "".join(f"{c:>16}" for c in columns))
    for name, row in timings.items():
        print(f"{name:<14}" + "".join(f"{row[c]:>16.2f}" for c in columns))
    if not args.no_server:
        for key, value in server_timings(args.train_steps).items():
            print(f"server: {key}: {value:.2f}" + ("" if "steps/s" in key else " s"))


if __name__ == "__main__":
    main()
