"""A chain's files as the page makes them (ddpm/views/kit/static/engine/files.js) against the server's:
the animated GIF (ddpm.images.save_gif, Pillow's writer) decoded frame for frame and delay for delay,
the filmstrip's columns (kit.recording.Recording.save_filmstrip) and its layout (kit.plots.filmstrip's
order: titles above the columns, rows' names left of their rows, nothing on top of anything)."""

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from nodekit import pack, requires_node, run_node, unpack
from PIL import Image, ImageSequence

from ddpm.images import save_gif
from ddpm.views.kit import recording
from ddpm.views.kit.widgets import show_grid

RUNNER = Path(__file__).with_name("files_runner.mjs")
pytestmark = requires_node


def decode(data: bytes) -> tuple[list[np.ndarray], list[int], int | None]:
    """A GIF's frames (grey levels), each one's duration (ms) and its loop count, as Pillow reads them."""
    with Image.open(io.BytesIO(data)) as gif:
        loop = gif.info.get("loop")
        frames = [(np.asarray(f.convert("L")), f.info["duration"]) for f in ImageSequence.Iterator(gif)]
    return [f for f, _ in frames], [d for _, d in frames], loop


def chain_frames(g: torch.Generator) -> list[np.ndarray]:
    """A generation's GIF frames: 16 digits from noise towards smooth images, as show_grid draws them."""
    x = torch.randn(16, 1, 28, 28, generator=g)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(16, 1, 28, 28, generator=g), 5, 1, 2) * 3
    return [show_grid((1 - a) * x + a * smooth, max_width=320) for a in np.linspace(0, 1, 40)]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    chain = chain_frames(g)
    a, b, c = (torch.randint(0, 256, (9, 7), generator=g, dtype=torch.uint8).numpy() for _ in range(3))
    gifs = [
        (chain, {}),
        ([a, a, b, c, c], {}),  # repeats: Pillow merges a frame into the one before it
        ([a, b, a, c], {"duration_ms": 50, "hold_last_ms": 700}),
        ([c], {}),
    ]
    refused = [a, a, a[:5, :4]]
    picks = [(count, columns) for count in range(1, 46) for columns in (2, 3, 4, 8)]
    layouts = [
        (["first digit"], [f"t={t}" for t in (1000, 858, 715, 572, 429, 286, 143, 0)],
         {"height": 112, "width": 112}, {"name_width": 95, "title_width": 62}),
        (["ε-model", "a much longer row name", "x"], ["t=1", "a title wider than its image"],
         {"height": 20, "width": 30}, {"name_width": 210, "title_width": 240, "title_px": 25, "text_px": 30}),
    ]  # fmt: skip
    payload = {
        "gifs": [{"frames": [pack(f) for f in frames], "options": options} for frames, options in gifs],
        "refused": [pack(f) for f in refused],
        "picks": [{"count": count, "columns": columns} for count, columns in picks],
        "layouts": [{"names": n, "titles": t, "image": i, "options": o} for n, t, i, o in layouts],
    }
    out = run_node(RUNNER, payload, tmp_path_factory.mktemp("files"))
    servers = []
    for k, (frames, options) in enumerate(gifs):
        path = tmp_path_factory.mktemp("gif") / f"{k}.gif"
        servers.append(Path(save_gif(frames, str(path), **options)).read_bytes())
    return {"gifs": gifs, "servers": servers, "picks": picks, "layouts": layouts, "out": out}


def test_the_gif_is_the_frames_pixel_for_pixel_80_ms_each_the_last_held_looping(computed):
    (chain, _), page = computed["gifs"][0], unpack(computed["out"]["gifs"][0]).tobytes()
    frames, durations, loop = decode(page)
    assert page[:6] == b"GIF89a" and loop == 0
    assert durations == [80] * 39 + [1500]
    assert len(frames) == len(chain)
    for k, (ours, theirs) in enumerate(zip(frames, chain, strict=True)):
        assert np.array_equal(ours, theirs), k


def test_the_gif_decodes_as_the_servers_frame_for_frame(computed):
    for (_, options), server, got in zip(
        computed["gifs"], computed["servers"], computed["out"]["gifs"], strict=True
    ):
        page, theirs = decode(unpack(got).tobytes()), decode(server)
        assert page[1:] == theirs[1:], (options, page[1:], theirs[1:])  # durations (repeats merged), loop
        assert len(page[0]) == len(theirs[0])
        assert all(np.array_equal(p, s) for p, s in zip(page[0], theirs[0], strict=True)), options


def test_repeated_frames_add_their_time_to_the_one_before(computed):
    frames, durations, _ = decode(unpack(computed["out"]["gifs"][1]).tobytes())
    assert durations == [160, 80, 1580]
    assert [f.tobytes() for f in frames] == [f.tobytes() for f in computed["gifs"][1][0][1:4]]
    assert decode(unpack(computed["out"]["gifs"][2]).tobytes())[1] == [50, 50, 50, 700]


def test_frames_of_different_sizes_no_frame_or_no_encoder_are_refused(computed):
    refused = computed["out"]["refused"]
    assert "share one size" in refused["sizes"] and "frame 2 is 5×4, frame 0 9×7" in refused["sizes"]
    assert "at least one frame" in refused["none"]
    assert "GIFEncoder" in refused["encoder"]


def test_the_filmstrips_columns_are_the_servers(computed, monkeypatch):
    drawn = []
    monkeypatch.setattr(recording, "filmstrip", lambda rows, titles, path: drawn.append(titles) or path)
    for (count, columns), ours in zip(computed["picks"], computed["out"]["picks"], strict=True):
        rec = recording.Recording()
        for k in range(count):
            rec.film(str(k), {"first digit": np.zeros((2, 2), np.uint8)})
        rec.save_filmstrip("strip.png", columns=columns)
        assert [str(k) for k in ours] == drawn[-1], (count, columns)
    assert computed["out"]["picks"][computed["picks"].index((6, 3))] == [0, 2, 5]  # round(2.5) is 2


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])  # fmt: skip


def test_the_filmstrips_layout_is_the_figures(computed):
    for (names, titles, image, options), layout in zip(
        computed["layouts"], computed["out"]["layouts"], strict=True
    ):
        images, heads, rows = layout["images"], layout["titles"], layout["names"]
        assert [(i["row"], i["column"]) for i in images] == [
            (r, c) for r in range(len(names)) for c in range(len(titles))
        ]  # one image per row and column, row by row
        assert all((i["width"], i["height"]) == (image["width"], image["height"]) for i in images)
        assert [h["text"] for h in heads] == titles and [n["text"] for n in rows] == names
        boxes = images + heads + rows
        for k, box in enumerate(boxes):  # on the canvas, none on another, a pixel of frame around images
            assert 0 <= box["x"] <= box["x"] + box["width"] <= layout["width"], box
            assert 0 <= box["y"] <= box["y"] + box["height"] <= layout["height"], box
            for other in boxes[k + 1 :]:
                grown = {**box, "x": box["x"] - 1, "y": box["y"] - 1, "width": box["width"] + 2,
                         "height": box["height"] + 2}  # fmt: skip
                assert not overlap(grown, other), (box, other)
        by_place = {(i["row"], i["column"]): i for i in images}
        for c, head in enumerate(heads):  # each title above its column of the first row, centred on it
            first = by_place[(0, c)]
            assert head["y"] + head["height"] <= first["y"]
            assert abs((head["x"] + head["width"] / 2) - (first["x"] + first["width"] / 2)) <= 1
            assert head["width"] >= options["title_width"]
            if c:
                assert first["x"] > by_place[(0, c - 1)]["x"]  # left to right, in the titles' order
        for r, name in enumerate(rows):  # each name left of its row's first image, on its row
            first = by_place[(r, 0)]
            assert name["x"] + name["width"] < first["x"] and name["width"] >= options["name_width"]
            middle = name["y"] + name["height"] / 2
            assert first["y"] <= middle <= first["y"] + first["height"] or name["height"] > first["height"]
            assert abs(middle - (first["y"] + first["height"] / 2)) <= 1
            if r:
                assert first["y"] > by_place[(r - 1, 0)]["y"]  # top to bottom, in the rows' order
        for i in images:  # a column's images one above another, a row's side by side
            assert i["x"] == by_place[(0, i["column"])]["x"] and i["y"] == by_place[(i["row"], 0)]["y"]


def test_the_gifs_data_url_carries_its_bytes(computed):
    url, gif = computed["out"]["url"], unpack(computed["out"]["gifs"][1]).tobytes()
    prefix = "data:image/gif;base64,"
    assert url.startswith(prefix) and base64.b64decode(url[len(prefix) :]) == gif
