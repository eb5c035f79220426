"""View 2: the exact posterior reverse q(x_{t−1} | x_t, x_0) beside the learned p_θ(x_{t−1} | x_t).

The tab's layout and wiring, its words and the one-step inspector; the chains' stream (/compare)
is :mod:`.reverse_stream`."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np

from ..guidance import Conditioned
from ..images import digit_tensor
from ..serve.handlers import endpoint
from ..serve.runtime import diffusion_cpu, learned_config, model_config, told_label
from ..serve.settings import WATCHERS
from ..teaching.reverse import inspect_step
from .kit.here import DIGIT_DATA, compute_choice, in_page_panel, in_page_plots, run_js, stop_js
from .kit.players import chain_player
from .kit.tab import Linked, Tab
from .kit.widgets import (
    LATEX,
    PLOT_CLASS,
    QUIET,
    image,
    inline_frames,
    plot_image,
    result,
    run_chain,
    seed_field,
    show,
    show_signed,
)
from .kit.words import LATEX_SYMBOLS, network_words
from .reverse_page import IMAGES as IN_PAGE_IMAGES
from .reverse_page import PLOTS as IN_PAGE_PLOTS
from .reverse_page import in_page_settings
from .reverse_stream import API_OUTPUTS, IMAGES, LEARNED_CHOICE, Frame, compare, compare_in_page, network_for

REQUEST = ["t", "seed", "variance", "told", "truth"]
"""A comparison's inputs by name, in the order of the view's controls (the page's engine reads them;
the digit comes from the page's copy of it)."""
VARIANCE_CHOICES = [("β̃ₜ (posterior)", "fixed_small"), ("βₜ", "fixed_large")]
VARIANCE_WORDS = {"fixed_small": "= β̃ₜ", "fixed_large": "= βₜ", "learned_range": "learned"}

EXPLAIN = r"""
Both chains start from the **same** $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$ and add
the **same** noise $z$ at every step: $x_{t-1} = \mu + \sigma_t z$. The exact chain uses
$\tilde\mu_t(x_t, x_0)$, which knows the answer $x_0$; the learned chain uses $\mu_\theta(x_t, t)$, computed
from the network's output alone. Every difference between the rows is the model's. From a large $t$ the learned
chain may end on another digit than the exact one: $p_\theta(x_{t-1} \mid x_t)$ never sees $x_0$, and so little
of the digit is left in $x_t$ that other digits are likely pasts of it too; the exact chain knows $x_0$ (start
lower, or try another seed, to see the learned one keep it).
"""


def explain() -> str:
    """:data:`EXPLAIN` and which network p_θ is, with and without the class (from the configs)."""
    text = EXPLAIN + f"\nWhich network $p_\\theta$ is: {network_words(learned_config(False))}"
    if model_config().num_classes:
        text += f", or, with the class ticked, {network_words(learned_config(True), told=True)}"
    return text + ". The status line names the one that ran."


def formulas() -> str:
    """The inspector's three readings of μ_θ; the one the inspected network was trained for is marked."""
    marks = {name: [] for name in LATEX_SYMBOLS}
    marks[learned_config(False).parameterization].append("the network not told the digit")
    if model_config().num_classes:
        marks[learned_config(True).parameterization].append("the class-conditional network")
    mark = {name: f" ← {' and '.join(who)} predicts this" if who else "" for name, who in marks.items()}
    return rf"""
Ways to get the mean of $p_\theta(x_{{t-1}} \mid x_t)$ from the network's output; the inspector uses the
network the chains use (told the digit's class or not):
- **mean:** predict $\mu_\theta$ directly; exact target $\tilde\mu_t = \frac{{\sqrt{{\bar\alpha_{{t-1}}}}\,\beta_t}}{{1-\bar\alpha_t}}\,x_0 + \frac{{\sqrt{{\alpha_t}}\,(1-\bar\alpha_{{t-1}})}}{{1-\bar\alpha_t}}\,x_t$
- **ε** (Ho et al. 2020): $\mu_\theta = \frac{{1}}{{\sqrt{{\alpha_t}}}}\Big(x_t - \frac{{\beta_t}}{{\sqrt{{1-\bar\alpha_t}}}}\,\hat\varepsilon_\theta(x_t, t)\Big)${mark["eps"]}
- **x₀:** $\hat x_0 = \big(x_t - \sqrt{{1-\bar\alpha_t}}\,\hat\varepsilon\big)/\sqrt{{\bar\alpha_t}}$, then $\mu_\theta = \tilde\mu_t(x_t, \hat x_0)${mark["x0"]}
- **v** (Salimans & Ho 2022): $\hat x_0 = \sqrt{{\bar\alpha_t}}\,x_t - \sqrt{{1-\bar\alpha_t}}\,\hat v$, then $\mu_\theta = \tilde\mu_t(x_t, \hat x_0)${mark["v"]}
"""


@endpoint("inspect", gpu_seconds=20)
def inspect(digit: np.ndarray, t: int, seed: int, variance: str, told_class: bool = False):
    """One step at t of the network the chains use (told the digit's class or not): x_t, μ̃_t, μ_θ,
    their difference and a summary naming the network."""
    rt = network_for(bool(told_class), variance)
    x0 = digit_tensor(digit, rt.device)
    model = rt.model
    told = None
    if told_class:
        labels = told_label(digit, x0)
        model, told = Conditioned(rt.model, labels), int(labels[0])
    step = inspect_step(
        rt.diffusion, model, x0, int(t), int(seed), variance, rt.model.config.parameterization
    )
    text = (
        f"p_θ: {network_words(rt.model.config, told is not None, told)}, σ² {VARIANCE_WORDS[variance]}."
        f" At **t = {step.t}**: RMS of $\\mu_\\theta - \\tilde\\mu_t$ = {step.mean_gap:.4f}; "
        f"KL$(q \\,\\|\\, p_\\theta)$ = {step.kl_bpd:.4f} bits/dim; "
        f"RMS of $\\hat\\varepsilon - \\varepsilon$ = {step.noise_error:.3f}."
    )
    return (
        show(step.x_t), show(step.posterior_mean), show(step.model_mean), show_signed(step.mean_difference), text
    )  # fmt: skip


def variance_choices() -> list[tuple[str, str]]:
    """σ² = β̃ₜ and βₜ, and "learned" where one of the networks the view runs learned it."""
    learned = any(
        learned_config(told).learn_sigma
        for told in ((False, True) if model_config().num_classes else (False,))
    )
    return [*VARIANCE_CHOICES, LEARNED_CHOICE] if learned else list(VARIANCE_CHOICES)


def variance_picked(variance: str, told_class: bool):
    """σ² learned picked for a network that has none: tell the class-conditional network, which
    learned it, and say so; otherwise leave the checkbox."""
    if variance == LEARNED_CHOICE[1] and not learned_config(bool(told_class)).learn_sigma:
        gr.Info(
            "σ² learned: only the class-conditional network learned its σ², so it is now told the digit's class."
        )
        return True
    return gr.skip()


def told_picked(told_class: bool, variance: str):
    """The class unticked while σ² is learned and the network not told the digit has a fixed σ²:
    switch to its own σ², and say so."""
    own = learned_config(bool(told_class))
    if variance == LEARNED_CHOICE[1] and not own.learn_sigma:
        gr.Info(f"{network_words(own).capitalize()}: σ² is now its own, β̃ₜ.")
        return own.variance
    return gr.skip()


class Parts(NamedTuple):
    t: gr.Slider
    seed: gr.Number
    linked: Linked


def build(tab: Tab, block: gr.Tab, digit: gr.State) -> Parts:
    """The tab: both chains from one x_t of the chosen digit, streamed, then their player, curves
    and filmstrip; and the one-step inspector."""
    T = diffusion_cpu().num_timesteps
    with gr.Row(equal_height=True):
        t = gr.Slider(1, T, value=T, step=1, label="Start at t", scale=3, min_width=240, elem_id="reverse-t",
                      elem_classes=["timestep"])  # fmt: skip
        seed = seed_field("Seed (ε, z)", scale=1, min_width=110, elem_id="reverse-seed")
        config = model_config()
        variance = gr.Radio(
            variance_choices(),
            value=learned_config(False).variance,
            label="Variance σ² of p_θ",
            scale=2,
            min_width=220,
            elem_id="reverse-variance",
        )
        told = gr.Checkbox(
            False, label="Tell the model the digit's class", visible=config.num_classes > 0, scale=1,
            elem_id="reverse-told",
        )  # fmt: skip
        truth = gr.Checkbox(
            False, label="Add the training set's true reverse", scale=1,
            elem_id="reverse-truth",
        )  # fmt: skip
        # where to compute beside Stop, above Run (two lines of words): the controls' row keeps its height
        with gr.Column(scale=1, min_width=160, elem_classes=["run-column"]):
            with gr.Row(equal_height=True, elem_classes=["compute-stop"]):
                compute = compute_choice("reverse-compute")
                stop = gr.Button(
                    "Stop", variant="stop", size="sm", elem_id="reverse-stop", scale=0, min_width=50
                )
            run = tab.run_button()
            on_server = gr.Button(
                "Run on the server", elem_id="reverse-server-run", elem_classes=["server-run"]
            )
    with result():
        in_page_panel("reverse-here", "reverse-server-run", "reverse-player", in_page_settings(), view="compare",
                      images=IN_PAGE_IMAGES, plots="reverse-here-plots")  # fmt: skip
        status = gr.Markdown(latex_delimiters=LATEX, elem_id="reverse-status", elem_classes=["server-result"])
        # the streamed frames (static/app.css)
        with gr.Row(equal_height=True, elem_id="reverse-images", elem_classes=["server-result"]):
            exact = image("exact q: xₜ", height=220, elem_id="reverse-exact")
            learned = image("learned p_θ: xₜ", height=220, elem_id="reverse-learned")
            x0_hat = image("learned: x̂₀", height=220, elem_id="reverse-x0hat")
            eps_hat = image("learned: ε̂", height=220, elem_id="reverse-epshat")
            truth_xt = image("true reverse of the training set: xₜ", 220, "reverse-truth-xt", visible=False)
        player = chain_player(
            "reverse-player", hint="When the chains have run, every step is here: scrub, play, or step with ← / →.",
            height=200,
        )  # fmt: skip
    with gr.Row(equal_height=True, elem_id="reverse-truth-row", visible=False) as truth_row:
        pasts = image(
            "Its 8 heaviest pasts q(x₀ = xⁱ | xₜ), bars by weight", height=200, elem_id="reverse-pasts"
        )
        truth_text = gr.Markdown(latex_delimiters=LATEX, elem_id="reverse-truth-text")
    gr.Markdown(explain(), latex_delimiters=LATEX)
    api = gr.Button(visible=False)  # /compare's trigger, for API clients
    in_page_plots("reverse-here-plots", IN_PAGE_PLOTS)
    with gr.Row(elem_classes=["server-result"]):
        kl_plot = plot_image("KL per step along the exact chain (bits/dim)", elem_id="reverse-kl")
        gap_plot = plot_image(
            "Learned vs exact step: ‖μ̃ − μ_θ‖ and ‖x̂₀ − x₀‖ (and to the ideal E[x₀ | xₜ]), RMS per pixel",
            elem_id="reverse-gaps",
        )
    # the reference figure, across the page: its t captions and row names stay readable
    strip = gr.Image(
        label="Filmstrip: both chains from the start t down to 0",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        elem_id="reverse-filmstrip",
        elem_classes=[PLOT_CLASS, "server-result"],
    )
    with gr.Column(elem_classes=["server-result"]):
        readout_plot = plot_image("Classifier on the learned chain's x̂₀ over t", elem_id="reverse-readout")
        pasts_plot = plot_image("Effective number of pasts over t", "reverse-pasts-plot", visible=False)
        strip_file = gr.File(label="Download the filmstrip (PNG)")
    with gr.Accordion("Inspect one step: μ̃ₜ (knows x₀) vs μ_θ", open=False):
        gr.Markdown(formulas(), latex_delimiters=LATEX)
        with gr.Row():
            t_one = gr.Slider(1, T, value=T // 2, step=1, label="t", scale=3)
            go = gr.Button("Inspect", scale=1)
        with gr.Row(equal_height=True):
            i_xt = image("xₜ")
            i_q = image("μ̃ₜ (exact)")
            i_p = image("μ_θ (learned)")
            i_diff = image("μ_θ − μ̃ₜ (rescaled)")
        i_text = gr.Markdown(latex_delimiters=LATEX)
    outputs = Frame(
        exact=exact, learned=learned, x0_hat=x0_hat, eps_hat=eps_hat, status=status, kl=kl_plot, gaps=gap_plot,
        strip=strip, strip_file=strip_file, readout=readout_plot, truth=truth_xt, pasts=pasts,
        truth_text=truth_text, pasts_plot=pasts_plot, player=player,
    )  # fmt: skip
    for field in IMAGES:
        inline_frames(getattr(outputs, field))
    inputs = [digit, t, seed, variance, told, truth]
    shared = {"concurrency_limit": WATCHERS, "show_progress": "hidden"}
    # Run: the page decides where the chains run (kit/here.py); on the server it presses on_server
    here = run_js("reverse-here", [*REQUEST, "compute"], digit=DIGIT_DATA)
    run.click(None, [*inputs[1:], compute], None, js=here, **QUIET)
    stop.click(None, None, None, js=stop_js("reverse-here"), **QUIET)
    run_chain(on_server, stop, status, player, compare_in_page, inputs, list(outputs), **shared)
    # API clients: the same frames without the player's data (a hidden trigger; the page never uses it)
    api.click(compare, inputs, list(outputs)[:API_OUTPUTS], api_name="compare", **shared)
    # the true reverse's image, row and plot only when it runs
    truth.change(
        lambda on: (gr.Image(visible=on), gr.Row(visible=on), gr.Image(visible=on)),
        truth, [truth_xt, truth_row, pasts_plot], api_visibility="private", queue=False, show_progress="hidden",
    )  # fmt: skip
    go.click(
        inspect, [digit, t_one, seed, variance, told], [i_xt, i_q, i_p, i_diff, i_text], api_name="inspect"
    )
    # σ² learned needs a network that learned it: choosing it tells the class, untelling it leaves it
    variance.input(variance_picked, [variance, told], told, **QUIET)
    told.input(told_picked, [told, variance], variance, **QUIET)
    linked = {"t": t, "seed": seed, "variance": variance, "told": told, "truth": truth, "inspect_t": t_one,
              "compute": compute}  # fmt: skip
    return Parts(t, seed, Linked(linked))
