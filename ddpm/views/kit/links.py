"""A control's value in a link's query (``?view=reverse&t=400&told=1``), by the control's own rules.

A link needs no table of its own: a Slider's value is checked against its minimum, maximum and
step, a Number's against its minimum, maximum and precision, a Radio's or a Dropdown's against
its choices (by value), a Checkbox's is ``0`` or ``1`` and a Textbox's is its text. Which
controls a view links, and by which names, is its :class:`.tab.Linked`.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr

from ...serve.validate import MAX_TEXT

Control = gr.Slider | gr.Number | gr.Radio | gr.Dropdown | gr.Checkbox | gr.Textbox
"""The kinds of control a link can set."""

GRID = 1e-6  # a slider value within this fraction of a step of the step grid is on it


def _integral(x: float | None) -> bool:
    return x is None or float(x).is_integer()


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}={text!r} is not a finite number")
    return value


def _in_range(name: str, text: str, value: float, low: float | None, high: float | None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}]"
        raise ValueError(f"{name}={text} is out of range {bounds}")


def read(name: str, control: Control, text: str, maximum: float | None = None) -> Any:
    """The value ``text`` (a link's ``name=text``) gives ``control``; ValueError naming ``name`` and
    ``text`` when the control could not hold it. ``maximum`` replaces a slider's own (a t whose end
    is another setting, T)."""
    if isinstance(control, gr.Checkbox):
        if text not in ("0", "1"):
            raise ValueError(f"{name}={text!r} is not 0 or 1")
        return text == "1"
    if isinstance(control, gr.Radio | gr.Dropdown):
        allowed = [value for _, value in control.choices]
        for value in allowed:
            if str(value) == text:
                return value
        raise ValueError(f"{name}={text!r} is not one of {', '.join(map(str, allowed))}")
    if isinstance(control, gr.Textbox):
        limit = control.max_length or MAX_TEXT
        if len(text) > limit:
            raise ValueError(f"{name} is {len(text)} characters long, at most {limit}")
        return text
    if isinstance(control, gr.Slider):
        value = _number(name, text)
        low, step = control.minimum, control.step
        _in_range(name, text, value, low, control.maximum if maximum is None else maximum)
        steps = (value - low) / step
        if abs(steps - round(steps)) > GRID:
            raise ValueError(f"{name}={text!r} is not a multiple of the step {step:g} from {low:g}")
        if _integral(step) and _integral(low):
            return round(value)
        return round(low + round(steps) * step, 10)
    if isinstance(control, gr.Number):
        value = _number(name, text)
        _in_range(name, text, value, control.minimum, control.maximum)
        if control.precision == 0:
            if not value.is_integer():
                raise ValueError(f"{name}={text!r} is not a whole number")
            return int(value)
        return value if control.precision is None else round(value, control.precision)
    raise TypeError(f"a link cannot set a {type(control).__name__} ({name})")


def write(value: Any) -> str:
    """A control's value as a link writes it: ``1`` / ``0`` for a checkbox, a whole number without
    a decimal point, other numbers to 10 significant digits, text as it is."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.10g}"
    return str(value)
