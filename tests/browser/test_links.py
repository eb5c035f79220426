"""Deep links, Copy link and presets in a real browser: each opens its view with its result.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from pagekit import PLAYER, screenshot

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = pytest.mark.slow  # each test drives the app in Chromium


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
            "compute": "device",  # with the true reverse: on the server all the same, and the page says why
        },
        "#reverse-player .ddpm-chain[data-frames='13']",
    ),
    "generate": (
        {
            "n": 4,
            "sampler": "ddim",
            "steps": 6,
            "eta": 0.5,
            "ask": 3,
            "guidance": 1.5,
            "seed": 5,
            "compute": "device",
        },  # computed in the page: the same result again from the copied link
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
    "many-pasts": (
        {"digit": 3, "k": 1, "t": 12, "chains": 3, "seed": 5, "told": 1, "compute": "device"},
        "#many-pasts-here a[download$='_pasts.png']",
    ),  # computed in the page, from the linked digit: the same result again from the copied link
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
