"""View 2's stream (/compare): the exact reverse chain beside the learned one, frame by frame.

What runs is :func:`ddpm.teaching.reverse.compare_reverse`; what each step records (the player's
frames, the filmstrip's columns, the curves' steps and the classifier's read-out), what ends the
chains (the classifier's reading of both x_0, how new the learned one is) and how a frame shows
them are :class:`Comparison`'s; the recording, the pacing, the files and the player's value are the
kit's (:class:`.kit.recording.Recording`); the third chain's outputs (the true reverse of the training
set) are :mod:`.reverse_truth`'s. The tab's layout and wiring are in :mod:`.reverse`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from ..images import digit_tensor
from ..serve.handlers import endpoint, first_outputs
from ..serve.runtime import (
    Runtime,
    bundled_label,
    classifier,
    learned_config,
    learned_reverse,
    told_label,
    training_set,
    true_reverse,
)
from ..teaching.readout import ReadoutPoints, class_probabilities, readout_due
from ..teaching.reverse import (
    ChainEnds,
    ComparisonStep,
    Novelty,
    chain_ends,
    compare_reverse,
    comparison_curves,
    filmstrip_times,
    pasts_curves,
)
from .kit.players import DISPLAY_RANGE
from .kit.plots import KL_TITLE, MEAN_GAP_TITLE, X0_ERROR_TITLE, ChainCurves, class_probability_plot
from .kit.recording import Recording, Redraw, Shot
from .kit.widgets import (
    NOISE_RANGE,
    frame_scale,
    progress_bar,
    show,
    show_noise,
    waiting_status,
)
from .kit.words import a_digit, network_words
from .reverse_truth import learned_novelty, pasts_frame, truth_outputs

LEARNED_CHOICE = ("learned", "learned_range")  # the network's second output


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
RANGES = {PLAYER_SERIES[3]: (-NOISE_RANGE, NOISE_RANGE)}  # drawn black to white; the others: [−1, 1]
STRIP_ROWS = ("exact q", "learned p_θ", "true reverse")  # the filmstrip's rows (the last with the truth)
IMAGES = ("exact", "learned", "x0_hat", "eps_hat", "kl", "gaps", "readout", "truth", "pasts", "pasts_plot")
"""The image outputs: inline while streaming; files at the end."""
PASTS_TITLE = r"Effective number of pasts $1 / \sum_i w_i^2$"
READOUT_TITLE = "Classifier on the learned chain's x̂₀ (the exact chain's is x₀)"
CURVE_SECONDS = 1.0
"""How often a streaming comparison's curves are drawn again (two plots: ~0.1 s of a core)."""


def network_for(told_class: bool, variance: str) -> Runtime:
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


class ComparisonPlots:
    """One comparison's plots, kept for its whole chain: the read-out, drawn again only when it has a
    new point (drawn afresh for every streamed frame, it was a quarter of a shared comparison's
    CPU), and the KL and RMS curves (and the effective pasts' with the true reverse) on their
    :class:`.kit.plots.ChainCurves` figures, moved at most every :data:`CURVE_SECONDS` and at the
    end; mid-chain, each as the streams' drawing budget allows (:class:`.kit.recording.Redraw`)."""

    def __init__(self, t_start: int, T: int, truth: bool) -> None:
        self.kl = ChainCurves((KL_TITLE,), t_start)
        self.gaps = ChainCurves((MEAN_GAP_TITLE, X0_ERROR_TITLE), t_start)
        self.pasts = ChainCurves((PASTS_TITLE,), t_start) if truth else None
        self.T = T
        self.readout_plot = Redraw(self._readout)
        self.curve_plots = Redraw(self._curves, every=CURVE_SECONDS)

    def readout(self, points: ReadoutPoints, final: bool = False) -> np.ndarray:
        """The classifier's read-out of the learned chain's x̂_0 at ``points`` (within one comparison
        they only grow)."""
        return self.readout_plot(len(points), points, final=final)

    def curves(
        self, steps: list[ComparisonStep], final: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The KL plot, the RMS plot and (with the true reverse) the effective pasts' plot of ``steps``."""
        return self.curve_plots(len(steps), steps, final=final)

    def _readout(self, points: ReadoutPoints) -> np.ndarray:
        return class_probability_plot(
            [t for t, _ in points], [p for _, p in points], self.T, title=READOUT_TITLE
        )

    def _curves(self, steps: list[ComparisonStep]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        kl, mean, x0 = comparison_curves(steps)
        pasts = None if self.pasts is None else self.pasts.draw((pasts_curves(steps),))
        return self.kl.draw((kl,)), self.gaps.draw((mean, x0)), pasts


class Ending(NamedTuple):
    """What the closing work found where the chains ended."""

    ends: ChainEnds  # the classifier's reading of both x_0, and the digit's label
    new: Novelty | None  # with the true reverse: how new the learned chain's x_0 is


def ending_reading(ending: Ending | None) -> ReadoutPoints:
    """The read-out's last point, once the chains have ended: t = 0, the classifier's reading of the
    learned chain's x_0 (where x̂_0 is the sample itself); none while they run."""
    return [] if ending is None else [(0, ending.ends.learned)]


class Comparison:
    """One comparison: its settings and networks (read once, at its start), what each step records,
    what ends it and how its frames show it. See :func:`shared_compare`."""

    def __init__(
        self, digit: np.ndarray, t: int, seed: int, variance: str, told_class: bool, truth: bool
    ) -> None:
        self.rt = network_for(bool(told_class), variance)
        self.variance = variance
        self.x0 = digit_tensor(digit, self.rt.device)
        self.known = bundled_label(digit)  # a bundled digit is named, and told, by its label
        self.labels = told_label(digit, self.x0) if told_class else None
        self.told = None if self.labels is None else int(self.labels[0])
        self.reverse = true_reverse() if truth else None
        self.training = training_set() if truth else None  # the training digits and labels
        self.T = self.rt.diffusion.num_timesteps
        self.t, self.seed = int(t), int(seed)
        self.strip_times = set(filmstrip_times(self.T)) | {self.t}
        self.plots = ComparisonPlots(self.t, self.T, bool(truth))
        self.recording = Recording(logs=("steps", "readout"), ranges=RANGES)  # readout: of the learned x̂_0
        self.start = time.perf_counter()

    def steps(self) -> Iterator[ComparisonStep]:
        """The chains: :func:`ddpm.teaching.reverse.compare_reverse` from this comparison's x_t."""
        rt = self.rt
        return compare_reverse(rt.diffusion, rt.model, self.x0, self.t, self.seed, self.variance,
                               rt.model.config.parameterization, self.labels, self.reverse)  # fmt: skip

    # -- on the compute thread -------------------------------------------------------------------

    def record(self, step: ComparisonStep) -> None:
        """Every step: the curves' step, the read-out when due, a filmstrip column at its times,
        and the player's frames (28×28, 1 pixel per pixel)."""
        rec = self.recording
        rec.log("steps", step)
        if readout_due(step.t, self.t):
            rec.log("readout", (step.t, class_probabilities(classifier(), step.learned.pred_x0)))
        truth = step.truth.chain.x_t if step.truth is not None else None
        if step.t in self.strip_times:
            rec.film(f"t={step.t}", self._column(step.exact.x_t, step.learned.x_t, truth))
        images = (step.exact.x_t, step.learned.x_t, step.learned.pred_x0, step.learned.pred_noise)
        frames = {name: show(x, *RANGES.get(name, DISPLAY_RANGE), scale=1)
                  for name, x in zip(PLAYER_SERIES, images, strict=True)}  # fmt: skip
        if truth is not None:
            frames[TRUTH_SERIES[0]] = show(truth, scale=1)
            frames[TRUTH_SERIES[1]] = pasts_frame(step, self.training)
        rec.keep(step.t, frames)

    def closing(self, last: ComparisonStep) -> Ending:
        """After the last step: the classifier's reading of both chains' x_0 (does the learned one
        keep the digit?), how new the learned x_0 is (with the true reverse), and the frames of
        x_0 (x̂_0, ε̂ and the pasts keep the last step's, t = 1: the network's last word)."""
        ends = chain_ends(classifier(), self.x0, last.learned.x_prev, self.known)
        new = learned_novelty(last.learned.x_prev) if self.training is not None else None
        truth = last.truth.chain.x_prev if last.truth is not None else None
        self.recording.film("t=0", self._column(last.exact.x_prev, last.learned.x_prev, truth))
        ends_frames = {PLAYER_SERIES[0]: show(last.exact.x_prev, scale=1),
                       PLAYER_SERIES[1]: show(last.learned.x_prev, scale=1)}  # fmt: skip
        if truth is not None:
            ends_frames[TRUTH_SERIES[0]] = show(truth, scale=1)
        self.recording.keep(0, ends_frames)
        return Ending(ends, new)

    @staticmethod
    def _column(exact: Any, learned: Any, truth: Any) -> dict[str, np.ndarray]:
        column = {STRIP_ROWS[0]: show(exact, scale=2), STRIP_ROWS[1]: show(learned, scale=2)}
        if truth is not None:
            column[STRIP_ROWS[2]] = show(truth, scale=2)
        return column

    # -- the frames ------------------------------------------------------------------------------

    def frame(self, shot: Shot, final: bool = False) -> Frame:
        """A frame of ``shot``'s step: while streaming, its x_t, x̂_0, ε̂ and the curves and read-out
        recorded up to it; ``final``, the chains' x_0, the filmstrip and the verdict (its images
        still arrays)."""
        step, logs = shot.step, self.recording.snapshot(shot)
        ending: Ending | None = shot.extra if final else None
        exact, learned = (
            (step.exact.x_prev, step.learned.x_prev) if final else (step.exact.x_t, step.learned.x_t)
        )
        scale = frame_scale(final)
        strip = (
            self.recording.save_filmstrip(f"filmstrip_t{self.t}_seed{self.seed}.png") if final else gr.skip()
        )
        kl, gaps, pasts_plot = self.plots.curves(logs["steps"], final)
        return Frame(
            exact=show(exact, scale=scale),
            learned=show(learned, scale=scale),
            x0_hat=show(step.learned.pred_x0, scale=scale),
            eps_hat=show_noise(step.learned.pred_noise, scale=scale),
            status=self.status(step, ending.ends if ending else None),
            kl=kl,
            gaps=gaps,
            strip=strip,
            strip_file=strip,
            # from the start t down to the shown step; at the end down to t = 0, the learned x_0's reading
            readout=self.plots.readout(logs["readout"] + ending_reading(ending), final),
            **truth_outputs(step, self.training, scale, final, ending.new if ending else None),
            pasts_plot=pasts_plot,
            player=gr.skip(),
        )

    def final(self, shot: Shot) -> Frame:
        """The last frame (:meth:`frame`), its images as files to download, with the player's value."""
        frame = self.frame(shot, final=True)
        files = self.recording.save(
            {f"{field}_t{self.t}_seed{self.seed}": getattr(frame, field) for field in IMAGES}
        )
        return frame._replace(player=self.recording.value(), **dict(zip(IMAGES, files, strict=True)))

    def status(self, step: ComparisonStep, ends: ChainEnds | None = None) -> str:
        """Where the chains are (a bar while they run), how long it took and which network ran; at
        the end (``ends`` given), the bound along the exact chain and where the chains ended."""
        final = ends is not None
        done = self.t - step.t + 1
        status = f"**t = {0 if final else step.t}** · step {done} of {self.t} · {time.perf_counter() - self.start:.1f} s"
        if not final:  # the bar while it runs; "done" says the rest (the status keeps to two lines)
            status = f"`{progress_bar(done, self.t)}` {status}"
        source = (
            "its label"
            if self.known is not None
            else "the classifier's reading of $x_0$ (this digit has no label)"
        )
        status += (
            f" · learned p_θ: {network_words(self.rt.model.config, self.told is not None, self.told, source)}"
        )
        if final:
            status += (
                f" · done: along the exact chain, back at $x_0$, the bound's terms $L_{{t-1}}\\ (t \\geq 2)$ and"
                f" $L_0 = -\\log p_\\theta(x_0 \\mid x_1)$ add up to {step.kl_sum_bpd:.3f} bits/dim ($L_0$: {step.kl_bpd:.3f})."
            )
            status += verdict(ends, self.t)
        return status


def _waiting(position: int, seconds: float) -> Frame:
    return Frame(**dict.fromkeys(Frame._fields, gr.skip()))._replace(status=waiting_status(position, seconds))


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
    run = Comparison(digit, t, seed, variance, told_class, truth)
    for shot in run.recording.run(run.steps(), run.record, closing=run.closing):
        yield run.frame(shot)  # the last step too, as it streams (t = 1), then the chains' end
    yield run.final(shot)


compare = first_outputs(shared_compare, API_OUTPUTS)
"""/compare for API clients: :func:`shared_compare`'s frames without the player's data."""
compare_in_page = shared_compare
"""The page's Run: :func:`shared_compare`'s frames, the last one with the whole trajectory."""


def verdict(ends: ChainEnds, t_start: int) -> str:
    """What the final status adds about where the chains ended: the learned chain on another digit
    (expected from a large t: :data:`.reverse.EXPLAIN` says why, below the images), naming the digit
    by its label when it has one, in one line; and one sentence when the classifier reads a
    labelled digit as another class."""
    text = ""
    if ends.landed_elsewhere:
        text += (
            f"\n\n**The learned chain ended on {a_digit(ends.learned_class)}, the exact chain on the"
            f" {ends.own_class} it started from**: expected from $t = {t_start}$ (see below)."
        )
    if ends.misread:
        text += f" (The classifier reads this {ends.label} as {a_digit(ends.exact_class)}.)"
    return text
