import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import gradio as gr
import pytest

from ddpm.serve.validate import MAX_TEXT
from ddpm.views import lecture, tabs
from ddpm.views.digits import bundled_of_class, default_digit, preview_of
from ddpm.views.kit import links
from ddpm.views.page import build_demo
from tests.views.test_kit import tab_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "app.md"
PAGE = "http://127.0.0.1:7860/"
REQUEST = SimpleNamespace(headers={"referer": PAGE})
CONTROLS = (gr.Slider, gr.Number, gr.Radio, gr.Dropdown, gr.Checkbox, gr.Textbox)


@pytest.fixture(scope="module")
def demo():
    return build_demo()


@pytest.fixture(scope="module")
def targets(demo) -> lecture.Targets:
    """The targets the app's page-load event applies a link to."""
    (load,) = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "from_request"]
    return load.fn.__self__


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def other_value(control, end=None):
    """A valid value of ``control`` other than its default, derived from the control itself
    (``end``: the slider's end when another setting sets it)."""
    if isinstance(control, gr.Checkbox):
        return not control.value
    if isinstance(control, gr.Radio | gr.Dropdown):
        return next(value for _, value in reversed(control.choices) if value != control.value)
    if isinstance(control, gr.Textbox):
        return "-0.5, 0.25, 0.75"
    high = control.maximum if end is None else end
    return high if high != control.value else control.minimum


def other_settings(linked) -> dict:
    """A non-default value for every setting of a view (a slider's end first where it is a setting)."""
    settings: dict = {}
    for name in sorted(linked.controls, key=lambda name: name in linked.maxima):
        upper = linked.maxima.get(name)
        settings[name] = other_value(linked.controls[name], None if upper is None else settings[upper])
    return {name: settings[name] for name in linked.controls}


def current_values(
    targets, view: str, settings: dict, digit: tuple[int, int] | None, lecture_on: bool
) -> dict:
    """What Copy link receives from a page showing ``view`` with ``settings`` (every other view at
    its defaults) and the ``k``-th bundled digit of ``digit = (class, k)``."""
    values = {control: control.value for control in targets.controls()}
    values |= {targets.views[view].controls[name]: value for name, value in settings.items()}
    digit_class, k = digit or (7, 0)
    p = targets.picker
    values |= {p.state: bundled_of_class(digit_class, k), p.digit_class: digit_class, p.which: k + 1}
    return values | {targets.view: view, targets.lecture: lecture_on}


@pytest.mark.parametrize("view", list(tabs.TABS))
def test_every_setting_of_a_view_goes_through_copy_link_and_back(targets, view):
    linked = targets.views[view]
    settings = other_settings(linked)
    assert all(value != linked.controls[name].value for name, value in settings.items())
    uses_digit = view in lecture.USES_DIGIT
    values = current_values(targets, view, settings, (3, 2), True)
    url = targets.current_link(values, REQUEST)
    assert url.startswith(PAGE)
    query = query_of(url)
    expected_names = ["view", *(["digit", "k"] if uses_digit else []), *linked.controls, "lecture"]
    assert list(query) == expected_names and query["lecture"] == "1"
    link, problems = lecture.parse_query(query, targets.views)
    assert problems == []
    assert link == lecture.Link(view, 3 if uses_digit else None, 2 if uses_digit else 0, settings)
    # a fresh page shows every value: apply sets exactly the view's settings, the tabs and the digit
    updates = targets.apply(link)
    for name, control in linked.controls.items():
        update = updates.pop(control)
        if name in linked.maxima:  # a slider whose end is another setting gets that end
            assert isinstance(update, gr.Slider) and update.maximum == settings[linked.maxima[name]]
            update = update.value
        assert update == settings[name] and type(update) is type(settings[name]), name
    assert updates.pop(targets.view) == view
    if view in lecture.LESSONS:  # the lessons' tab, selected, shows this lesson: it says which
        assert updates.pop(targets.lesson) == view
    picker = targets.picker
    if uses_digit:
        assert (updates.pop(picker.state) == bundled_of_class(3, 2)).all()
        assert (updates.pop(picker.preview) == preview_of(bundled_of_class(3, 2))).all()
        assert (updates.pop(picker.digit_class), updates.pop(picker.which)) == (3, 3)
    selected = [update.get_config()["selected"] for update in updates.values()]
    assert set(updates) <= {targets.tabs, targets.lesson_tabs} and selected[-1] == view


@pytest.mark.parametrize("view", list(tabs.TABS))
def test_a_value_no_control_could_hold_is_ignored_and_named(targets, view):
    linked = targets.views[view]
    for name, control in linked.controls.items():
        if isinstance(control, gr.Checkbox):
            bad = ["2", "true"]
        elif isinstance(control, gr.Radio | gr.Dropdown):
            bad = ["nowhere"]
        elif isinstance(control, gr.Textbox):
            bad = ["x" * (MAX_TEXT + 1)]
        else:
            end = control.maximum if name not in linked.maxima else linked.controls[linked.maxima[name]].value
            bad = ["abc", "nan", str(control.minimum - 1), str(end + 1)]
            whole = control.precision == 0 if isinstance(control, gr.Number) else control.step == 1
            bad.append(f"{control.minimum + (0.5 if whole else control.step / 2)}")  # between two values
        for text in bad:
            link, problems = lecture.parse_query({"view": view, name: text}, targets.views)
            assert link == lecture.Link(view) and len(problems) == 1, (name, text)
            shown = text if len(text) < 50 else str(len(text))  # a long text: its length
            assert name in problems[0] and shown in problems[0], problems


def test_a_slider_whose_end_is_another_setting_is_read_against_that_setting(targets):
    views = targets.views
    assert lecture.parse_query({"view": "small-steps", "T": "20", "t": "7"}, views)[0].settings == {
        "T": 20,
        "t": 7,
    }
    _, problems = lecture.parse_query({"view": "small-steps", "t": "7"}, views)  # T's default is 5
    assert problems == ["t=7 is out of range [1, 5]"]
    _, problems = lecture.parse_query({"view": "schedules", "T": "100", "t": "200"}, views)
    assert problems == ["t=200 is out of range [0, 100]"]
    # T alone: t's slider takes T's end, and t its default within it
    small = views["small-steps"].controls
    update = targets.apply(lecture.Link("small-steps", settings={"T": 20}))[small["t"]]
    assert (update.maximum, update.value) == (20, 1)
    schedules = views["schedules"].controls
    update = targets.apply(lecture.Link("schedules", settings={"T": 100}))[schedules["t"]]
    assert (update.maximum, update.value) == (100, 100)


def test_every_control_a_views_events_read_is_one_of_its_settings(demo, targets):
    """Nothing on screen that changes a result is missing from the links."""
    linked = {control for controls in targets.views.values() for control in controls.controls.values()}
    for fn in demo.fns.values():
        for block in fn.inputs:
            view = tab_of(block)
            if isinstance(block, CONTROLS) and block.visible is True and view is not None:
                assert block in targets.views[view].controls.values(), (view, block.label)
    for view, controls in targets.views.items():
        assert all(tab_of(control) == view for control in controls.controls.values()), view
        assert not set(controls.controls) & set(lecture.GENERAL), view
    assert len(linked) == len(targets.controls()) == len(set(targets.outputs())) - 9


def test_an_old_link_still_opens_its_view(targets):
    link, problems = lecture.parse_query(
        {"view": "many-pasts", "digit": "4", "k": "2", "t": "500", "seed": "9", "sampler": "ddim"},
        targets.views,
    )
    assert problems == []  # sampler is the generate view's: left out quietly, as t of a view without one
    assert link == lecture.Link("many-pasts", 4, 2, {"t": 500, "seed": 9})
    link, problems = lecture.parse_query(
        {"view": "noise-error", "digit": "7", "t": "250", "seed": "1"}, targets.views
    )
    assert problems == [] and link == lecture.Link("noise-error", 7, 0, {"seed": 1})
    link, problems = lecture.parse_query(
        {"t": "40", "seed": "2", "lecture": "1", "__theme": "dark"}, targets.views
    )
    assert problems == [] and link == lecture.Link(None, settings={"t": 40, "seed": 2})  # the forward view's
    assert targets.apply(link)[targets.views["forward"].controls["t"]] == 40


def test_bad_values_are_named_and_ignored(targets):
    params = {"view": "nowhere", "digit": "12", "t": "abc", "sampler": "euler", "stepz": "5"}
    link, problems = lecture.parse_query(params, targets.views)
    assert link == lecture.Link()
    text = " ".join(problems)
    for bad in ("'nowhere'", "digit=12", "'abc'", "'stepz'"):
        assert bad in text
    _, problems = lecture.parse_query({"view": "generate", "sampler": "euler"}, targets.views)
    assert "'euler'" in problems[0] and "dpm-solver" in problems[0]


def test_make_link_replaces_the_query_and_writes_values_as_a_link_reads_them():
    link = lecture.Link(
        "generate", settings={"eta": 0.35000000000000003, "guidance": 2.0, "seed": 3, "truth": True}
    )
    url = lecture.make_link("http://127.0.0.1:7860/?old=1#x", link, lecture=True)
    parts = urlsplit(url)
    assert parts.netloc == "127.0.0.1:7860" and parts.path == "/" and not parts.fragment
    assert query_of(url) == {"view": "generate", "eta": "0.35", "guidance": "2", "seed": "3", "truth": "1",
                             "lecture": "1"}  # fmt: skip
    assert links.write(False) == "0" and links.write("two modes") == "two modes"


def test_apply_selects_tabs_and_sets_the_digit(targets):
    updates = targets.apply(lecture.Link("parameterizations", 5, 1, {"t": 1, "seed": 7}))
    assert updates[targets.tabs].get_config()["selected"] == "lessons"
    assert updates[targets.lesson_tabs].get_config()["selected"] == "parameterizations"
    p = targets.picker
    assert (updates[p.state] == bundled_of_class(5, 1)).all() and (
        updates[p.preview] == preview_of(updates[p.state])
    ).all()
    assert (updates[p.digit_class], updates[p.which]) == (5, 2)
    lesson = targets.views["parameterizations"].controls
    assert (updates[lesson["t"]], updates[lesson["seed"]]) == (1, 7)
    assert targets.views["forward"].controls["t"] not in updates


def test_an_empty_link_changes_nothing(targets):
    """Not even with an empty dict, which Gradio would read as one output's value (and fail on a
    page opened without a query): one update that skips."""
    for updates in (targets.apply(lecture.Link()), targets.from_preset(lecture.PRESET_PROMPT)):
        assert list(updates) == [targets.lesson] and updates[targets.lesson] == gr.skip()


def test_presets_are_valid_links_that_set_every_setting_of_their_view(targets):
    for name, preset in lecture.PRESETS.items():
        query = query_of(lecture.make_link(PAGE, preset, lecture=False))
        assert lecture.parse_query(query, targets.views) == (preset, []), name
        linked = targets.views[preset.view].controls
        updates = targets.from_preset(name)
        for setting, control in linked.items():
            update = updates[control]
            if setting in targets.views[preset.view].maxima:  # with its end: T's default, or the preset's
                update = update.value
            assert update == preset.settings.get(setting, control.value), (name, setting)
    with pytest.raises(gr.Error, match="'nowhere'"):
        targets.from_preset("nowhere")


def test_copy_link_leaves_out_a_digit_of_ones_own_and_says_so(targets):
    values = current_values(targets, "reverse", {}, (3, 0), False)
    values[targets.picker.state] = 255 - default_digit()  # an upload or a drawing
    with pytest.warns(UserWarning, match="your own digit"):
        url = targets.current_link(values, REQUEST)
    query = query_of(url)
    assert query["view"] == "reverse" and "digit" not in query and "k" not in query and "lecture" not in query
    # a digit shown after "another one" cycled past the end of its class: k within the class
    values = current_values(targets, "forward", {}, (3, 1), False)
    values[targets.picker.which] = 12  # the 11th of ten: the first again
    assert query_of(targets.current_link(values, REQUEST))["k"] == "1"


def test_a_2d_link_sets_the_data_set_and_the_planes_t(targets):
    link, problems = lecture.parse_query({"view": "2d", "data": "moons", "t": "300"}, targets.views)
    assert problems == [] and link == lecture.Link("2d", settings={"data": "moons", "t": 300})
    updates = targets.apply(link)
    world = targets.views["2d"].controls
    assert updates[targets.lesson_tabs].get_config()["selected"] == "2d"
    assert (updates[world["data"]], updates[world["t"]], updates[targets.view]) == ("moons", 300, "2d")
    _, problems = lecture.parse_query({"view": "2d", "data": "swiss roll"}, targets.views)
    assert "'swiss roll'" in " ".join(problems)


def docs_settings() -> dict[str, list[str]]:
    """docs/app.md's table of each view's settings: {view: names}."""
    section = DOCS.read_text().split("## Lecture mode", 1)[1]
    rows = re.findall(r"^\s*\| `([\w-]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {view: re.findall(r"`(\w+)`", names) for view, names in rows}


def test_the_docs_list_every_views_link_settings_by_name(targets):
    """docs/app.md names each view's settings, in Copy link's order (the digit first where it is read)."""
    documented = docs_settings()
    assert list(documented) == list(tabs.TABS)
    for view, tab in tabs.TABS.items():
        names = [*(["digit", "k"] if tab.uses_digit else []), *targets.views[view].controls]
        assert [name for name in documented[view] if name in names] == names, view
        # and nothing else, but the settings a model without classes hides
        assert set(documented[view]) - set(names) <= {"told", "ask", "guidance"}, view
