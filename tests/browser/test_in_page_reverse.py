"""The reverse view's comparison computed in the student's own page (``static/engine/compare_task.js``,
``view_compare.js``): from t = T, the same exact and learned chains as the server's for the same
digit and seed, the bound's sum and the network named as the server names them, nothing asked of
the server but static files, and the true reverse of the training set left to the server. (Its Stop
and its browser without WebAssembly are test_in_page.py's, with the other views'.)

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import base64
import io
import re

import numpy as np
import pytest
from pagekit import assert_same_pixels, screenshot
from PIL import Image

from ddpm.data import preprocess_digit
from ddpm.images import digit_tensor, to_uint8
from ddpm.serve.runtime import learned_reverse, told_label
from ddpm.teaching.reverse import compare_reverse
from ddpm.views.digits import bundled_of_class, default_digit
from ddpm.views.kit.widgets import SCALE
from ddpm.views.reverse_page import in_page_settings
from ddpm.views.reverse_stream import LEARNED_CHOICE

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = pytest.mark.slow  # each test drives the app in Chromium

STATUS = "#reverse-here .here-status"
SERVER_CALLS = re.compile(r"/gradio_api/(queue/|call/|run/)")
DONE = f"() => /done/.test(document.querySelector('{STATUS}')?.textContent ?? '')"


def server_chains(t: int, seed: int, variance: str, told: bool, digit: np.ndarray | None = None) -> dict:
    """The server's comparison of ``digit`` (default: the default digit; ddpm.teaching.reverse.
    compare_reverse, as /compare runs it): both chains' x_0 and the learned x̂_0 at t = 1 as uint8
    [28, 28], the bound's sum along the exact chain, and the class the network was told (the
    digit's label, else the classifier's reading of x_0, as runtime.told_label)."""
    rt = learned_reverse(told)
    digit = default_digit() if digit is None else digit
    x0 = digit_tensor(digit)
    labels = told_label(digit, x0) if told else None
    *_, last = compare_reverse(
        rt.diffusion, rt.model, x0, t, seed, variance, rt.model.config.parameterization, labels
    )
    images = {"exact": last.exact.x_prev, "learned": last.learned.x_prev, "x0_hat": last.learned.pred_x0}
    pixels = {name: to_uint8(x)[0, 0].numpy() for name, x in images.items()}
    return {**pixels, "kl_sum": last.kl_sum_bpd, "label": None if labels is None else int(labels[0])}


def downloaded(page, field: str) -> np.ndarray:
    """A downloaded image of the page's comparison, back at one pixel per pixel."""
    href = page.locator(f"#reverse-here a[download^='{field}_t']").get_attribute("href")
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1]))).convert("L"))
    return image[::SCALE, ::SCALE]


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    yield page
    page.close()


def test_a_comparison_from_T_in_the_page_is_the_servers(page, url, tmp_path):
    T = learned_reverse(False).diffusion.num_timesteps
    page.goto(url + f"?view=reverse&compute=device&t={T}&seed=0", wait_until="load")  # the link presses Run
    page.wait_for_function(DONE, timeout=240_000)
    status = page.locator(STATUS).inner_text()
    assert "on this device" in status
    server = server_chains(T, 0, "fixed_small", told=False)
    for field in ("exact", "learned", "x0_hat"):
        assert_same_pixels(downloaded(page, field), server[field])
    assert f"add up to {server['kl_sum']:.3f} bits/dim" in status
    assert f"p_θ: {in_page_settings()['networks']['untold']}" in status
    assert page.locator("#reverse-player .ddpm-chain").get_attribute("data-frames") == str(T + 1)
    # the filmstrip: both chains at the server's times (filmstrip_times and t = 0), named as the server's
    strip = page.locator("#reverse-here a[download^='filmstrip_t']")
    assert strip.get_attribute("download") == f"filmstrip_t{T}_seed0.png"
    screenshot(page, "reverse-in-page", tmp_path)
    # the whole result on a projector's first screen (1366×768), in both layouts: the player's controls too
    bottom = "() => document.querySelector('#reverse-player .controls').getBoundingClientRect().bottom"
    assert page.evaluate(bottom) <= 768
    page.locator("#lecture-mode input").set_checked(True)
    page.wait_for_function("() => document.body.classList.contains('lecture')")
    page.wait_for_timeout(500)  # the layout settles
    assert page.evaluate(bottom) <= 768


def test_told_the_class_with_learned_variance_and_nothing_asked_of_the_server(page, url):
    page.goto(url + "?view=reverse&compute=device&t=40&seed=4", wait_until="load")
    page.wait_for_function(DONE, timeout=120_000)
    page.locator("#reverse-told input").check()
    page.locator("#reverse-variance label:has-text('learned')").click()
    page.locator("#reverse-seed input").fill("5")
    page.wait_for_timeout(500)  # the controls' own events (σ² learned tells the class) have answered
    asked = []
    page.on("request", lambda r: asked.append((r.method, r.url)))
    page.locator("#reverse-run").click()
    page.wait_for_function(DONE + " && document.querySelector(\"#reverse-here a[download$='_seed5.png']\")",
                           timeout=120_000)  # fmt: skip
    assert [u for _, u in asked if SERVER_CALLS.search(u)] == []
    assert all(method == "GET" for method, _ in asked), asked
    server = server_chains(40, 5, LEARNED_CHOICE[1], told=True)
    for field in ("exact", "learned", "x0_hat"):
        assert_same_pixels(downloaded(page, field), server[field])
    words = in_page_settings()["networks"]["told"]["7"]["label"]
    assert f"p_θ: {words}" in page.locator(STATUS).inner_text()


def test_the_true_reverse_runs_on_the_server_and_the_page_says_so(page, url):
    page.goto(url + "?view=reverse&compute=device&t=20&seed=1&truth=1", wait_until="load")
    page.wait_for_selector("#reverse-status :text('done')", timeout=120_000)
    assert "true reverse of the training set" in page.locator("#reverse-here .here-why").inner_text()
    assert not page.locator(STATUS).is_visible()


def test_an_uploaded_digit_is_read_by_the_pages_classifier_as_by_the_servers(page, url, tmp_path):
    """A digit without a label (an upload): told its class, the page's classifier reads x_0 and the
    learned chain is told that class, as the server's told_label does; the same chains."""
    page.goto(url + "?view=reverse&compute=device&t=30&seed=2&told=1", wait_until="load")
    page.wait_for_function(DONE, timeout=120_000)
    # a photo of a digit: a bundled 3, dark ink on light paper, larger (smoothly: no longer the
    # bundled digit pixel for pixel) and off-centre
    ink = Image.fromarray(255 - bundled_of_class(3, 1)).resize((150, 150), Image.Resampling.BILINEAR)
    photo = np.full((220, 200), 255, dtype=np.uint8)
    photo[20:170, 10:160] = np.asarray(ink)
    path = tmp_path / "digit.png"
    Image.fromarray(photo).save(path)
    page.locator("#own-digit").get_by_text("Your own digit").click()
    page.locator("#own-digit input[type=file]").first.set_input_files(str(path))
    page.wait_for_function(
        "() => document.querySelector('#digit-data [data-pixels]')?.dataset.label === ''", timeout=60_000
    )  # the upload is the chosen digit: no label
    page.locator("#reverse-seed input").fill("4")
    page.locator("#reverse-run").click()
    page.wait_for_function(DONE + " && document.querySelector(\"#reverse-here a[download$='_seed4.png']\")",
                           timeout=120_000)  # fmt: skip
    digit = preprocess_digit(np.stack([photo] * 3, axis=-1))  # as views.digits.from_upload, of Gradio's RGB
    server = server_chains(30, 4, "fixed_small", told=True, digit=digit)
    for field in ("exact", "learned", "x0_hat"):
        assert_same_pixels(downloaded(page, field), server[field])
    words = in_page_settings()["networks"]["told"][str(server["label"])]["reading"]
    assert f"p_θ: {words}" in page.locator(STATUS).inner_text()
