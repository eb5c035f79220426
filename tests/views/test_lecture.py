from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import gradio as gr

from ddpm.views import lecture
from ddpm.views.digits import bundled_of_class, preview_of


def test_a_full_link_is_parsed():
    link, problems = lecture.parse_query(
        {"view": "many-pasts", "digit": "4", "k": "2", "t": "500", "seed": "9", "sampler": "ddim"}
    )
    assert problems == []
    assert link == lecture.Link("many-pasts", 4, 2, 500, 9, "ddim")


def test_bad_values_are_named_and_ignored():
    link, problems = lecture.parse_query({"view": "nowhere", "digit": "12", "t": "abc", "sampler": "euler"})
    assert link == lecture.Link()
    text = " ".join(problems)
    for bad in ("'nowhere'", "digit=12", "'abc'", "'euler'"):
        assert bad in text


def test_make_link_round_trips_through_parse_query():
    link = lecture.Link("reverse", 2, 0, 500, 3)
    url = lecture.make_link("http://127.0.0.1:7860/?old=1#x", link, lecture=True)
    parts = urlsplit(url)
    assert parts.netloc == "127.0.0.1:7860" and parts.path == "/" and not parts.fragment
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query.pop("lecture") == "1" and "old" not in query
    assert lecture.parse_query(query) == (link, [])


def test_apply_selects_tabs_and_sets_the_digit():
    updates = lecture.apply(lecture.Link("schedules", 5, 1, 0, 7))
    tabs, lesson_tabs, state, digit_class, which, preview, forward_t, forward_seed, reverse_t, *_ = updates
    assert tabs.get_config()["selected"] == "lessons" and lesson_tabs.get_config()["selected"] == "schedules"
    assert (state == bundled_of_class(5, 1)).all() and (preview == preview_of(state)).all()
    assert (digit_class, which, forward_t, forward_seed, reverse_t) == (
        5,
        2,
        0,
        7,
        1,
    )  # reverse starts at t ≥ 1


def test_presets_are_valid_links():
    for name, link in lecture.PRESETS.items():
        assert link.view in (*lecture.MAIN_VIEWS, *lecture.LESSONS), name
        assert len(lecture.from_preset(name)) == 16


def test_an_empty_link_changes_nothing():
    assert all(update == gr.skip() for update in lecture.apply(lecture.Link()))


def test_a_2d_link_sets_the_data_set_and_the_planes_t():
    link, problems = lecture.parse_query({"view": "2d", "data": "moons", "t": "300"})
    assert problems == [] and link == lecture.Link("2d", t=300, data="moons")
    updates = lecture.apply(link)
    names = [
        "tabs",
        "lesson_tabs",
        "state",
        "digit_class",
        "which",
        "preview",
        "forward_t",
        "forward_seed",
        "reverse_t",
        "reverse_seed",
        "sampler",
        "generate_seed",
        "plane_data",
        "plane_t",
        "view",
        "lecture",
    ]
    values = dict(zip(names, updates, strict=True))
    assert values["lesson_tabs"].get_config()["selected"] == "2d"
    assert (values["plane_data"], values["plane_t"], values["view"]) == ("moons", 300, "2d")
    _, problems = lecture.parse_query({"data": "swiss roll"})
    assert "'swiss roll'" in " ".join(problems)


def test_copy_link_on_the_2d_world_gives_its_data_and_t():
    request = SimpleNamespace(headers={"referer": "http://127.0.0.1:7860/"})
    url = lecture.current_link("2d", 7, 1, 250, 0, 500, 0, "ddpm", 0, "spiral", 40, False, request)
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert query == {"view": "2d", "t": "40", "data": "spiral"}
    assert lecture.parse_query(query)[0] == lecture.Link("2d", t=40, data="spiral")
