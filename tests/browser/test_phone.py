"""The app on a phone: 390×844, touch, the narrow layout (ddpm/views/kit/static/narrow.css).

Every main view and lesson opens from its link with its result on the first screen, nothing
scrolls sideways, no text is cut and every tab's label is whole; the header is one line, its
menu holds the rest; the players, the forward slider and the 2-D world answer to touch. Set
DDPM_SCREENSHOTS=<folder> to keep what the tests saw (``python scripts/screenshots.py`` takes the
docs' pictures).
"""

import os
from pathlib import Path

import pytest

from ddpm.views import tabs
from ddpm.views.kit import style

pytestmark = pytest.mark.slow  # each test drives the app in Chromium

PHONE = {"width": 390, "height": 844}
LINKS = {  # each view's link, with settings that make its result quick
    "forward": "?view=forward",
    "reverse": "?view=reverse&digit=2&t=5&seed=3",
    "generate": "?view=generate&sampler=ddim&steps=5",
    "small-steps": "?view=small-steps",
    "schedules": "?view=schedules",
    "parameterizations": "?view=parameterizations&t=300",
    "bits-per-dim": "?view=bits-per-dim",
    "noise-error": "?view=noise-error",
    "many-pasts": "?view=many-pasts&k=4&t=100",
    "readout": "?view=readout",
    "memorisation": "?view=memorisation",
    "2d": "?view=2d&data=moons&t=300",
}
MAIN = {  # each view's main images (or canvas): the first of them begins on the first screen
    "forward": "#forward-player canvas[data-image=xt]",
    "reverse": "#reverse-player .ddpm-chain:not(.empty) canvas",
    "generate": "#generate-player .ddpm-chain:not(.empty) canvas",
    "2d": "#plane-player canvas[data-plot=plane]",
}
RESULT = ".tabitem .result img[src]"  # a lesson's: the first image of its result that has loaded


def test_every_view_and_lesson_has_a_link_here():
    assert set(LINKS) == set(tabs.TABS)


@pytest.fixture(scope="module")
def phone(browser):
    """A phone's browser context: 390×844 CSS px, device scale 2, touch."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def open_phone(phone, url: str, view: str):
    page = phone.new_page()
    page.goto(url + LINKS[view], wait_until="load")
    page.wait_for_function("() => document.body.classList.contains('narrow')", timeout=60_000)
    return page


CUT_TEXT = """() => {  // every visible piece of text that the screen or a clipping box cuts
    const cut = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, text = node.textContent.trim();
        const element = node.parentElement;
        if (!text || !element) continue;
        if (element.closest('.sr-only, .katex-mathml, svg, [aria-hidden=true]')) continue;
        const style = getComputedStyle(element);
        if (!element.getClientRects().length || style.visibility === 'hidden') continue;
        if (!parseFloat(style.fontSize)) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const boxes = [...range.getClientRects()].filter((r) => r.width > 0.5 && r.height > 0.5);
        if (!boxes.length) continue;
        const clips = [];
        for (let a = element; a && a !== document.body; a = a.parentElement) {
            const s = getComputedStyle(a);
            if (s.overflowX !== 'visible' || s.overflowY !== 'visible') clips.push(a);
        }
        for (const r of boxes) {
            const outside = (b) => r.left < b.left - 1 || r.right > b.right + 1
                                   || r.top < b.top - 1 || r.bottom > b.bottom + 1;
            const off = r.left < -1 || r.right > innerWidth + 1;
            if (off) { cut.push([text.slice(0, 40), 'the screen']); break; }
            const by = clips.find((a) => outside(a.getBoundingClientRect()));
            if (by) { cut.push([text.slice(0, 40), by.tagName.toLowerCase() + '#' + by.id]); break; }
        }
    }
    return cut;
}"""

TABS_SHOWN = """() => [...document.querySelectorAll('.tabs')].filter((bar) => bar.offsetParent !== null)
    .map((bar) => [...bar.querySelectorAll('button[role=tab]')].filter((b) => b.closest('.tabs') === bar)
        .map((b) => { const r = b.getBoundingClientRect(), before = getComputedStyle(b, '::before').content;
            return { label: before && before !== 'none' ? JSON.parse(before) : b.innerText.trim(),
                     whole: b.offsetParent !== null && b.scrollWidth <= b.clientWidth + 1
                            && r.left >= 0 && r.right <= innerWidth }; }))"""


def wait_for_result(page, view: str) -> dict:
    """Once the view's link has its result: the box of its main image or canvas."""
    if view in ("reverse", "generate"):
        page.wait_for_selector(f"#{view}-status :text('done')", timeout=120_000)
    selector = MAIN.get(view, RESULT)
    page.wait_for_function(
        """(s) => [...document.querySelectorAll(s)].some((e) => e.offsetParent !== null
            && (e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0)))""",
        arg=selector, timeout=300_000,
    )  # fmt: skip
    page.wait_for_timeout(500)  # the layout settles
    return page.evaluate(
        """(s) => { const e = [...document.querySelectorAll(s)].find((e) => e.offsetParent !== null);
                    const r = e.getBoundingClientRect();
                    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; }""",
        selector,
    )


@pytest.mark.parametrize("view", list(LINKS))
def test_a_phone_opens_each_view_with_its_result_on_the_first_screen(phone, url, view, tmp_path):
    """At 390×844 from the view's link: its main image (a lesson: the first of its result) begins
    on the first screen, above the view's controls; nothing scrolls sideways; no text is cut; the
    tab labels are whole (the main tabs by their short titles, in one row)."""
    page = open_phone(phone, url, view)
    box = wait_for_result(page, view)
    assert page.evaluate("() => scrollY") == 0  # a link's Run does not scroll the page
    assert 0 <= box["top"] < PHONE["height"] - 40 and box["left"] >= 0 and box["right"] <= PHONE["width"], box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(CUT_TEXT) == []
    bars = page.evaluate(TABS_SHOWN)
    main = [tab.short for tab in tabs.MAIN] + [tabs.LESSONS_SHORT]
    assert [tab["label"] for tab in bars[0]] == main
    if view in tabs.TABS and view not in {tab.id for tab in tabs.MAIN}:
        assert [tab["label"] for tab in bars[1]] == [tab.title for tab in tabs.LESSONS]
    assert all(tab["whole"] for bar in bars for tab in bar), bars
    tops = {
        round(page.locator(f'button[role=tab][data-tab-id="{tab.id}"]').bounding_box()["y"])
        for tab in tabs.MAIN
    }
    assert len(tops) == 1, tops  # the main tabs in one row
    run = tabs.TABS[view].run_id
    if run is not None:  # the result stands above the controls
        assert box["top"] < page.locator(f"#{run}").bounding_box()["y"]
    if "DDPM_SCREENSHOTS" in os.environ:
        folder = Path(os.environ["DDPM_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"phone-{view}.jpg"), type="jpeg", quality=80)
    page.close()


HEADER = """() => [...document.querySelector('#header').children].filter((c) => c.offsetParent !== null)
    .map((c) => { const r = c.getBoundingClientRect();
                  return [c.id, Math.round(r.top), Math.round(r.bottom)]; })"""


def test_a_phones_header_is_one_line_and_its_menu_holds_the_rest(phone, url):
    """The short title and "☰ Menu" on one line; the menu shows the presets, Copy link with the
    link, the introduction and "your own digit", and hides them again; the digit picker is one
    row: the ten digits, another one, what the model sees."""
    page = open_phone(phone, url, "forward")
    page.wait_for_selector("#forward-player [data-t]", state="attached", timeout=60_000)
    assert [name for name, _, _ in page.evaluate(HEADER)] == ["title", "menu"]
    title = page.locator("#title h1")
    assert title.inner_text() == "DDPM: the reverse process"  # the short title, whole
    assert page.evaluate(
        "() => { const h = document.querySelector('#title h1'); return h.scrollWidth <= h.clientWidth; }"
    )
    assert len({top for _, top, _ in page.evaluate(HEADER)}) <= 2  # title and button, a few px apart
    picker = ["#digit-class", "#another-digit", "#digit-preview"]
    rows = [page.locator(s).bounding_box() for s in picker]
    assert (
        max(b["y"] for b in rows) - min(b["y"] for b in rows) < 12
        and max(b["y"] + b["height"] for b in rows) < 130
    )
    hidden = ["#preset", "#copy-link", "#link", "#intro", "#own-digit"]
    assert not any(page.locator(s).is_visible() for s in hidden)
    page.locator("#menu").tap()
    page.wait_for_function("() => document.body.classList.contains('menu-open')")
    assert all(page.locator(s).is_visible() for s in hidden)
    assert page.locator("#menu").get_attribute("aria-expanded") == "true"
    assert not page.locator("#lecture-mode").is_visible()  # the large layout is a projector's
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("#copy-link").tap()
    page.wait_for_function(
        "() => document.querySelector('#link textarea, #link input')?.value.includes('view=forward')"
    )
    page.locator("#menu").tap()
    page.wait_for_function("() => !document.body.classList.contains('menu-open')")
    assert not any(page.locator(s).is_visible() for s in hidden)
    # the picker by touch: a digit chip picks a digit of that class
    preview = page.evaluate("() => document.querySelector('#digit-preview img').src")
    page.locator("#digit-class label").filter(has_text="3").tap()
    page.wait_for_function("(src) => document.querySelector('#digit-preview img').src !== src", arg=preview)
    page.close()


def touch_drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """A finger from ``start`` to ``end`` (CSS px of the viewport), as Chromium's touch events."""
    cdp = page.context.new_cdp_session(page)
    (x0, y0), (x1, y1) = start, end
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for k in range(1, steps + 1):
        x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_the_forward_slider_follows_a_finger(phone, url):
    """Dragging the slider's thumb to the track's right end shows t = T in the player."""
    page = open_phone(phone, url, "forward")
    player = page.locator("#forward-player .ddpm-forward")
    page.wait_for_selector("#forward-player .ddpm-forward[data-t]", timeout=60_000)
    slider = page.locator("#forward-t input[type=range]")
    box, T = slider.bounding_box(), int(slider.get_attribute("max"))
    start = float(player.get_attribute("data-t")) / T
    touch_drag(page, (box["x"] + start * box["width"], box["y"] + box["height"] / 2),
               (box["x"] + box["width"] + 20, box["y"] + box["height"] / 2))  # fmt: skip
    page.wait_for_function(
        f"() => document.querySelector('#forward-player .ddpm-forward').dataset.t === '{T}'"
    )
    page.close()


def test_the_chain_player_plays_and_scrubs_by_touch(phone, url):
    """On the reverse view's finished chains: a tap plays, a tap pauses, and a finger on the
    scrubber moves to the first frame."""
    page = open_phone(phone, url, "reverse")
    wait_for_result(page, "reverse")
    chain = page.locator("#reverse-player .ddpm-chain")
    last = int(chain.get_attribute("data-frames")) - 1
    assert chain.get_attribute("data-frame") == str(last)
    scrub = page.locator("#reverse-player .scrub input")
    scrub.scroll_into_view_if_needed()
    box = scrub.bounding_box()
    touch_drag(page, (box["x"] + box["width"] - 2, box["y"] + box["height"] / 2),
               (box["x"] - 20, box["y"] + box["height"] / 2))  # fmt: skip
    page.wait_for_function(
        "() => document.querySelector('#reverse-player .ddpm-chain').dataset.frame === '0'"
    )
    play = page.locator("#reverse-player button[data-action=play]")  # play / pause
    play.tap()
    page.wait_for_function(
        "() => document.querySelector('#reverse-player .ddpm-chain').classList.contains('playing')"
    )
    play.tap()
    page.wait_for_function(
        "() => !document.querySelector('#reverse-player .ddpm-chain').classList.contains('playing')"
    )
    page.close()


def test_a_finger_drags_x_t_across_the_2d_world(phone, url):
    """In the 2-D world's "drag xₜ" mode a finger moves xₜ to where it lifts, and the page does not
    scroll under it."""
    page = open_phone(phone, url, "2d")
    wait_for_result(page, "2d")
    plane = page.locator("#plane-player canvas[data-plot=plane]")
    box = plane.bounding_box()
    before = page.evaluate("() => [...document.querySelector('#plane-player .ddpm-plane').api.state.xt]")
    scrolled = page.evaluate("() => scrollY")
    touch_drag(page, (box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5),
               (box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2))  # fmt: skip
    after = page.evaluate("() => [...document.querySelector('#plane-player .ddpm-plane').api.state.xt]")
    assert after != before and after[0] > 0 and after[1] > 0, (before, after)  # up and right of centre
    assert page.evaluate("() => scrollY") == scrolled
    page.close()


def test_the_large_layout_waits_for_a_wide_screen():
    """The narrow layout and the large one never hold together: page.js decides both from one
    media query, the one the kit names."""
    assert f"matchMedia({style.NARROW!r})" in style.JS
    assert style.NARROW.startswith("(max-width: ") and style.NARROW.endswith("px)")
    assert style.NARROW_PX - 0.1 < float(style.NARROW.removeprefix("(max-width: ")[:-3]) < style.NARROW_PX
