"""The reverse view's in-page panel (``static/engine/view_compare.js``) against the core and the
server's words: the curves it draws are :func:`ddpm.teaching.reverse.comparison_curves` of the same
steps (names, t and values), its verdict says what :class:`ddpm.teaching.reverse.ChainEnds` says, and
it names the network as :func:`ddpm.views.kit.words.network_words` does."""

from pathlib import Path

import numpy as np
import pytest
import torch
from nodekit import requires_node, run_node

from ddpm.teaching.reverse import ChainEnds, ComparisonStep, StepMetrics, comparison_curves
from ddpm.views.kit.words import a_digit
from ddpm.views.reverse_page import in_page_settings

pytestmark = requires_node
RUNNER = Path(__file__).with_name("view_compare_runner.mjs")
T = 12


def steps(told: bool, seed: int) -> list[ComparisonStep]:
    g = np.random.default_rng(seed)
    made = []
    for t in range(T, 0, -1):
        kl, gap, err = g.uniform(1e-4, 1, size=3)
        conditioned = StepMetrics(*g.uniform(1e-4, 1, size=3)) if told else None
        made.append(ComparisonStep(t, None, None, kl, gap, err, 0.0, conditioned))
    return made


def as_json(made: list[ComparisonStep]) -> list[dict]:
    return [{"t": s.t, "kl_bpd": s.kl_bpd, "mean_gap": s.mean_gap, "x0_error": s.x0_error,
             "conditioned": s.conditioned._asdict() if s.conditioned else None} for s in made]  # fmt: skip


def probabilities(top: int) -> list[float]:
    p = np.full(10, 0.02)
    p[top] = 1 - 0.02 * 9
    return p.tolist()


ENDS = [(7, 7, 7), (7, 3, 7), (1, 3, 7), (7, 7, None), (2, 8, None)]  # (exact's class, learned's, label)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    settings = in_page_settings()
    told_words = settings["networks"]["told"]
    results = [{"told": False, "told_label": None, "known": None}]
    if told_words:
        results += [
            {"told": True, "told_label": 3, "known": 3},
            {"told": True, "told_label": 8, "known": None},
        ]
    payload = {
        "settings": settings,
        "curves": [as_json(steps(False, 0)), as_json(steps(True, 1))],
        "ends": [
            {"ends": {"exact": probabilities(e), "learned": probabilities(lr), "label": label}, "t": 500}
            for e, lr, label in ENDS
        ],
        "results": results,
    }
    return settings, results, run_node(RUNNER, payload, tmp_path_factory.mktemp("view_compare"))


@pytest.mark.parametrize("told", [False, True])
def test_the_curves_are_the_cores_comparison_curves(computed, told):
    page = computed[2]["curves"][int(told)]
    core = comparison_curves(steps(told, int(told)))
    for panel, key in zip(core, ("kl", "mean_gap", "x0_error"), strict=True):
        assert [series["name"] for series in page[key]] == list(panel)
        for series, (ts, values) in zip(page[key], panel.values(), strict=True):
            points = np.array(series["points"], dtype=np.float64).reshape(-1, 2)
            assert np.array_equal(points[:, 0], ts) and np.allclose(points[:, 1], values, rtol=0, atol=1e-15)


def test_the_verdict_says_what_the_chains_ends_say(computed):
    for (exact, learned, label), said in zip(ENDS, computed[2]["verdicts"], strict=True):
        ends = ChainEnds(torch.tensor(probabilities(exact)), torch.tensor(probabilities(learned)), label)
        assert (
            f"ended on {a_digit(learned)}, the exact chain on the {ends.own_class}" in said
        ) == ends.landed_elsewhere
        assert (f"(The classifier reads this {label} as {a_digit(exact)}.)" in said) == ends.misread


def test_the_network_is_named_in_the_servers_words(computed):
    settings, results, said = computed[0], computed[1], computed[2]["networks"]
    assert said[0] == settings["networks"]["untold"]
    if len(results) > 1:
        assert said[1] == settings["networks"]["told"]["3"]["label"] and "y = 3, its label" in said[1]
        assert (
            said[2] == settings["networks"]["told"]["8"]["reading"] and "y = 8, the classifier's" in said[2]
        )
