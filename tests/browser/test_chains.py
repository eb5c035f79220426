"""The chains in a real browser: a generation and both reverse chains streamed, stopped and kept
in the chain player.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import time
from urllib.parse import urlsplit

import gradio as gr
import numpy as np
import pytest
from pagekit import canvas_pixels, running_chains, screenshot

from ddpm.bench.local import free_port
from ddpm.data import training_digits
from ddpm.views.digits import default_digit
from ddpm.views.kit import style
from ddpm.views.kit.players import chain_player, chain_value

pytestmark = pytest.mark.slow  # each test drives the app in Chromium


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
