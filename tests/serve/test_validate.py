"""Inputs are checked by the controls as the page's session holds them."""

import asyncio

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from ddpm.serve.validate import check_inputs


def test_a_slider_is_checked_against_the_end_an_update_gave_it():
    """A lesson's t ≤ T: its T (or a link) moves the slider's end; the session's slider is the rule."""
    with gr.Blocks() as demo:
        t = gr.Slider(1, 5, value=1, step=1, label="Show step t")
        t.change(lambda x: x, t, gr.Number())
    check_inputs(demo)
    fn = next(iter(demo.fns.values()))
    with pytest.raises(gr.Error, match="between 1 and 5, got 7"):
        asyncio.run(demo.preprocess_data(fn, [7], SessionState(demo)))
    moved = SessionState(demo)
    moved[t._id] = gr.Slider(1, 20, value=7, step=1, render=False)  # as Gradio keeps an update
    assert asyncio.run(demo.preprocess_data(fn, [7], moved)) == [7]
    with pytest.raises(gr.Error, match="between 1 and 20, got 21"):
        asyncio.run(demo.preprocess_data(fn, [21], moved))
