"""The UI kit: the one PNG encoder, the players' parts, the styles in one place, and the one list of tabs."""

import asyncio
import base64
import io

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from ddpm.views import lecture, tabs
from ddpm.views.kit import encode, inpage, style


def decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_the_png_encoder_keeps_every_pixel_of_grey_rgb_and_palette_images():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    rgb = rng.integers(0, 256, (20, 10, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(decode(encode.png_bytes(grey))), grey)
    assert np.array_equal(np.asarray(decode(encode.png_bytes(rgb, level=9))), rgb)
    palette = [0, 0, 0, 255, 0, 0, 0, 0, 255]  # black, red, blue
    indices = rng.integers(0, 3, (8, 8), dtype=np.uint8)
    image = decode(encode.png_bytes(indices, palette=palette))
    assert image.mode == "P" and np.array_equal(np.asarray(image), indices)
    colours = np.asarray(image.convert("RGB"))
    assert np.array_equal(colours, np.array(palette, dtype=np.uint8).reshape(3, 3)[indices])
    assert len(encode.png_bytes(grey, level=9)) <= len(encode.png_bytes(grey, level=0))


def test_a_data_url_carries_the_png_bytes(tmp_path):
    png = encode.png_bytes(np.eye(5, dtype=np.uint8) * 255)
    url = encode.data_url(png)
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == png
    (path,) = encode.save_pngs([np.zeros((3, 4), np.uint8)], ["blank"], tmp_path)
    assert path == str(tmp_path / "blank.png") and np.asarray(Image.open(path)).shape == (3, 4)


def test_a_players_parts_arrays_bit_for_bit_its_script_common_js_first_and_its_icons(tmp_path):
    values = torch.tensor([0.1, -2.5, float("inf"), 1e-30])
    assert np.array_equal(np.frombuffer(base64.b64decode(inpage.base64_array(values, "<f4")), "<f4"), values)
    doubles = np.array([[0.1, 1 / 3], [-7.0, 2.0**-1070]])
    got = np.frombuffer(base64.b64decode(inpage.base64_array(doubles, "<f8")), "<f8")
    assert np.array_equal(got, doubles.flatten())
    maths, drawing = tmp_path / "maths.js", tmp_path / "drawing.js"
    maths.write_text("function add(a, b) { return a + b; }")
    drawing.write_text("add(1, 2);")
    script = inpage.player_script(maths, drawing)
    common = inpage.COMMON_JS.read_text()
    assert script == "\n".join([common, maths.read_text(), drawing.read_text()])
    assert "function float32s" in common and inpage.player_script() == common
    svg = inpage.icon("play", "play")
    assert svg.startswith('<svg viewBox="0 0 16 16" class="play"') and inpage.ICONS["play"] in svg
    with pytest.raises(KeyError):
        inpage.icon("rewind")


def test_all_the_css_is_in_the_kit_and_the_large_layout_has_its_floor():
    assert f"max({style.FONT_FLOOR_PX}px, 1em)" in style.CSS and "FONT_FLOOR_PX" not in style.CSS
    assert "#digit-picker" in style.CSS and "body.lecture" in style.CSS and ".ddpm-chain" in style.PLAYERS_CSS
    assert style.JS.strip().startswith("() =>") and "ArrowLeft" in style.JS


def test_the_tabs_are_listed_once_with_unique_ids_and_run_buttons():
    ids = [tab.id for tab in (*tabs.MAIN, *tabs.LESSONS)]
    assert len(set(ids)) == len(ids) == len(tabs.TABS) and tabs.LESSONS_ID not in ids
    assert tuple(ids) == lecture.MAIN_VIEWS + lecture.LESSONS
    assert {tab.id: f"{tab.id}-run" for tab in tabs.TABS.values() if tab.run} == lecture.RUN_BUTTONS


@pytest.fixture(scope="module")
def demo():
    from ddpm.views.page import build_demo

    return build_demo()


def tab_of(block) -> str | None:
    """The id of the view a block is laid out in (a view's gr.Tab is its own)."""
    while block is not None:
        if isinstance(block, gr.Tab) and block.id in tabs.TABS:
            return block.id
        block = getattr(block, "parent", None)
    return None


def test_each_tab_built_its_run_button_and_the_picker_shows_where_a_view_reads_the_digit(demo):
    buttons = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.elem_id}
    for tab in tabs.TABS.values():
        if tab.run_id is not None:
            assert buttons[tab.run_id].value == tab.run and tab_of(buttons[tab.run_id]) == tab.id
    # the views whose events read the picker's digit are exactly the ones listed as using it
    picker = next(
        b for b in demo.blocks.values() if isinstance(b, gr.State) and isinstance(b.value, np.ndarray)
    )
    readers = set()
    for fn in demo.fns.values():
        if any(block is picker for block in fn.inputs):
            readers |= {tab_of(demo.blocks[target[0]]) for target in fn.targets if target[0] in demo.blocks}
    assert readers - {None} == {tab.id for tab in tabs.TABS.values() if tab.uses_digit}


def test_the_pasts_grid_shows_each_digit_over_a_bar_as_long_as_its_weight():
    from ddpm.views.kit.widgets import pasts_grid

    digits = np.stack([np.full((28, 28), 10 * (i + 1), np.uint8) for i in range(4)])
    frame = pasts_grid(digits, np.array([1.0, 0.5, 0.0, 0.25]), columns=3)
    assert frame.shape == (2 * 36, 3 * 30 - 2) and frame.dtype == np.uint8  # two rows of three cells
    for i in range(4):  # the digits themselves, row by row, 2 px apart
        top, left = (i // 3) * 36, (i % 3) * 30
        assert (frame[top : top + 28, left : left + 28] == 10 * (i + 1)).all()
    bars = frame[30:34]
    assert (bars[:, :28] == 255).all()  # w = 1: the whole width
    assert (bars[:, 30:44] == 255).all() and (bars[:, 44:58] == 48).all()  # w = 0.5: half, then the track
    assert (bars[:, 60:88] == 48).all()  # w = 0: the track only
    assert (frame[66:70, :7] == 255).all() and (frame[66:70, 7:28] == 48).all()  # the fourth, second row
    assert (frame[34:36] == 0).all() and (frame[:, 28:30] == 0).all() and (frame[36:, 30:] == 0).all()
    with pytest.raises(ValueError, match="one weight per image"):
        pasts_grid(digits, np.array([1.0]))


def run_and_stop(closed: list):
    """A Run and Stop wired by the kit around a stream of frames; returns (stream, stopped), the two
    functions Gradio calls (the stream's frames go to the status). ``closed`` hears the frames end."""
    from ddpm.views.kit import widgets

    async def frames(n):
        try:
            for i in range(int(n)):
                yield (f"step {i}", None)
                await asyncio.sleep(0.01)
        finally:
            closed.append(True)

    with gr.Blocks() as demo:
        run, stop, n = gr.Button(), gr.Button(), gr.Number(1000)
        status, player = gr.Markdown(), gr.HTML()
        widgets.run_chain(run, stop, status, player, frames, [n], [status, player])
    fns = {block_fn.fn.__name__ if block_fn.fn else "cancel": block_fn for block_fn in demo.fns.values()}
    # Stop's click also cancels the stream (Gradio wires that as a function of its own)
    assert fns["cancel"].targets == fns["stopped"].targets and fns["cancel"].cancels == [fns["stream"]._id]
    return fns["stream"].fn, fns["stopped"].fn


def test_stop_ends_its_pages_stream_and_writes_its_text_after_the_last_frame(monkeypatch):
    """The page asks for Stop's text before it sends Gradio's cancel: a text written at once would
    come before frames still on their way and lie under them. Stop ends the stream itself."""
    from ddpm.views.kit import widgets

    closed = []
    stream, stopped = run_and_stop(closed)
    mine, other = gr.Request(session_hash="mine"), gr.Request(session_hash="other")

    async def scenario():
        frames, sent = stream(mine, 1000), []

        async def page():  # Gradio reads the stream's frames as they come
            async for frame in frames:
                sent.append(frame)

        reading = asyncio.create_task(page())
        while not sent:
            await asyncio.sleep(0.01)
        assert await stopped(other) == widgets.STOPPED  # another page's Stop ends nothing
        await asyncio.sleep(0.05)
        assert not reading.done() and not closed
        assert await asyncio.wait_for(stopped(mine), 2) == widgets.STOPPED
        assert reading.done() and closed  # ended, with every frame sent, before Stop's text
        # the stream's own last frame says so too (its end may reach the page after Stop's text)
        seen = [status for status, _ in sent]
        assert seen[-1] == widgets.STOPPED and sent[-1][1] == gr.skip()
        assert 0 < len(seen) - 1 < 1000 and seen[:-1] == [f"step {i}" for i in range(len(seen) - 1)]
        assert await asyncio.wait_for(stopped(mine), 1) == widgets.STOPPED  # nothing left to stop
        # Gradio's cancel (closing the stream) ends it too
        frames = stream(mine, 1000)
        await anext(frames)
        await frames.aclose()
        assert len(closed) == 2
        # a stream nobody reads any more never ends: it holds Stop at most STOP_WAIT
        monkeypatch.setattr(widgets, "STOP_WAIT", 0.2)
        frames = stream(mine, 1000)
        await anext(frames)
        assert await asyncio.wait_for(stopped(mine), 2) == widgets.STOPPED
        await frames.aclose()

    asyncio.run(scenario())
    assert not widgets._running  # every ended stream left the registry


def test_a_chain_whose_status_is_not_an_output_is_refused():
    from ddpm.views.kit import widgets

    async def frames():
        yield ("step", None)

    with gr.Blocks(), pytest.raises(ValueError, match="status must be one of the outputs"):
        run, stop, status, player = gr.Button(), gr.Button(), gr.Markdown(), gr.HTML()
        widgets.run_chain(run, stop, status, player, frames, [], [player])
