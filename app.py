"""DDPM: the reverse process, step by step. ``python app.py`` serves http://127.0.0.1:7860.

This file only composes the views of ``ddpm.views`` (the tabs, in :mod:`ddpm.views.tabs`) and
serves them with ``ddpm.serve``; every number and image comes from ``ddpm``.
The same file runs locally, on a CPU Space and on a ZeroGPU Space (``spaces`` is used if present).
"""

from __future__ import annotations

import threading

import gradio as gr

from ddpm.serve import queue
from ddpm.serve.runtime import warm_up
from ddpm.serve.validate import check_inputs
from ddpm.views import forward, lecture
from ddpm.views.digits import build_digit_picker
from ddpm.views.kit import style
from ddpm.views.kit.widgets import LATEX
from ddpm.views.tabs import build_tabs

TITLE = "DDPM: the reverse process, step by step"

INTRO = r"""
Pick a digit, watch the forward process destroy it, then compare the **exact** reverse step
$q(x_{t-1} \mid x_t, x_0)$, which knows $x_0$, with the **learned** one $p_\theta(x_{t-1} \mid x_t)$ of a
small noise-prediction network (Ho et al. 2020). Notation: $\beta_t$, $\alpha_t = 1-\beta_t$,
$\bar\alpha_t = \prod_{s \le t}\alpha_s$. The lessons take one idea each; a preset or a link
(`?view=reverse&digit=2&t=500&seed=3`, "Copy link") opens a view with its result, and the large
layout (`?lecture=1`) is for a projector. ← / → step the timestep slider on screen.
"""


def build_demo() -> gr.Blocks:
    """The app's Blocks, not yet launched."""
    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        with gr.Row(elem_id="header"):
            gr.Markdown(f"# {TITLE}", elem_id="title", container=False)
            preset, lecture_mode, copy, link = lecture.build_lecture_bar()
        with gr.Accordion("What this app shows, and how to use it", open=False, elem_id="intro"):
            gr.Markdown(INTRO, latex_delimiters=LATEX)
        picker = build_digit_picker()
        built = build_tabs(picker.state)
        targets = lecture.targets_of(built, picker, lecture_mode)
        lecture.wire(built, targets, preset, copy, link)
        # the URL's query parameters (a deep link) first, then the forward view's player for the
        # digit and seed they set, then the linked view's own Run: a link opens with its result
        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        loaded = demo.load(targets.from_request, None, targets.outputs(), **quiet)
        player = built.parts["forward"]
        loaded.then(forward.forward_value, [picker.state, player.seed], [player.player], **quiet).then(
            None, None, None, js=lecture.PRESS_LINKED_RUN
        )
    return check_inputs(demo)  # every API input checked, with a message naming it


def main() -> None:
    demo = build_demo()
    queue.configure(demo)  # queue sizes and busy messages: environment settings (docs/serving.md)
    threading.Thread(target=warm_up, daemon=True).start()  # load the models while the page opens
    demo.launch(theme=style.THEME, css=style.CSS, js=style.JS, max_file_size="5mb", **queue.launch_options())


if __name__ == "__main__":
    main()
