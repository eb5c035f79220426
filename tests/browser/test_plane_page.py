"""The 2-D world in a real browser: the page's maths pinned to ddpm.toy, its drawing, and no
request while exploring.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import math
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from pagekit import screenshot

pytestmark = pytest.mark.slow  # each test drives the app in Chromium


PLANE = "#plane-player .ddpm-plane"


@pytest.fixture(scope="module")
def plane_page(browser, url):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "?view=2d&data=moons&t=300", wait_until="load")
    page.wait_for_selector(f"{PLANE}[data-t='300'][data-data='moons']", timeout=60_000)
    yield page
    assert not errors, errors
    page.close()


def test_the_pages_2d_densities_posteriors_and_fields_are_the_cores(plane_page):
    """Every closed form the page draws, at points on and off the data, near t = 0 and near T."""
    from ddpm.teaching.plane import preset_world
    from ddpm.toy import plane
    from ddpm.views.lessons.plane_player import plane_value

    diffusion = plane.world_diffusion()
    xs = [[0.3, -0.2], [1.5, 0.4], [-2.5, 2.0], [0.0, 0.0]]
    ts = [1, 10, 300, 999, 1000]
    for name in ("moons", "circle"):
        value = plane_value(preset_world(name), name)
        got = plane_page.evaluate(
            f"""([value, xs, ts]) => {{
            const api = document.querySelector("{PLANE}").api, data = api.mixture(value);
            return ts.map((t) => {{
              const ab = api.alphaBar(t), m = api.marginal(data, ab);
              return {{ab, at: xs.map(([x, y]) => {{ const e = api.evaluate(m, x, y, true);
                return {{log: e.logDensity, weights: Array.from(e.weights), score: [e.sx, e.sy],
                        eps: api.exactEps(m, ab, x, y)}}; }})}};
            }}); }}""",
            [value, xs, ts],
        )
        data = preset_world(name).data
        for t, at_t in zip(ts, got, strict=True):
            ab = plane.alpha_bar_at(diffusion, t)
            assert at_t["ab"] == ab
            x = np.array(xs)
            np.testing.assert_allclose(
                [p["log"] for p in at_t["at"]], plane.log_density(data, ab, x), rtol=1e-10
            )
            weights = np.array([p["weights"] for p in at_t["at"]])
            np.testing.assert_allclose(weights, plane.posterior_weights(data, ab, x), atol=1e-12)
            np.testing.assert_allclose(
                [p["score"] for p in at_t["at"]], plane.score(data, ab, x), rtol=1e-9, atol=1e-9
            )
            np.testing.assert_allclose(
                [p["eps"] for p in at_t["at"]], plane.eps(data, ab, x), rtol=1e-9, atol=1e-12
            )


@pytest.mark.parametrize("name, t", [("moons", 300), ("moons", 3), ("circle", 0), ("circle", 700)])
def test_the_pages_density_grid_is_the_cores(plane_page, name, t):
    """The heat map's grid: q_t at the cell centres, laid out as plane.density_grid (top row first)."""
    from ddpm.teaching.plane import preset_world
    from ddpm.toy import plane
    from ddpm.views.lessons.plane_player import plane_value

    n, ab = 48, plane.alpha_bar_at(plane.world_diffusion(), t)
    got = plane_page.evaluate(
        f"""([value, ab, n]) => {{ const api = document.querySelector("{PLANE}").api, c = api.gridCentres(n);
        return Array.from(api.densityOnGrid(api.marginalMixture(api.mixture(value), ab), c.xs, c.ys)); }}""",
        [plane_value(preset_world(name), name), ab, n],
    )
    data = preset_world(name).data
    if t == 0:  # the data themselves: only a mixture has a density
        centres = -plane.EXTENT + (np.arange(n) + 0.5) * 2 * plane.EXTENT / n
        x, y = np.meshgrid(centres, centres[::-1])
        want = plane.ReverseStep(data.weights, data.means, data.covs).log_density(np.stack([x, y], -1))
        np.testing.assert_allclose(np.reshape(got, (n, n)), np.exp(want), rtol=1e-9, atol=1e-300)
    else:
        np.testing.assert_allclose(
            np.reshape(got, (n, n)), plane.density_grid(data, ab, n), rtol=1e-9, atol=1e-300
        )


@pytest.mark.parametrize("t, delta", [(300, 1), (300, 200), (50, 50), (999, 998)])
def test_the_pages_true_reverse_step_is_the_cores(plane_page, t, delta):
    from ddpm.teaching.plane import preset_world
    from ddpm.toy import plane

    diffusion, data = plane.world_diffusion(), preset_world("moons").data
    x = [0.4, -0.3]
    got = plane_page.evaluate(
        f"""([t, s, x]) => {{
        const api = document.querySelector("{PLANE}").api, data = api.state.data;
        const step = api.reverseStep(data, api.alphaBar(t), api.alphaBar(s), x[0], x[1]);
        const m = api.moments(step);
        return {{weights: Array.from(step.weights), means: Array.from(step.means),
                covs: Array.from(step.covs), mean: m.mean, cov: m.cov}}; }}""",
        [t, t - delta, x],
    )
    a_t, a_s = plane.alpha_bar_at(diffusion, t), plane.alpha_bar_at(diffusion, t - delta)
    step = plane.reverse_step(data, a_t, a_s, np.array(x))
    np.testing.assert_allclose(got["weights"], step.weights, atol=1e-12)
    np.testing.assert_allclose(np.reshape(got["means"], (-1, 2)), step.means, atol=1e-10)
    np.testing.assert_allclose(np.reshape(got["covs"], (-1, 2, 2)), step.covs, atol=1e-12)
    mean, cov = step.moments()
    np.testing.assert_allclose(got["mean"], mean, atol=1e-10)
    np.testing.assert_allclose(got["cov"], [cov[0, 0], cov[0, 1], cov[1, 1]], atol=1e-10)
    if t == delta:  # back to the points themselves: the page shows them, no density to compare
        return
    # the number the page prints: ½∫|q − N| on its grid, against the core's densities on the same grid
    half, n = 3.5 * math.sqrt(max(cov[0, 0], cov[1, 1])), 120
    cells = mean[:, None] + (np.arange(n) + 0.5 - n / 2) * 2 * half / n
    grid = np.stack(np.meshgrid(cells[0], cells[1][::-1]), -1)
    gauss = plane.ReverseStep(np.ones(1), mean[None], cov[None])
    tv = (
        0.5
        * np.abs(np.exp(step.log_density(grid)) - np.exp(gauss.log_density(grid))).sum()
        * (2 * half / n) ** 2
    )
    page_tv = plane_page.evaluate(
        f"""([t, s, x, half]) => {{
        const api = document.querySelector("{PLANE}").api, data = api.state.data;
        const step = api.reverseStep(data, api.alphaBar(t), api.alphaBar(s), x[0], x[1]);
        const m = api.moments(step), c = m.cov;
        const gauss = {{weights: [1], means: m.mean, covs: [c[0], c[1], c[1], c[2]], size: 1}};
        return api.totalVariation(step, gauss, m.mean, half); }}""",
        [t, t - delta, x, half],
    )
    assert page_tv == pytest.approx(tv, rel=1e-6, abs=1e-9)
    assert (tv < 0.02) == (delta == 1)  # one step back is Gaussian here; the strides are not


def test_the_pages_sampler_steps_and_network_are_the_cores(plane_page):
    """One DDIM step (η = 0, 0.3, 1) and one ancestral step with the same ε̂ and z, DDIM's timesteps,
    and the learned network's forward pass."""
    import torch

    from ddpm.sampling import ddim_timesteps
    from ddpm.toy import mlp, plane

    diffusion = plane.world_diffusion()
    cases = [(999, 979, 0.0), (500, 489, 0.3), (10, -1, 1.0), (0, -1, 0.5), (1, 0, 1.0)]
    x, eps, z = [0.7, -1.3], [0.25, -0.5], [1.1, 0.4]
    got = plane_page.evaluate(
        f"""([cases, x, eps, z]) => {{
        const api = document.querySelector("{PLANE}").api;
        return {{ddim: cases.map(([t, p, eta]) => api.ddimStep(x[0], x[1], eps, t, p, eta, z)),
                ancestral: cases.map(([t]) => api.ancestralStep(x[0], x[1], eps, t, z)),
                times: [[999, 100], [999, 1000], [299, 100], [299, 7], [5, 6], [0, 1], [37, 3]]
                  .map(([s, n]) => api.ddimTimesteps(s, n))}}; }}""",
        [cases, x, eps, z],
    )
    as_tensor = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    # The step's coefficients are float32 (computed from the float32 tables, as torch does), and
    # torch's vectorised float32 sqrt may be one unit in the last place from the correctly rounded
    # one the page computes: agreement to a few float32 units (1e-6) is the float precision here.
    for (t, t_prev, eta), page_ddim, page_ancestral in zip(cases, got["ddim"], got["ancestral"], strict=True):
        core = diffusion.ddim_step(
            as_tensor(eps), as_tensor(x), t, t_prev, eta, clip_denoised=False, z=as_tensor(z)
        )
        np.testing.assert_allclose(page_ddim, core.sample[0].numpy(), rtol=1e-6, atol=1e-7)
        core = diffusion.p_sample(as_tensor(eps), as_tensor(x), t, clip_denoised=False, z=as_tensor(z))
        np.testing.assert_allclose(page_ancestral, core.sample[0].numpy(), rtol=1e-6, atol=1e-7)
    for (start, steps), times in zip([[999, 100], [999, 1000], [299, 100], [299, 7], [5, 6], [0, 1], [37, 3]],
                                     got["times"], strict=True):  # fmt: skip
        assert times == ddim_timesteps(start, steps)
    points, indices = [[0.3, -0.2], [1.5, 0.4], [-2.9, 2.9]], [0, 1, 299, 998, 999]
    learned = plane_page.evaluate(
        f"""([points, indices]) => {{ const api = document.querySelector("{PLANE}").api;
        return indices.map((i) => points.map(([x, y]) => api.mlpEps(api.state.net, x, y, i))); }}""",
        [points, indices],
    )
    model = mlp.shipped("moons")
    with torch.no_grad():
        for index, row in zip(indices, learned, strict=True):
            core = model(torch.tensor(points), torch.full((len(points),), index)).numpy()
            # float32 in torch, float64 in the page
            np.testing.assert_allclose(row, core, rtol=1e-5, atol=1e-5)


def test_exploring_the_2d_world_sends_no_request(plane_page, url):
    """Drag x_t, change Δ, η and the arrows, move t, launch particles and release a cloud: the page
    computes it all; the small steps' Gaussian fits and the large stride's does not."""
    page, host = plane_page, urlsplit(url).netloc
    sent: list[str] = []

    def count(request):
        if urlsplit(request.url).netloc == host:
            sent.append(request.url)

    plane = page.locator(f"{PLANE} canvas[data-plot=plane]")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    delta = page.locator(f"{PLANE} input.delta")
    page.on("request", count)
    try:
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
        page.mouse.down()
        for i in range(20):  # a drag of x_t across the plane
            page.mouse.move(box["x"] + (0.3 + 0.02 * i) * box["width"], box["y"] + 0.5 * box["height"])
        page.mouse.up()
        pasts = float(page.locator(PLANE).get_attribute("data-effective-pasts"))
        small = float(page.locator(PLANE).get_attribute("data-step-tv"))
        delta.fill("200")
        delta.dispatch_event("input")
        large = float(page.locator(PLANE).get_attribute("data-step-tv"))
        page.locator(f"{PLANE} input[name=arrows][value=eps]").check()
        page.locator(f"{PLANE} input.learned").check()
        page.locator("#plane-t input[type=range]").focus()
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        page.locator(f"{PLANE} input[name=mode][value=launch]").check()
        page.mouse.click(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"])
        page.wait_for_selector(f"{PLANE}[data-particles=done]", timeout=30_000)
        page.locator(f"{PLANE} input.eta").fill("0.5")
        page.locator(f"{PLANE} input.eta").dispatch_event("input")
        page.locator(f"{PLANE} button.cloud").click()
        page.wait_for_selector(f"{PLANE}[data-particles=running]", timeout=10_000)
        page.wait_for_selector(f"{PLANE}[data-particles=done]", timeout=60_000)
        time.sleep(0.5)
    finally:
        page.remove_listener("request", count)
    assert not sent, sent
    assert page.locator(PLANE).get_attribute("data-t") == "295"
    assert pasts > 1 and small < 0.02 < 0.1 < large, (pasts, small, large)
    # the cloud reached the data: most particles end near a data point, on both fields
    near = page.evaluate(
        f"""() => {{ const api = document.querySelector("{PLANE}").api, data = api.state.data;
        return ["exact", "learned"].map((kind) => api.state.sim.runs[kind].paths.filter((p) => {{
          const [x, y] = p.at(-1); let best = Infinity;
          for (let k = 0; k < data.size; k++) {{
            best = Math.min(best, Math.hypot(x - data.means[2 * k], y - data.means[2 * k + 1]));
          }}
          return best < 0.2; }}).length / api.state.sim.runs[kind].paths.length); }}"""
    )
    assert min(near) > 0.9, near
    delta.fill("1")
    delta.dispatch_event("input")


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["laptop", "projector"])
def test_the_2d_world_fits_the_screen_and_is_drawn(browser, url, size, tmp_path):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url + "?view=2d&data=moons&t=300", wait_until="load")
    page.wait_for_selector(f"{PLANE}[data-t='300'][data-data='moons']", timeout=60_000)
    plane = page.locator(f"{PLANE} canvas[data-plot=plane]")
    plane.scroll_into_view_if_needed()
    for name in ("plane", "step", "gauss", "exact", "learned"):
        box = page.locator(f"{PLANE} canvas[data-plot={name}]").bounding_box()
        assert box["width"] > 140 and box["x"] + box["width"] <= size[0], (name, box)
    # the density is drawn: the plane's centre is darker than its corner
    shade = page.evaluate(
        f"""() => {{ const c = document.querySelector("{PLANE} canvas[data-plot=plane]");
        const g = c.getContext("2d");
        const at = (u, v) => g.getImageData(Math.round(u * c.width), Math.round(v * c.height), 1, 1).data[0];
        return [at(0.5, 0.5), at(0.02, 0.98)]; }}"""
    )
    assert shade[0] < shade[1], shade
    screenshot(page, f"lesson-2d-{size[0]}", tmp_path, full_page=False)
    page.close()


def test_drawn_points_train_a_network_the_page_then_uses(browser, url, monkeypatch):
    from ddpm.views.lessons import plane as plane_lesson

    monkeypatch.setattr(plane_lesson, "STEPS", 400)  # the page's 12,000 steps take about 30 s
    monkeypatch.setattr(plane_lesson, "TRAIN_EVERY", 100)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(url + "?view=2d&data=drawn&t=50", wait_until="load")
    page.wait_for_selector(f"{PLANE}[data-data='drawn'][data-t='50']", timeout=60_000)
    assert page.locator("#plane-train").is_visible()
    page.locator(f"{PLANE} input[name=mode][value=draw]").check()
    plane = page.locator(f"{PLANE} canvas[data-plot=plane]")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    for i in range(60):
        page.mouse.move(
            box["x"] + (0.2 + 0.01 * i) * box["width"], box["y"] + (0.5 - 0.005 * i) * box["height"]
        )
    page.mouse.up()
    drawn = page.evaluate(f"() => document.querySelector('{PLANE}').points()")
    assert len(drawn) >= 5

    def pick(name: str) -> None:  # the data radio (a request for the data set, not for drawing)
        page.locator(f"#plane-data label:has-text('{name}')").click()
        page.wait_for_selector(f"{PLANE}[data-data='{name}']", timeout=60_000)

    api = f"document.querySelector('{PLANE}').api"
    learned_at = f"() => {api}.mlpEps({api}.state.net, 0.3, 0.1, 40)"
    pick("circle")
    pick("drawn")  # a preset's network is not the drawn points' network
    assert page.evaluate(f"() => {api}.state.net === null")
    assert page.evaluate(f"() => document.querySelector('{PLANE}').points().length") == len(drawn)
    page.locator("#plane-train").click()
    page.wait_for_function(
        f"() => document.querySelector('{PLANE} .training-text')?.textContent.startsWith('Trained')",
        timeout=120_000,
    )
    assert page.locator(f"{PLANE} .training progress").get_attribute("value") == "400"
    assert page.evaluate(f"() => {api}.state.net !== null")
    assert page.evaluate(f"() => document.querySelector('{PLANE}').points().length") == len(drawn)
    trained = page.evaluate(learned_at)
    pick("moons")
    assert page.evaluate(learned_at) != trained  # the moons' own network
    pick("drawn")
    assert page.evaluate(learned_at) == trained  # the network trained on the drawn points again
    # a training's report that arrives late, while a preset is on screen, leaves the view alone and
    # gives the drawn points its network
    from ddpm.teaching.plane import World
    from ddpm.toy import mlp, plane
    from ddpm.views.lessons.plane_player import plane_value

    other = mlp.shipped("circle")
    report = mlp.Progress(400, 400, [0.5], 1.0, other, True)
    late = plane_value(World(plane.Data2D.points(np.array(drawn)), other, None), "drawn", report, 100)
    pick("moons")
    moons = page.evaluate(learned_at)
    page.evaluate(f"(value) => {api}.load(value)", late)
    assert page.locator(PLANE).get_attribute("data-data") == "moons" and page.evaluate(learned_at) == moons
    pick("drawn")
    assert page.evaluate(learned_at) not in (trained, moons)
    page.close()


def test_the_2d_benchmarks_script_runs_in_the_page(plane_page):
    """python -m ddpm.bench.plane times these actions; its script must keep working with the page."""
    from ddpm.bench.plane import TIMINGS

    timings = plane_page.evaluate(TIMINGS, [1])
    keys = {"t_change", "drag_delta_1", "drag_delta_200", "launch", "cloud", "network_us"}
    assert set(timings) == keys and all(value > 0 for value in timings.values()), timings
    assert plane_page.locator(PLANE).get_attribute("data-particles") == "done"


def test_the_2d_world_in_the_large_layout_has_no_text_below_the_floor(browser, url, tmp_path):
    """Its controls, captions and the canvases' own text (drawn at the player's font size)."""
    from ddpm.views.kit.style import FONT_FLOOR_PX

    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + "?view=2d&data=moons&t=300&lecture=1", wait_until="load")
    page.wait_for_selector(f"{PLANE}[data-t='300'][data-data='moons']", timeout=60_000)
    page.wait_for_function("() => document.body.classList.contains('lecture')")
    sizes = page.evaluate(f"""() => {{
        const root = document.querySelector("{PLANE}"), out = [];
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {{
            const element = node.parentElement;
            if (!node.textContent.trim() || element.offsetParent === null) continue;
            out.push([node.textContent.trim().slice(0, 40), parseFloat(getComputedStyle(element).fontSize)]);
        }}
        return {{text: out, canvas: parseFloat(getComputedStyle(root).fontSize)}};
    }}""")
    assert len(sizes["text"]) > 10
    below = [(text, size) for text, size in sizes["text"] if size < FONT_FLOOR_PX - 0.01]
    assert not below and sizes["canvas"] >= FONT_FLOOR_PX, (below, sizes["canvas"])
    page.locator(f"{PLANE} canvas[data-plot=plane]").scroll_into_view_if_needed()
    screenshot(page, "lesson-2d-1366-lecture", tmp_path, full_page=False)
    page.close()
