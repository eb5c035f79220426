"""Every input the API accepts is checked before Gradio converts it, with a message naming it.

Gradio's own conversion lets some bad values through to fail later without a word: a string for
a number compares with the slider's bounds and raises a TypeError, NaN passes the bounds and
fails when rounded, a number where an image belongs fails Gradio's data model, a file reference
the server never gave out is refused with an exception that is not a gr.Error; such errors reach
the client as ``{"error": null}``. :func:`check_inputs` checks each value first, so that a bad
one gets a :class:`gr.Error` that names the control and the value (shortened), and words
anything the conversion itself still raises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import gradio as gr

MAX_TEXT = 1000  # characters in a text input (the small-steps lesson's means are a few numbers)
MAX_JSON = 100_000  # characters of a JSON input (the 2-D lesson's drawn points: 1,000 pairs)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _name(component: gr.components.Component) -> str:
    return str(component.label or component.elem_id or type(component).__name__)


def _number(component: gr.Slider | gr.Number, payload: Any) -> None:
    name = _name(component)
    if payload is None and isinstance(component, gr.Number) and component.value is None:
        return  # a Number that starts blank is optional: blank means the handler's default
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        raise gr.Error(f"{name} must be a number, got {_show(payload)}")
    if not math.isfinite(payload):
        raise gr.Error(f"{name} must be a finite number, got {payload}")
    low, high = component.minimum, component.maximum
    if (low is not None and payload < low) or (high is not None and payload > high):
        raise gr.Error(f"{name} must be between {low:g} and {high:g}, got {payload}")


def _choice(component: gr.Radio | gr.Dropdown, payload: Any) -> None:
    allowed = [value for _, value in component.choices]
    if payload not in allowed or isinstance(payload, bool):
        raise gr.Error(f"{_name(component)} must be one of {allowed}, got {_show(payload)}")


def _checkbox(component: gr.Checkbox, payload: Any) -> None:
    if not isinstance(payload, bool):
        raise gr.Error(f"{_name(component)} must be true or false, got {_show(payload)}")


def _text(component: gr.Textbox, payload: Any) -> None:
    if not isinstance(payload, str):
        raise gr.Error(f"{_name(component)} must be text, got {_show(payload)}")
    if len(payload) > MAX_TEXT:
        raise gr.Error(f"{_name(component)} is too long: {len(payload)} characters, at most {MAX_TEXT}")


def _json(component: gr.JSON, payload: Any) -> None:
    try:
        size = len(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise gr.Error(
            f"{_name(component)} must be plain JSON (numbers, lists, text), got {_show(payload)}"
        ) from err
    if size > MAX_JSON:
        raise gr.Error(f"{_name(component)} is too large: {size} characters of JSON, at most {MAX_JSON}")


def _file(component: gr.components.Component, payload: Any) -> None:
    if payload is not None and not isinstance(payload, dict):
        raise gr.Error(f"{_name(component)} must be an uploaded file, got {_show(payload)}")


CHECKS: list[tuple[type, Callable[[Any, Any], None]]] = [
    (gr.Slider, _number),
    (gr.Number, _number),
    (gr.Radio, _choice),
    (gr.Dropdown, _choice),
    (gr.Checkbox, _checkbox),
    (gr.Textbox, _text),
    (gr.JSON, _json),
    (gr.Image, _file),
    (gr.ImageEditor, _file),
]


def check_value(component: gr.components.Component, payload: Any) -> None:
    """Raise a :class:`gr.Error` naming ``component`` if ``payload`` cannot be its value."""
    check = next((fn for kind, fn in CHECKS if isinstance(component, kind)), None)
    if check is not None:
        check(component, payload)


def check_inputs(demo: gr.Blocks) -> gr.Blocks:
    """Check every input of every event of ``demo`` before Gradio converts it, and word whatever
    the conversion still raises (a file reference the server never gave out) as a gr.Error.

    Gradio's ``preprocess_data`` is wrapped on this instance: it is where the values of a request
    become the handler's arguments, for the page and for API clients alike. States are skipped
    (they hold the server's own values). A control is checked as this page's session holds it:
    an update may have moved a slider's end (a lesson's t ≤ T, set by its T or by a link).
    """
    convert = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        props = getattr(block_fn, "component_prop_inputs", ())
        for i, (block, payload) in enumerate(zip(block_fn.inputs, inputs, strict=False)):
            if i not in props and isinstance(block, gr.components.Component) and not block.stateful:
                check_value(state[block._id] if state is not None and block._id in state else block, payload)
        try:
            return await convert(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise gr.Error(f"These inputs cannot be used: {reason}") from err

    demo.preprocess_data = preprocess_data  # type: ignore[method-assign]
    return demo
