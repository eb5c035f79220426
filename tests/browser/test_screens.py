"""The first screen at 1366×768 and 1920×1080, in both layouts: what fits, what is whole, and no
text below the floor.

Set DDPM_SCREENSHOTS=<folder> to keep what the tests saw."""

import os

import pytest
from pagekit import PLAYER, screenshot

from ddpm.views import generate as generate_view

pytestmark = pytest.mark.slow  # each test drives the app in Chromium


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
