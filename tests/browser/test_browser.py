"""The app in a real browser: Playwright driving Debian's Chromium (no browser download).

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw; the docs' pictures come from
``python scripts/screenshots.py``, which takes each once its view's result is complete.
"""

import math
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import gradio as gr
import numpy as np
import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
from ddpm.bench.local import chromium, free_port  # noqa: E402

CHROMIUM = chromium()
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.slow,  # each test drives the app in Chromium
]

from ddpm.data import training_digits  # noqa: E402
from ddpm.images import digit_tensor, to_display  # noqa: E402
from ddpm.serve import compute  # noqa: E402
from ddpm.serve.runtime import diffusion_cpu  # noqa: E402
from ddpm.teaching.common import seeded_noise  # noqa: E402
from ddpm.teaching.forward import forward_view, schedule_values  # noqa: E402
from ddpm.views import generate as generate_view  # noqa: E402
from ddpm.views.digits import bundled_of_class, default_digit  # noqa: E402
from ddpm.views.forward import values_markdown  # noqa: E402
from ddpm.views.forward_player import READOUT  # noqa: E402
from ddpm.views.kit import style  # noqa: E402
from ddpm.views.kit.players import chain_player, chain_value  # noqa: E402

PLAYER = "#forward-player .ddpm-forward"


def running_chains() -> int:
    """Chains computing in this process: each is a task of the compute thread's scheduler
    (ddpm.serve.stream.paced)."""
    return compute.SCHEDULER.tasks()


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


def screenshot(page, name: str, tmp_path: Path, full_page: bool = True, jpeg: bool = False) -> Path:
    """Save what the page shows: under tmp_path, or in $DDPM_SCREENSHOTS (docs/screenshots) to
    regenerate the README's pictures. ``jpeg``: the views at each size and layout (a fifth the bytes)."""
    folder = Path(os.environ.get("DDPM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{'jpg' if jpeg else 'png'}"
    options = {"type": "jpeg", "quality": 80} if jpeg else {}
    page.screenshot(path=str(path), full_page=full_page, **options)
    return path


def test_slider_moves_the_noisy_image(page, tmp_path):
    before = canvas_pixels(page, f"{PLAYER} canvas[data-image=xt]")
    slider = page.locator("#forward-t input[type=range]")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    assert page.locator("#forward-t input[type=number]").input_value() == "255"
    assert page.locator(PLAYER).get_attribute("data-t") == "255"
    assert not np.array_equal(canvas_pixels(page, f"{PLAYER} canvas[data-image=xt]"), before)
    assert screenshot(page, "forward", tmp_path).stat().st_size > 10_000


# -- the forward player: drawn in the page, the core's numbers, no request ------------------------

READ_CANVAS = """([selector, height, width]) => {
    const canvas = document.querySelector(selector);
    const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const grey = [];
    for (let i = 0; i < height; i++) {
        for (let j = 0; j < width; j++) {  // the centre of each drawn pixel
            const y = Math.floor(((i + 0.5) * canvas.height) / height);
            const x = Math.floor(((j + 0.5) * canvas.width) / width);
            grey.push(rgba[4 * (y * canvas.width + x)]);
        }
    }
    return grey;
}"""

SET_T = """(t) => {  // as the page's JS (kit/static/page.js) steps a slider: set the value, dispatch input
    const slider = document.querySelector("#forward-t input[type=range]");
    slider.value = String(t);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
}"""


def canvas_pixels(page, selector: str, height: int = 28, width: int = 28) -> np.ndarray:
    """A canvas' grey levels, one per drawn image pixel: uint8 [height, width]."""
    grey = page.evaluate(READ_CANVAS, [selector, height, width])
    return np.array(grey, dtype=np.uint8).reshape(height, width)


def wait_for_canvas(page, name: str, want: np.ndarray) -> None:
    """Wait until the forward player's canvas ``name`` shows ``want`` (uint8 [28, 28]), e.g. new data."""
    selector = f"{PLAYER} canvas[data-image={name}]"
    page.wait_for_function(
        f"(want) => ({READ_CANVAS})(['{selector}', 28, 28]).every((v, i) => v === want[i])",
        arg=want.flatten().tolist(),
        timeout=30_000,
    )


def show_forward_at(page, t: int) -> None:
    page.get_by_role("tab", name="1 · Forward: adding noise").click()
    page.evaluate(SET_T, t)
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.t === '{t}'")


@pytest.mark.parametrize("t", [0, 1, 10, 250, 999, 1000])
def test_the_forward_player_draws_the_cores_images_and_values(page, t):
    diffusion = diffusion_cpu()
    assert t <= diffusion.num_timesteps
    show_forward_at(page, t)
    x0 = digit_tensor(default_digit())
    noise = seeded_noise(x0.shape, int(page.locator("#forward-seed input").input_value()))
    x_t = x0 if t == 0 else diffusion.q_sample(x0, t - 1, noise)
    drawn = canvas_pixels(page, f"{PLAYER} canvas[data-image=xt]").astype(int)
    assert np.abs(drawn - to_display(x_t)[0, 0]).max() <= 1
    assert np.array_equal(drawn, to_display(x_t)[0, 0])  # the float32 sum and to_display, replicated exactly
    view = forward_view(diffusion, x0, t, noise)
    for name, image, low in [("x0", view.x0, -1), ("eps", view.noise, -3), ("signal", view.signal, -1),
                             ("scaled", view.scaled_noise, -1)]:  # fmt: skip
        assert np.array_equal(canvas_pixels(page, f"{PLAYER} canvas[data-image={name}]"),
                              to_display(image, low, -low)[0, 0]), name  # fmt: skip
    table = page.locator(f"{PLAYER} .readout")
    assert table.locator("h3").inner_text() == f"t = {t}"
    markdown = values_markdown(view.values)
    if t == 0:
        assert table.locator("p.clean").is_visible() and not table.locator("table").is_visible()
        assert "The clean digit: ᾱ₀ = 1, no noise yet." in markdown
    else:
        cells = [table.locator(f"td[data-value={name}]").inner_text() for name in READOUT]
        assert cells == markdown.splitlines()[-1].strip("| ").split(" | ")


def test_the_forward_readout_is_values_markdown_at_every_t(page):
    diffusion = diffusion_cpu()
    T = diffusion.num_timesteps
    rows = page.evaluate(
        f"(T) => Array.from({{ length: T + 1 }}, (_, t) => document.querySelector('{PLAYER}').readout(t))", T
    )
    assert rows[0] is None  # t = 0: the clean digit's message
    for t in range(1, T + 1):
        expected = values_markdown(schedule_values(diffusion, t)).splitlines()[-1].strip("| ").split(" | ")
        assert [rows[t][name] for name in READOUT] == expected, t


def test_moving_the_forward_slider_sends_no_request(page, url):
    show_forward_at(page, 100)
    host = urlsplit(url).netloc
    sent: list[str] = []

    def count(request):
        if urlsplit(request.url).netloc == host:
            sent.append(request.url)

    slider = page.locator("#forward-t input[type=range]")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.on("request", count)
    try:
        page.mouse.move(box["x"] + 0.2 * box["width"], y)
        page.mouse.down()
        for i in range(40):  # a drag across most of the slider
            page.mouse.move(box["x"] + (0.2 + 0.6 * i / 39) * box["width"], y)
        page.mouse.up()
        dragged = int(page.locator(PLAYER).get_attribute("data-t"))
        slider.focus()
        for _ in range(10):  # the slider's own keys
            slider.press("ArrowRight")
        page.locator("h1").first.click()
        page.keyboard.press("Shift+ArrowLeft")  # the page's keys (kit/static/page.js)
        time.sleep(1.0)
    finally:
        page.remove_listener("request", count)
    assert not sent, sent
    assert 500 < dragged < 900
    assert page.locator(PLAYER).get_attribute("data-t") == str(dragged)
    assert page.locator("#forward-t input[type=number]").input_value() == str(dragged)


def test_a_forward_frame_is_drawn_within_a_display_frame(page):
    show_forward_at(page, 300)
    slider = page.locator("#forward-t input[type=range]")
    slider.focus()
    keys = []
    for _ in range(30):
        slider.press("ArrowRight")
        keys.append(float(page.locator(PLAYER).get_attribute("data-draw-ms")))
    dispatched = page.evaluate(f"""() => {{
        const slider = document.querySelector("#forward-t input[type=range]"), ms = [];
        for (let t = 400; t < 600; t++) {{
            slider.value = String(t);
            slider.dispatchEvent(new Event("input", {{ bubbles: true }}));
            ms.push(Number(document.querySelector('{PLAYER}').dataset.drawMs));
        }}
        return ms;
    }}""")
    assert page.locator(PLAYER).get_attribute("data-t") == "599"
    # input event -> frame drawn: about a millisecond. On a loaded machine the OS may pause the
    # browser mid-draw now and then, so the bound is on the 95th percentile, not on every frame.
    ms = sorted(keys + dispatched)
    assert ms[len(ms) // 2] < 4 and ms[int(0.95 * len(ms))] < 16, (ms[len(ms) // 2], ms[-10:])


def test_the_forward_players_fullscreen_button_shows_the_player_fullscreen(page):
    page.get_by_role("tab", name="1 · Forward: adding noise").click()
    page.locator(f"{PLAYER} button.fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement?.classList.contains('ddpm-forward')")
    page.locator(f"{PLAYER} button.fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement === null")


def test_new_noise_and_a_typed_seed_send_the_player_their_epsilon(page):
    show_forward_at(page, 500)
    seed = page.locator("#forward-seed input")
    start = int(seed.input_value())

    def wait_for_noise(value: int) -> None:
        wait_for_canvas(page, "eps", to_display(seeded_noise((1, 1, 28, 28), value), -3, 3)[0, 0])

    page.get_by_role("button", name="New noise").click()
    page.wait_for_function(f"() => document.querySelector('#forward-seed input').value === '{start + 1}'")
    wait_for_noise(start + 1)
    seed.fill(str(start))
    seed.press("Enter")
    wait_for_noise(start)
    assert page.locator(PLAYER).get_attribute("data-t") == "500"


@pytest.mark.parametrize("t", [250, 600])
def test_a_deep_link_sets_the_forward_player(browser, url, t):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + f"?view=forward&t={t}&digit=3", wait_until="load")
    page.wait_for_function(f"() => document.querySelector('{PLAYER}')?.dataset.t === '{t}'", timeout=60_000)
    digit = bundled_of_class(3, 0)
    wait_for_canvas(page, "x0", digit)  # the server sends the new digit's x_0 and ε once
    x0 = digit_tensor(digit)
    x_t = diffusion_cpu().q_sample(x0, t - 1, seeded_noise(x0.shape, 0))
    assert np.array_equal(canvas_pixels(page, f"{PLAYER} canvas[data-image=xt]"), to_display(x_t)[0, 0])
    assert page.locator(f"{PLAYER} .readout h3").inner_text() == f"t = {t}"
    page.close()


CATCH_STREAMED_FRAME = """() => {
    const box = document.querySelector("#generate-xt");
    window.streamedFrameFit = new Promise(resolve => {
        new MutationObserver((_, observer) => {
            const img = box.querySelector("img");
            if (img && img.getAttribute("src").startsWith("data:image/png;base64,")) {
                observer.disconnect();
                resolve(getComputedStyle(img).objectFit);
            }
        }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
    });
}"""


def test_a_short_generation_runs_to_the_end(page, tmp_path):
    page.get_by_role("tab", name="3 · Generate").click()
    page.locator("#generate-sampler").get_by_text("DDIM").click()
    steps = page.locator("#generate-steps input[type=number]")
    steps.fill("60")  # long enough to stream a few frames
    steps.press("Enter")
    page.evaluate(CATCH_STREAMED_FRAME)
    page.locator("#generate-run").click()
    page.wait_for_selector("#generate-status :text('done')", timeout=60_000)
    time.sleep(0.5)
    assert "60 steps" in page.locator("#generate-status").inner_text()
    # streamed frames come inside the stream and fill the box; the last is a file, to download
    timeout = "new Promise((r) => setTimeout(() => r('none'), 10000))"
    fit = f"() => Promise.race([window.streamedFrameFit, {timeout}])"
    assert page.evaluate(fit) == "contain"  # 'none': no frame came inside the stream
    assert "/file=" in page.locator("#generate-xt img").get_attribute("src")
    player = "#generate-player .ddpm-chain"
    page.wait_for_selector(f"{player}[data-frames='60']", timeout=30_000)  # DDIM-60: every step kept
    assert screenshot(page, "generate", tmp_path).stat().st_size > 10_000
    # a new run: the old "done" line goes at once, before the new run's first frame
    page.evaluate(RECORD_STATUS, "#generate-status")
    page.locator("#generate-seed input").fill("1")
    page.locator("#generate-run").click()
    done = "() => window.statusTexts.slice(1).some((s) => s.includes('done'))"
    page.wait_for_function(done, timeout=60_000)
    old, *texts = page.evaluate("window.statusTexts")
    assert "done" in old and texts[0] == "Starting…" and not any("done" in s for s in texts[:-1]), texts
    # the run's last output (its player) in place: a click while the event is pending would be dropped
    page.wait_for_selector(f"{player}[data-frames='60']", timeout=30_000)


@pytest.mark.parametrize(
    ("view", "link", "running"),
    [("generate", "seed=7&sampler=ddpm", "/ 1000"), ("reverse", "t=1000&seed=7", " of 1000 ·")],
    ids=["generate", "reverse"],
)
def test_stop_ends_the_pages_chain_and_has_the_last_word(browser, url, view, link, running):
    """Stop cancels the Run's chain (the step after its queue-less "Starting…"): the chain's thread
    ends, and "Stopped." comes after the stream's last frame (ddpm.views.kit.widgets.run_chain)."""
    # its own page, whose link presses Run on open: 1000 steps, longer than the test takes to stop it
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + f"?view={view}&{link}", wait_until="load")
    # "k / 1000" (or "k of 1000") and no "done" is this chain running
    status = page.locator(f"#{view}-status")
    deadline, text = time.time() + 120, ""
    while not (running in text and "done" not in text) and time.time() < deadline:
        time.sleep(0.05)
        text = status.inner_text()
    assert running in text and "done" not in text, text
    assert running_chains() >= 1  # the chain (and perhaps a frame's grids being drawn, a task too)
    page.evaluate(RECORD_STATUS, f"#{view}-status")
    page.get_by_role("button", name="Stop").filter(visible=True).click()
    page.wait_for_selector(f"#{view}-status :text('Stopped.')", timeout=10_000)
    deadline = time.time() + 10
    while running_chains() and time.time() < deadline:
        time.sleep(0.05)
    assert running_chains() == 0
    page.wait_for_timeout(1500)  # a chain still running would have sent frames over "Stopped." by now
    texts = page.evaluate("window.statusTexts")
    assert texts[-1].endswith("Stopped.") and sum(text.endswith("Stopped.") for text in texts) == 1, texts
    page.close()


RECORD_STATUS = """(selector) => {
    const box = document.querySelector(selector);
    const read = () => (box.querySelector(".prose") || box).innerText.trim();  // not Gradio's timer
    window.statusTexts = [read()];  // the last run's, then each new text
    new MutationObserver(() => {
        const text = read();
        if (text && text !== window.statusTexts.at(-1)) window.statusTexts.push(text);
    }).observe(box, {subtree: true, childList: true, characterData: true});
}"""


def test_exact_and_learned_chains_run_side_by_side_then_stay_in_the_player(page, tmp_path):
    page.get_by_role("tab", name="2 · Reverse: exact vs learned").click()
    start = page.locator("#reverse-t input[type=number]")
    start.fill("60")
    start.press("Enter")
    page.locator("#reverse-run").click()
    page.wait_for_selector("#reverse-status :text('done')", timeout=120_000)
    assert "step 60 of 60" in page.locator("#reverse-status").inner_text()
    player = "#reverse-player .ddpm-chain"
    page.wait_for_selector(f"{player}[data-frames='61']", timeout=30_000)
    assert page.locator(player).get_attribute("data-frame") == "60"  # opens on t = 0, the end
    exact = f"{player} canvas[data-series='exact q: xₜ']"
    assert np.array_equal(canvas_pixels(page, exact), default_digit())  # the exact chain's x_0
    page.locator(exact).click()  # focus the player: ← goes back one reverse step
    page.keyboard.press("ArrowLeft")
    assert page.locator(player).get_attribute("data-frame") == "59"
    assert page.locator(f"{player} .time").inner_text() == "t = 1"
    assert screenshot(page, "reverse", tmp_path).stat().st_size > 10_000


def test_the_third_chain_shows_its_row_while_its_box_is_ticked_and_lands_on_a_training_digit(page):
    page.get_by_role("tab", name="2 · Reverse: exact vs learned").click()
    assert not page.locator("#reverse-truth-row").is_visible()  # off by default
    page.locator("#reverse-truth input").check()
    page.wait_for_selector("#reverse-truth-row", state="visible", timeout=10_000)
    start = page.locator("#reverse-t input[type=number]")
    start.fill("30")
    start.press("Enter")
    page.locator("#reverse-run").click()
    page.wait_for_selector("#reverse-truth-text :text('landed on training digit')", timeout=120_000)
    player = "#reverse-player .ddpm-chain"
    page.wait_for_selector(f"{player}[data-frames='31']", timeout=30_000)
    landed = int(page.locator("#reverse-truth-text").inner_text().split("#")[1].split()[0].replace(",", ""))
    truth = canvas_pixels(page, f"{player} canvas[data-series='true reverse: xₜ']")
    assert np.array_equal(truth, training_digits().images[landed].numpy())  # pixel for pixel
    page.locator("#reverse-truth input").uncheck()
    page.wait_for_selector("#reverse-truth-row", state="hidden", timeout=10_000)


def test_nothing_is_fetched_from_the_internet(requested, url):
    _, urls = requested
    host = urlsplit(url).netloc
    outside = [
        u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
    ]
    assert len(urls) > 5 and not outside, outside


def test_arrow_keys_step_the_timestep_when_not_typing(page):
    page.get_by_role("tab", name="1 · Forward: adding noise").click()
    number = page.locator("#forward-t input[type=number]")
    before = int(number.input_value())
    page.locator("h1").first.click()  # focus on the page, not on a field
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function(
        f"() => document.querySelector('#forward-t input[type=number]').value === '{before + 11}'"
    )


def test_a_deep_link_opens_the_view_it_names(browser, url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + "?view=reverse&digit=2&t=500&seed=3&lecture=1", wait_until="load")
    page.wait_for_function("() => document.querySelector('#reverse-t input[type=number]')?.value === '500'",
                           timeout=60_000)  # fmt: skip
    assert page.locator("#reverse-seed input").input_value() == "3"
    assert page.locator("#digit-class input[value='2']").is_checked()
    assert "lecture" in page.evaluate("document.body.className")
    page.locator("#copy-link").click()
    page.wait_for_function(
        "() => document.querySelector('#link textarea, #link input')?.value.includes('view=')"
    )
    link = page.locator("#link textarea, #link input").first.input_value()
    assert "view=reverse" in link and "digit=2" in link and "lecture=1" in link
    # and it opens with its result: both chains, every step in the player, without a click
    page.wait_for_selector("#reverse-player .ddpm-chain[data-frames='501']", timeout=300_000)
    assert "done" in page.locator("#reverse-status").inner_text()
    screenshot(page, "lecture", tmp_path)
    page.close()


# every view's settings, each away from its default, chosen to compute fast; and what shows the result done
COPIED = {
    "forward": ({"digit": 3, "k": 1, "t": 37, "seed": 5}, f"{PLAYER}[data-t='37']"),
    "reverse": (
        {
            "digit": 3,
            "k": 1,
            "t": 12,
            "seed": 5,
            "variance": "fixed_large",
            "told": 1,
            "truth": 1,
            "inspect_t": 7,
        },
        "#reverse-player .ddpm-chain[data-frames='13']",
    ),
    "generate": (
        {"n": 4, "sampler": "ddim", "steps": 6, "eta": 0.5, "ask": 3, "guidance": 1.5, "seed": 5},
        "#generate-player .ddpm-chain[data-frames='6']",
    ),
    "small-steps": (
        {"data": "custom", "means": "-0.5, 0.4", "std": 0.1, "T": 10, "t": 7, "seed": 5},
        ":text('T = 10: Σ KL')",  # not the first draw: the data set changes before T and t
    ),
    "schedules": (
        {"digit": 3, "k": 1, "t": 1500, "T": 2000, "seed": 5},
        "#schedules-table :text('t = 1500 of T = 2000')",
    ),
    "parameterizations": (
        {"digit": 3, "k": 1, "t": 12, "seed": 5, "told": 1},
        "#parameterizations-chain img",
    ),
    "bits-per-dim": ({"digit": 3, "k": 1, "seed": 5, "told": 1}, "#bits-per-dim-plot img"),
    "noise-error": ({"seed": 5}, "#noise-error-plot img"),
    "many-pasts": ({"digit": 3, "k": 1, "t": 12, "chains": 3, "seed": 5, "told": 1}, "#many-pasts-grid img"),
    "readout": ({"seed": 5}, "#readout-plot img[src*='file=']"),  # the last frame's plot is a file
    "memorisation": ({"seed": 5, "subset": 10}, "#memorisation-status :text('done')"),
    "2d": (
        {"data": "spiral", "t": 40, "seed": 5},
        "#plane-player .ddpm-plane[data-t='40'][data-data='spiral']",
    ),
}

DRAWN_ON_OPEN = ("small-steps", "schedules", "noise-error")
"""The lessons that draw themselves when a link opens them (no Run to press)."""

RESULT = r"""async () => {  // what the page shows: every image's bytes, every canvas' pixels, every text
    const shown = (e) => e.offsetParent !== null && !e.closest("#link");
    const hash = async (buffer) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer)),
        (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
    const seen = [];
    for (const img of document.querySelectorAll("img[src]")) {
        if (shown(img)) seen.push("img " + await hash(await (await fetch(img.src)).arrayBuffer()));
    }
    for (const canvas of document.querySelectorAll("canvas")) {
        const context = shown(canvas) && canvas.width && canvas.getContext("2d");
        if (context) {
            seen.push("canvas " + await hash(context.getImageData(0, 0, canvas.width, canvas.height).data));
        }
    }
    for (const text of document.querySelectorAll(".prose")) {  // times differ: "1.2 s"
        if (shown(text)) seen.push(text.innerText.replace(/\d+(\.\d+)? ?s\b/g, "… s"));
    }
    return seen;
}"""


def open_shown(browser, link: str, done: str):
    """A fresh page on ``link`` once it shows its result (``done``), and what it shows."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(link, wait_until="load")
    page.wait_for_selector(done, state="attached", timeout=300_000)
    page.wait_for_timeout(1500)  # the last frame drawn, the players settled
    assert page.get_by_text("Link ignored").count() == 0
    return page, page.evaluate(RESULT)


def open_copied(browser, link: str, done: str):
    """A fresh page on ``link`` once it shows its result (``done``), what it shows, and its Copy link."""
    page, shown = open_shown(browser, link, done)
    page.locator("#copy-link").click()
    page.wait_for_function(
        "() => document.querySelector('#link textarea, #link input')?.value.includes('view=')"
    )
    copied = page.locator("#link textarea, #link input").first.input_value()
    page.close()
    return shown, copied


@pytest.mark.parametrize("view", list(COPIED))
def test_copy_link_reopens_what_is_on_screen(browser, url, view):
    """A link sets every setting of a view away from its default; its page's Copy link names them all
    with the values its controls read; that link opens a fresh page with the same inputs (its own
    Copy link is the same) and the same result (the same images, canvases and texts)."""
    settings, done = COPIED[view]
    shown, copied = open_copied(browser, url + "?" + urlencode({"view": view, **settings}), done)
    query = dict(parse_qsl(urlsplit(copied).query))
    assert query == {"view": view, **{name: str(value) for name, value in settings.items()}}
    again, copied_again = open_copied(browser, copied, done)
    assert copied_again == copied
    assert again == shown and len(shown) > 3
    if view in DRAWN_ON_OPEN:  # drawn with the link's seed, not with the one the page had before it
        page, unseeded = open_shown(
            browser, url + "?" + urlencode({"view": view, **settings, "seed": 0}), done
        )
        page.close()
        assert unseeded != shown


@pytest.mark.parametrize(
    ("tab", "button", "result"),
    [
        ("Small steps", None, "#small-steps-density img"),
        ("Schedules & SNR", None, "#schedules-t"),
        ("Parameterizations", "#parameterizations-run", "#parameterizations-chain img"),
        ("Bits per dim", "#bits-per-dim-run", "#bits-per-dim-plot img"),
        ("Noise error", None, "#noise-error-plot img"),
        ("Many pasts", "#many-pasts-run", "#many-pasts-grid img"),
        ("When is it a digit?", "#readout-run", "#readout-plot img"),
        ("True reverse", "#memorisation-run", "#memorisation-plot img"),
    ],
)
def test_every_lesson_runs(page, tab, button, result, tmp_path):
    page.get_by_role("tab", name="4 · Lessons").click()
    page.get_by_role("tab", name=tab).click()
    if button:
        page.locator(button).click()
    # the true reverse (two sets of 16 chains of 1,000 steps) took 49-77 s on 2 cores: room for slower ones
    page.wait_for_selector(result, timeout=300_000)
    time.sleep(0.5)  # let a streamed view draw its last frame
    screenshot(page, "lesson-" + tab.split()[0].lower().strip("?&"), tmp_path)


# -- the chain player, on a page of its own (no model) ----------------------------------------------

CHAIN = "#chain .ddpm-chain"
N_FRAMES = 40


def known_frames(n: int = N_FRAMES, shift: int = 0) -> dict[str, np.ndarray]:
    """Two series of n frames [12, 10] whose pixels tell the frame they belong to."""
    k, i, j = np.ogrid[:n, :12, :10]
    first = ((6 * k + 10 * i + j + shift) % 256).astype(np.uint8)
    return {"exact q": first, "learned p_θ": 255 - first}


@pytest.fixture(scope="module")
def chain_page(browser):
    frames = known_frames()
    with gr.Blocks() as demo:
        gr.Slider(0, 10, value=5, step=1, elem_id="other-t", elem_classes=["timestep"])
        player = chain_player("chain", height=120, value=chain_value(frames, list(range(N_FRAMES, 0, -1))))
        chain_player("chain-empty", hint="Nothing to play yet.")
        swap = gr.Button("Swap", elem_id="chain-swap")
        another = chain_value(known_frames(7, shift=3), list(range(7)), label="step", start=6)
        swap.click(lambda: another, None, player)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, js=style.JS
    )
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(url, wait_until="load")
    page.wait_for_selector(f"{CHAIN}[data-frame]", timeout=60_000)
    yield page, urlsplit(url).netloc, frames
    page.close()
    demo.close()


def test_the_chain_players_fullscreen_button_shows_the_player_fullscreen(chain_page):
    page, _, _ = chain_page
    page.locator(f"{CHAIN} button.fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement?.closest('#chain') !== null"
                           " && document.fullscreenElement?.classList.contains('ddpm-chain')")  # fmt: skip
    page.locator(f"{CHAIN} button.fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement === null")


def chain_frame(page, name: str) -> np.ndarray:
    return canvas_pixels(page, f"{CHAIN} canvas[data-series='{name}']", 12, 10)


def scrub(page, k: int) -> None:
    page.evaluate(f"""() => {{
        const scrubber = document.querySelector("{CHAIN} .scrub input");
        scrubber.value = "{k}";
        scrubber.dispatchEvent(new Event("input", {{ bubbles: true }}));
    }}""")


def test_the_chain_player_shows_the_frame_scrubbed_to(chain_page):
    page, _, frames = chain_page
    assert page.locator(CHAIN).get_attribute("data-frames") == str(N_FRAMES)
    for k in (0, 7, 23, N_FRAMES - 1):
        scrub(page, k)
        assert page.locator(CHAIN).get_attribute("data-frame") == str(k)
        for name, series in frames.items():
            assert np.array_equal(chain_frame(page, name), series[k]), (name, k)
        assert page.locator(f"{CHAIN} .time").inner_text() == f"t = {N_FRAMES - k}"
    assert page.locator("#chain-empty .hint").inner_text() == "Nothing to play yet."
    empty = page.locator("#chain-empty")
    assert empty.locator(".hint").is_visible() and not empty.locator(".controls").is_visible()


def test_the_chain_players_keys_step_one_frame_and_leave_the_page_slider_alone(chain_page):
    page, _, frames = chain_page
    scrub(page, 10)
    page.locator(f"{CHAIN} canvas").first.click()  # focus the player
    frame = lambda: int(page.locator(CHAIN).get_attribute("data-frame"))  # noqa: E731
    page.keyboard.press("ArrowRight")
    assert frame() == 11 and np.array_equal(chain_frame(page, "exact q"), frames["exact q"][11])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert frame() == 9
    page.keyboard.press("Shift+ArrowRight")
    assert frame() == 19
    assert page.locator("#other-t input[type=number]").input_value() == "5"  # the page's handler kept out
    page.locator("#other-t input[type=range]").focus()
    page.locator("body").click(position={"x": 5, "y": 5})  # nothing focused: the page's keys
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#other-t input[type=number]').value === '6'")
    assert frame() == 19  # the first visible timestep slider moved, not the player


def test_the_chain_player_plays_and_pauses_without_a_request(chain_page):
    page, host, frames = chain_page
    sent: list[str] = []

    def count(request):
        if urlsplit(request.url).netloc == host:
            sent.append(request.url)

    page.on("request", count)
    try:
        scrub(page, 0)
        for k in range(0, N_FRAMES, 3):
            scrub(page, k)
        page.locator(f"{CHAIN} [data-action=first]").click()
        page.locator(f"{CHAIN} [data-action=play]").click()
        page.wait_for_function(f"() => Number(document.querySelector('{CHAIN}').dataset.frame) >= 10")
        page.locator(f"{CHAIN} [data-action=play]").click()  # pause
        paused = page.locator(CHAIN).get_attribute("data-frame")
        time.sleep(0.3)
        assert page.locator(CHAIN).get_attribute("data-frame") == paused
        page.locator(f"{CHAIN} [data-action=play]").click()  # runs on to the end, and stops there
        page.wait_for_function(f"() => document.querySelector('{CHAIN}').dataset.frame === '{N_FRAMES - 1}'")
        time.sleep(0.2)
        assert "playing" not in page.locator(CHAIN).get_attribute("class")
        page.locator(f"{CHAIN} [data-action=prev]").click()
        assert page.locator(CHAIN).get_attribute("data-frame") == str(N_FRAMES - 2)
    finally:
        page.remove_listener("request", count)
    assert not sent, sent
    assert np.array_equal(chain_frame(page, "learned p_θ"), frames["learned p_θ"][N_FRAMES - 2])
    assert float(page.locator(CHAIN).get_attribute("data-draw-ms")) < 16


def test_a_new_chain_from_the_server_replaces_the_frames(chain_page):
    page, _, _ = chain_page
    page.locator("#chain-swap").click()
    page.wait_for_function(f"() => document.querySelector('{CHAIN}').dataset.frames === '7'", timeout=30_000)
    new = known_frames(7, shift=3)
    assert page.locator(CHAIN).get_attribute("data-frame") == "6"  # its start frame
    assert np.array_equal(chain_frame(page, "exact q"), new["exact q"][6])
    assert page.locator(f"{CHAIN} .time").inner_text() == "step = 6"


# -- lecture-ready layout ---------------------------------------------------------------------------

FIRST_SCREEN = {  # view: (its main images, each with its label; its player's controls)
    "forward": (f"{PLAYER} .panels figure", "#forward-t"),  # the five panels; t's slider drives them
    "reverse": ("#reverse-player .strip figure", "#reverse-player .controls"),
    "generate": ("#generate-player .strip figure", "#generate-player .controls"),
}
LINKS = {
    "forward": "?view=forward",
    "reverse": "?view=reverse&t=5",
    "generate": "?view=generate&sampler=ddim&t=5",
}


def open_view(browser, url, view: str, size: tuple[int, int], lecture: bool):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url + LINKS[view] + ("&lecture=1" if lecture else ""), wait_until="load")
    page.wait_for_selector(f"{PLAYER}[data-t]", state="attached", timeout=60_000)
    page.wait_for_function(f"() => document.getElementById('{view}-player')?.offsetParent !== null")
    if lecture:
        page.wait_for_function("() => document.body.classList.contains('lecture')")
    page.wait_for_timeout(500)  # the layout settles (fonts, the picker's visibility)
    return page


@pytest.fixture(scope="module")
def view_pages(browser, url):
    """Pages the layout tests open once per view (by its link, at the first case's size and layout)
    and then resize and switch, as a user would, instead of loading the app for every case."""
    pages: dict = {}
    yield pages
    for page in pages.values():
        page.close()


def resize_and_switch(page, size: tuple[int, int], lecture: bool) -> None:
    """The same page at another size, in the layout asked for through its large-layout switch."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.locator("#lecture-mode input").set_checked(lecture)
    page.wait_for_function(
        f"() => innerWidth === {size[0]}"
        f" && document.body.classList.contains('lecture') === {str(lecture).lower()}"
    )


MEASURE_FIRST_SCREEN = """([images, parts]) => {  // whole boxes (getBoundingClientRect), by name
    const box = (e) => { const r = e.getBoundingClientRect();
                         return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; };
    const shown = [...document.querySelectorAll(images)].filter((e) => e.offsetParent !== null);
    const named = Object.entries(parts).map(([name, s]) => [name, box(document.querySelector(s))]);
    const lines = (p) => p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight);
    const paragraphs = parts.status ? [...document.querySelectorAll(`${parts.status} p`)].map(lines) : [];
    return { boxes: [...shown.map((e, i) => [`image ${i}`, box(e)]), ...named], paragraphs };
}"""


def first_screen(page, view: str, size: tuple[int, int], timeout: float = 120_000) -> tuple[dict, list, dict]:
    """Once the view's link has its result (a chain: done, its frames in the player that takes the
    streamed images' place), the whole boxes of its main images (each with its label) and of its
    player's controls (and for a chain: its status and Run) that do not lie on the first screen;
    the heights of the status' paragraphs in line-heights; and every box, by name."""
    images, controls = FIRST_SCREEN[view]
    parts = {"controls": controls}
    if view != "forward":  # the link's result, as the room sees it
        parts |= {"status": f"#{view}-status", "run": f"#{view}-run"}
        page.wait_for_selector(f"#{view}-status :text('done')", timeout=timeout)
        page.wait_for_selector(f"#{view}-player .ddpm-chain:not(.empty)", state="attached", timeout=30_000)
        page.wait_for_timeout(500)
        assert not page.locator(f"#{view}-images").is_visible()  # the player has the frames now
    measured = page.evaluate(MEASURE_FIRST_SCREEN, [images, parts])
    boxes = dict(measured["boxes"])
    assert len(boxes) - len(parts) == {"forward": 5, "reverse": 4, "generate": 2}[view], boxes
    assert all(b["right"] - b["left"] > 80 for name, b in boxes.items() if name.startswith("image")), boxes
    width, height = size
    off = {name: {k: round(v) for k, v in b.items()} for name, b in boxes.items()
           if b["top"] < 0 or b["bottom"] > height or b["left"] < 0 or b["right"] > width}  # fmt: skip
    return off, measured["paragraphs"], boxes


@pytest.mark.parametrize("lecture", [False, True], ids=["normal", "lecture"])
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["laptop", "projector"])
@pytest.mark.parametrize("view", ["forward", "reverse", "generate"])
def test_the_first_screen_shows_the_views_main_images(view_pages, browser, url, view, size, lecture,
                                                     tmp_path):  # fmt: skip
    """The view's main images with their labels and the controls of its player lie wholly on the
    first screen (no scrolling), at both sizes in both layouts (the large layout's promise to the
    room, docs/app.md). For the views that run a chain: the link's finished result, under Run and
    a status of at most two lines."""
    page = view_pages.get(("first screen", view))
    if page is None:  # the view's first case: its link, in the layout the case asks for
        page = view_pages["first screen", view] = open_view(browser, url, view, size, lecture)
    else:
        resize_and_switch(page, size, lecture)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(500)  # the layout settles
    off, paragraphs, boxes = first_screen(page, view, size)
    assert off == {}, (size, lecture)
    if view != "forward":  # one paragraph, of two lines at most: three would be three line-heights high
        assert len(paragraphs) == 1 and paragraphs[0] < 2.5, (paragraphs, boxes["status"])
    assert cut_slider_ends(page) == [], (size, lecture)
    if view == "generate":  # every choice of its digit dropdown is read whole, clear of the arrow
        labels = [label for label, _ in generate_view.DIGIT_CHOICES]
        assert dropdown_room(page, "#generate-digit", labels) == [], (size, lecture)
    mode = "lecture" if lecture else "normal"
    if "DDPM_SCREENSHOTS" in os.environ:  # the docs' pictures of each first screen
        screenshot(page, f"first-screen-{view}-{size[0]}-{mode}", tmp_path, full_page=False, jpeg=True)


def test_the_reference_figure_fits_the_first_screen_in_the_large_layout(browser, url):
    """The lecture's reference figure (its preset's chain: digit 7 from t = T, seed 0) at 1366×768
    in the large layout: the status, two lines and, when the learned chain ended on another digit
    (the shipped model's does), a line that says so, then the images and the player's controls,
    all on the first screen."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + PLOTS["reverse"][0] + "&lecture=1", wait_until="load")  # the plots' test's chain too
    page.wait_for_function("() => document.body.classList.contains('lecture')")
    off, paragraphs, boxes = first_screen(page, "reverse", (1366, 768), timeout=600_000)
    assert off == {}
    assert paragraphs[0] < 2.5 and all(p < 1.5 for p in paragraphs[1:]), (paragraphs, boxes["status"])
    page.close()


def cut_slider_ends(page) -> list:
    """The end labels of visible sliders (such as "1000" of Steps S) that their box cuts: each with
    its right edge and the box's, in pixels (Gradio sizes the track and lets a long label overflow)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.slider_input_container')]
            .filter((box) => box.offsetParent !== null)
            .flatMap((box) => [...box.querySelectorAll(':scope > span')].map((end) => [end, box]))
            .map(([end, box]) => [end.innerText, end.getBoundingClientRect().right,
                                  box.getBoundingClientRect().right])
            .filter(([, right, boxRight]) => right > boxRight + 1)"""
    )


def dropdown_room(page, selector: str, labels: list[str]) -> list:
    """The labels that a dropdown cannot show whole with its text clear of its arrow (Gradio draws
    the arrow over the input's right end), each with its width and the room there is, in pixels."""
    return page.evaluate(
        """([selector, labels]) => {
            const wrap = document.querySelector(`${selector} .secondary-wrap`);
            const input = wrap.querySelector(':scope > input');
            const arrow = wrap.querySelector(':scope > .icon-wrap').getBoundingClientRect();
            const style = getComputedStyle(input), box = input.getBoundingClientRect();
            const textEnd = Math.min(box.right - parseFloat(style.paddingRight), arrow.left);
            const room = Math.floor(textEnd - box.left - parseFloat(style.paddingLeft));
            const context = document.createElement('canvas').getContext('2d');
            context.font = style.font;
            return labels.map((label) => [label, Math.ceil(context.measureText(label).width), room])
                .filter(([, width]) => width > room);
        }""",
        [selector, labels],
    )


@pytest.mark.parametrize("lecture", [False, True], ids=["normal", "lecture"])
def test_the_header_is_one_line_at_1366(browser, url, lecture):
    """Title, presets, layout switch and copy link side by side, none cut (the large layout hides
    the empty link box to fit); after Copy link the link shows."""
    page = open_view(browser, url, "forward", (1366, 768), lecture)
    items = page.evaluate("""() => [...document.querySelector('#header').children]
        .filter((c) => c.offsetParent !== null).map((c) => {
            const r = c.getBoundingClientRect();
            return [c.id, Math.round(r.top + r.height / 2), c.scrollWidth <= Math.ceil(r.width) + 1];
        })""")
    assert {"title", "preset", "lecture-mode", "copy-link"} <= {name for name, _, _ in items}, items
    assert max(m for _, m, _ in items) - min(m for _, m, _ in items) <= 6 and all(w for _, _, w in items), (
        items
    )
    page.locator("#copy-link").click()
    page.wait_for_function(
        "() => document.querySelector('#link textarea, #link input')?.value.includes('view=')"
    )
    assert page.locator("#link").is_visible()
    page.close()


TAB_BARS = """() => {  // each visible bar of tabs: its tabs, and whether Gradio's "⋯" menu shows
    const own = (bar, css) => [...bar.querySelectorAll(css)].filter((e) => e.closest('.tabs') === bar);
    const whole = (b, r) => b.scrollWidth <= b.clientWidth && r.width && r.left >= 0 && r.right <= innerWidth;
    return [...document.querySelectorAll('.tabs')].filter((bar) => bar.offsetParent !== null).map((bar) => ({
        tabs: own(bar, 'button[role=tab]').map((b) => ({ label: b.innerText.trim(),
            whole: b.offsetParent !== null && whole(b, b.getBoundingClientRect()) })),
        more: own(bar, '.overflow-menu:not(.hide) [aria-label="More tabs"]').some((b) => b.offsetParent),
    }));
}"""


@pytest.mark.parametrize("lecture", [False, True], ids=["normal", "lecture"])
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["laptop", "projector"])
def test_every_tab_is_one_click_away_with_its_label_whole(browser, url, size, lecture):
    """The main tabs and all the lessons' tabs show in their bars, none behind Gradio's "⋯" overflow
    menu, each label whole (a bar too narrow wraps onto a second row): from a link that opens
    a lesson in the layout (Gradio decides the overflow as the page loads)."""
    from ddpm.views.tabs import LESSONS, LESSONS_TITLE, MAIN

    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url + "?view=small-steps" + ("&lecture=1" if lecture else ""), wait_until="load")
    page.wait_for_selector(f"{PLAYER}[data-t]", state="attached", timeout=60_000)
    page.wait_for_function(f"() => document.body.classList.contains('lecture') === {str(lecture).lower()}")
    page.wait_for_timeout(500)  # the tab bars settle (Gradio measures them after a frame)
    bars = page.evaluate(TAB_BARS)
    titles = [[tab.title for tab in MAIN] + [LESSONS_TITLE], [tab.title for tab in LESSONS]]
    assert [[tab["label"] for tab in bar["tabs"]] for bar in bars] == titles
    assert [bar["more"] for bar in bars] == [False, False]
    cut = [tab["label"] for bar in bars for tab in bar["tabs"] if not tab["whole"]]
    assert cut == [], (size, lecture)
    page.close()


@pytest.mark.parametrize("view", ["generate", "small-steps", "noise-error", "readout"])
def test_the_digit_picker_is_hidden_where_no_digit_is_used(browser, url, view):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + f"?view={view}&t=5", wait_until="load")
    page.wait_for_selector(f"{PLAYER}[data-t]", state="attached", timeout=60_000)
    hidden = "() => ((e) => !e || e.offsetParent === null)(document.getElementById('digit-picker'))"
    page.wait_for_function(hidden, timeout=10_000)
    page.get_by_role("tab", name="1 · Forward: adding noise").click()  # back to a view that reads it
    page.wait_for_function(f"() => !({hidden})()", timeout=10_000)
    page.close()


@pytest.mark.parametrize("view", ["reverse", "generate"])
def test_no_image_label_covers_its_image(browser, url, view):
    """While a chain streams (its images in their panels, a long chain: 1000 steps)."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + f"?view={view}&t=1000&seed=11&sampler=ddpm", wait_until="load")  # Run pressed on open
    page.wait_for_selector(f"#{view}-status :text('step')", timeout=120_000)
    page.wait_for_timeout(500)  # a few frames in
    overlaps = page.evaluate("""() => [...document.querySelectorAll('.block')].flatMap((block) => {
        const label = block.querySelector(':scope > label[data-testid=block-label]:not(.sr-only)');
        const image = block.querySelector('.image-container img');
        if (!label || !image || block.offsetParent === null) return [];
        if (!image.getBoundingClientRect().width) return [];
        const a = label.getBoundingClientRect(), b = image.getBoundingClientRect();
        const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
        return [[label.innerText, apart]];
    })""")
    assert len(overlaps) >= 2, overlaps  # the streamed images were there to check
    assert all(apart for _, apart in overlaps), overlaps
    page.get_by_role("button", name="Stop").filter(visible=True).click()
    page.close()


def test_in_the_large_layout_no_visible_text_is_smaller_than_the_floor(browser, url):
    from ddpm.views.kit.style import FONT_FLOOR_PX

    page = open_view(browser, url, "reverse", (1920, 1080), True)
    small = page.evaluate("""() => {
        const out = [];
        const root = document.querySelector('.gradio-container');
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const element = node.parentElement;
            if (!node.textContent.trim() || element.closest('.katex, svg, .sr-only, [hidden]')) continue;
            const rect = element.getBoundingClientRect(), style = getComputedStyle(element);
            if (!rect.width || !rect.height || style.visibility === 'hidden') continue;
            if (element.offsetParent === null) continue;
            out.push([node.textContent.trim().slice(0, 40), parseFloat(style.fontSize)]);
        }
        return out;
    }""")
    assert len(small) > 30  # the page's text was found
    below = [(text, size) for text, size in small if size < FONT_FLOOR_PX - 0.01]
    assert not below, below[:20]
    sizes = page.evaluate("""() => ['#reverse-t label', '#reverse-seed label', '#digit-class', '#title h1']
        .map((s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))""")
    assert min(sizes) >= FONT_FLOOR_PX and sizes[-1] > sizes[0]  # labels grow; the title is larger still
    page.close()


PLOTS = {  # view: (deep link, how many plots it shows)
    # from T: the filmstrip's most columns; the chain of the reference-figure preset (digit 7, seed 0),
    # so the app computes it once for both tests (its shared results)
    "reverse": ("?view=reverse&digit=7&t=1000&seed=0", 4),
    "small-steps": ("?view=small-steps", 3),
    "schedules": ("?view=schedules", 1),
    "bits-per-dim": ("?view=bits-per-dim", 1),
    "noise-error": ("?view=noise-error", 1),
    "many-pasts": ("?view=many-pasts", 1),
    "memorisation": ("?view=memorisation", 1),
    "readout": ("?view=readout", 1),
}


@pytest.mark.parametrize("lecture", [False, True], ids=["normal", "lecture"])
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["laptop", "projector"])
@pytest.mark.parametrize("view", list(PLOTS))
def test_no_plot_text_on_screen_is_smaller_than_the_floor(view_pages, browser, url, view, size, lecture,
                                                          tmp_path):  # fmt: skip
    """Every figure's text (plots.TEXT_PX at the figure's own size, checked in test_plots) as shown
    on screen, the image's shown width over its own times TEXT_PX, is at least the large layout's
    floor, in both layouts (one set of images serves both) and at both screen sizes."""
    from ddpm.views.kit.plots import TEXT_PX
    from ddpm.views.kit.style import FONT_FLOOR_PX

    link, count = PLOTS[view]
    page = view_pages.get(("plots", view))
    if page is None:  # the view's first case: its deep link, in the layout the case asks for
        page = view_pages["plots", view] = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(url + link + ("&lecture=1" if lecture else ""), wait_until="load")
    else:
        resize_and_switch(page, size, lecture)
    shown = """() => [...document.querySelectorAll('.plot img')].filter((i) => i.offsetParent !== null
        && i.complete && i.naturalWidth > 0).map((i) => [i.closest('.block').id || i.alt,
        i.getBoundingClientRect().width / i.naturalWidth])"""
    page.wait_for_function(
        f"() => ({shown})().length >= {count} && innerWidth === {size[0]}"
        f" && document.body.classList.contains('lecture') === {str(lecture).lower()}",
        timeout=300_000,
    )
    # the layout settles: the same scales over 0.3 s of animation frames
    scales = page.evaluate(
        f"""async () => {{ const read = {shown}; let last = JSON.stringify(read()), since = performance.now();
        while (performance.now() - since < 300) {{
          await new Promise((r) => requestAnimationFrame(r));
          const now = JSON.stringify(read()); if (now !== last) {{ last = now; since = performance.now(); }}
        }}
        return JSON.parse(last); }}"""
    )
    small = [(name, round(scale * TEXT_PX, 1)) for name, scale in scales if scale * TEXT_PX < FONT_FLOOR_PX]
    assert not small, small
    assert cut_slider_ends(page) == []  # and the lesson's sliders show their ends whole
    if "DDPM_SCREENSHOTS" in os.environ:  # the docs' pictures of every view at each size and layout
        screenshot(page, f"page-{view}-{size[0]}-{'lecture' if lecture else 'normal'}", tmp_path, jpeg=True)


def test_in_the_large_layout_the_forward_plots_text_grows(browser, url):
    from ddpm.views.kit.style import FONT_FLOOR_PX

    sizes = []
    for lecture in ("0", "1"):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url + f"?view=forward&lecture={lecture}", wait_until="load")
        page.wait_for_selector(f"{PLAYER} canvas.plot[data-text-px]", state="attached", timeout=60_000)
        page.wait_for_timeout(500)
        sizes.append(float(page.locator(f"{PLAYER} canvas.plot").get_attribute("data-text-px")))
        page.close()
    assert sizes[1] >= FONT_FLOOR_PX and sizes[1] > sizes[0], sizes
    page = browser.new_page(viewport={"width": 1366, "height": 768})  # switched on in the page
    page.goto(url + "?view=forward", wait_until="load")
    page.wait_for_selector(
        f"{PLAYER} canvas.plot[data-text-px='{sizes[0]:g}']", state="attached", timeout=60_000
    )
    page.locator("#lecture-mode input").check()
    page.wait_for_selector(
        f"{PLAYER} canvas.plot[data-text-px='{sizes[1]:g}']", state="attached", timeout=10_000
    )
    page.close()


PRESET_RESULTS = {
    "Forward process at t = 250": f"{PLAYER}[data-t='250']",
    "Reference figure: the posterior filmstrip from T": "#reverse-player .ddpm-chain[data-frames='1001']",
    "Posterior vs learned from t = 500": "#reverse-player .ddpm-chain[data-frames='501']",
    "Small vs large steps (1-D)": "#small-steps-density img",
    "One noisy image, many pasts": "#many-pasts-grid img",
    "Generate 16 digits (ancestral)": "#generate-player .ddpm-chain[data-frames]",
    "2-D world: two moons at t = 300": "#plane-player .ddpm-plane[data-t='300'][data-data='moons']",
}


@pytest.mark.parametrize("name", list(PRESET_RESULTS))
def test_each_preset_opens_with_its_result(browser, url, name):
    from ddpm.views.lecture import PRESETS

    assert set(PRESET_RESULTS) == set(PRESETS)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + "?view=forward&t=600", wait_until="load")  # away from every preset's t
    page.wait_for_selector(f"{PLAYER}[data-t='600']", timeout=60_000)
    page.locator("#preset input").click()
    page.get_by_role("option", name=name).click()
    try:
        page.wait_for_selector(
            PRESET_RESULTS[name], state="attached", timeout=300_000
        )  # no Run pressed by hand
    except playwright.Error:
        state = page.evaluate(f"""() => ({{player_t: document.querySelector("{PLAYER}")?.dataset.t,
            slider_t: document.querySelector("#forward-t input[type=number]")?.value,
            view: document.querySelector("[role=tab][aria-selected=true]")?.innerText}})""")
        pytest.fail(f"{name}: no result after 300 s; the page: {state}")
    page.close()


# -- the 2-D world: its numbers are the core's, and nothing per drag reaches the server -------------

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
