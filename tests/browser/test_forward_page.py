"""The forward view in a real browser: its in-page player pinned to the core's numbers, its
slider, links and keys.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from pagekit import PLAYER, READ_CANVAS, canvas_pixels, screenshot

from ddpm.images import digit_tensor, to_display
from ddpm.serve.runtime import diffusion_cpu
from ddpm.teaching.common import seeded_noise
from ddpm.teaching.forward import forward_view, schedule_values
from ddpm.views.digits import bundled_of_class, default_digit
from ddpm.views.forward import values_markdown
from ddpm.views.forward_player import READOUT

pytestmark = pytest.mark.slow  # each test drives the app in Chromium


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

SET_T = """(t) => {  // as the page's JS (kit/static/page.js) steps a slider: set the value, dispatch input
    const slider = document.querySelector("#forward-t input[type=range]");
    slider.value = String(t);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
}"""


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
