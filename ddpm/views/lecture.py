"""Lecture mode: deep links, presets, a large high-contrast layout and keyboard control of t.

A link names a view and sets what it shows: ``/?view=reverse&digit=7&t=500&seed=3&told=1`` opens
the reverse view on the first bundled 7 (``k=1``: the second of the class) with those settings,
and presses its Run. A view's settings are the controls of its :class:`.kit.tab.Linked`, by name
(docs/app.md lists them); each value is checked by its control's own rules (:mod:`.kit.links`),
and one the control could not hold is ignored with a warning that names it. A setting the link
leaves out keeps its default; without ``view`` the settings are the forward view's (the view a
page opens on); ``lecture=1`` switches the large layout on. "Copy link" writes every setting of
the view on screen, and the digit where the view reads it: the link is explicit and survives a
change of default. A digit of one's own (uploaded or drawn) cannot travel in a link: Copy link
leaves it out and says so. A preset is a link on an open page: it sets every setting of its view
(its defaults where it names none). The views, their Run buttons and which of them read the digit
come from the one list of tabs (:mod:`.tabs`); the large layout's CSS and the keyboard's
JavaScript are in the kit (:mod:`.kit.style`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

import gradio as gr
import numpy as np

from ..choices import check_choice
from . import tabs
from .digits import Picker, bundled_of_class, class_size, digit_data, preview_of
from .kit import links
from .kit.tab import Linked
from .kit.widgets import QUIET

MAIN_VIEWS = tuple(tab.id for tab in tabs.MAIN)
LESSONS = tuple(tab.id for tab in tabs.LESSONS)
DEFAULT_VIEW = MAIN_VIEWS[0]  # the view a page opens on: a link without ``view`` sets its settings
USES_DIGIT = tuple(tab.id for tab in tabs.TABS.values() if tab.uses_digit)
"""The views that read the chosen digit; the picker is hidden on the others."""
GENERAL = ("view", "digit", "k", "lecture")
"""A link's parameters that are no view's setting."""
OWN_DIGIT = (
    "The link leaves your own digit out (an uploaded or drawn digit cannot travel in a link): it opens"
    " with the default digit. Pick one of the bundled digits to share it."
)


@dataclass(frozen=True)
class Link:
    """What a deep link sets; ``None`` (or a setting left out) keeps the app's default."""

    view: str | None = None
    digit: int | None = None  # class 0…9 (the first bundled digit of the class, or the k-th with ``k``)
    k: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # the view's, by name (:class:`.kit.tab.Linked`)


RUN_BUTTONS = {tab.id: tab.run_id for tab in tabs.TABS.values() if tab.run_id is not None}
"""The element id of each view's Run button: a link or a preset to the view presses it on open.
The other views (forward, small steps, schedules, noise error) draw themselves."""

PRESET_PROMPT = "Lecture presets…"  # the dropdown's first entry, which sets nothing

PRESETS: dict[str, Link] = {
    "Forward process at t = 250": Link("forward", 7, 0, {"t": 250, "seed": 0}),
    "Reference figure: the posterior filmstrip from T": Link("reverse", 7, 0, {"t": 1000, "seed": 0}),
    "Posterior vs learned from t = 500": Link("reverse", 7, 0, {"t": 500, "seed": 0}),
    "Small vs large steps (1-D)": Link("small-steps"),
    "One noisy image, many pasts": Link("many-pasts", 7),
    "Generate 16 digits (ancestral)": Link("generate", settings={"n": 16, "sampler": "ddpm", "seed": 0}),
    "2-D world: two moons at t = 300": Link("2d", settings={"data": "moons", "t": 300}),
}

Views = Mapping[str, Linked]
"""Every view's settings by view id (:attr:`Targets.views`)."""


def parse_query(params: Mapping[str, str], views: Views) -> tuple[Link, list[str]]:
    """A :class:`Link` from URL query parameters, and a message for each value that was ignored.

    A parameter that is a setting of another view only is left out quietly (links of older
    versions carried ``t`` and ``seed`` for every view); one that no view has is named."""
    problems: list[str] = []

    def integer(name: str, low: int, high: int) -> int | None:
        raw = params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a whole number")
            return None
        if not low <= value <= high:
            problems.append(f"{name}={value} is out of range [{low}, {high}]")
            return None
        return value

    view = params.get("view")
    if view is not None:
        try:
            check_choice("view", view, tuple(views))
        except ValueError as err:
            problems.append(str(err))
            view = None
    linked = views[view or DEFAULT_VIEW]
    anywhere = {name for other in views.values() for name in other.controls}
    settings: dict[str, Any] = {}
    # a slider whose end is another setting after that setting (t after T)
    for name in sorted(params, key=lambda name: name in linked.maxima):
        if name in GENERAL or name.startswith("__"):  # Gradio's own (__theme)
            continue
        if name not in linked.controls:
            if name not in anywhere:
                problems.append(f"{name}={params[name]!r}: no view has a setting {name!r}")
            continue
        upper = linked.maxima.get(name)
        end = None if upper is None else settings.get(upper, linked.controls[upper].value)
        try:
            settings[name] = links.read(name, linked.controls[name], params[name], end)
        except ValueError as err:
            problems.append(str(err))
    settings = {name: settings[name] for name in linked.controls if name in settings}  # the view's order
    return Link(view, integer("digit", 0, 9), integer("k", 0, 99) or 0, settings), problems


def make_link(page_url: str, link: Link, lecture: bool) -> str:
    """``page_url`` with its query replaced by the parameters of ``link`` (None values left out):
    the view, the digit, then the settings in their view's order."""
    query = {"view": link.view, "digit": link.digit, "k": link.k or None}
    query |= {name: links.write(value) for name, value in link.settings.items() if value is not None}
    if lecture:
        query["lecture"] = 1
    scheme, netloc, path, _, _ = urlsplit(page_url)
    return urlunsplit(
        (scheme, netloc, path, urlencode({k: v for k, v in query.items() if v is not None}), "")
    )


class Targets(NamedTuple):
    """The components a link or a preset sets, and what sets them."""

    tabs: gr.Tabs
    lesson_tabs: gr.Tabs
    picker: Picker
    views: dict[str, Linked]  # every view's settings by id, the tabs' order
    view: gr.State  # the id of the tab on screen
    lesson: gr.State  # the lesson on screen when the lessons' tab is opened again
    lecture: gr.Checkbox

    def controls(self) -> list[gr.components.Component]:
        """Every view's settings, in the tabs' order and each view's own."""
        return [control for linked in self.views.values() for control in linked.controls.values()]

    def outputs(self) -> list[gr.components.Component]:
        """What a link or a preset may set (the outputs of :meth:`from_request` and :meth:`from_preset`)."""
        p = self.picker
        return [self.tabs, self.lesson_tabs, p.state, p.digit_class, p.which, p.preview, *self.controls(),
                self.view, self.lesson, self.lecture]  # fmt: skip

    def apply(self, link: Link, lecture: bool | None = None) -> dict:
        """The updates that show ``link``, by component (what it says nothing of is left out)."""
        updates: dict = {}
        if link.view in LESSONS:  # and the lesson the lessons' tab shows when it is selected
            updates |= {
                self.tabs: gr.Tabs(selected=tabs.LESSONS_ID),
                self.lesson_tabs: gr.Tabs(selected=link.view),
                self.lesson: link.view,
            }
        elif link.view is not None:
            updates[self.tabs] = gr.Tabs(selected=link.view)
        if link.digit is not None:
            p, image = self.picker, bundled_of_class(link.digit, link.k)
            updates |= {
                p.state: image,
                p.digit_class: link.digit,
                p.which: link.k + 1,
                p.preview: preview_of(image),
            }
        linked = self.views[link.view or DEFAULT_VIEW]
        updates |= {linked.controls[name]: value for name, value in link.settings.items()}
        for name, upper in linked.maxima.items():  # the slider's end moves with its setting
            if name in link.settings or upper in link.settings:
                end = link.settings.get(upper, linked.controls[upper].value)
                value = link.settings.get(name, min(linked.controls[name].value, end))
                updates[linked.controls[name]] = gr.Slider(maximum=end, value=value)
        if link.view is not None:
            updates[self.view] = link.view
        if lecture is not None:
            updates[self.lecture] = lecture
        return updates or {self.lesson: gr.skip()}  # Gradio reads an empty dict as one value

    def from_request(self, request: gr.Request) -> dict:
        """Page-load handler: apply the URL's query parameters; a warning names each ignored value."""
        params = dict(request.query_params)
        link, problems = parse_query(params, self.views)
        for problem in problems:
            gr.Warning(f"Link ignored: {problem}")
        return self.apply(link, True if params.get("lecture") == "1" else None)

    def from_preset(self, name: str) -> dict:
        """A preset's updates: every setting of its view, its defaults where the preset names none."""
        if name == PRESET_PROMPT:
            return {self.lesson: gr.skip()}
        if name not in PRESETS:
            raise gr.Error(f"unknown preset {name!r}")
        preset = PRESETS[name]
        defaults = {name: control.value for name, control in self.views[preset.view].controls.items()}
        return self.apply(replace(preset, settings=defaults | preset.settings))

    def copy_inputs(self) -> set[gr.components.Component]:
        """What :meth:`current_link` reads (a set: Gradio passes their values by component)."""
        p = self.picker
        return {self.view, self.lecture, p.state, p.digit_class, p.which, *self.controls()}

    def current_link(self, values: dict, request: gr.Request) -> str:
        """A deep link to what is on screen (the page's own address with new query parameters):
        every setting of the view, and the digit where the view reads it."""
        view = values[self.view]
        settings = {name: values[control] for name, control in self.views[view].controls.items()}
        digit, k = None, 0
        if view in USES_DIGIT:
            p = self.picker
            digit_class = int(values[p.digit_class])
            k = (int(values[p.which]) - 1) % class_size(digit_class)
            if np.array_equal(values[p.state], bundled_of_class(digit_class, k)):
                digit = digit_class
            else:
                gr.Warning(OWN_DIGIT)
                k = 0
        page = request.headers.get("referer") or str(request.url)
        return make_link(page, Link(view, digit, k, settings), bool(values[self.lecture]))


def press_run_js(view_expression: str) -> str:
    """JavaScript for an event without inputs' function: press the Run button of the view that
    ``view_expression`` (JS, evaluated in the page) names, once it is on the page (a tab just
    selected may take a moment to appear); nothing for a view that draws itself. The button's own
    event then runs, exactly as a click would, so the shared results serve a room at once."""
    buttons = json.dumps(RUN_BUTTONS)
    return f"""(...args) => {{
  const id = ({buttons})[{view_expression}];
  if (!id) return;
  let tries = 0;
  const press = () => {{
    const button = document.getElementById(id);
    if (button && button.offsetParent !== null) button.click();
    else if (++tries < 100) setTimeout(press, 50);
  }};
  setTimeout(press, 0);
}}"""


PRESS_LINKED_RUN = press_run_js('new URLSearchParams(window.location.search).get("view")')
"""On page load: a link naming a view (``?view=reverse&…``) opens with that view's result."""


def preset_run_js() -> str:
    """After a preset has set the controls: press its view's Run button."""
    views = json.dumps({name: link.view for name, link in PRESETS.items()})
    return press_run_js(f"({views})[args[0]]")


def build_lecture_bar() -> tuple[gr.Dropdown, gr.Button, gr.Button, gr.Textbox, gr.Checkbox]:
    """Presets, the lecture-layout switch and "copy link", for one row of the header; returns them
    for :func:`wire`."""
    preset = gr.Dropdown([PRESET_PROMPT, *PRESETS], value=PRESET_PROMPT, label="Lecture preset", show_label=False, scale=2,
                         min_width=220, container=False, elem_id="preset")  # fmt: skip
    lecture = gr.Checkbox(False, label="Large layout", scale=0, min_width=190, container=False,
                          elem_id="lecture-mode")  # fmt: skip
    copy = gr.Button("Copy link", size="sm", scale=0, min_width=100, elem_id="copy-link")
    link = gr.Textbox(label="Link to this view", show_label=False, placeholder="Link to this view",
                      scale=2, min_width=160, interactive=False, container=False, elem_id="link")  # fmt: skip
    return preset, lecture, copy, link


def targets_of(built: tabs.Built, picker: Picker, lecture: gr.Checkbox) -> Targets:
    """The components a link or a preset sets, from the tabs :func:`.tabs.build_tabs` laid out:
    each view's settings (a control hidden when the page is built, a setting this model lacks,
    is not one)."""
    views = {
        view: Linked({name: c for name, c in parts.linked.controls.items() if c.visible is True},
                     parts.linked.maxima)
        for view, parts in built.parts.items()
    }  # fmt: skip
    return Targets(
        built.tabs, built.lesson_tabs, picker, views, gr.State(DEFAULT_VIEW), gr.State(LESSONS[0]), lecture
    )


def wire(built: tabs.Built, targets: Targets, preset: gr.Dropdown, copy: gr.Button, link: gr.Textbox) -> None:
    """Connect links, presets, the layout switch and "copy link" (call inside the app's Blocks)."""
    view, lesson, lecture = targets.view, targets.lesson, targets.lecture
    row = targets.picker.row

    def shown(v: str) -> gr.Row:  # the digit picker only where the view reads the digit
        return gr.Row(visible=v in USES_DIGIT)

    # The tabs set the picker's visibility themselves, and view.change sets it for links and
    # presets: a State's change does not fire when the queue-less tab selects set it.

    for name in MAIN_VIEWS:
        built.blocks[name].select(lambda v=name: (v, shown(v)), None, [view, row], **QUIET)
    for name in LESSONS:
        built.blocks[name].select(lambda v=name: (v, v, shown(v)), None, [view, lesson, row], **QUIET)
    built.blocks[tabs.LESSONS_ID].select(lambda v: (v, shown(v)), lesson, [view, row], **QUIET)
    view.change(shown, view, row, **QUIET)  # a link or a preset
    picker = targets.picker  # the digit's data in the page before Run: a view computed there reads it
    preset.input(
        targets.from_preset, preset, targets.outputs(), api_visibility="private", show_progress="hidden"
    ).then(digit_data, picker.state, picker.data, **QUIET).then(None, preset, None, js=preset_run_js())
    lecture.change(None, lecture, None, js="(on) => window.ddpmLayout(on)")  # static/page.js
    copy.click(
        targets.current_link, targets.copy_inputs(), link, api_visibility="private", show_progress="hidden"
    ).then(None, link, None, js="(l) => { navigator.clipboard && navigator.clipboard.writeText(l); }")
