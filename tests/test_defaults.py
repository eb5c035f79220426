"""One default generation everywhere: the library, ``python -m ddpm.sample``, the page's Generate
tab and its /generate API ask for the same sampler, steps, η, digit, guidance and seed when the
user names none (:mod:`ddpm.choices`, :mod:`ddpm.guidance`)."""

from __future__ import annotations

import inspect

import gradio as gr
import pytest

from ddpm import inference, sample
from ddpm.choices import DEFAULT_ETA, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS
from ddpm.guidance import DEFAULT_DIGIT, default_guidance
from ddpm.serve.runtime import diffusion_cpu
from ddpm.views import generate as generate_view

PAGE_IDS = {
    "n": "generate-n",
    "sampler": "generate-sampler",
    "steps": "generate-steps",
    "eta": "generate-eta",
    "seed": "generate-seed",
    "digit": "generate-digit",
    "guidance": "generate-guidance",
}
"""The Generate tab's controls, by the name of the /generate parameter each one sends."""


def run(sampler, steps, eta, seed, digit, guidance) -> dict:
    """What a generation runs for these inputs: None steps and None guidance resolved as the
    library resolves them (ancestral sampling takes all T whatever the steps)."""
    T = diffusion_cpu().num_timesteps
    return {
        "sampler": sampler,
        "steps": inference.network_steps(sampler, None if steps is None else int(steps), T),
        "eta": float(eta),
        "seed": int(seed),
        "digit": str(digit),
        "guidance": default_guidance(str(digit)) if guidance is None else float(guidance),
    }


@pytest.fixture(scope="module")
def library() -> dict:
    return run(DEFAULT_SAMPLER, DEFAULT_STEPS, DEFAULT_ETA, 0, DEFAULT_DIGIT, None)


@pytest.fixture(scope="module")
def demo():
    from ddpm.views.page import build_demo

    return build_demo()


def signature_defaults(fn) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_the_library_default_is_a_sampler_that_takes_its_steps(library):
    assert DEFAULT_SAMPLER in SAMPLERS and library["steps"] == DEFAULT_STEPS  # not ancestral: S counts
    d = signature_defaults(inference.generate)
    assert run(d["sampler"], d["steps"], d["eta"], d["seed"], d["digit"], d["guidance"]) == library
    d = signature_defaults(inference.sample_loop)
    assert (d["sampler"], d["steps"], d["eta"]) == (DEFAULT_SAMPLER, None, DEFAULT_ETA)


def test_the_cli_defaults_are_the_library_defaults(library):
    args = sample.parser().parse_args([])
    assert run(args.sampler, args.steps, args.eta, args.seed, args.digit, args.guidance) == library
    # naming the sampler alone keeps its own sense of steps: ancestral takes all T, the others S
    T = diffusion_cpu().num_timesteps
    for sampler, steps in (("ddpm", T), ("ddim", DEFAULT_STEPS), ("dpm-solver", DEFAULT_STEPS)):
        args = sample.parser().parse_args(["--sampler", sampler])
        assert inference.network_steps(args.sampler, args.steps, T) == steps


def test_the_api_function_defaults_are_the_library_defaults(library):
    d = signature_defaults(generate_view.generate)  # the /generate endpoint, through its wrappers
    assert run(d["sampler"], d["steps"], d["eta"], d["seed"], d["digit"], d["guidance"]) == library
    assert d["n"] == generate_view.DIGITS


def test_the_page_and_its_api_default_to_the_library_defaults(library, demo):
    page = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.components.Component)}
    shown = {name: page[elem_id].value for name, elem_id in PAGE_IDS.items()}
    assert run(**{k: v for k, v in shown.items() if k != "n"}) == library
    assert shown["n"] == generate_view.DIGITS
    # what gradio_client sends for a parameter left out: the input component's value, or None
    (api,) = [e for name, e in demo.get_api_info()["named_endpoints"].items() if name == "/generate"]
    sent = {p["parameter_name"]: p["parameter_default"] for p in api["parameters"]}
    assert all(p["parameter_has_default"] for p in api["parameters"])
    assert sent.keys() == PAGE_IDS.keys()
    assert run(**{k: v for k, v in sent.items() if k != "n"}) == library
    assert sent["n"] == generate_view.DIGITS
    # the page's controls for steps and η take part as the default sampler uses them
    assert page["generate-steps"].interactive == (DEFAULT_SAMPLER != "ddpm")
    assert page["generate-eta"].interactive == (DEFAULT_SAMPLER == "ddim")
