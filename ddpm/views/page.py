"""The whole page: the header, the digit picker and the tabs, composed, and how it is served.

:func:`build_demo` lays the page out and wires it; :func:`launch_options` are the options of
``demo.launch`` that give it its look (theme, CSS, the page's JavaScript). ``app.py`` (the Space's
entry point), the tests and the benchmarks all build and launch the page through these two.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..serve import queue
from ..serve.validate import check_inputs
from . import forward, lecture
from .digits import build_digit_picker, digit_data
from .kit import style
from .kit.widgets import LATEX
from .tabs import build_tabs, narrow_css

TITLE = "DDPM: the reverse process, step by step"
SHORT_TITLE = TITLE.split(",")[0]
"""The title on a phone (the narrow layout's one-line header)."""

INTRO = r"""
Pick a digit, watch the forward process destroy it, then compare the **exact** reverse step
$q(x_{t-1} \mid x_t, x_0)$, which knows $x_0$, with the **learned** one $p_\theta(x_{t-1} \mid x_t)$ of a
small noise-prediction network (Ho et al. 2020). Notation: $\beta_t$, $\alpha_t = 1-\beta_t$,
$\bar\alpha_t = \prod_{s \le t}\alpha_s$. The lessons take one idea each; a preset or a link
(`?view=reverse&digit=2&t=500&seed=3`, "Copy link") opens a view with its result, and the large
layout (`?lecture=1`) is for a projector. ← / → step the timestep slider on screen.
"""

TOGGLE_MENU = """() => {
  const open = document.body.classList.toggle("menu-open");
  document.querySelector("#menu")?.setAttribute("aria-expanded", String(open));
}"""
"""The narrow layout's menu button: shows or hides the header's tools, the introduction and "your
own digit" (static/narrow.css)."""


def build_demo() -> gr.Blocks:
    """The app's Blocks, not yet launched (serve it with :func:`launch_options`)."""
    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        with gr.Row(elem_id="header"):
            gr.Markdown(
                f'# <span class="long-title">{TITLE}</span><span class="short-title">{SHORT_TITLE}</span>',
                elem_id="title", container=False,
            )  # fmt: skip
            menu = gr.Button("☰ Menu", size="sm", scale=0, min_width=80, elem_id="menu")
            preset, lecture_mode, copy, link = lecture.build_lecture_bar()
        menu.click(None, None, None, js=TOGGLE_MENU)
        with gr.Accordion("What this app shows, and how to use it", open=False, elem_id="intro"):
            gr.Markdown(INTRO, latex_delimiters=LATEX)
        picker = build_digit_picker()
        built = build_tabs(picker.state)
        targets = lecture.targets_of(built, picker, lecture_mode)
        lecture.wire(built, targets, preset, copy, link)
        # the URL's query parameters (a deep link) first, then the forward view's player for the
        # digit and seed they set, then the digit's data in the page (a view computed in the page
        # reads it), then the linked view's own Run: a link opens with its result
        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        loaded = demo.load(targets.from_request, None, targets.outputs(), **quiet)
        player = built.parts["forward"]
        loaded.then(forward.forward_value, [picker.state, player.seed], [player.player], **quiet).then(
            digit_data, picker.state, picker.data, queue=False, **quiet
        ).then(None, None, None, js=lecture.PRESS_LINKED_RUN)
    return check_inputs(demo)  # every API input checked, with a message naming it


def launch_options() -> dict[str, Any]:
    """The options of ``demo.launch`` that make the page what it is: the theme, the CSS (the kit's
    and the narrow layout's tab titles, from the one list of tabs), the page's JavaScript, the
    upload limit, and the queue's (:func:`ddpm.serve.queue.launch_options`)."""
    return {
        "theme": style.THEME,
        "css": style.CSS + narrow_css(),
        "js": style.JS,
        "max_file_size": "5mb",
        **queue.launch_options(),
    }
