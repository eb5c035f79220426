"""What the screen says of the network that runs: derived from the loaded checkpoint's config.

Each shipped checkpoint (the default class-conditional v-model, whose unconditional network is the
ε-model, and the ε-model alone) is loaded in turn; the expected words are read from the
checkpoints' config.json files here, not from the code under test.
"""

import asyncio
import itertools
import json
import re

import gradio as gr
import pytest
import torch

from ddpm import checkpoint
from ddpm.serve import runtime
from ddpm.serve.runtime import bundled_label
from ddpm.teaching.reverse import ChainEnds, chain_ends
from ddpm.unet import UNetConfig
from ddpm.views import generate, reverse, reverse_stream
from ddpm.views.digits import bundled_of_class, default_digit
from ddpm.views.kit.words import SYMBOLS, loss_words, network_words
from ddpm.views.lessons import bits_per_dim, many_pasts, noise_error, parameterizations
from ddpm.views.page import build_demo
from tests.tiny import tiny_checkpoint

SHIPPED = ("default", "eps")


def configs_of(name: str) -> tuple[dict, dict | None]:
    """(the network not told the digit, the class-conditional one or None), from the JSON files."""
    folder = checkpoint.resolve(name)
    own = json.loads((folder / "config.json").read_text())
    named = own.get("unconditional_from")
    plain = json.loads((checkpoint.resolve(named) / "config.json").read_text()) if named else own
    told = own if own["model"].get("num_classes", 0) else None
    return plain["model"], (told["model"] if told else None)


def predicts(model: dict) -> str:
    return "it predicts " + {"eps": "ε", "x0": "x₀", "v": "v"}[model["parameterization"]]


@pytest.fixture(params=SHIPPED)
def shipped(request, monkeypatch):
    monkeypatch.setenv("DDPM_CHECKPOINT", request.param)
    return request.param


@pytest.mark.parametrize(
    ("parameterization", "learn_sigma", "classes"),
    itertools.product(("eps", "x0", "v"), (False, True), (0, 10)),
)
def test_the_words_for_a_network_follow_each_field_of_its_config(parameterization, learn_sigma, classes):
    config = UNetConfig(parameterization=parameterization, learn_sigma=learn_sigma, num_classes=classes)
    symbol = SYMBOLS[parameterization]
    for words in (network_words(config), network_words(config, True, 3)):
        assert f"it predicts {symbol}," in words
        assert ("σ² learned" in words) == learn_sigma and ("σ² fixed" in words) == (not learn_sigma)
    assert "told the digit's class y = 3" in network_words(config, True, 3)
    assert ("null label" in network_words(config)) == (classes > 0)
    assert "not told the digit" in network_words(config)
    loss = loss_words(config)
    assert ("Algorithm 1" in loss) == (parameterization == "eps") and f"E‖{symbol} − " in loss
    assert ("L_hybrid" in loss) == learn_sigma


def test_the_learned_reverse_without_the_class_is_one_network_everywhere(shipped):
    plain, told = configs_of(shipped)
    assert runtime.learned_config(False).parameterization == plain["parameterization"]
    assert runtime.learned_reverse(False).model.config.parameterization == plain["parameterization"]
    if told is not None:
        assert runtime.learned_config(True).parameterization == told["parameterization"]
        assert runtime.learned_config(True).learn_sigma == told.get("learn_sigma", False)


def test_every_text_on_the_page_names_the_networks_of_the_checkpoint(shipped):
    plain, told = configs_of(shipped)
    allowed = {predicts(plain)} | ({predicts(told)} if told else set())
    demo = build_demo()
    texts = []
    for block in demo.blocks.values():
        if isinstance(block, gr.Markdown):
            texts.append(str(block.value))
        label = getattr(block, "label", None)
        if isinstance(label, str):
            texts.append(label)
    page = "\n".join(texts)
    assert "this model" not in page and "as ε̂" not in page and "ε-model" not in page
    found = set(re.findall(r"it predicts (?:ε|x₀|v)", page))
    assert found == allowed  # the explanations name both networks, and no other
    assert f"{predicts(plain)}" in reverse.explain()
    own = {"eps": "**ε**", "x0": "**x₀:**", "v": "**v**"}[plain["parameterization"]]
    marked = [line for line in reverse.formulas().splitlines() if "predicts this" in line]
    assert any(own in line for line in marked)


def test_the_parameterizations_lesson_names_what_the_network_that_ran_predicts(shipped):
    plain, told = configs_of(shipped)
    *_, text = parameterizations.parameterizations(default_digit(), 50, 0, False)
    symbol = predicts(plain).removeprefix("it predicts ")
    assert f"trained to predict **{symbol}**" in text and "not told the digit" in text
    if told is not None:
        *_, text = parameterizations.parameterizations(default_digit(), 50, 0, True)
        symbol = predicts(told).removeprefix("it predicts ")
        assert f"trained to predict **{symbol}**" in text and "told the digit's class y = 7" in text


def test_the_noise_error_lesson_calls_its_curve_l_simple_only_for_an_eps_network(
    shipped, tmp_path, monkeypatch
):
    plain, _ = configs_of(shipped)
    _, text = noise_error.noise_error(0)
    assert predicts(plain) in text
    assert ("Algorithm 1" in text and "L_\\text{simple}" in text) == (plain["parameterization"] == "eps")
    # a v-network: its ε̂ is derived, and its curve is not its training loss
    monkeypatch.setenv(
        "DDPM_CHECKPOINT", str(tiny_checkpoint(tmp_path / "v", timesteps=40, parameterization="v"))
    )
    _, text = noise_error.noise_error(0)
    assert "it predicts v" in text and "not the loss it was trained with" in text and "mean over" in text


def test_status_lines_name_the_network_that_ran(shipped):
    plain, told = configs_of(shipped)

    async def final(told_class):
        chains = reverse_stream.compare_in_page(default_digit(), 3, 0, "fixed_small", told_class)
        frames = [f async for f in chains]
        return frames[-1].status

    assert predicts(plain) in asyncio.run(final(False))
    many = many_pasts.pasts(default_digit(), 5, 2, 0, False)[-1]
    assert predicts(plain) in many and "not told the digit" in many
    if told is not None:
        status = asyncio.run(final(True))
        assert predicts(told) in status and "told the digit's class y = 7, its label" in status
        assert predicts(told) in many_pasts.pasts(default_digit(), 5, 2, 0, True)[-1]
        table = bits_per_dim.bits_per_dim(default_digit(), 0, True)[-1]
        assert predicts(told) in table and "with σ² = β̃ₜ instead" in table  # its learned σ² beside β̃ₜ

        async def generated(digit):
            frames = [f async for f in generate.generate(2, "ddim", 2, 0.0, 0, digit)]
            return frames[-1][2]

        assert predicts(plain) in asyncio.run(generated("none"))
        assert predicts(told) in asyncio.run(generated("3"))


def test_a_labelled_digit_is_named_by_its_label_and_a_misreading_gets_its_own_sentence():
    p = torch.eye(10)
    five_read_five = ChainEnds(exact=p[5], learned=p[5], label=3)
    text = reverse_stream.verdict(five_read_five, 400)
    assert "ended on a 5, the exact chain on the 3 it started from" in text
    assert "The classifier reads this 3 as a 5." in text
    kept = reverse_stream.verdict(ChainEnds(exact=p[5], learned=p[3], label=3), 400)
    assert "ended on" not in kept and "reads this 3 as a 5" in kept
    # without a label the classifier's reading is the digit's class, and there is nothing to misread
    unlabelled = reverse_stream.verdict(ChainEnds(exact=p[5], learned=p[3]), 400)
    assert "the exact chain on the 5 it started from" in unlabelled and "reads this" not in unlabelled
    assert reverse_stream.verdict(ChainEnds(exact=p[3], learned=p[3], label=3), 400) == ""


def test_the_bundled_digits_carry_their_labels():
    from ddpm.images import digit_tensor

    three = bundled_of_class(3, 0)
    assert bundled_label(three) == 3 and bundled_label(255 - three) is None
    # the lecture's example: the first bundled 3 is read as a 5 by the classifier; it is still a 3
    x0 = digit_tensor(three, torch.device("cpu"))
    ends = chain_ends(runtime.classifier(), x0, x0, bundled_label(three))
    assert ends.own_class == 3 and ends.misread == (ends.exact_class != 3)
