"""View 2: the exact posterior reverse q(x_{t−1} | x_t, x_0) beside the learned p_θ(x_{t−1} | x_t)."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from ..guidance import Conditioned
from ..images import digit_tensor
from ..serve import compute
from ..serve.handlers import endpoint, first_outputs
from ..serve.runtime import (
    bundled_label,
    classifier,
    diffusion_cpu,
    learned_config,
    learned_reverse,
    model_config,
    test_distances,
    told_label,
    training_set,
    true_reverse,
)
from ..serve.settings import WATCHERS
from ..serve.stream import DRAWING, paced
from ..teaching.memorisation import spread
from ..teaching.readout import ReadoutPoints, class_probabilities, readout_due
from ..teaching.reverse import (
    ChainEnds,
    ComparisonStep,
    Novelty,
    chain_ends,
    compare_reverse,
    comparison_curves,
    filmstrip_times,
    inspect_step,
    novelty,
    pasts_curves,
)
from .kit.encode import save_pngs
from .kit.players import chain_player, chain_value
from .kit.plots import (
    KL_TITLE,
    MEAN_GAP_TITLE,
    X0_ERROR_TITLE,
    ChainCurves,
    class_probability_plot,
    filmstrip,
)
from .kit.tab import Linked, Tab
from .kit.widgets import (
    LATEX,
    NOISE_RANGE,
    PLOT_CLASS,
    QUIET,
    frame_scale,
    image,
    inline_frames,
    pasts_grid,
    plot_image,
    progress_bar,
    result,
    run_chain,
    seed_field,
    show,
    show_noise,
    show_signed,
    waiting_status,
)
from .kit.words import LATEX_SYMBOLS, a_digit, network_words

VARIANCE_CHOICES = [("β̃ₜ (posterior)", "fixed_small"), ("βₜ", "fixed_large")]
LEARNED_CHOICE = ("learned", "learned_range")  # the network's second output
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


class Frame(NamedTuple):
    """The outputs of /compare, in order: the components when the tab is built, their values in a frame."""

    exact: Any  # the exact chain's x_t (x_0 at the end)
    learned: Any  # the learned chain's x_t
    x0_hat: Any  # the learned chain's x̂_0
    eps_hat: Any  # the learned chain's ε̂
    status: Any
    kl: Any  # KL per step over t (a plot, log scale)
    gaps: Any  # ‖μ̃ − μ_θ‖ and ‖x̂_0 − x_0‖ over t (a plot, each on its log axis)
    strip: Any  # the filmstrip image (last frame only)
    strip_file: Any  # the same, as a file to download
    readout: Any  # the classifier's read-out of x̂_0 over t
    truth: Any  # the true reverse of the training set: its x_t (x_0, a training digit, at the end)
    pasts: Any  # the 8 training digits that weigh most for the true chain's x_t, bars by weight
    truth_text: Any  # what the true reverse is at, which digit it landed on; the learned x_0's nearest
    pasts_plot: Any  # the effective number of pasts over t
    player: Any  # the whole trajectory for the in-page player (last frame only; not in the API's /compare)


API_OUTPUTS = len(Frame._fields) - 1  # /compare's outputs: every field but the player
PLAYER_SERIES = ("exact q: xₜ", "learned p_θ: xₜ", "learned: x̂₀", "learned: ε̂")
TRUTH_SERIES = ("true reverse: xₜ", "its 8 heaviest pasts")  # with the true reverse of the training set
IMAGES = ("exact", "learned", "x0_hat", "eps_hat", "kl", "gaps", "readout", "truth", "pasts", "pasts_plot")
"""The image outputs: inline while streaming; files at the end."""
PASTS_TITLE = r"Effective number of pasts $1 / \sum_i w_i^2$"


class ComparisonPlots:
    """One comparison's plots, kept for its whole chain: the read-out, drawn again only when it has a
    new point (drawn afresh for every streamed frame, it was a quarter of a shared comparison's
    CPU), and the KL and RMS curves on their two :class:`.kit.plots.ChainCurves` figures, moved at most
    every :data:`CURVE_SECONDS` and at the end. Mid-chain redraws share the streams' drawing budget
    (:data:`ddpm.serve.stream.DRAWING`): in a room, each stream's plots move less often, and its
    chain and everyone else's keep the cores."""

    def __init__(self) -> None:
        self.points, self.image = -1, None
        self.kl: ChainCurves | None = None
        self.gaps: ChainCurves | None = None
        self.pasts: ChainCurves | None = None
        self.curves: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.drawn = -math.inf

    def readout(self, readout: ReadoutPoints, T: int, final: bool = False) -> np.ndarray:
        # within one comparison the read-out only grows; mid-chain, redrawn as the budget allows
        if len(readout) != self.points and (final or self.image is None or DRAWING.allow()):
            start = time.perf_counter()
            self.points = len(readout)
            self.image = class_probability_plot(
                [t for t, _ in readout], [p for _, p in readout], T,
                title="Classifier on the learned chain's x̂₀ (the exact chain's is x₀)",
            )  # fmt: skip
            DRAWING.charge(time.perf_counter() - start)
        return self.image

    def curve_images(
        self, steps: list[ComparisonStep], t_start: int, final: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The KL plot, the RMS plot and (with the true reverse) the effective pasts' plot of the
        steps so far (the last ones drawn, if that was recent)."""
        if self.kl is None or self.gaps is None:
            self.kl = ChainCurves((KL_TITLE,), t_start)
            self.gaps = ChainCurves((MEAN_GAP_TITLE, X0_ERROR_TITLE), t_start)
            if steps and steps[0].truth is not None:
                self.pasts = ChainCurves((PASTS_TITLE,), t_start)
        due = time.perf_counter() - self.drawn >= CURVE_SECONDS and DRAWING.allow()
        if final or self.curves is None or due:
            start = time.perf_counter()
            kl, mean, x0 = comparison_curves(steps)
            pasts = None if self.pasts is None else self.pasts.draw((pasts_curves(steps),))
            self.curves = (self.kl.draw((kl,)), self.gaps.draw((mean, x0)), pasts)
            self.drawn = time.perf_counter()
            DRAWING.charge(self.drawn - start)
        return self.curves


CURVE_SECONDS = 1.0
"""How often a streaming comparison's curves are drawn again (two plots: ~0.1 s of a core)."""


def _waiting(position: int, seconds: float) -> Frame:
    return Frame(*[gr.skip()] * len(Frame._fields))._replace(status=waiting_status(position, seconds))


def network_for(told_class: bool, variance: str):
    """The runtime whose p_θ the learned chain follows (:func:`ddpm.serve.runtime.learned_reverse`:
    the class-conditional model when it is told the class, else the network not told the digit).
    ValueError when ``variance`` is the learned one and that network learned none."""
    if variance == LEARNED_CHOICE[1] and not learned_config(bool(told_class)).learn_sigma:
        raise ValueError(
            f"variance {variance!r} (σ² learned): {network_words(learned_config(bool(told_class)), bool(told_class))}"
            " has a fixed σ²; pick σ² = β̃ₜ or βₜ"
            + (
                ", or tell the model the digit's class"
                if learned_config(True).learn_sigma and not told_class
                else ""
            )
        )
    return learned_reverse(bool(told_class))


@endpoint("compare", gpu_seconds=60, waiting=_waiting)
def shared_compare(
    digit: np.ndarray, t: int, seed: int, variance: str, told_class: bool = False, truth: bool = False
):
    """Stream the chains from the paper's t down to 0, then a filmstrip of both and, for the
    page's player, every step of their series (28×28 frames, t from the start down to 0).

    With ``told_class`` a class-conditional model's learned chain is given the digit's class (the
    classifier's reading of x_0), and the curves show p_θ with and without it. With ``truth`` a
    third chain follows the true reverse q(x_{t−1} | x_t) of the 60,000 training digits from the
    same x_t with the same z (:mod:`ddpm.true_reverse`): it lands on a training digit, and the
    learned chain's x_0 is set beside its nearest training digit.

    Streamed images are arrays, sent inside the stream (:func:`.kit.widgets.inline_frames`); the
    last frame's are PNG files, to download. Computed once for everyone who asks for the same chain
    (:mod:`ddpm.serve.results`): a repeat gets the last frame at once, a request during the run joins it.
    """
    rt = network_for(bool(told_class), variance)
    x0 = digit_tensor(digit, rt.device)
    known = bundled_label(digit)  # a bundled digit is named, and told, by its label
    labels = told_label(digit, x0) if told_class else None
    told = None if labels is None else int(labels[0])
    reverse = true_reverse() if truth else None
    training = training_set() if truth else None
    T = rt.diffusion.num_timesteps
    t, seed = int(t), int(seed)
    keep = set(filmstrip_times(T))
    strip: dict[str, list[np.ndarray]] = {"exact q": [], "learned p_θ": []}
    titles: list[str] = []
    steps: list[ComparisonStep] = []
    readout: ReadoutPoints = []  # of the learned chain's x̂_0
    series = PLAYER_SERIES + (TRUTH_SERIES if truth else ())
    trajectory: dict[str, list[np.ndarray]] = {name: [] for name in series}
    plots = ComparisonPlots()
    start = time.perf_counter()

    def chain():  # runs in its own thread (see serve.stream); keeps what the curves and strip need
        for step in compare_reverse(
            rt.diffusion, rt.model, x0, t, seed, variance, rt.model.config.parameterization, labels, reverse
        ):
            steps.append(step)
            if readout_due(step.t, t):
                readout.append((step.t, class_probabilities(classifier(), step.learned.pred_x0)))
            if step.t in keep or step.t == t:
                titles.append(f"t={step.t}")
                strip["exact q"].append(show(step.exact.x_t, scale=2))
                strip["learned p_θ"].append(show(step.learned.x_t, scale=2))
            images = (step.exact.x_t, step.learned.x_t, step.learned.pred_x0, step.learned.pred_noise)
            for name, x, low in zip(PLAYER_SERIES, images, (-1, -1, -1, -NOISE_RANGE), strict=True):
                trajectory[name].append(show(x, low, -low, scale=1))
            if step.truth is not None:
                trajectory[TRUTH_SERIES[0]].append(show(step.truth.chain.x_t, scale=1))
                trajectory[TRUTH_SERIES[1]].append(_pasts_frame(step, training))
            yield step

    for last, _ in paced(chain()):
        yield _frame(last, steps, t, start, None, readout, T, told, known, rt, plots, training=training)
    # the read-out ends where the chain does, at x_0; and whether the learned chain kept the digit
    ends = compute.call(chain_ends, classifier(), x0, last.learned.x_prev, known)
    readout.append((0, ends.learned))
    titles.append("t=0")
    strip["exact q"].append(show(last.exact.x_prev, scale=2))
    strip["learned p_θ"].append(show(last.learned.x_prev, scale=2))
    if truth:
        strip["true reverse"] = [*(show(s.truth.chain.x_t, scale=2) for s in steps if s.t in keep or s.t == t),
                                 show(last.truth.chain.x_prev, scale=2)]  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="ddpm-"))
    path = filmstrip(strip, titles, str(folder / f"filmstrip_t{t}_seed{seed}.png"))
    novelty = compute.call(_novelty, last.learned.x_prev) if truth else None
    final = _frame(
        last, steps, t, start, path, readout, T, told, known, rt, plots, True, ends, training, novelty
    )
    names = [f"{name}_t{t}_seed{seed}" for name in IMAGES]
    present = [field for field in IMAGES if getattr(final, field) is not None]
    saved = save_pngs(
        [getattr(final, field) for field in present], [names[IMAGES.index(f)] for f in present], folder
    )
    # x_0 ends the chains; x̂_0 and ε̂ keep the last step's (t = 1), the network's last word
    ends = (last.exact.x_prev, last.learned.x_prev)
    for name, x in zip(PLAYER_SERIES, ends, strict=False):
        trajectory[name].append(show(x, scale=1))
    for name in PLAYER_SERIES[2:]:
        trajectory[name].append(trajectory[name][-1])
    if truth:
        trajectory[TRUTH_SERIES[0]].append(show(last.truth.chain.x_prev, scale=1))
        trajectory[TRUTH_SERIES[1]].append(trajectory[TRUTH_SERIES[1]][-1])
    times = [*range(t, 0, -1), 0]
    player = chain_value(
        {name: np.stack(frames) for name, frames in trajectory.items()}, times, "t", len(times) - 1
    )
    yield final._replace(player=player, **dict(zip(present, saved, strict=True)))


def _pasts_frame(step: ComparisonStep, training: Any) -> np.ndarray:
    """The true chain's 8 heaviest pasts at this step as one frame (:func:`.kit.widgets.pasts_grid`)."""
    pasts = step.truth.pasts
    return pasts_grid(training.images[pasts.index[0].cpu()].numpy(), pasts.weight[0].cpu().numpy())


def _novelty(x0: Any) -> Novelty:
    return novelty(true_reverse(), training_set().labels, x0, test_distances())


compare = first_outputs(shared_compare, API_OUTPUTS)
"""/compare for API clients: :func:`shared_compare`'s frames without the player's data."""
compare_in_page = shared_compare
"""The page's Run: :func:`shared_compare`'s frames, the last one with the whole trajectory."""


def _frame(
    step: ComparisonStep,
    steps: list[ComparisonStep],
    t_start: int,
    start: float,
    strip_path: str | None,
    readout: ReadoutPoints,
    T: int,
    told: int | None,  # the class the learned chain is told, or None
    known: int | None,  # the digit's label (a bundled digit), or None
    rt: Any,  # the learned chain's runtime (its network's config names it)
    plots: ComparisonPlots,
    final: bool = False,
    ends: ChainEnds | None = None,
    training: Any = None,  # the training digits and labels (MNISTSplit) when the true reverse runs
    new: Novelty | None = None,  # the final frame's: how new the learned chain's x_0 is
) -> Frame:
    exact, learned = (step.exact.x_prev, step.learned.x_prev) if final else (step.exact.x_t, step.learned.x_t)
    shown_t = 0 if final else step.t
    scale = frame_scale(final)
    # the chain's thread may be a few steps ahead of the step shown: plot up to that step
    steps = [s for s in steps[:] if s.t >= step.t]
    readout = [r for r in readout[:] if r[0] >= step.t]
    kl, gaps, pasts_plot = plots.curve_images(steps, t_start, final)
    done = t_start - step.t + 1
    status = f"**t = {shown_t}** · step {done} of {t_start} · {time.perf_counter() - start:.1f} s"
    if not final:  # the bar while it runs; "done" says the rest (the status keeps to two lines)
        status = f"`{progress_bar(done, t_start)}` {status}"
    source = (
        "its label" if known is not None else "the classifier's reading of $x_0$ (this digit has no label)"
    )
    status += f" · learned p_θ: {network_words(rt.model.config, told is not None, told, source)}"
    if final:
        status += (
            f" · done: along the exact chain, back at $x_0$, the bound's terms $L_{{t-1}}\\ (t \\geq 2)$ and"
            f" $L_0 = -\\log p_\\theta(x_0 \\mid x_1)$ add up to {step.kl_sum_bpd:.3f} bits/dim ($L_0$: {step.kl_bpd:.3f})."
        )
    if final and ends is not None:
        status += verdict(ends, t_start)
    return Frame(
        show(exact, scale=scale), show(learned, scale=scale), show(step.learned.pred_x0, scale=scale),
        show_noise(step.learned.pred_noise, scale=scale),
        status, kl, gaps, strip_path if strip_path else gr.skip(), strip_path if strip_path else gr.skip(),
        plots.readout(readout, T, final),
        *_truth_outputs(step, training, scale, final, new), pasts_plot,
        gr.skip(),
    )  # fmt: skip


def verdict(ends: ChainEnds, t_start: int) -> str:
    """What the final status adds about where the chains ended: the learned chain on another digit
    (expected from a large t: :data:`EXPLAIN` says why, below the images), naming the digit by its
    label when it has one, in one line; and one sentence when the classifier reads a labelled digit
    as another class."""
    text = ""
    if ends.landed_elsewhere:
        text += (
            f"\n\n**The learned chain ended on {a_digit(ends.learned_class)}, the exact chain on the"
            f" {ends.own_class} it started from**: expected from $t = {t_start}$ (see below)."
        )
    if ends.misread:
        text += f" (The classifier reads this {ends.label} as {a_digit(ends.exact_class)}.)"
    return text


def _truth_outputs(
    step: ComparisonStep, training: Any, scale: int, final: bool, new: Novelty | None
) -> tuple[Any, Any, str]:
    """The true reverse's image, its heaviest pasts and its text (Nones and "" without it)."""
    truth = step.truth
    if truth is None:
        return None, None, ""
    x = truth.chain.x_prev if final else truth.chain.x_t
    heaviest = ", ".join(
        f"#{int(i):,} ({a_digit(training.labels[int(i)])}, w = {float(w):.2f})"
        for i, w in zip(truth.pasts.index[0][:4], truth.pasts.weight[0][:4], strict=True)
    )
    text = (
        f"**True reverse of the 60,000 training digits** at $t = {step.t}$: its $x_t$ has "
        f"{float(truth.pasts.effective[0]):,.1f} effective pasts $1/\\sum_i w_i^2$ (the exact chain's "
        f"{truth.effective:,.1f}); the heaviest: {heaviest}."
    )
    if final:
        chosen = int(truth.chosen[0])
        text = (
            f"**The true reverse of the training set landed on training digit #{chosen:,}**"
            f" ({a_digit(training.labels[chosen])}), pixel for pixel: its last step is $\\tilde\\mu_1(x_1, x^i) = x^i$ with"
            f" $\\tilde\\beta_1 = 0$. Every chain of it ends on a training digit: the exact reverse of the training"
            f" set memorises."
        )
        if new is not None:
            low, median, high = spread(new.test)
            kind = (
                "closer than any test digit is to one: a copy"
                if new.copied
                else "as far as test digits are from theirs: a digit nobody wrote"
            )
            text += (
                f" **The learned chain's $x_0$** lies {new.distance:.2f} from its nearest training digit, #{new.index:,}"
                f" ({a_digit(new.label)}); the 100 bundled test digits lie {low:.2f}–{high:.2f} (median {median:.2f}) from"
                f" theirs: {kind}."
            )
    pasts = np.kron(_pasts_frame(step, training), np.ones((2, 2), dtype=np.uint8))  # 2× for the page
    return show(x, scale=scale), pasts, text


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
        with gr.Column(scale=1, min_width=140):
            run = tab.run_button()
            stop = gr.Button("Stop", variant="stop", size="sm")
    with result():
        status = gr.Markdown(latex_delimiters=LATEX, elem_id="reverse-status")
        with gr.Row(equal_height=True, elem_id="reverse-images"):  # the streamed frames (static/app.css)
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
    with gr.Row():
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
        elem_classes=[PLOT_CLASS],
    )
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
        exact, learned, x0_hat, eps_hat, status, kl_plot, gap_plot, strip, strip_file, readout_plot,
        truth_xt, pasts, truth_text, pasts_plot, player,
    )  # fmt: skip
    for field in IMAGES:
        inline_frames(getattr(outputs, field))
    inputs = [digit, t, seed, variance, told, truth]
    shared = {"concurrency_limit": WATCHERS, "show_progress": "hidden"}
    run_chain(run, stop, status, player, compare_in_page, inputs, list(outputs), **shared)
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
    linked = {"t": t, "seed": seed, "variance": variance, "told": told, "truth": truth, "inspect_t": t_one}
    return Parts(t, seed, Linked(linked))
