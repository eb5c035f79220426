"""Every option offered works: each Radio, Dropdown and Checkbox of every view and lesson, each choice
in turn with the other inputs at their defaults, through the handler the page runs.

The checkpoints are tiny randomised networks laid out as the shipped ones are (a class-conditional
model with a learned σ² whose config names a separate ε-network for p_θ without the class, and an
ε-network alone), with T = 40 so that every view's default chain is short: these tests check that
no choice raises, not the digits' quality.
"""

import asyncio
import inspect
import json

import gradio as gr
import numpy as np
import pytest

from ddpm.views.page import build_demo
from tests.tiny import tiny_checkpoint

CHOICES = (gr.Radio, gr.Dropdown, gr.Checkbox)
T = 40


def layouts(tmp_path_factory) -> dict[str, str]:
    """Two checkpoint folders: "conditional" (names its unconditional network) and "eps" alone."""
    root = tmp_path_factory.mktemp("walk")
    eps = tiny_checkpoint(root / "eps", timesteps=T)
    conditional = tiny_checkpoint(root / "conditional", timesteps=T, num_classes=10, learn_sigma=True)
    config = json.loads((conditional / "config.json").read_text())
    (conditional / "config.json").write_text(json.dumps({**config, "unconditional_from": str(eps)}))
    return {"conditional": str(conditional), "eps": str(eps)}


@pytest.fixture(scope="module", params=["conditional", "eps"])
def demo(request, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("DDPM_CHECKPOINT", layouts(tmp_path_factory)[request.param])
    yield build_demo()
    patch.undo()


def options(component) -> list:
    """The values a person can pick: a checkbox's two, a radio's or a dropdown's choices."""
    if isinstance(component, gr.Checkbox):
        return [False, True]
    return [value for _, value in component.choices]


def default(component):
    value = component.value
    return value() if callable(value) else value


def run(fn, args: list) -> None:
    """Call a handler as the page's event would and consume what it streams."""
    result = fn(*args)
    if inspect.isasyncgen(result):

        async def drain():
            async for _ in result:
                pass

        asyncio.run(drain())
    elif inspect.isgenerator(result):
        for _ in result:
            pass
    elif inspect.iscoroutine(result):
        asyncio.run(result)


def react(demo: gr.Blocks, picked, inputs: list, args: list) -> list:
    """``args`` after the page's own reactions to picking a choice of ``picked``: the events it
    triggers (``.input``, ``.change``) whose outputs are other inputs of the view set them, as the
    page would before its Run (σ² learned ticks "tell the class", for instance)."""
    values = {c._id: default(c) for block_fn in demo.fns.values() for c in block_fn.inputs}
    values.update({c._id: a for c, a in zip(inputs, args, strict=True)})
    args = list(args)
    for block_fn in demo.fns.values():
        if block_fn.fn is None or not {(picked._id, "input"), (picked._id, "change")} & set(block_fn.targets):
            continue
        result = block_fn.fn(*(values[c._id] for c in block_fn.inputs))
        if isinstance(result, dict) and all(isinstance(k, gr.blocks.Block) for k in result):
            pairs = list(result.items())  # {component: value}
        else:
            pairs = list(
                zip(block_fn.outputs, result if len(block_fn.outputs) > 1 else (result,), strict=True)
            )
        for output, value in pairs:
            plain = not isinstance(value, dict | gr.components.Component)  # not an update or a skip
            if plain and output in inputs:
                args[inputs.index(output)] = value
    return args


def walks(demo: gr.Blocks) -> list[tuple[str, object, list, int, object]]:
    """(event name, handler, inputs, index of the choice input, its value) for each choice offered.

    Handlers reading the request (copy link) or the session are left out, and an event whose inputs
    another event already covers (the API's twin of a page's Run) is walked once."""
    seen, cases = set(), []
    for block_fn in demo.fns.values():
        fn, inputs = block_fn.fn, list(block_fn.inputs)
        if fn is None or not any(isinstance(c, CHOICES) for c in inputs):
            continue
        parameters = inspect.signature(fn).parameters.values()
        if any(p.annotation in (gr.Request, "gr.Request") for p in parameters):
            continue
        key = tuple(c._id for c in inputs)
        if key in seen:
            continue
        seen.add(key)
        for i, component in enumerate(inputs):
            if isinstance(component, CHOICES) and component.visible is not False:
                cases += [
                    (block_fn.api_name or block_fn.name, fn, inputs, i, value) for value in options(component)
                ]
    return cases


@pytest.mark.slow
def test_every_choice_of_every_view_runs(demo):
    cases = walks(demo)
    names = {name for name, *_ in cases}
    assert {"compare", "inspect", "generate", "small_steps", "memorisation", "plane_data"} <= names
    failures = []
    for name, fn, inputs, i, value in cases:
        args = [default(c) for c in inputs]
        args[i] = value
        try:
            args = react(demo, inputs[i], inputs, args)
            run(fn, args)
        except Exception as err:  # every failure is reported, with its choice
            failures.append(
                f"{name}: {getattr(inputs[i], 'label', '?')} = {value!r}: {type(err).__name__}: {err}"
            )
    assert not failures, "\n".join(failures)


def test_the_reverse_view_offers_sigma_learned_only_through_a_network_that_learned_it(demo):
    from ddpm.serve.runtime import learned_config, model_config
    from ddpm.views import reverse

    choices = [value for _, value in reverse.variance_choices()]
    learned = "learned_range"
    assert (learned in choices) == (learned_config(False).learn_sigma or learned_config(True).learn_sigma)
    skip = type(gr.skip())
    assert isinstance(reverse.told_picked(False, "fixed_small"), skip)  # nothing to switch
    assert isinstance(reverse.variance_picked("fixed_large", False), skip)
    if learned in choices and model_config().num_classes and not learned_config(False).learn_sigma:
        assert reverse.variance_picked(learned, False) is True  # picking it tells the class
        assert reverse.told_picked(False, learned) == learned_config(False).variance  # untelling leaves it
        digit = np.zeros((28, 28), np.uint8)
        with pytest.raises(gr.Error, match="fixed σ²"):  # the API is told why
            run(reverse.compare, [digit, 5, 0, learned, False])
