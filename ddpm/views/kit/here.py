"""A view's chain computed in the page: the in-page result panel and the choice of where to compute.

The page can run a chain on the student's own device (:mod:`ddpm.serve.engine`, the engine's
modules in ``static/engine/``). A view that offers it lays out :func:`compute_choice` beside its
controls and :func:`in_page_panel` in its result; its Run button then runs :data:`RUN_JS`-style
JavaScript (:func:`run_js`) that hands the request to the panel, which decides where the chain
runs (``static/engine/client.js``: ``choose``) and either computes it here, drawing its frames as
they come and giving the view's chain player the same value the server would, or presses the
view's hidden server Run button (the view's usual stream). Nothing of an in-page run reaches the
server but GETs of static files.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr

from ...serve import engine
from .inpage import STATIC

DIGIT_DATA = "digit-data"
"""The elem_id of the chosen digit's pixels and label in the page (``views/digits.py``), which a
view's Run adds to its request as ``pixels`` and ``label`` (:func:`run_js`)."""

COMPUTE_CHOICES = [("Device", "device"), ("Server", "server"), ("Auto", "auto")]
"""Where a view's chains run: on the student's device (the page's engine), on the server, or
whichever is faster now (``static/engine/client.js``: ``choose``); the words say it without a label,
short enough for the large layout's font in the column above Run."""
DEFAULT_COMPUTE = "server"
"""Where a chain runs unless a link (``compute=device|server|auto``) or the student says otherwise."""

HERE_HTML = """
<p class="here-why" aria-live="polite"></p>
<div class="ddpm-here">
  <p class="here-line"><span class="here-status" aria-live="polite"></span> <span class="here-files"></span></p>
  <div class="here-images">{images}</div>
</div>
"""
PLOTS_HTML = '<div class="ddpm-here-plots">{plots}</div>'
PLOTS_CSS = """
.ddpm-here-plots { display: flex; flex-wrap: wrap; gap: 10px 24px; justify-content: center; }
.ddpm-here-plots canvas { max-width: 100%; height: auto; }
.ddpm-here-plots figure { margin: 0; text-align: center; }
"""
GENERATE_IMAGES = (("x_t", "xₜ"), ("x0_hat", "x̂₀ (the model's current guess)"))
"""Generate's canvases in the panel: (name, caption); the view module draws them by name."""
HERE_CSS = """
.here-why { margin: 0 !important; font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.ddpm-here { display: none; flex-direction: column; gap: 10px; }
.ddpm-here .here-line { margin: 0 !important; line-height: 1.45; }
.ddpm-here .here-status { white-space: pre-wrap; }
.ddpm-here .here-files details { display: inline; }
.ddpm-here .here-files summary { display: inline; cursor: pointer; text-decoration: underline; }
.ddpm-here .here-files details[open] summary { margin-right: 6px; }
.ddpm-here .here-status code { font-family: var(--font-mono); }
.ddpm-here .here-images { display: flex; flex-wrap: wrap; gap: 14px 28px; justify-content: center; }
.ddpm-here canvas[data-image] { height: clamp(240px, calc(100vh - 440px), 560px); width: auto; aspect-ratio: 1; }
"""


def compute_choice(elem_id: str) -> gr.Dropdown:
    """The student's choice of where the view's chains run (:data:`COMPUTE_CHOICES`): a dropdown of
    one line above the view's Run button (its words name it; its label is for screen readers)."""
    return gr.Dropdown(COMPUTE_CHOICES, value=DEFAULT_COMPUTE, label="Compute on", show_label=False,
                       container=False, elem_id=elem_id, min_width=130)  # fmt: skip


def _figures(images: Sequence[tuple[str, str]], kind: str) -> str:
    return "".join(
        f'<figure><canvas data-{kind}="{html.escape(name)}"></canvas><figcaption>{html.escape(caption)}'
        "</figcaption></figure>"
        for name, caption in images
    )


def in_page_panel(
    elem_id: str,
    server_run: str,
    player: str | None,
    settings: Mapping[str, Any],
    view: str = "generate",
    images: Sequence[tuple[str, str]] = GENERATE_IMAGES,
    plots: str = "",
) -> gr.HTML:
    """The panel that shows a chain computed in the page (hidden while the server computes; its
    first line says where the last chain ran, and why). ``server_run`` and ``player`` are the
    elem_ids of the view's hidden server Run button and of its chain player (None: the view has
    none); ``settings`` the view's
    constants the engine needs (widths, frames kept, series names, the request words); ``view``
    names the view's module (``static/engine/view_<view>.js``: its task, cost, drawing and files),
    which draws on the canvases ``images`` ((name, caption) each) and on those of the view's
    :func:`in_page_plots` of elem_id ``plots`` (if any)."""
    reason = engine.availability()
    return gr.HTML(
        None,
        html_template=HERE_HTML.format(images=_figures(images, "image")),
        css_template=HERE_CSS,
        js_on_load=(STATIC / "here.js").read_text(),
        elem_id=elem_id,
        elem_classes=["in-page"],
        padding=False,
        panel=elem_id,
        client=engine.static_url("engine", "client.js"),
        view=engine.static_url("engine", f"view_{view}.js"),
        plots=plots,
        worker=engine.worker_url(),
        config=engine.config_url(),
        load=engine.LOAD_PATH,
        reason=reason or "",
        server_run=server_run,
        player=player or "",
        settings=settings,
        T=engine.diffusion_cpu().num_timesteps,
    )


def in_page_plots(elem_id: str, plots: Sequence[tuple[str, str]]) -> gr.HTML:
    """The canvases on which a view's module draws the curves of a chain computed in the page
    ((name, caption) each), where the view shows the server's plots; shown only while the page
    computes (the view's server plots are marked ``server-result``)."""
    return gr.HTML(None, html_template=PLOTS_HTML.format(plots=_figures(plots, "plot")), css_template=PLOTS_CSS,
                   elem_id=elem_id, elem_classes=["in-page-plots"], container=False)  # fmt: skip


def run_js(panel: str, names: list[str], digit: str | None = None) -> str:
    """The Run button's JavaScript: the inputs (named ``names``, in order, the last the compute
    choice) as one request to the panel ``panel`` (an elem_id). With ``digit``, the elem_id of the
    chosen digit's data in the page (``views/digits.py``: ``DIGIT_DATA``), the request also carries
    its ``pixels`` (base64 of uint8 [28, 28]) and ``label`` (empty: not a bundled digit)."""
    read = (
        ""
        if digit is None
        else f"""
  const data = document.querySelector({json.dumps(f"#{digit} [data-pixels]")});
  Object.assign(request, {{ pixels: data?.dataset.pixels ?? "", label: data?.dataset.label ?? "" }});"""
    )
    return f"""(...values) => {{
  const request = Object.fromEntries({json.dumps(names)}.map((name, i) => [name, values[i]]));{read}
  document.getElementById({json.dumps(panel)})?.ddpmRun(request);
}}"""


def stop_js(panel: str) -> str:
    """The Stop button's JavaScript: end the panel's chain (its Worker) at once."""
    return f"() => {{ document.getElementById({json.dumps(panel)})?.ddpmStop(); }}"
