"""A chain's recording (ddpm.views.kit.recording): what it keeps as the chain runs, where its work
runs, its files, and the player's value, pinned to its documented format (docs/library.md, "A
chain's recording: the player's value") and to the keys the page's player reads."""

import base64
import io
import math
import re
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image

from ddpm.serve import compute, stream
from ddpm.views.kit import recording
from ddpm.views.kit.players import STATIC
from ddpm.views.kit.recording import Recording, Redraw
from tests.views.test_players import frames_of

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## A chain's recording: the player's value"


class Step(NamedTuple):
    t: int  # the paper's t of the step's x_t; the step makes x_{t-1}


def chain(t_start: int) -> list[Step]:
    return [Step(t) for t in range(t_start, 0, -1)]


def frame(t: int, shape: tuple[int, int] = (4, 3), shift: int = 0) -> np.ndarray:
    """A frame that tells its step apart: every pixel 7·t + shift (mod 256), one pixel marked."""
    image = np.full(shape, (7 * t + shift) % 256, dtype=np.uint8)
    image[0, 0] = t % 256
    return image


def recorded(t_start: int = 12) -> tuple[Recording, list]:
    """A chain run through a recording as the views run theirs: two series per step, x_0 at the end."""
    rec = Recording(logs=("points",), ranges={"x̂₀": (-3.0, 3.0)})

    def record(step: Step) -> None:
        rec.log("points", step.t)
        rec.keep(step.t, {"x": frame(step.t), "x̂₀": frame(step.t, (2, 5), shift=100)})

    def closing(last: Step) -> str:
        rec.keep(0, {"x": frame(0)})  # the chain's end; x̂₀ keeps the last step's
        return "closed"

    shots = list(rec.run(chain(t_start), record, closing=closing, period=0.0))
    return rec, shots


# -- the chain's work and where it runs ---------------------------------------------------------


def test_every_step_is_recorded_on_the_compute_thread_and_each_shown_frame_looked_at_there():
    rec = Recording(logs=("threads",))
    looked = []

    def look(step):
        looked.append(step.t)
        return ("look", step.t, compute.on_thread())

    def closing(last):
        return ("closing", last.t, compute.on_thread())

    shots = list(rec.run(chain(300), lambda s: rec.log("threads", compute.on_thread()), look=look,
                         closing=closing, period=0.0))  # fmt: skip
    assert rec.logs["threads"] == [True] * 300  # every step, skipped by the page or not
    *middle, last = shots
    assert all(not s.last and s.extra == ("look", s.step.t, True) for s in middle)
    assert sorted(looked, reverse=True) == [s.step.t for s in middle]  # only the frames handed out
    assert last.last and last.step == Step(1) and last.extra == ("closing", 1, True)
    assert compute.SCHEDULER.tasks() == 0


def test_a_snapshot_is_the_logs_as_they_were_when_its_step_was_recorded():
    rec = Recording(logs=("points", "rare"))
    released = threading.Event()

    def steps():
        for step in chain(50):
            if step.t == 48:
                released.wait(timeout=30)  # the chain is a few steps ahead of the first frame
            yield step

    def record(step):
        rec.log("points", step.t)
        if step.t % 10 == 0:
            rec.log("rare", step.t)

    shots = rec.run(steps(), record, closing=lambda last: rec.log("points", 0), period=0.0)
    first = next(shots)
    assert rec.snapshot(first) == {"points": [50], "rare": [50]}
    assert len(rec.logs["points"]) == 2  # 49 is recorded (the stream runs one step ahead), not shown
    released.set()
    for shot in [first, *shots]:
        logs = rec.snapshot(shot)
        assert logs["points"] == list(range(50, shot.step.t - 1, -1))
        assert logs["rare"] == [t for t in range(50, shot.step.t - 1, -1) if t % 10 == 0]
    assert shot.last and rec.logs["points"][-1] == 0 and 0 not in rec.snapshot(shot)["points"]


def test_closing_the_run_stops_the_chain_and_runs_no_closing_work():
    rec, closed, finished = Recording(), [], threading.Event()

    def endless():
        try:
            t = 10**9
            while True:
                yield Step(t)
                t -= 1
        finally:
            finished.set()

    shots = rec.run(endless(), closing=closed.append, period=0.01)
    next(shots)
    shots.close()
    assert finished.is_set() and closed == [] and compute.SCHEDULER.tasks() == 0


def test_an_unknown_log_or_series_is_refused():
    rec = Recording(logs=("points",))
    with pytest.raises(ValueError, match="'pionts'"):
        rec.log("pionts", 1)
    with pytest.raises(ValueError, match="at least one series"):
        rec.keep(3, {})
    rec.keep(3, {"x": frame(3)})
    with pytest.raises(ValueError, match="'y'"):
        rec.keep(2, {"x": frame(2), "y": frame(2)})
    rec.film("t=3", {"a": frame(3)})
    with pytest.raises(ValueError, match="rows"):
        rec.film("t=2", {"b": frame(2)})


# -- the files ----------------------------------------------------------------------------------


def test_the_files_are_saved_in_one_folder_by_name_and_an_absent_image_stays_absent():
    rec = Recording()
    grey, rgb = frame(5, (6, 7)), np.dstack([frame(1, (3, 2))] * 3)
    paths = rec.save({"grey_t5": grey, "missing": None, "rgb": rgb})
    assert paths[1] is None and [Path(p).name for p in (paths[0], paths[2])] == ["grey_t5.png", "rgb.png"]
    assert Path(paths[0]).parent == Path(paths[2]).parent == rec.folder
    assert np.array_equal(np.asarray(Image.open(paths[0])), grey)
    assert np.array_equal(np.asarray(Image.open(paths[2])), rgb)
    gif = Image.open(rec.save_gif("chain.gif", [frame(t, (5, 5)) for t in range(4)]))
    assert gif.n_frames == 4 and Path(gif.filename).parent == rec.folder


@pytest.mark.parametrize(("columns", "kept"), [(None, list(range(20))), (8, [0, 3, 5, 8, 11, 14, 16, 19]),
                                               (30, list(range(20)))])  # fmt: skip
def test_the_filmstrip_keeps_its_rows_and_at_most_the_columns_asked_evenly_spaced(monkeypatch, columns, kept):
    drawn = {}

    def filmstrip(rows, titles, path):
        drawn.update(rows=rows, titles=titles, path=path)
        return path

    monkeypatch.setattr(recording, "filmstrip", filmstrip)
    rec = Recording()
    for t in range(20, 0, -1):
        rec.film(f"t={t}", {"exact": frame(t), "learned": frame(t, shift=1)})
    path = rec.save_filmstrip("strip.png", columns)
    assert path == str(rec.folder / "strip.png")
    assert drawn["titles"] == [f"t={20 - k}" for k in kept]
    assert list(drawn["rows"]) == ["exact", "learned"]
    assert all(np.array_equal(a, frame(20 - k)) for a, k in zip(drawn["rows"]["exact"], kept, strict=True))
    assert all(
        np.array_equal(a, frame(20 - k, shift=1)) for a, k in zip(drawn["rows"]["learned"], kept, strict=True)
    )


# -- the player's value: its documented format --------------------------------------------------


def documented() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """docs/library.md's two tables of the value: (key, type) of the value, then of a series."""
    text = (ROOT / "docs" / "library.md").read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    tables, rows = [], None
    for line in section.splitlines():
        if line.startswith("| `"):
            key, kind = (cell.strip() for cell in line.strip("|").split("|")[:2])
            rows.append((key.strip("`"), kind))
        elif line.startswith("|---"):
            rows = []
            tables.append(rows)
    assert len(tables) == 2, "the value's table, then a series' table"
    return tables[0], tables[1]


TYPES = {"str": str, "int": int, "list[int]": list, "list[float]": list, "list[object]": list}


def test_the_players_value_has_the_documented_keys_in_order_with_their_types():
    rec, _ = recorded(12)
    value = rec.value()
    value_keys, series_keys = documented()
    assert list(value) == [key for key, _ in value_keys]
    for key, kind in value_keys:
        assert type(value[key]) is TYPES[kind], (key, kind)
    assert all(type(t) is int for t in value["times"])
    for series in value["series"]:
        assert list(series) == [key for key, _ in series_keys]
        for key, kind in series_keys:
            assert type(series[key]) is TYPES[kind], (key, kind)
        assert series["sheet"].startswith("data:image/png;base64,")


def test_the_players_value_holds_every_step_in_order_and_each_frame_exactly():
    t_start = 12
    rec, _ = recorded(t_start)
    value = rec.value()
    n = t_start + 1  # the steps from t_start down to 1, then x_0
    assert value["label"] == "t" and value["times"] == [*range(t_start, 0, -1), 0]
    assert value["start"] == n - 1  # the chain's end
    assert [s["name"] for s in value["series"]] == ["x", "x̂₀"]  # in the order the first frame named them
    for series, shape, shift in zip(value["series"], [(4, 3), (2, 5)], [0, 100], strict=True):
        assert (series["height"], series["width"]) == shape
        png = Image.open(io.BytesIO(base64.b64decode(series["sheet"].split(",", 1)[1])))
        per_block = series["per_block"]
        assert png.mode == "L" and np.asarray(png).dtype == np.uint8
        assert np.asarray(png).shape == (shape[0] * per_block, math.ceil(n / per_block) * shape[1])
        frames = frames_of(series)
        assert np.all(frames[n:] == 0)  # the sheet's padding
        if series["name"] == "x":
            expected = [frame(t, shape, shift) for t in value["times"]]
        else:  # x̂₀ at x_0 keeps the last step's
            expected = [frame(t, shape, shift) for t in range(t_start, 0, -1)] + [frame(1, shape, shift)]
        assert np.array_equal(frames[:n], np.stack(expected))


def test_each_series_names_the_values_it_draws_black_and_white():
    rec, _ = recorded(3)
    assert [s["range"] for s in rec.value()["series"]] == [[-1.0, 1.0], [-3.0, 3.0]]  # x: the default
    bad = Recording(ranges={"ε̂": (-3, 3)})
    bad.keep(0, {"x": frame(0)})
    with pytest.raises(ValueError, match="ranges name series"):
        bad.value()
    upside_down = Recording(ranges={"x": (1, -1)})
    upside_down.keep(0, {"x": frame(0)})
    with pytest.raises(ValueError, match="low < high"):
        upside_down.value()


def test_an_empty_recording_is_the_documented_empty_chain():
    assert Recording().value() == {"label": "t", "times": [], "start": 0, "series": []}
    rec, _ = recorded(3)
    assert rec.value(start=0)["start"] == 0
    with pytest.raises(ValueError, match="start"):
        rec.value(start=4)


def js_reads() -> tuple[set[str], set[str]]:
    """The keys chain_player.js reads of its value and of a series entry (what it sets on an entry
    itself, its canvas and image, left out)."""
    js = (STATIC / "chain_player.js").read_text()
    of_value = set(re.findall(r"(?<![\w.])value\.(\w+)", js))
    of_entry = set(re.findall(r"(?<![\w.])entry\.(\w+)", js))
    for params in re.findall(r"function \w+\(\{([^}]*)\}", js):  # destructured entries
        of_entry |= {p.split(":")[0].strip() for p in params.split(",")}
    own = set(re.findall(r"(?<![\w.])entry\.(\w+)\s*=[^=]", js))
    return of_value, of_entry - own


def test_the_pages_player_reads_exactly_the_documented_keys():
    value_keys, series_keys = documented()
    of_value, of_entry = js_reads()
    assert of_value == {key for key, _ in value_keys}
    assert of_entry == {key for key, _ in series_keys}


# -- redrawing as the budget allows -------------------------------------------------------------


def test_a_plot_is_redrawn_only_with_something_new_and_mid_chain_only_as_the_budget_allows(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(recording.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(stream.time, "perf_counter", lambda: now[0])
    budget = stream.Budget(share=0.25, burst=0.5)
    monkeypatch.setattr(recording, "DRAWING", budget)
    draws = []

    def draw(points):
        draws.append(list(points))
        now[0] += 1.0  # a drawing costs a second of the budget
        return f"plot of {len(points)}"

    plot = Redraw(draw)
    assert plot(1, [1]) == "plot of 1"  # the first is always drawn (and puts the budget in debt)
    assert plot(1, [1]) == "plot of 1" and len(draws) == 1  # nothing new: not drawn again
    assert plot(2, [1, 2]) == "plot of 1" and len(draws) == 1  # new, but no budget left
    assert plot(3, [1, 2, 3], final=True) == "plot of 3"  # the last frame is always drawn
    now[0] += 100  # the budget fills again
    assert plot(4, [1, 2, 3, 4]) == "plot of 4" and len(draws) == 3


def test_a_plot_with_a_period_waits_that_long_between_drawings(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(recording.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(recording, "DRAWING", stream.Budget(share=1e6))  # time to spare
    plot = Redraw(lambda n: n, every=1.0)
    assert plot(1, 1) == 1
    now[0] += 0.5
    assert plot(2, 2) == 1  # too soon
    now[0] += 0.5
    assert plot(3, 3) == 3
