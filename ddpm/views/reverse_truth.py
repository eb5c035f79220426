"""The reverse view's third chain: the true reverse q(x_{t−1} | x_t) of the 60,000 training digits,
as the comparison shows it (:mod:`.reverse_stream`): its x_t, the training digits that weigh most
for it, where it landed, and how new the learned chain's x_0 is beside it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..serve.runtime import test_distances, training_set, true_reverse
from ..teaching.memorisation import spread
from ..teaching.reverse import ComparisonStep, Novelty, novelty
from .kit.widgets import pasts_grid, show
from .kit.words import a_digit


def truth_outputs(
    step: ComparisonStep, training: Any, scale: int, final: bool, new: Novelty | None
) -> dict[str, Any]:
    """The true reverse's image, its heaviest pasts and its text (Nones and "" without it), by field."""
    truth = step.truth
    if truth is None:
        return {"truth": None, "pasts": None, "truth_text": ""}
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
    pasts = np.kron(pasts_frame(step, training), np.ones((2, 2), dtype=np.uint8))  # 2× for the page
    return {"truth": show(x, scale=scale), "pasts": pasts, "truth_text": text}


def pasts_frame(step: ComparisonStep, training: Any) -> np.ndarray:
    """The true chain's 8 heaviest pasts at this step as one frame (:func:`.kit.widgets.pasts_grid`)."""
    pasts = step.truth.pasts
    return pasts_grid(training.images[pasts.index[0].cpu()].numpy(), pasts.weight[0].cpu().numpy())


def learned_novelty(x0: Any) -> Novelty:
    """How new the learned chain's x_0 [1, 1, 28, 28] is: its nearest training digit, against the
    bundled test digits' distances to theirs (:func:`ddpm.teaching.reverse.novelty`)."""
    return novelty(true_reverse(), training_set().labels, x0, test_distances())
