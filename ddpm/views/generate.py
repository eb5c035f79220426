"""View 3: generate digits from pure noise, streaming x_t and x̂_0 as the chain runs."""

from __future__ import annotations

import time
from typing import NamedTuple

import gradio as gr
import numpy as np

from .. import seeding
from ..choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS
from ..guidance import ALL, DEFAULT_DIGIT, MAX_GUIDANCE, NONE, PRIOR, default_guidance
from ..inference import generation_labels, generation_request, sample_loop
from ..serve.handlers import endpoint, first_outputs
from ..serve.runtime import diffusion_cpu, learned_config, learned_reverse, model_config, model_fingerprint
from ..serve.settings import FRAME_SECONDS, WATCHERS
from .kit.here import compute_choice, in_page_panel, run_js, stop_js
from .kit.players import chain_player
from .kit.plots import DPI, TEXT_PT
from .kit.recording import Recording
from .kit.tab import Linked, Tab
from .kit.widgets import (
    LATEX,
    QUIET,
    inline_frames,
    progress_bar,
    result,
    run_chain,
    seed_field,
    show,
    show_grid,
    waiting_status,
)
from .kit.words import LATEX_SYMBOLS, network_words

MAX_DIGITS = 64
DIGITS = 16
"""Digits a generation draws unless told otherwise, on the page and through the API (a grid that
fits the first screen; ``python -m ddpm.sample`` writes 64 to a file)."""
GIF_FRAMES = 40  # frames kept for the GIF and the filmstrip, at fixed steps, whatever the speed
STREAM_WIDTH = 256  # streamed grids are small (the page scales them up, pixelated); the last is full size
FINAL_WIDTH = 640
GIF_WIDTH = 320
FILM_ROW = "first digit"  # the filmstrip's one row: the first digit, at FILM_SCALE, in FILM_COLUMNS times
FILM_COLUMNS = 8
FILM_SCALE = 2
SERIES = ("xₜ", "x̂₀")  # the player's series: the chain's x_t and the model's x̂_0, as grids
SAMPLER_CHOICES = [("Ancestral (all T)", "ddpm"), ("DDIM", "ddim"), ("DPM-Solver++", "dpm-solver")]
"""Short labels, so the radio stays one or two lines; the explanation below the images says more."""
DIGIT_CHOICES = [
    ("any digit", PRIOR),  # the status line says how: labels drawn from the class prior
    ("all ten", ALL),  # 0 … 9 in order, each on a tenth of the digits
    ("no label", NONE),  # ∅, the unconditional model
    *((str(d), str(d)) for d in range(10)),
]

EXPLAIN = r"""
Start from pure noise $x_T \sim \mathcal{N}(0, I)$ and apply the learned reverse step again and again.
**Ancestral (DDPM):** $x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z$ for $t = T, \dots, 1$.
**DDIM:** a deterministic ($\eta = 0$) or partly random jump over a subsequence of $S$ timesteps.
**DPM-Solver++(2M)** (Lu et al. 2022): the same deterministic ODE as DDIM with $\eta = 0$, solved to second order.
Left: the current $x_t$; right: the model's current guess $\hat x_0$ of the final digit.
"""

GUIDANCE_EXPLAIN = r"""
**Draw me a 7:** the network was trained with class labels, so it is ${out}_\theta(x_t, t, y)$ and, with the
null label, ${out}_\theta(x_t, t, \varnothing)$. **Any digit** draws each label from the class prior $p(y)$
(uniform; an even split for 10, 20, … digits) and runs the conditional model: a sample of
$p(x) = \sum_y p(y)\, p_\theta(x \mid y)$. Classifier-free guidance (Ho & Salimans 2022) steps with
$\tilde{out} = (1 + w)\,{out}_\theta(x_t, t, y) - w\,{out}_\theta(x_t, t, \varnothing)$: $w = 0$ is the
conditional model, a larger $w$ gives clearer, less varied digits. Choosing a digit sets $w$ to its default.
**No label** runs {unconditional}, as every view does without the class.
"""


def guidance_explain() -> str:
    """:data:`GUIDANCE_EXPLAIN` in the symbol of what the conditional network predicts."""
    out = LATEX_SYMBOLS[model_config().parameterization]
    symbol = out if out != "x_0" else r"\hat x_0"
    text = GUIDANCE_EXPLAIN.replace(r"\tilde{out}", rf"\tilde{{{symbol}}}").replace("{out}", symbol)
    return text.replace("{unconditional}", network_words(learned_config(False)))


def describe(digit: str, guidance: float) -> tuple[str, str]:
    """The status line's words and the file names' tag for a request (``digit`` of DIGIT_REQUESTS)."""
    w = f"w = {guidance:g}"
    if digit == PRIOR:
        return f" · any digit (labels from the class prior), {w}", f"_prior_w{guidance:g}"
    if digit == ALL:
        return f" · the ten digits, {w}", f"_all_w{guidance:g}"
    if digit == NONE:
        return " · no label", "_none"
    return f" · digit **{digit}**, {w}", f"_digit{digit}_w{guidance:g}"


def told(digit: str) -> bool:
    """Whether a request's network is told a class (:func:`ddpm.serve.runtime.learned_reverse`):
    every request but "no label", on a model that takes labels."""
    return digit.strip() != NONE and model_config().num_classes > 0


API_OUTPUTS = 5  # /generate's outputs: x_t, x̂_0, status, GIF, filmstrip (the page's player comes after)


def _waiting(position: int, seconds: float) -> tuple:
    return (gr.skip(), gr.skip(), waiting_status(position, seconds), gr.skip(), gr.skip(), gr.skip())


@endpoint("generate", model=model_fingerprint, gpu_seconds=90, waiting=_waiting)
def shared_generate(n: int = DIGITS, sampler: str = DEFAULT_SAMPLER, steps: int = DEFAULT_STEPS,
                    eta: float = DEFAULT_ETA, seed: int = 0, digit: str = DEFAULT_DIGIT,
                    guidance: float | None = None):  # fmt: skip
    """Stream a generation; the defaults are the page's and the package's (:mod:`ddpm.choices`).
    ``digit`` is a request of :mod:`ddpm.guidance` (``"prior"``, ``"all"``,
    ``"none"`` or 0 … 9) and ``guidance`` the weight w (None: the request's default). The labels
    are drawn from ``seed`` as :func:`ddpm.inference.generate` draws them, so a seed gives the same
    digits here and in ``python -m ddpm.sample``, on every device (:mod:`ddpm.seeding`). Computed
    once for everyone who asks for the same one (:mod:`ddpm.serve.results`)."""
    rt = learned_reverse(told(str(digit)))
    n, sampler, steps, eta = generation_request(
        n, sampler, steps, eta, rt.diffusion.num_timesteps, MAX_DIGITS
    )
    yield from _generate(rt, n, sampler, steps, eta, int(seed), str(digit), guidance)


generate = first_outputs(shared_generate, API_OUTPUTS)
"""/generate for API clients: :func:`shared_generate`'s frames without the player's data."""
generate_in_page = shared_generate
"""The page's Generate: :func:`shared_generate`'s frames, the last one with the trajectory."""


def _generate(
    rt, n: int, sampler: str, steps: int | None, eta: float, seed: int,
    digit: str = DEFAULT_DIGIT, guidance: float | None = None,
):  # fmt: skip
    """Stream (x_t grid, x̂_0 grid, status, gif, filmstrip, player) while the chain runs.

    Streamed grids are arrays (sent inside the stream, see :func:`.kit.widgets.inline_frames`);
    the final ones are PNG files, like the GIF and the filmstrip, which come with the last frame
    only.

    The chain runs step by step on the compute thread (:meth:`.kit.recording.Recording.run`); the page
    gets its newest step every :data:`ddpm.serve.settings.FRAME_SECONDS`, so a fast GPU is not slowed by the page and a
    slow CPU is not flooded; the GIF's frames are taken at fixed steps instead, so the downloads
    are the same on every machine, and so are the player's (grids at 1 pixel per pixel: the page
    scales them up).
    """
    generator = seeding.generator(seed)
    # the labels first, then the noise, from one generator: as ddpm.inference.generate draws them
    labels, guidance = generation_labels(rt.model, digit, guidance, n, generator, rt.device)
    start = time.perf_counter()
    asked, tag = describe(digit, guidance) if model_config().num_classes else ("", "")
    asked += f" · p_θ: {network_words(rt.model.config, labels is not None)}"
    rec = Recording(logs=("gif",))

    def record(step) -> None:  # on the compute thread: GIF_FRAMES steps at a fixed stride
        done = step.index + 1
        if step.index == 0 or done % max(1, step.num_steps // GIF_FRAMES) == 0 or done == step.num_steps:
            t = step.t_prev + 1  # the paper's t of x_prev (0: the finished digits)
            rec.log("gif", show_grid(step.x_prev, max_width=GIF_WIDTH))
            rec.film(f"t={t}", {FILM_ROW: show(step.x_prev[0], scale=FILM_SCALE)})
            kept = (show_grid(step.x_prev, max_width=0), show_grid(step.pred_x0, max_width=0))
            rec.keep(t, dict(zip(SERIES, kept, strict=True)))

    loop = sample_loop(
        rt.model, rt.diffusion, n, sampler, steps, eta, generator, labels=labels, guidance=guidance
    )
    shown = rec.run(
        loop, record, look=lambda s: grids(s, STREAM_WIDTH), closing=lambda s: grids(s, FINAL_WIDTH)
    )
    for shot in shown:
        if shot.last:
            continue  # the final frame comes below, with the files
        step = shot.step
        done = step.index + 1
        # The status carries the progress, for the page and API clients alike; gr.Progress would
        # add a message per frame that the page hides but still processes (0.3-0.5 s of a
        # browser's CPU per generation, taken from the chain on two cores)
        status = (
            f"`{progress_bar(done, step.num_steps)}` **step {done} / {step.num_steps}** (t = {step.t + 1}) · "
            f"{time.perf_counter() - start:.1f} s on {rt.device.type}{asked}"
        )
        yield (*shot.extra, status, gr.skip(), gr.skip(), gr.skip())
    elapsed = time.perf_counter() - start
    gif = rec.save_gif(f"generation_seed{seed}{tag}.gif", rec.logs["gif"])
    strip = rec.save_filmstrip(f"filmstrip_seed{seed}{tag}.png", columns=FILM_COLUMNS)
    names = (f"generation_seed{seed}{tag}_xt", f"generation_seed{seed}{tag}_x0hat")
    x_t, x0_hat = rec.save(dict(zip(names, shot.extra, strict=True)))  # the final grids, FINAL_WIDTH wide
    status = (
        f"**done:** {n} digits, {shot.step.num_steps} steps in {elapsed:.1f} s on {rt.device.type}{asked}"
    )
    yield x_t, x0_hat, status, gif, strip, rec.value()


def grids(step, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The step's x_t and x̂_0 as grids about ``width`` pixels wide."""
    return show_grid(step.x_prev, max_width=width), show_grid(step.pred_x0, max_width=width)


REQUEST = ["n", "sampler", "steps", "eta", "seed", "digit", "guidance"]
"""A generation's inputs by name, in the order of the view's controls (the page's engine reads them)."""


def in_page_settings() -> dict:
    """What the page's engine needs of this view to make the same pictures as :func:`_generate`:
    the widths of the streamed and final grids and of the GIF's, the frames kept, the series'
    names, the filmstrip's (its row, columns and scale, and its text's sizes in pixels, as
    :func:`.kit.plots.filmstrip` draws them), the pace of the frames, the digit requests' words, and
    what the status calls the network told a class and the one not told (as :func:`_generate`'s
    status names them)."""
    networks = {
        "told": network_words(learned_config(True), told=True),
        "untold": network_words(learned_config(False)),
    }
    return {"stream_width": STREAM_WIDTH, "final_width": FINAL_WIDTH, "gif_width": GIF_WIDTH,
            "gif_frames": GIF_FRAMES, "series": list(SERIES), "frame_seconds": FRAME_SECONDS,
            "film": {"row": FILM_ROW, "columns": FILM_COLUMNS, "scale": FILM_SCALE,
                     "title_px": round((TEXT_PT + 1) * DPI / 72), "text_px": round(TEXT_PT * DPI / 72)},
            "prior": PRIOR, "all": ALL, "none": NONE, "networks": networks}  # fmt: skip


def sampler_controls(sampler: str) -> list:
    """S takes part for DDIM and DPM-Solver, η for DDIM only (S keeps its value: a value set while
    the sampler changes is never overwritten)."""
    return [gr.Slider(interactive=sampler != "ddpm"), gr.Slider(interactive=sampler == "ddim")]


class Parts(NamedTuple):
    sampler: gr.Radio
    seed: gr.Number
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The tab: a generation streamed (x_t and x̂_0), then its player, GIF and filmstrip. It makes
    its own digits: the picker's ``digit`` is not read."""
    T = diffusion_cpu().num_timesteps
    with gr.Row():
        n = gr.Slider(
            1, MAX_DIGITS, value=DIGITS, step=1, label="Digits", elem_id="generate-n", min_width=120
        )
        sampler = gr.Radio(
            SAMPLER_CHOICES,
            value=DEFAULT_SAMPLER,
            label="Sampler",
            elem_id="generate-sampler",
            min_width=300,
        )
        # S takes part for DDIM and DPM-Solver, η for DDIM only
        steps = gr.Slider(1, T, value=DEFAULT_STEPS, step=1, label="Steps S",
                          elem_id="generate-steps", interactive=DEFAULT_SAMPLER != "ddpm")  # fmt: skip
        eta = gr.Slider(0.0, 1.0, value=DEFAULT_ETA, step=0.05, label="DDIM η", elem_id="generate-eta",
                        interactive=DEFAULT_SAMPLER == "ddim")  # fmt: skip
        # the digit and guidance share the first row, so the images stay on the first screen
        conditional = model_config().num_classes > 0
        digit = gr.Dropdown(DIGIT_CHOICES, value=DEFAULT_DIGIT, label="Ask for a digit", elem_id="generate-digit",
                            interactive=conditional, visible=conditional, min_width=150)  # fmt: skip
        guidance = gr.Slider(0.0, MAX_GUIDANCE, value=default_guidance(DEFAULT_DIGIT), step=0.25, label="Guidance w",
                             elem_id="generate-guidance", interactive=conditional, visible=conditional,
                             min_width=130)  # fmt: skip
        seed = seed_field(elem_id="generate-seed", min_width=100)
        with gr.Column(min_width=140, elem_classes=["run-column"]):
            compute = compute_choice("generate-compute")
            run = tab.run_button()
            on_server = gr.Button(
                "Run on the server", elem_id="generate-server-run", elem_classes=["server-run"]
            )
            stop = gr.Button("Stop", variant="stop", size="sm", elem_id="generate-stop")
    with result():
        in_page_panel("generate-here", "generate-server-run", "generate-player", in_page_settings())
        status = gr.Markdown(elem_id="generate-status", elem_classes=["server-result"])
        # the streamed frames (static/app.css)
        with gr.Row(equal_height=True, elem_id="generate-images", elem_classes=["server-result"]):
            x_t = inline_frames(gr.Image(
                label="xₜ", format="png", interactive=False, buttons=["download", "fullscreen"], height=400,
                elem_id="generate-xt",
            ))  # fmt: skip
            x0_hat = inline_frames(gr.Image(
                label="x̂₀ (the model's current guess)", format="png", interactive=False,
                buttons=["download", "fullscreen"], height=400, elem_id="generate-x0hat",
            ))  # fmt: skip
        player = chain_player(
            "generate-player", hint=f"When the generation has run, up to {GIF_FRAMES} of its steps are here: scrub, play, or step with ← / →.",
            height=320,
        )  # fmt: skip
    with gr.Row():
        gif_view = gr.Image(label="The trajectory, animated", type="filepath", interactive=False,
                            buttons=["fullscreen"], height=240, elem_id="generate-gif")  # fmt: skip
        with gr.Column():
            gif = gr.File(label="Animated GIF of the trajectory")
            strip = gr.File(label="Filmstrip of the first digit (PNG)")
    gr.Markdown(EXPLAIN, latex_delimiters=LATEX)
    gr.Markdown(
        guidance_explain(), latex_delimiters=LATEX, visible=conditional
    )  # below the images: the first screen shows them
    api = gr.Button(visible=False)  # /generate's trigger, for API clients
    # API clients that send no w get the request's default, as in the CLI (the page's slider
    # always holds a number: choosing a digit sets it to that default)
    api_guidance = gr.Number(None, visible=False, label="guidance w (none: the request's default)")
    inputs = [n, sampler, steps, eta, seed, digit, guidance]
    outputs = [x_t, x0_hat, status, gif, strip]
    # the status shows the progress (see kit.widgets.progress_bar)
    shared = {"concurrency_limit": WATCHERS, "show_progress": "hidden"}
    sampler.change(sampler_controls, sampler, [steps, eta], **QUIET)
    # a choice made by hand sets w to its default (a link sets both: `input`, not `change`)
    digit.input(lambda d: gr.Slider(value=default_guidance(d)), digit, guidance, **QUIET)
    # Run: the page decides where the chain runs (kit/here.py); on the server it presses on_server
    run.click(None, [*inputs, compute], None, js=run_js("generate-here", [*REQUEST, "compute"]), **QUIET)
    stop.click(None, None, None, js=stop_js("generate-here"), **QUIET)
    run_chain(on_server, stop, status, player, generate_in_page, inputs, [*outputs, player], **shared)
    gif.change(lambda path: path, gif, gif_view, **QUIET)  # the GIF plays in the page
    api.click(generate, [*inputs[:-1], api_guidance], outputs, api_name="generate", **shared)
    linked = {"n": n, "sampler": sampler, "steps": steps, "eta": eta, "ask": digit, "guidance": guidance,
              "seed": seed, "compute": compute}  # fmt: skip
    return Parts(sampler, seed, Linked(linked))
