"""Choosing a digit, shared by every view: bundled MNIST digits, upload, or a drawing.

The chosen digit lives in a ``gr.State`` as uint8 [28, 28] (0 = background), and a preview shows
exactly what the model sees after MNIST-style preprocessing.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

import gradio as gr
import numpy as np

from ..data import preprocess_digit
from ..images import upscale
from ..serve.handlers import endpoint
from ..serve.runtime import bundled_label, digits
from .kit.here import DIGIT_DATA
from .kit.widgets import SCALE

DEFAULT_CLASS = 7  # the first bundled "7" is the default digit everywhere (and in the API)


def bundled(index: int) -> np.ndarray:
    images, _ = digits()
    if not 0 <= index < len(images):
        raise ValueError(f"digit index {index} is out of range [0, {len(images) - 1}]")
    return images[index].numpy()


def default_digit() -> np.ndarray:
    _, labels = digits()
    return bundled(int((labels == DEFAULT_CLASS).nonzero()[0, 0]))


def preview_of(digit: np.ndarray) -> np.ndarray:
    """The digit as the preview shows it: uint8 [28·SCALE, 28·SCALE]."""
    return upscale(digit, SCALE)


def _of_class(digit_class: int):
    _, labels = digits()
    if digit_class not in range(10):
        raise ValueError(f"digit class must be 0…9, got {digit_class}")
    return (labels == int(digit_class)).nonzero()[:, 0]


def bundled_of_class(digit_class: int, which: int) -> np.ndarray:
    """The ``which``-th bundled digit of a class (cycling through the class)."""
    of_class = _of_class(digit_class)
    return bundled(int(of_class[int(which) % len(of_class)]))


def class_size(digit_class: int) -> int:
    """How many bundled digits the class has (``which`` cycles through them)."""
    return len(_of_class(digit_class))


@endpoint(compute_thread=False)
def pick(digit_class: int, which: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``which``-th bundled digit of a class (cycling), and the next ``which`` to use."""
    digit = bundled_of_class(digit_class, int(which))
    return digit, preview_of(digit), int(which) + 1


@endpoint()
def from_upload(image: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if image is None:
        raise ValueError("no image was uploaded")
    digit = preprocess_digit(image)
    return digit, preview_of(digit)


@endpoint()
def from_drawing(value: dict | None) -> tuple[np.ndarray, np.ndarray]:
    composite = None if value is None else value.get("composite")
    if composite is None:
        raise ValueError("the drawing is empty: draw a digit first")
    digit = preprocess_digit(composite)
    return digit, preview_of(digit)


DIGIT_HTML = '<div data-pixels="${value.pixels}" data-label="${value.label ?? \'\'}"></div>'
"""The digit's data as attributes: base64 has no quote, a label is a number or nothing."""


def digit_data(digit: np.ndarray) -> dict:
    """What the page's engine needs of the chosen digit: ``pixels``, base64 of its uint8 [28, 28]
    (0 = background, row-major), and ``label``, its label when it is a bundled digit (None for an
    upload or a drawing, which the classifier reads, as on the server: :func:`.runtime.told_label`)."""
    pixels = np.ascontiguousarray(np.asarray(digit, dtype=np.uint8).reshape(28, 28))
    return {"pixels": base64.b64encode(pixels.tobytes()).decode("ascii"), "label": bundled_label(digit)}


class Picker(NamedTuple):
    state: gr.State  # the chosen digit, uint8 [28, 28]: every view reads it
    digit_class: gr.Radio
    which: gr.State  # how many of the class were shown: the next "another one" takes this index
    preview: gr.Image
    row: gr.Row  # the whole picker: hidden on the views that use no digit (ddpm.views.tabs)
    data: gr.HTML  # the digit's pixels and label in the page (digit_data), for the page's engine


def build_digit_picker() -> Picker:
    """The digit chooser in one row: the ten classes, "another one", what the model sees and, folded
    away, upload and drawing. Returns its parts (``state`` is what the views read)."""
    first = default_digit()
    state = gr.State(first)
    which = gr.State(1)
    with gr.Row(equal_height=True, elem_id="digit-picker") as row:
        digit_class = gr.Radio(
            list(range(10)), value=DEFAULT_CLASS, label="Digit", scale=4, min_width=360, elem_id="digit-class"
        )
        another = gr.Button(
            "Another one", variant="secondary", size="sm", scale=0, min_width=120, elem_id="another-digit"
        )
        preview = gr.Image(
            preview_of(first), label="What the model sees (28×28)", show_label=False, format="png",
            height=84, width=84, interactive=False, buttons=[], scale=0, min_width=84, container=False,
            elem_id="digit-preview",
        )  # fmt: skip
        with (
            gr.Column(scale=2, min_width=240, elem_id="own-digit"),
            gr.Accordion("Your own digit: upload or draw", open=False),
            gr.Tabs(),
        ):
            with gr.Tab("Upload"):
                upload = gr.Image(
                    label="Upload a digit (any photo or scan)",
                    sources=["upload"],
                    type="numpy",
                    height=240,
                )
            with gr.Tab("Draw"):
                pad = gr.Sketchpad(
                    label="Draw a digit",
                    type="numpy",
                    image_mode="RGBA",
                    canvas_size=(280, 280),
                    height=320,
                )
                use_drawing = gr.Button("Use my drawing", variant="primary")
    # the digit's pixels in the page, for the views that compute there (not shown)
    data = gr.HTML(digit_data(first), html_template=DIGIT_HTML, elem_id=DIGIT_DATA, container=False,
                   elem_classes=["digit-data"], padding=False)  # fmt: skip
    state.change(digit_data, state, data, api_visibility="private", queue=False, show_progress="hidden")
    reset = gr.State(0)
    digit_class.input(pick, [digit_class, reset], [state, preview, which], api_name="pick_digit")
    another.click(pick, [digit_class, which], [state, preview, which], api_visibility="private")
    upload.upload(from_upload, upload, [state, preview], api_name="use_upload")
    use_drawing.click(from_drawing, pad, [state, preview], api_name="use_drawing")
    return Picker(state, digit_class, which, preview, row, data)
