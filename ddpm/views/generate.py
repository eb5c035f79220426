"""View 3: generate digits from pure noise, streaming x_t and x̂_0 as the chain runs."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from ..choices import SAMPLERS, check_choice
from ..guidance import labels_for, require_labels
from ..images import save_gif
from ..inference import sample_loop
from . import compute
from .players import chain_player, chain_value
from .plots import filmstrip
from .results import shared_stream
from .runtime import diffusion_cpu, gpu, model_config, model_fingerprint, runtime
from .serving import WATCHERS
from .stream import paced
from .widgets import (
    LATEX,
    QUIET,
    first_outputs,
    inline_frames,
    progress_bar,
    run_chain,
    save_pngs,
    show,
    show_grid,
    user_errors,
    waiting_status,
)

MAX_DIGITS = 64
RUNNING = {"generate": 0}  # chains computing in this process (the tests watch Stop end them)
GIF_FRAMES = 40  # frames kept for the GIF and the filmstrip, at fixed steps, whatever the speed
STREAM_WIDTH = 256  # streamed grids are small (the page scales them up, pixelated); the last is full size
FINAL_WIDTH = 640
SAMPLER_CHOICES = [("Ancestral DDPM (all T steps)", "ddpm"), ("DDIM (S steps, η)", "ddim")]
ANY = "any"  # no class asked for: the null label, the unconditional model
DIGIT_CHOICES = [("any (no class)", ANY), *((str(d), str(d)) for d in range(10))]
MAX_GUIDANCE = 10.0
DEFAULT_GUIDANCE = 2.0

EXPLAIN = r"""
Start from pure noise $x_T \sim \mathcal{N}(0, I)$ and apply the learned reverse step again and again.
**Ancestral (DDPM):** $x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z$ for $t = T, \dots, 1$.
**DDIM:** a deterministic ($\eta = 0$) or partly random jump over a subsequence of $S$ timesteps.
Left: the current $x_t$; right: the model's current guess $\hat x_0$ of the final digit.
"""

GUIDANCE_EXPLAIN = r"""
**Draw me a 7** (a model trained with class labels): the same network is $\varepsilon_\theta(x_t, t, y)$
and, with the null label, $\varepsilon_\theta(x_t, t, \varnothing)$. Classifier-free guidance (Ho & Salimans
2022) steps with $\tilde\varepsilon = (1 + w)\,\varepsilon_\theta(x_t, t, y) - w\,\varepsilon_\theta(x_t, t, \varnothing)$:
$w = 0$ is the conditional model, a larger $w$ gives clearer, less varied digits.
"""


def check_request(n: int, sampler: str, steps: int, eta: float, T: int) -> tuple[int, str, int | None, float]:
    """Server-side limits, whatever the client sends."""
    check_choice("sampler", sampler, SAMPLERS)
    n, steps = int(n), int(steps)
    if not 1 <= n <= MAX_DIGITS:
        raise ValueError(f"number of digits must be between 1 and {MAX_DIGITS}, got {n}")
    if sampler == "ddim" and not 1 <= steps <= T:
        raise ValueError(f"DDIM steps must be between 1 and T = {T}, got {steps}")
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"η must be between 0 and 1, got {eta}")
    return n, sampler, (steps if sampler == "ddim" else None), float(eta)


def check_class_request(
    digit: str, guidance: float, n: int, model: torch.nn.Module, device: torch.device
) -> tuple[torch.Tensor | None, float]:
    """The digit asked for (``"any"`` or 0 … 9) and the guidance weight, checked: (labels [n] or
    None for the null label, w). A digit needs a class-conditional model."""
    check_choice("digit", str(digit), tuple(value for _, value in DIGIT_CHOICES))
    guidance = float(guidance)
    if not 0.0 <= guidance <= MAX_GUIDANCE:  # also refuses NaN
        raise ValueError(f"guidance w must be between 0 and {MAX_GUIDANCE:g}, got {guidance}")
    if digit == ANY:
        return None, 0.0
    return labels_for(str(digit), n, require_labels(model), device), guidance


API_OUTPUTS = 5  # /generate's outputs: x_t, x̂_0, status, GIF, filmstrip (the page's player comes after)


def _waiting(position: int, seconds: float) -> tuple:
    return (gr.skip(), gr.skip(), waiting_status(position, seconds), gr.skip(), gr.skip(), gr.skip())


@shared_stream("generate", model_fingerprint, _waiting)
@gpu(duration=90)
def shared_generate(n: int, sampler: str, steps: int, eta: float, seed: int, digit: str = ANY,
                    guidance: float = DEFAULT_GUIDANCE):  # fmt: skip
    """Stream a generation; ``digit`` (``"any"``, or 0 … 9 for a class-conditional model) and the
    guidance weight w ask for a class. Computed once for everyone who asks for the same one
    (:mod:`.results`)."""
    rt = runtime()
    n, sampler, steps, eta = check_request(n, sampler, steps, eta, rt.diffusion.num_timesteps)
    labels, guidance = check_class_request(digit, guidance, n, rt.model, rt.device)
    yield from _generate(rt, n, sampler, steps, eta, int(seed), labels, guidance)


generate = user_errors(first_outputs(shared_generate, API_OUTPUTS))
"""/generate for API clients: :func:`shared_generate`'s frames without the player's data."""
generate_in_page = user_errors(shared_generate)
"""The page's Generate: :func:`shared_generate`'s frames, the last one with the trajectory."""


def _generate(
    rt, n: int, sampler: str, steps: int | None, eta: float, seed: int,
    labels: torch.Tensor | None = None, guidance: float = 0.0,
):  # fmt: skip
    """Stream (x_t grid, x̂_0 grid, status, gif, filmstrip, player) while the chain runs.

    Streamed grids are arrays (sent inside the stream, see :func:`.widgets.inline_frames`); the
    final ones are PNG files, like the GIF and the filmstrip, which come with the last frame only.

    The chain runs step by step on the compute thread (:func:`.stream.paced`); the page gets its
    newest step every :data:`.stream.FRAME_SECONDS`, so a fast GPU is not slowed by the page and a
    slow CPU is not flooded; the GIF's frames are taken at fixed steps instead, so the downloads
    are the same on every machine, and so are the player's (grids at 1 pixel per pixel: the page
    scales them up).
    """
    generator = torch.Generator(rt.device).manual_seed(seed)
    start = time.perf_counter()
    asked = "" if labels is None else f" · digit **{int(labels[0])}**, w = {guidance:g}"
    tag = "" if labels is None else f"_digit{int(labels[0])}_w{guidance:g}"
    gif_frames: list = []
    first_digit: list[tuple[int, object]] = []  # (paper t, image) of digit 0 at every GIF frame
    trajectory: dict[str, list[np.ndarray]] = {"xₜ": [], "x̂₀": []}
    times: list[int] = []  # the paper's t of each kept frame (0: the finished digits)

    def chain():
        RUNNING["generate"] += 1
        try:
            every = None
            loop = sample_loop(
                rt.model, rt.diffusion, n, sampler, steps, eta, generator, labels=labels, guidance=guidance
            )
            for step in loop:
                every = every or max(1, step.num_steps // GIF_FRAMES)
                done = step.index + 1
                if step.index == 0 or done % every == 0 or done == step.num_steps:
                    gif_frames.append(show_grid(step.x_prev, max_width=320))
                    first_digit.append((step.t_prev + 1, show(step.x_prev[0], scale=2)))
                    trajectory["xₜ"].append(show_grid(step.x_prev, max_width=0))
                    trajectory["x̂₀"].append(show_grid(step.pred_x0, max_width=0))
                    times.append(step.t_prev + 1)
                yield step
        finally:  # also when Stop ends the stream
            RUNNING["generate"] -= 1

    for step, last in paced(chain()):
        if last:
            break
        done = step.index + 1
        # The status carries the progress, for the page and API clients alike; gr.Progress would
        # add a message per frame that the page hides but still processes (0.3-0.5 s of a
        # browser's CPU per generation, taken from the chain on two cores)
        status = (
            f"`{progress_bar(done, step.num_steps)}` **step {done} / {step.num_steps}** (t = {step.t + 1}) · "
            f"{time.perf_counter() - start:.1f} s on {rt.device.type}{asked}"
        )
        yield (*compute.call(grids, step, STREAM_WIDTH), status, gr.skip(), gr.skip(), gr.skip())
    elapsed = time.perf_counter() - start
    folder = Path(tempfile.mkdtemp(prefix="ddpm-"))
    gif = save_gif(gif_frames, str(folder / f"generation_seed{seed}{tag}.gif"))
    picks = (
        [first_digit[round(i * (len(first_digit) - 1) / 7)] for i in range(8)]
        if len(first_digit) > 8
        else first_digit
    )
    strip = filmstrip(
        {"first digit": [f for _, f in picks]},
        [f"t={t}" for t, _ in picks],
        str(folder / f"filmstrip_seed{seed}{tag}.png"),
    )
    names = (f"generation_seed{seed}{tag}_xt", f"generation_seed{seed}{tag}_x0hat")
    x_t, x0_hat = save_pngs(compute.call(grids, step, FINAL_WIDTH), names, folder)
    status = f"**done:** {n} digits, {step.num_steps} steps in {elapsed:.1f} s on {rt.device.type}{asked}"
    player = chain_value({name: np.stack(f) for name, f in trajectory.items()}, times, "t", len(times) - 1)
    yield x_t, x0_hat, status, gif, strip, player


def grids(step, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The step's x_t and x̂_0 as grids about ``width`` pixels wide."""
    return show_grid(step.x_prev, max_width=width), show_grid(step.pred_x0, max_width=width)


def build_generate_tab() -> None:
    T = diffusion_cpu().num_timesteps
    with gr.Tab("3 · Generate", id="generate"):
        with gr.Row():
            n = gr.Slider(1, MAX_DIGITS, value=16, step=1, label="Digits")
            sampler = gr.Radio(SAMPLER_CHOICES, value="ddpm", label="Sampler", elem_id="generate-sampler")
            # the DDIM controls take part only when DDIM is chosen (the default sampler is ancestral)
            steps = gr.Slider(1, T, value=50, step=1, label="DDIM steps S", elem_id="generate-steps",
                              interactive=False)  # fmt: skip
            eta = gr.Slider(
                0.0, 1.0, value=0.0, step=0.05, label="DDIM η", elem_id="generate-eta", interactive=False
            )
            seed = gr.Number(
                0,
                precision=0,
                label="Seed",
                minimum=0,
                maximum=2**31 - 1,
                elem_id="generate-seed",
                min_width=100,
            )
            with gr.Column(min_width=140):
                run = gr.Button("Generate", variant="primary", elem_id="generate-run")
                stop = gr.Button("Stop", variant="stop", size="sm")
        conditional = model_config().num_classes > 0
        with gr.Row(visible=conditional):
            digit = gr.Dropdown(DIGIT_CHOICES, value=ANY, label="Ask for a digit", elem_id="generate-digit", scale=1,
                                interactive=conditional)  # fmt: skip
            guidance = gr.Slider(0.0, MAX_GUIDANCE, value=DEFAULT_GUIDANCE, step=0.25, label="Guidance w",
                                 elem_id="generate-guidance", scale=2, interactive=conditional)  # fmt: skip
            gr.Markdown(GUIDANCE_EXPLAIN, latex_delimiters=LATEX)
        status = gr.Markdown(elem_id="generate-status")
        with gr.Row(equal_height=True, elem_id="generate-images"):  # the streamed frames (app.CSS)
            x_t = inline_frames(gr.Image(
                label="xₜ", format="png", interactive=False, buttons=["download", "fullscreen"], height=400,
                elem_id="generate-xt",
            ))  # fmt: skip
            x0_hat = inline_frames(gr.Image(
                label="x̂₀ (the model's current guess)", format="png", interactive=False,
                buttons=["download", "fullscreen"], height=400, elem_id="generate-x0hat",
            ))  # fmt: skip
        player = chain_player(
            "generate-player", hint=f"When the generation has run, {GIF_FRAMES} of its steps are here: scrub, play, or step with ← / →.",
            height=320,
        )  # fmt: skip
        with gr.Row():
            gif_view = gr.Image(label="The trajectory, animated", type="filepath", interactive=False,
                                buttons=["fullscreen"], height=240, elem_id="generate-gif")  # fmt: skip
            with gr.Column():
                gif = gr.File(label="Animated GIF of the trajectory")
                strip = gr.File(label="Filmstrip of the first digit (PNG)")
        gr.Markdown(EXPLAIN, latex_delimiters=LATEX)
        api = gr.Button(visible=False)  # /generate's trigger, for API clients
    inputs = [n, sampler, steps, eta, seed, digit, guidance]
    outputs = [x_t, x0_hat, status, gif, strip]
    # the status shows the progress (see widgets.progress_bar)
    shared = {"concurrency_limit": WATCHERS, "show_progress": "hidden"}
    sampler.change(lambda s: [gr.Slider(interactive=s == "ddim")] * 2, sampler, [steps, eta], **QUIET)
    event = run_chain(run, status, player, generate_in_page, inputs, [*outputs, player], **shared)
    gif.change(lambda path: path, gif, gif_view, **QUIET)  # the GIF plays in the page
    api.click(generate, inputs, outputs, api_name="generate", **shared)
    stop.click(lambda: "Stopped.", None, status, cancels=[event], api_visibility="private")
