"""The exact reverse q(x_{t−1} | x_t, x_0) beside the learned p_θ(x_{t−1} | x_t), from one x_t.

Both chains start from the same x_t = q_sample(x_0, t, ε_seed) and add the same z at every step, so
every difference between them is the model's. Along the exact chain, whose x_t is distributed as
q(x_t | x_0), the model is evaluated too, which gives one-sample estimates of the bound's terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from ..choices import Model, Parameterization, VarianceType
from ..classifier import DigitClassifier
from ..diffusion import GaussianDiffusion, StepOutput
from ..guidance import require_labels
from ..sampling import SampleStep, chain_loop, split_step
from ..true_reverse import Pasts, TrueReverse, choice_uniforms
from .common import chain_noise, check_paper_t, paper_index, rms, seeded_start
from .readout import class_probabilities


class StepMetrics(NamedTuple):
    """How far p_θ is from the exact posterior at one step (see :class:`ComparisonStep`)."""

    kl_bpd: float
    mean_gap: float
    x0_error: float


class ComparisonStep(NamedTuple):
    """One lockstep of the exact and the learned reverse chains (same z).

    ``t`` is the paper's t of both inputs x_t; the step produces x_{t−1}. The metrics are measured
    along the *exact* chain, with the model evaluated at its x_t: ``kl_bpd`` = KL(q(x_{t−1} | x_t,
    x_0) ‖ p_θ(x_{t−1} | x_t)) in bits/dim, a one-sample estimate of the bound's term L_{t−1} (at
    t = 1 the decoder's −log p_θ(x_0 | x_1) instead); ``mean_gap`` = RMS over pixels of μ_θ − μ̃_t;
    ``x0_error`` = RMS over pixels of x̂_0 − x_0; ``kl_sum_bpd`` = the sum of ``kl_bpd`` over this
    step and the ones before it (from the start t down to this one). These are the model's without
    a class (the null label of a conditional model). ``conditioned`` holds the same three for
    p_θ(x_{t−1} | x_t, y) when the comparison was given the digit's class y, else None.
    """

    t: int
    exact: SampleStep
    learned: SampleStep
    kl_bpd: float
    mean_gap: float
    x0_error: float
    kl_sum_bpd: float
    conditioned: StepMetrics | None = None
    truth: TruthStep | None = None


class TruthStep(NamedTuple):
    """The third chain of a comparison given a data set (:func:`compare_reverse`'s ``true_reverse``):
    the true reverse q(x_{t−1} | x_t) of that set, from the same x_t with the same z.

    ``chain`` is its step (``pred_x0`` = E[x_0 | x_t] at its own x_t); ``chosen`` LongTensor [B] the
    data image its step drew from; ``pasts`` the heaviest pasts of its x_t and their effective
    number (:class:`ddpm.true_reverse.Pasts`). Along the *exact* chain, like the other metrics:
    ``ideal_gap`` = RMS over pixels of x̂_0,θ − E[x_0 | x_t], the network's distance from the ideal
    denoiser of the data set (the model without a class), and ``effective`` the effective number of
    pasts of the exact chain's x_t.
    """

    chain: SampleStep
    chosen: torch.Tensor
    pasts: Pasts
    ideal_gap: float
    effective: float


def compare_reverse(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    variance: VarianceType = "fixed_small",
    parameterization: Parameterization = "eps",
    labels: torch.Tensor | None = None,
    true_reverse: TrueReverse | None = None,
) -> Iterator[ComparisonStep]:
    """Run q(x_{t−1} | x_t, x_0) and p_θ(x_{t−1} | x_t) side by side from one x_t, same noise.

    x_t = q_sample(x_0, t) with ε from ``seed`` (as in the forward view); both chains then use the
    same pre-drawn z at every step (:func:`.common.chain_noise`). They advance as one batch
    [exact; learned] through :func:`ddpm.sampling.chain_loop`, so one network call per step
    evaluates the model at both chains' x_t.

    With ``labels`` (LongTensor [B], the digits' classes) a class-conditional model's learned
    chain is told the class, p_θ(x_{t−1} | x_t, y), and along the exact chain the model is
    evaluated with and without it (one call of batch 3B), so the two sets of metrics show how much
    of the gap to the posterior knowing the class closes.

    With ``true_reverse`` (the exact reverse of a data set, :class:`ddpm.true_reverse.TrueReverse`)
    a third chain follows q(x_{t−1} | x_t) of that data set from the same x_t with the same z (its
    component choices from :func:`ddpm.true_reverse.choice_uniforms` of ``seed``), and along the
    exact chain the ideal denoiser E[x_0 | x_t] is set beside the network's x̂_0 (:class:`TruthStep`).
    Its posterior weights, at both chains' x_t, are one call of ``true_reverse.log_weights``.

    Args:
        x0: [B, C, H, W] clean digits in [−1, 1].
        t: the paper's start time in [1, T].

    Yields:
        :class:`ComparisonStep` for t, t − 1, …, 1; the last exact step returns x_0 itself.
    """
    t = check_paper_t(diffusion, t, minimum=1)
    batch = x0.shape[0]
    _, x_t = seeded_start(diffusion, x0, t, seed)  # the same x_t as inspect_step's
    z = chain_noise(t, x0, seed)
    if labels is not None:
        null = torch.full_like(labels, require_labels(model))
    metrics: list[StepMetrics] = []  # the step just taken's: without the class, then with it
    truth: list = []  # the step just taken's third chain: (chosen, pasts, ideal gap, effective)
    chains = 2 if true_reverse is None else 3
    uniforms = None if true_reverse is None else choice_uniforms(t, batch, seed)

    def outputs(x_q: torch.Tensor, x_p: torch.Tensor, index: torch.Tensor) -> list[torch.Tensor]:
        """The model at the exact chain's x_t (without, and with, the class), then the learned one's."""
        if labels is None:
            return list(model(torch.cat([x_q, x_p]), index.repeat(2)).split(batch))
        return list(
            model(torch.cat([x_q, x_q, x_p]), index.repeat(3), torch.cat([null, labels, labels])).split(batch)
        )

    def step(x: torch.Tensor, index: torch.Tensor, t_prev: int, z: torch.Tensor | None) -> StepOutput:
        x_q, x_p, *x_r = x.split(batch)
        z_q, z_p, *_ = z.split(batch)
        index = index[:batch]
        *at_exact, out_p = outputs(x_q, x_p, index)
        exact = diffusion.q_posterior_sample(x0, x_q, index, z=z_q)
        learned = diffusion.p_sample(out_p, x_p, index, parameterization, variance, z=z_p)
        metrics.clear()
        pred_x0 = []
        for out_q in at_exact:
            p = diffusion.p_mean_variance(out_q, x_q, index, parameterization, variance)
            kl = diffusion.vb_terms_bpd(out_q, x0, x_q, index, parameterization, variance)
            metrics.append(StepMetrics(float(kl.mean()), rms(p.mean, exact.mean), rms(p.pred_x0, x0)))
            pred_x0.append(p.pred_x0)
        rows = [exact, learned]
        if true_reverse is not None:
            log_w = true_reverse.log_weights(torch.cat([x_q, x_r[0]]), index.repeat(2))
            at_q, at_r = log_w.split(batch)
            # E[x_0 | x_t] at both chains' x_t: one pass over the data set
            ideal, ideal_r = true_reverse.expected_x0(log_w).reshape(2 * batch, *x_q.shape[1:]).split(batch)
            u = uniforms[t - 1 - int(index[0])]  # row k for the chain's k-th step
            out_r, chosen, pasts = true_reverse.mixture_step(at_r, x_r[0], index, z_q, u, ideal_r)
            effective = float(true_reverse.pasts_of(at_q, 1).effective.mean())
            truth[:] = [chosen, pasts, rms(pred_x0[0], ideal), effective]
            rows.append(out_r)
        # a learned σ² is per pixel, the posterior's per image: broadcast before joining the rows
        return StepOutput(*(torch.cat(torch.broadcast_tensors(*part)) for part in zip(*rows, strict=True)))

    kl_sum = 0.0
    start, noise = torch.cat([x_t] * chains), torch.cat([z] * chains, dim=1)
    for record in chain_loop(start, range(t - 1, -1, -1), step, noise):
        exact, learned, *third = split_step(record, (batch,) * chains)
        kl_sum += metrics[0].kl_bpd
        conditioned = metrics[1] if len(metrics) > 1 else None
        truth_step = TruthStep(third[0], *truth) if third else None
        yield ComparisonStep(record.t + 1, exact, learned, *metrics[0], kl_sum, conditioned, truth_step)


Panel = dict[str, tuple[np.ndarray, np.ndarray]]
"""One plot panel's curves: name -> (the paper's t [S], values [S])."""


def comparison_curves(steps: list[ComparisonStep]) -> tuple[Panel, Panel, Panel]:
    """The three panels of a comparison's steps so far: KL per step in bits/dim (t ≥ 2 only: at
    t = 1 the term is the decoder's −log p_θ(x_0 | x_1), not a KL), ‖μ̃_t − μ_θ‖ and ‖x̂_0 − x_0‖
    (RMS per pixel). One curve each ("KL", "RMS") or, for a comparison told the class, two each
    ("… without y" and "… told y", the latter from :attr:`ComparisonStep.conditioned`). A comparison
    with the true reverse of a data set adds, on the x̂_0 panel, the network's distance from the
    ideal denoiser, ‖x̂_0 − E[x_0 | x_t]‖ (:attr:`TruthStep.ideal_gap`)."""
    series = [("", [(s.t, s.kl_bpd, s.mean_gap, s.x0_error) for s in steps])]
    if steps and steps[0].conditioned is not None:
        series = [("without y", series[0][1]), ("told y", [(s.t, *s.conditioned) for s in steps])]
    truth = bool(steps) and steps[0].truth is not None
    kl: Panel = {}
    mean: Panel = {}
    x0: Panel = {}
    for name, rows in series:
        table = np.array(rows, dtype=np.float64).reshape(-1, 4)
        ts = table[:, 0]
        kl[f"KL {name}".strip()] = (ts[ts > 1], table[ts > 1, 1])
        mean[name or "RMS"] = (ts, table[:, 2])
        x0[f"to x₀ {name}".strip() if truth else name or "RMS"] = (ts, table[:, 3])
    if truth:
        x0["to E[x₀ | xₜ]" + (" without y" if len(series) > 1 else "")] = (
            np.array([s.t for s in steps], dtype=np.float64),
            np.array([s.truth.ideal_gap for s in steps], dtype=np.float64),
        )
    return kl, mean, x0


def pasts_curves(steps: list[ComparisonStep]) -> Panel:
    """The effective number of pasts 1 / Σ_i w_i² over t, at the exact chain's x_t and at the true
    reverse chain's own (empty without the true reverse): thousands at large t, one near t = 0."""
    if not steps or steps[0].truth is None:
        return {}
    ts = np.array([s.t for s in steps], dtype=np.float64)
    exact = [s.truth.effective for s in steps]
    own = [float(s.truth.pasts.effective.mean()) for s in steps]
    return {"exact chain's xₜ": (ts, np.array(exact)), "true reverse's xₜ": (ts, np.array(own))}


class Novelty(NamedTuple):
    """How new an image is against a data set: its nearest data image (``index``, its class
    ``label``) at ``distance`` (Euclidean, model range [−1, 1]), beside ``test`` (float64 [M]): how
    far held-out images (the bundled test digits) lie from their nearest data image."""

    index: int
    label: int
    distance: float
    test: np.ndarray

    @property
    def copied(self) -> bool:
        """Closer to a training image than any held-out image is to one: a copy, not a new digit."""
        return self.distance < float(self.test.min())


def novelties(
    reverse: TrueReverse, labels: torch.Tensor, images: torch.Tensor, test: torch.Tensor
) -> list[Novelty]:
    """The :class:`Novelty` of each of ``images`` [n, C, H, W] against ``reverse``'s data set, whose
    classes are ``labels`` [N]; ``test`` [M] the held-out distances (:meth:`TrueReverse.nearest`)."""
    near = reverse.nearest(images)
    held_out = test.double().cpu().numpy()
    return [
        Novelty(int(i), int(labels[int(i)]), float(d), held_out)
        for i, d in zip(near.index, near.distance, strict=True)
    ]


def novelty(reverse: TrueReverse, labels: torch.Tensor, x: torch.Tensor, test: torch.Tensor) -> Novelty:
    """:func:`novelties` of one image ``x`` [1, C, H, W]."""
    return novelties(reverse, labels, x, test)[0]


class ChainEnds(NamedTuple):
    """The classifier's reading of where both chains ended (the exact one returns x_0 itself), and
    the digit's label when it has one."""

    exact: torch.Tensor  # p(class | x_0) [10]
    learned: torch.Tensor  # p(class | the learned chain's x_0) [10]
    label: int | None = None  # the digit's own label (a bundled digit), or None (an upload, a drawing)

    @property
    def exact_class(self) -> int:
        """The classifier's reading of x_0."""
        return int(self.exact.argmax())

    @property
    def learned_class(self) -> int:
        return int(self.learned.argmax())

    @property
    def own_class(self) -> int:
        """The class the chains started from: the label when there is one, else the classifier's reading."""
        return self.exact_class if self.label is None else int(self.label)

    @property
    def misread(self) -> bool:
        """Whether the classifier reads the labelled digit x_0 as another class than its label."""
        return self.label is not None and self.exact_class != int(self.label)

    @property
    def landed_elsewhere(self) -> bool:
        """Whether the learned chain ended on another digit than the one it started from: expected
        from a large t, where so little of the digit is left in x_t that other digits are likely
        pasts of it too (p_θ never sees x_0; the exact chain does)."""
        return self.own_class != self.learned_class


def chain_ends(
    classifier: DigitClassifier, x0: torch.Tensor, learned_x0: torch.Tensor, label: int | None = None
) -> ChainEnds:
    """Read the digit x0 and the learned chain's end, each [1, 1, 28, 28] in [−1, 1]; ``label`` is
    the digit's own class when it has one."""
    return ChainEnds(class_probabilities(classifier, x0), class_probabilities(classifier, learned_x0), label)


def filmstrip_times(T: int) -> list[int]:
    """The paper's t shown in a filmstrip: T, 3T/4, T/2, then halving down to 1 (descending)."""
    times = [T, round(3 * T / 4), round(T / 2)]
    while times[-1] > 1:
        times.append(max(1, times[-1] // 2))
    return sorted(set(times), reverse=True)


class StepInspection(NamedTuple):
    """One reverse step at the paper's t, exact vs learned, from x_t = q_sample(x_0, t, ε_seed).

    Tensors are [B, C, H, W]; ``kl_bpd`` as in :class:`ComparisonStep`.
    """

    t: int
    x_t: torch.Tensor
    posterior_mean: torch.Tensor  # μ̃_t(x_t, x_0)
    model_mean: torch.Tensor  # μ_θ(x_t, t)
    pred_x0: torch.Tensor  # x̂_0 from ε̂
    pred_noise: torch.Tensor  # ε̂
    true_noise: torch.Tensor  # the ε that made x_t
    kl_bpd: float

    @property
    def mean_difference(self) -> torch.Tensor:
        """μ_θ − μ̃_t, [B, C, H, W]: where the learned step goes wrong."""
        return self.model_mean - self.posterior_mean

    @property
    def mean_gap(self) -> float:
        """RMS over pixels of μ_θ − μ̃_t."""
        return rms(self.mean_difference)

    @property
    def noise_error(self) -> float:
        """RMS over pixels of ε̂ − ε."""
        return rms(self.pred_noise, self.true_noise)


def inspect_step(
    diffusion: GaussianDiffusion,
    model: Model,
    x0: torch.Tensor,
    t: int,
    seed: int = 0,
    variance: VarianceType = "fixed_small",
    parameterization: Parameterization = "eps",
) -> StepInspection:
    """μ̃_t (which knows x_0) against μ_θ (which does not) at one step, from the same x_t."""
    t = check_paper_t(diffusion, t, minimum=1)
    index = paper_index(t, x0.shape[0], x0.device)
    epsilon, x_t = seeded_start(diffusion, x0, t, seed)
    with torch.no_grad():
        output = model(x_t, index)
    p = diffusion.p_mean_variance(output, x_t, index, parameterization, variance)
    q = diffusion.q_posterior_mean_variance(x0, x_t, index)
    kl = diffusion.vb_terms_bpd(output, x0, x_t, index, parameterization, variance)
    return StepInspection(t, x_t, q.mean, p.mean, p.pred_x0, p.pred_noise, epsilon, float(kl.mean()))
