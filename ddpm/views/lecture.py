"""Lecture mode: deep links, presets, a large high-contrast layout and keyboard control of t.

A link such as ``/?view=reverse&digit=7&t=500&seed=3`` opens the app on that view with that digit,
timestep and seed (``/?view=2d&data=moons&t=300``: the 2-D world's data set and t) (read on page load; ``lecture=1`` also switches the large layout on). "Copy link"
makes such a link for what is on screen. The views, their Run buttons and which of them read the
digit come from the one list of tabs (:mod:`.tabs`); the large layout's CSS and the keyboard's
JavaScript are in the kit (:mod:`.kit.style`).
"""

from __future__ import annotations

import json
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

import gradio as gr

from ..choices import SAMPLERS, check_choice
from ..serve.runtime import diffusion_cpu
from . import tabs
from .digits import Picker, bundled_of_class, preview_of
from .kit.widgets import MAX_SEED, QUIET
from .lessons import plane as plane_lesson
from .lessons.plane import DATA as PLANE_DATA

PLANE = plane_lesson.ID  # the 2-D world (?view=2d&data=moons&t=300)

MAIN_VIEWS = tuple(tab.id for tab in tabs.MAIN)
LESSONS = tuple(tab.id for tab in tabs.LESSONS)
USES_DIGIT = tuple(tab.id for tab in tabs.TABS.values() if tab.uses_digit)
"""The views that read the chosen digit; the picker is hidden on the others."""


class Link(NamedTuple):
    """What a deep link sets; ``None`` keeps the app's default."""

    view: str | None = None
    digit: int | None = None  # class 0…9 (the first bundled digit of the class, or the k-th with ``k``)
    k: int = 0
    t: int | None = None
    seed: int | None = None
    sampler: str | None = None
    data: str | None = None  # the 2-D lesson's data set


RUN_BUTTONS = {tab.id: tab.run_id for tab in tabs.TABS.values() if tab.run_id is not None}
"""The element id of each view's Run button: a link or a preset to the view presses it on open.
The other views (forward, small steps, schedules, noise error) draw themselves."""

PRESET_PROMPT = "Lecture presets…"  # the dropdown's first entry, which sets nothing

PRESETS: dict[str, Link] = {
    "Forward process at t = 250": Link("forward", 7, 0, 250, 0),
    "Reference figure: the posterior filmstrip from T": Link("reverse", 7, 0, 1000, 0),
    "Posterior vs learned from t = 500": Link("reverse", 7, 0, 500, 0),
    "Small vs large steps (1-D)": Link("small-steps"),
    "One noisy image, many pasts": Link("many-pasts", 7),
    "Generate 16 digits (ancestral)": Link("generate", sampler="ddpm", seed=0),
    "2-D world: two moons at t = 300": Link("2d", t=300, data="moons"),
}


def parse_query(params: dict[str, str]) -> tuple[Link, list[str]]:
    """A :class:`Link` from URL query parameters, and a message for each value that was ignored."""
    problems: list[str] = []
    T = diffusion_cpu().num_timesteps

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

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        raw = params.get(name)
        if raw is None:
            return None
        try:
            check_choice(name, raw, allowed)
        except ValueError as err:
            problems.append(str(err))
            return None
        return raw

    link = Link(
        choice("view", (*MAIN_VIEWS, *LESSONS)), integer("digit", 0, 9), integer("k", 0, 99) or 0,
        integer("t", 0, T), integer("seed", 0, MAX_SEED), choice("sampler", SAMPLERS), choice("data", PLANE_DATA),
    )  # fmt: skip
    return link, problems


def make_link(page_url: str, link: Link, lecture: bool) -> str:
    """``page_url`` with its query replaced by the parameters of ``link`` (None values left out)."""
    query = {
        key: value for key, value in link._asdict().items() if value is not None and (key != "k" or value)
    }
    if lecture:
        query["lecture"] = 1
    scheme, netloc, path, _, _ = urlsplit(page_url)
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


class Targets(NamedTuple):
    """The components a link or a preset sets."""

    tabs: gr.Tabs
    lesson_tabs: gr.Tabs
    picker: Picker
    forward_t: gr.Slider
    forward_seed: gr.Number
    reverse_t: gr.Slider
    reverse_seed: gr.Number
    sampler: gr.Radio
    generate_seed: gr.Number
    plane_data: gr.Radio
    plane_t: gr.Slider
    view: gr.State  # the id of the tab on screen
    lecture: gr.Checkbox

    def outputs(self) -> list:
        p = self.picker
        return [self.tabs, self.lesson_tabs, p.state, p.digit_class, p.which, p.preview, self.forward_t,
                self.forward_seed, self.reverse_t, self.reverse_seed, self.sampler, self.generate_seed,
                self.plane_data, self.plane_t, self.view, self.lecture]  # fmt: skip


def apply(link: Link, lecture: bool | None = None) -> list:
    """Updates for :meth:`Targets.outputs` that show ``link`` (gr.skip() where it says nothing)."""
    keep = gr.skip()
    if link.view is None:
        tabs = lesson_tabs = keep
    elif link.view in LESSONS:
        tabs, lesson_tabs = gr.Tabs(selected="lessons"), gr.Tabs(selected=link.view)
    else:
        tabs, lesson_tabs = gr.Tabs(selected=link.view), keep
    if link.digit is None:
        digit = [keep] * 4
    else:
        image = bundled_of_class(link.digit, link.k)
        digit = [image, link.digit, link.k + 1, preview_of(image)]
    t = keep if link.t is None else link.t
    reverse_t = keep if link.t is None else max(1, link.t)
    seed = keep if link.seed is None else link.seed
    view = keep if link.view is None else link.view
    lecture_on = keep if lecture is None else lecture
    return [tabs, lesson_tabs, *digit, t, seed, reverse_t, seed, link.sampler or keep, seed, link.data or keep, t,
            view, lecture_on]  # fmt: skip


def from_request(request: gr.Request) -> list:
    """Page-load handler: apply the URL's query parameters; a warning names each ignored value."""
    params = dict(request.query_params)
    link, problems = parse_query(params)
    for problem in problems:
        gr.Warning(f"Link ignored: {problem}")
    return apply(link, True if params.get("lecture") == "1" else None)


def from_preset(name: str) -> list:
    if name == PRESET_PROMPT:
        return apply(Link())
    if name not in PRESETS:
        raise gr.Error(f"unknown preset {name!r}")
    return apply(PRESETS[name])


def current_link(view: str, digit_class: int, which: int, forward_t: int, forward_seed: int, reverse_t: int,
                 reverse_seed: int, sampler: str, generate_seed: int, plane_data: str, plane_t: int, lecture: bool,
                 request: gr.Request) -> str:  # fmt: skip
    """A deep link to what is on screen (the page's own address with new query parameters)."""
    page = request.headers.get("referer") or str(request.url)
    if view == PLANE:  # the 2-D world reads neither digit nor seed
        return make_link(page, Link(view, t=int(plane_t), data=plane_data), bool(lecture))
    t, seed = {"reverse": (reverse_t, reverse_seed), "generate": (None, generate_seed)}.get(
        view, (forward_t, forward_seed)
    )
    link = Link(
        view or None, int(digit_class), max(0, int(which) - 1), None if t is None else int(t), int(seed),
        sampler if view == "generate" else None,
    )  # fmt: skip
    return make_link(page, link, bool(lecture))


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
    """The components a link or a preset sets, from the tabs :func:`.tabs.build_tabs` laid out."""
    forward, reverse, generate = (built.parts[name] for name in ("forward", "reverse", "generate"))
    world = built.parts[PLANE]
    return Targets(
        built.tabs, built.lesson_tabs, picker, forward.t, forward.seed, reverse.t, reverse.seed,
        generate.sampler, generate.seed, world.data, world.t, gr.State("forward"), lecture,
    )  # fmt: skip


def wire(built: tabs.Built, targets: Targets, preset: gr.Dropdown, copy: gr.Button, link: gr.Textbox) -> None:
    """Connect links, presets, the layout switch and "copy link" (call inside the app's Blocks)."""
    view, lecture = targets.view, targets.lecture
    lesson = gr.State(LESSONS[0])  # the lesson on screen when the lessons' tab is opened again
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
    outputs = targets.outputs()
    preset.input(from_preset, preset, outputs, api_visibility="private", show_progress="hidden").then(
        None, preset, None, js=preset_run_js()
    )
    lecture.change(None, lecture, None, js="(on) => { document.body.classList.toggle('lecture', on); }")
    copy.click(
        current_link,
        [view, targets.picker.digit_class, targets.picker.which, targets.forward_t, targets.forward_seed,
         targets.reverse_t, targets.reverse_seed, targets.sampler, targets.generate_seed, targets.plane_data,
         targets.plane_t, lecture],
        link, api_visibility="private", show_progress="hidden",
    ).then(None, link, None, js="(l) => { navigator.clipboard && navigator.clipboard.writeText(l); }")  # fmt: skip
