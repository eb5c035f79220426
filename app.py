"""DDPM: the reverse process, step by step. ``python app.py`` serves http://127.0.0.1:7860.

This file only composes the views of ``ddpm.views``; every number and image comes from ``ddpm``.
The same file runs locally, on a CPU Space and on a ZeroGPU Space (``spaces`` is used if present).
"""

from __future__ import annotations

import threading

import gradio as gr

from ddpm.views import lecture, serving
from ddpm.views.digits import build_digit_picker
from ddpm.views.forward import build_forward_tab
from ddpm.views.generate import build_generate_tab
from ddpm.views.likelihood import build_likelihood_tabs
from ddpm.views.parameterizations import build_parameterizations_tab
from ddpm.views.pasts import build_pasts_tabs
from ddpm.views.reverse import build_reverse_tab
from ddpm.views.runtime import warm_up
from ddpm.views.schedules import build_schedules_tab
from ddpm.views.small_steps import build_small_steps_tab
from ddpm.views.validate import check_inputs
from ddpm.views.widgets import LATEX

TITLE = "DDPM: the reverse process, step by step"

INTRO = r"""
Pick a digit, watch the forward process destroy it, then compare the **exact** reverse step
$q(x_{t-1} \mid x_t, x_0)$, which knows $x_0$, with the **learned** one $p_\theta(x_{t-1} \mid x_t)$ of a
small noise-prediction network (Ho et al. 2020). Notation: $\beta_t$, $\alpha_t = 1-\beta_t$,
$\bar\alpha_t = \prod_{s \le t}\alpha_s$. The lessons take one idea each; a preset or a link
(`?view=reverse&digit=2&t=500&seed=3`, "Copy link") opens a view with its result, and the large
layout (`?lecture=1`) is for a projector. ← / → step the timestep slider on screen.
"""

THEME = gr.themes.Base(
    primary_hue="blue",
    neutral_hue="slate",
    text_size=gr.themes.Size(xxs="11px", xs="13px", sm="15px", md="17px", lg="20px", xl="24px", xxl="30px"),
).set(body_text_color="#111111", block_label_text_size="*text_md", block_title_text_size="*text_md")

CSS = (
    """
.gradio-container img { image-rendering: pixelated; }  /* keep upscaled 28×28 pixels crisp */
.frames img { object-fit: contain; }  /* small streamed frames fill the box, like the final image */
/* one compact header line: title, presets, layout switch, copy link */
#header { align-items: center; flex-wrap: wrap; gap: 8px 10px; }
#header > #lecture-mode { margin: 0 !important; }
#title { flex: 0 1 auto; width: auto; min-width: 0; }
#title h1 { font-size: 1.45rem; line-height: 1.2; margin: 0; white-space: nowrap; }
/* each header item as wide as its content: a narrow screen wraps the header, cutting nothing */
#header > * { flex: 0 0 auto !important; width: auto !important; min-width: max-content !important; }
#header > #link { flex: 1 1 220px !important; min-width: 220px !important; }
#lecture-mode label, #copy-link { white-space: nowrap; }
/* the large layout shows the link box only once Copy link has filled it: the header fits one line */
body.lecture #header > #link:has(:placeholder-shown) { display: none; }
#schedules-table { flex: 1.4 1 400px !important; min-width: 400px !important; }  /* words unbroken */
#intro { margin-top: -4px; }
#digit-picker { align-items: center; gap: 8px 12px; }
#digit-picker .wrap { gap: 4px; }
/* a finished chain is in its player: the streamed frames' row gives the player its place */
.gradio-container:has(#reverse-player .ddpm-chain:not(.empty)) #reverse-images,
.gradio-container:has(#generate-player .ddpm-chain:not(.empty)) #generate-images { display: none; }
/* the generated grids, streamed and in the player, take what the first screen has left below the controls */
#generate-xt, #generate-x0hat { height: clamp(240px, calc(100vh - 440px), 560px) !important; }
#generate-player .ddpm-chain { --size: clamp(240px, calc(100vh - 470px), 560px) !important; }
/* an image's label above the image, not over its top rows */
.gradio-container .block label[data-testid="block-label"].float {
  position: static; border: none; box-shadow: none; background: transparent; padding: 0 0 4px 0;
}
.gradio-container .block:has(> label[data-testid="block-label"].float) {
  display: flex; flex-direction: column; flex-wrap: nowrap;
}
.gradio-container .block:has(> label[data-testid="block-label"].float) > .image-container {
  flex: 1 1 auto; min-height: 0; height: auto;
}
"""
    + lecture.CSS
)


JS = lecture.JS  # keyboard control of t and the ?lecture=1 layout


def _find(demo: gr.Blocks, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def build_demo() -> gr.Blocks:
    """The app's Blocks, not yet launched."""
    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        with gr.Row(elem_id="header"):
            gr.Markdown(f"# {TITLE}", elem_id="title", container=False)
            preset, lecture_mode, copy, link = lecture.build_lecture_bar()
        with gr.Accordion("What this app shows, and how to use it", open=False, elem_id="intro"):
            gr.Markdown(INTRO, latex_delimiters=LATEX)
        picker = build_digit_picker()
        digit = picker.state
        with gr.Tabs() as tabs:
            forward, inputs, outputs = build_forward_tab(digit)
            build_reverse_tab(digit)
            build_generate_tab()
            with gr.Tab("4 · Lessons", id="lessons"), gr.Tabs() as lesson_tabs:
                build_small_steps_tab()
                build_schedules_tab(digit)
                build_parameterizations_tab(digit)
                build_likelihood_tabs(digit)
                build_pasts_tabs(digit)
        targets = lecture.Targets(
            tabs, lesson_tabs, picker, *(_find(demo, name) for name in (
                "forward-t", "forward-seed", "reverse-t", "reverse-seed", "generate-sampler", "generate-seed"
            )), gr.State("forward"), lecture_mode,
        )  # fmt: skip
        lecture.wire(demo, targets, preset, copy, link)
        # the URL's query parameters (a deep link) first, then the forward view they set, then the
        # linked view's own Run: a link opens with its result
        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        loaded = demo.load(lecture.from_request, None, targets.outputs(), **quiet)
        loaded.then(forward, inputs, outputs, **quiet).then(None, None, None, js=lecture.PRESS_LINKED_RUN)
    return check_inputs(demo)  # every API input checked, with a message naming it


def main() -> None:
    demo = build_demo()
    serving.configure(demo)  # queue sizes and busy messages: environment settings (README)
    threading.Thread(target=warm_up, daemon=True).start()  # load the models while the page opens
    demo.launch(theme=THEME, css=CSS, js=JS, max_file_size="5mb", **serving.launch_options())


if __name__ == "__main__":
    main()
