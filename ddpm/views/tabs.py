"""The one list of the app's tabs: the main views, then the lessons.

Each :class:`Tab` says what the app, lecture mode and the digit picker need to know of a view: its
id (a link's ``?view=``), its title, the function that lays it out, the label of its Run button
(a link or a preset to the view presses it; the views without one draw themselves) and whether it
reads the chosen digit (the picker is hidden on the others). :func:`build_tabs` lays them all out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from . import forward, generate, reverse
from .kit.tab import Tab
from .lessons import (
    bits_per_dim,
    many_pasts,
    memorisation,
    noise_error,
    parameterizations,
    plane,
    readout,
    schedules,
    small_steps,
)

MAIN = (
    Tab("forward", "1 · Forward: adding noise", forward.build, uses_digit=True, short="Forward"),
    Tab(
        "reverse",
        "2 · Reverse: exact vs learned",
        reverse.build,
        "Run both chains",
        uses_digit=True,
        short="Reverse",
    ),
    Tab("generate", "3 · Generate", generate.build, "Generate", short="Generate"),
)
LESSONS_ID, LESSONS_TITLE, LESSONS_SHORT = "lessons", "4 · Lessons", "Lessons"
LESSONS = (
    Tab("small-steps", "Small steps", small_steps.build),
    Tab("schedules", "Schedules & SNR", schedules.build, uses_digit=True),
    Tab("parameterizations", "Parameterizations", parameterizations.build, "Show", uses_digit=True),
    Tab(
        "bits-per-dim",
        "Bits per dim",
        bits_per_dim.build,
        "Compute the bound (all T steps)",
        uses_digit=True,
    ),
    Tab("noise-error", "Noise error", noise_error.build),
    Tab("many-pasts", "Many pasts", many_pasts.build, "Run K chains", uses_digit=True),
    Tab("readout", "When is it a digit?", readout.build, "Generate one digit"),
    Tab("memorisation", "True reverse", memorisation.build, "Generate 16 of each"),
    Tab(plane.ID, "2-D world", plane.build),
)
TABS = {tab.id: tab for tab in (*MAIN, *LESSONS)}
"""Every view by id, main views first."""


def narrow_css() -> str:
    """The narrow layout's tab labels (CSS): each tab with a short title shows it instead of its
    title (the button keeps its title as its accessible name), so the main tabs fit a phone's row."""
    shorts = {tab.id: tab.short for tab in (*MAIN, *LESSONS) if tab.short} | {LESSONS_ID: LESSONS_SHORT}
    button = 'body.narrow button[role=tab][data-tab-id="{}"]'.format
    return "\n/* the narrow layout's short tab titles (ddpm.views.tabs.narrow_css) */\n" + "".join(
        f"{button(id)} {{ font-size: 0 !important; }}\n"
        f'{button(id)}::before {{ content: "{short}"; font-size: var(--text-md); }}\n'
        for id, short in shorts.items()
    )


class Built(NamedTuple):
    """What :func:`build_tabs` laid out."""

    tabs: gr.Tabs  # the main tabs (the lessons are one of them)
    lesson_tabs: gr.Tabs
    blocks: dict[str, gr.Tab]  # each view's gr.Tab by id, and the lessons' own tab under LESSONS_ID
    parts: dict[str, Any]  # each view's components (what its build returned) by id


def build_tabs(digit: gr.State) -> Built:
    """Lay out every tab of :data:`MAIN` and :data:`LESSONS` (call inside the app's Blocks)."""
    blocks: dict[str, gr.Tab] = {}
    parts: dict[str, Any] = {}

    def lay_out(tab: Tab) -> None:
        with gr.Tab(tab.title, id=tab.id) as block:
            parts[tab.id] = tab.build(tab, block, digit)
        blocks[tab.id] = block

    # a bar too narrow for its tabs wraps them onto a second row: every tab one click away (Gradio's
    # default moves those that do not fit into a "⋯" menu)
    with gr.Tabs(overflow_behavior="wrap") as tabs:
        for tab in MAIN:
            lay_out(tab)
        with (
            gr.Tab(LESSONS_TITLE, id=LESSONS_ID) as lessons,
            gr.Tabs(overflow_behavior="wrap") as lesson_tabs,
        ):
            for tab in LESSONS:
                lay_out(tab)
        blocks[LESSONS_ID] = lessons
    return Built(tabs, lesson_tabs, blocks, parts)
