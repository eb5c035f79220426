"""What the app knows of a view: :class:`Tab`, an entry of the one list of tabs (:mod:`ddpm.views.tabs`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import gradio as gr


class Tab(NamedTuple):
    """One view of the app."""

    id: str
    title: str
    build: Callable[[Tab, gr.Tab, gr.State], Any]
    """Lays the view out inside its ``gr.Tab`` and wires its events: ``build(this entry, the
    gr.Tab, the chosen digit's State)``; returns its components (a NamedTuple of the module)."""
    run: str | None = None
    """The label of its Run button (see :meth:`run_button`); None: the view draws itself."""
    uses_digit: bool = False

    @property
    def run_id(self) -> str | None:
        """The element id of its Run button (``<id>-run``)."""
        return None if self.run is None else f"{self.id}-run"

    def run_button(self, **kwargs: Any) -> gr.Button:
        """The view's Run button: primary, labelled :attr:`run`, with :attr:`run_id`."""
        return gr.Button(self.run, variant="primary", elem_id=self.run_id, **kwargs)
