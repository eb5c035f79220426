"""What the app knows of a view: :class:`Tab`, an entry of the one list of tabs (:mod:`ddpm.views.tabs`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import gradio as gr


class Tab(NamedTuple):
    """One view of the app."""

    id: str
    title: str
    build: Callable[[Tab, gr.Tab, gr.State], Any]
    """Lays the view out inside its ``gr.Tab`` and wires its events: ``build(this entry, the
    gr.Tab, the chosen digit's State)``; returns its components, a NamedTuple of the module
    whose field ``linked`` is the view's :class:`Linked`."""
    run: str | None = None
    """The label of its Run button (see :meth:`run_button`); None: the view draws itself."""
    uses_digit: bool = False
    short: str = ""
    """Its label on a phone's tab bar (the narrow layout), where the title would not fit; empty:
    the title."""

    @property
    def run_id(self) -> str | None:
        """The element id of its Run button (``<id>-run``)."""
        return None if self.run is None else f"{self.id}-run"

    def run_button(self, **kwargs: Any) -> gr.Button:
        """The view's Run button: primary, labelled :attr:`run`, with :attr:`run_id`."""
        return gr.Button(self.run, variant="primary", elem_id=self.run_id, **kwargs)


class Linked(NamedTuple):
    """A view's settings: every control that changes its result, by the name a link gives it
    (``?view=reverse&t=400&variance=fixed_large``). A link's values are checked by the controls'
    own rules (:mod:`.links`); "Copy link" writes them all; the digit (``digit``, ``k``) is the
    picker's, not a view's."""

    controls: dict[str, gr.components.Component]
    maxima: Mapping[str, str] = MappingProxyType({})
    """A slider whose end is another setting's value, by name: ``{"t": "T"}`` (1 ≤ t ≤ T)."""
