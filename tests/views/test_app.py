"""The app through its API: a live server on a free port, driven by gradio_client."""

import asyncio
import base64
import io
import re
import time
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from ddpm.bench.local import free_port
from ddpm.data import to_model_range, training_digits
from ddpm.images import upscale
from ddpm.sampling import ddim_timesteps
from ddpm.serve import compute, queue, results, settings
from ddpm.serve.runtime import classifier, runtime, unconditional_runtime
from ddpm.teaching.readout import class_probabilities
from ddpm.teaching.reverse import comparison_curves
from ddpm.views import generate as generate_view
from ddpm.views import reverse_stream
from ddpm.views.digits import default_digit
from ddpm.views.kit import widgets
from ddpm.views.kit.encode import save_png
from ddpm.views.kit.widgets import inline_frames
from ddpm.views.page import build_demo
from tests.views.test_players import frames_of

APP_PACE = settings.FRAME_SECONDS
"""The app's pace of streamed frames, for the long chains (the client below streams every step)."""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # stream every step: these runs are short, and the tests count frames
    pace = pytest.MonkeyPatch()
    pace.setattr(settings, "FRAME_SECONDS", 0.0)
    pace.setattr(results, "RESULTS", results.Results(max_bytes=256 * 2**20))  # this module's own
    demo = queue.configure(build_demo())
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        **queue.launch_options(),
    )  # fmt: skip
    downloads = tmp_path_factory.mktemp("downloads")
    c = Client(url, verbose=False, analytics_enabled=False, download_files=str(downloads))
    yield c
    c.close()
    demo.close()
    pace.undo()


def running_chains() -> int:
    """Chains computing in this process: each is a task of the compute thread's scheduler
    (ddpm.serve.stream.paced)."""
    return compute.SCHEDULER.tasks()


def pixels(value) -> np.ndarray:
    """An image output: a file, or a streamed frame's ``{"url": "data:image/png;base64,..."}``."""
    if isinstance(value, dict):
        value = io.BytesIO(base64.b64decode(value["url"].removeprefix("data:image/png;base64,")))
    return np.asarray(Image.open(value).convert("L"))


def is_inline(value) -> bool:
    return isinstance(value, dict) and value["path"] is None and value["url"].startswith("data:image/png;")


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 3)])
def test_inline_frames_send_arrays_in_the_message_and_paths_as_files(tmp_path, shape):
    image = inline_frames(gr.Image(format="png"))
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    sent = image.postprocess(frame)
    assert sent.path is None and sent.url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(sent.url.split(",", 1)[1])))
    assert np.array_equal(np.asarray(decoded), frame)  # lossless
    served = image.postprocess(save_png(frame, tmp_path / "frame.png"))
    assert served.url is None and Path(served.path).is_file()
    assert np.array_equal(np.asarray(Image.open(served.path)), frame)


def test_a_frame_shown_to_a_room_is_encoded_once():
    image = inline_frames(gr.Image(format="png"))
    inner = image.postprocess
    frame = np.random.default_rng(1).integers(0, 256, (30, 40), dtype=np.uint8)
    calls = []
    original = widgets.png_bytes
    try:
        widgets.png_bytes = lambda a: calls.append(1) or original(a)
        encoded = [inner(frame) for _ in range(50)]  # fifty watchers, one frame object
        assert len(calls) == 1 and len({id(e) for e in encoded}) == 50  # each page its own copy
        assert all(e.url == encoded[0].url for e in encoded)
        inner(frame.copy())  # an equal frame, but another object: encoded again
        assert len(calls) == 2
    finally:
        widgets.png_bytes = original


def test_named_endpoints(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in (
        "/forward",
        "/compare",
        "/generate",
        "/inspect",
        "/pick_digit",
        "/use_upload",
        "/use_drawing",
    ):
        assert name in names


def test_forward_at_t0_is_x0_and_deterministic(client):
    out = client.predict(0, 0, api_name="/forward")
    x_t, x0 = pixels(out[0]), pixels(out[1])
    assert x_t.shape == (224, 224)
    assert np.array_equal(x_t, x0)
    assert np.array_equal(x0, upscale(default_digit(), 8))  # the default digit is a bundled "7"
    a = pixels(client.predict(400, 7, api_name="/forward")[0])
    b = pixels(client.predict(400, 7, api_name="/forward")[0])
    c = pixels(client.predict(400, 8, api_name="/forward")[0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert "t = 400" in client.predict(400, 7, api_name="/forward")[5]


def test_compare_streams_both_chains_and_the_exact_one_ends_at_x0(client):
    job = client.submit(60, 0, "fixed_small", api_name="/compare")
    frames = list(job)
    assert len(frames) >= 2  # at least the first step as it streams (a fast machine shows no more)
    final = frames[-1]
    exact, learned = pixels(final[0]), pixels(final[1])
    assert np.array_equal(exact, upscale(default_digit(), 8))
    assert learned.shape == exact.shape
    assert "done" in final[4]
    assert pixels(frames[0][0]).shape == (112, 112)  # streamed frames are light; the page scales them
    # streamed images travel inside the stream; the last ones are files, to download
    assert all(is_inline(frame[i]) for frame in frames[:-1] for i in (0, 1, 2, 3, 9))
    assert all(Path(final[i]).suffix == ".png" for i in (0, 1, 2, 3, 9))
    strip = Image.open(final[7])
    assert strip.width > strip.height > 100
    assert pixels(final[9]).shape[1] > 300  # the classifier's read-out of the learned x̂_0 over t


@pytest.mark.slow
def test_the_third_chain_lands_on_a_training_digit_and_can_be_left_out(client):
    with_truth = list(client.submit(40, 3, "fixed_small", False, True, api_name="/compare"))[-1]
    landed = int(with_truth[12].split("landed on training digit #")[1].split("*")[0].replace(",", ""))
    digit = training_digits().images[landed].numpy()
    assert np.array_equal(pixels(with_truth[10]), upscale(digit, 8))  # that digit, pixel for pixel
    assert "The learned chain's $x_0$** lies" in with_truth[12] and "test digits lie" in with_truth[12]
    assert pixels(with_truth[11]).shape == (216, 176)  # 8 pasts in a 3 × 3 grid over their bars, 2×
    without = list(client.submit(40, 3, "fixed_small", api_name="/compare"))[-1]  # off by default
    assert without[10] is None and without[11] is None and without[12] == "" and without[13] is None
    assert np.array_equal(pixels(without[1]), pixels(with_truth[1]))  # the learned chain does not change


def test_generate_streams_frames_then_a_final_result(client):
    job = client.submit(4, "ddim", 10, 0.0, 0, api_name="/generate")
    frames = list(job)
    assert len(frames) >= 2  # at least the first step as it streams (a fast machine shows no more)
    final = frames[-1]
    assert "done" in final[2] and final[3].endswith(".gif") and final[4].endswith(".png")
    assert all(is_inline(frame[0]) and is_inline(frame[1]) for frame in frames[:-1])
    assert all("/ 10**" in frame[2] for frame in frames[:-1])  # the status carries the step counter
    assert pixels(frames[0][0]).shape[1] <= generate_view.STREAM_WIDTH
    assert pixels(final[0]).shape == pixels(final[1]).shape  # files, about FINAL_WIDTH wide
    assert generate_view.FINAL_WIDTH * 0.8 < pixels(final[0]).shape[1] <= generate_view.FINAL_WIDTH
    gif = Image.open(final[3])
    assert gif.n_frames >= 3


def test_a_cancelled_generation_stops(client):
    job = client.submit(16, "ddpm", 50, 0.0, 1, api_name="/generate")
    for _ in job:  # wait for the first streamed frame
        break
    # the chain, and between two frames perhaps a frame's grids being drawn (a task of their own)
    assert running_chains() >= 1
    job.cancel()
    deadline = time.time() + 10  # a full run takes longer; Stop ends it at the next frame
    while running_chains() and time.time() < deadline:
        time.sleep(0.05)
    assert running_chains() == 0


@pytest.mark.parametrize(
    ("args", "api_name", "message"),
    [
        ((1000, "ddpm", 50, 0.0, 0), "/generate", "64"),
        ((4, "ddim", 5000, 0.0, 0), "/generate", "5000"),
        ((4, "ddim", 10, 3.0, 0), "/generate", "3.0"),
        ((4000, 0), "/forward", "4000"),
        ((0, 0, "fixed_small"), "/compare", "0"),
        ((4, "ddim", 10, 0.0, 0, "12", 2.0), "/generate", "12"),
        ((4, "ddim", 10, 0.0, 0, "none", 2.0), "/generate", "needs digits"),
        ((4, "dpm-solver", 1000, 0.0, 0), "/generate", "DPM-Solver steps"),
        # without the class the learned chain is the ε-model (the default's "unconditional_from")
        ((30, 0, "learned_range", False), "/compare", "fixed σ²"),
    ],
)
def test_bad_inputs_are_errors_and_the_server_keeps_serving(client, args, api_name, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api_name)
    assert pixels(client.predict(10, 0, api_name="/forward")[0]).shape == (224, 224)


def test_uploads_are_checked(client, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"this is not a png")
    with pytest.raises(AppError):
        client.predict(handle_file(str(not_an_image)), api_name="/use_upload")
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    with pytest.raises(AppError, match="blank"):
        client.predict(handle_file(str(blank)), api_name="/use_upload")
    digit = tmp_path / "digit.png"
    Image.fromarray(255 - upscale(default_digit(), 4)).save(digit)  # dark ink on white paper
    preview = client.predict(handle_file(str(digit)), api_name="/use_upload")  # the State is not in the API
    assert pixels(preview).shape == (224, 224)
    # the upload is now this session's digit: the forward process starts from it
    assert np.array_equal(pixels(client.predict(0, 0, api_name="/forward")[1]), pixels(preview))
    client.predict(7, api_name="/pick_digit")  # back to the default for the other tests


@pytest.mark.slow
def test_lesson_endpoints_work_with_defaults_alone(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/small_steps", "/schedules", "/parameterizations", "/bits_per_dim", "/classifier_readout",
                 "/many_pasts", "/noise_error"):  # fmt: skip
        assert name in names
    densities, _, _, summary = client.predict(api_name="/small_steps")
    assert "T = 5" in summary and pixels(densities).shape[1] > 300
    _, linear, cosine, table = client.predict(api_name="/schedules")
    assert "linear" in table and "cosine" in table
    assert not np.array_equal(pixels(linear), pixels(cosine))  # same ε, different ᾱ_t
    _, text = client.predict(api_name="/noise_error")
    simple = float(text.split("**")[1])
    assert 0 < simple < 0.1  # a model that had learned nothing would score 1.0 (it would predict 0)


def test_schedules_at_t0_show_the_clean_digit_under_both(client):
    _, linear, cosine, _ = client.predict(0, api_name="/schedules")
    assert np.array_equal(pixels(linear), upscale(default_digit(), 8))
    assert np.array_equal(pixels(cosine), pixels(linear))


@pytest.mark.slow
def test_parameterizations_and_bits_per_dim(client):
    out = client.predict(50, 0, api_name="/parameterizations")
    assert len(out) == 11 and "ε" in out[-1]
    assert pixels(out[0]).shape == (224, 224)
    *_, table = client.predict(api_name="/bits_per_dim")
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]  # below the header
    totals = [float(line.split("|")[2].strip(" *")) for line in rows]
    digit, noisy, random = totals
    assert digit < noisy < random  # the bound is a likelihood: the real digit is the most probable


def test_many_pasts_agree_at_small_t(client):
    *_, exact, text = client.predict(10, 4, 0, api_name="/many_pasts")
    assert "100% are read as your digit's class, 7 (its label)" in text
    assert np.array_equal(pixels(exact), upscale(default_digit(), 8))


@pytest.mark.slow
def test_the_true_reverse_of_ten_training_digits_copies_all_sixteen_generations(client, monkeypatch):
    monkeypatch.setattr(settings, "FRAME_SECONDS", APP_PACE)  # 1,000 steps: a few dozen frames
    frames = list(client.submit(1, 10, api_name="/memorisation"))
    assert len(frames) >= 2
    *_, truth_pairs, learned_pairs, plot, text, status = frames[-1]
    assert "**The true reverse of 10 training digits: 16 of 16 are copies.**" in text and "done" in status
    top, bottom = np.split(
        pixels(truth_pairs)[:, :, 0] if pixels(truth_pairs).ndim == 3 else pixels(truth_pairs), [84]
    )
    assert np.array_equal(top, bottom[6:])  # each generation is its nearest training digit, pixel for pixel
    first_ten = training_digits().images[:10].numpy()
    generated = top[::3, ::3].reshape(28, 16, 28).transpose(1, 0, 2)
    assert all(any(np.array_equal(g, d) for d in first_ten) for g in generated)  # all from the first ten
    assert pixels(learned_pairs).shape == pixels(truth_pairs).shape and pixels(plot).shape[1] > 500


@pytest.mark.slow
def test_classifier_readout_streams_to_a_digit(client, monkeypatch):
    monkeypatch.setattr(settings, "FRAME_SECONDS", APP_PACE)  # 1,000 steps: a few dozen frames
    frames = list(client.submit(api_name="/classifier_readout"))
    assert len(frames) >= 3 and "t = 0: the classifier reads x₀ as" in frames[-1][3]
    # the default seed is one whose digit is decided (pasts.READOUT_SEED), not a hybrid
    confidence = int(re.search(r"\((\d+)%\)", frames[-1][3]).group(1))
    assert confidence >= 99, frames[-1][3]
    assert all(is_inline(frame[i]) for frame in frames[:-1] for i in range(3))
    assert all(Path(frames[-1][i]).suffix == ".png" for i in range(3))  # the last frame's are files
    assert [pixels(frames[-1][i]).shape for i in range(2)] == [(224, 224)] * 2  # full size


class Counting:
    """The model, counting its forward passes."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.fixture
def counting(monkeypatch):
    model = Counting(unconditional_runtime().model)  # the learned chain's network without a class
    monkeypatch.setattr(
        reverse_stream,
        "learned_reverse",
        lambda told: runtime() if told else unconditional_runtime()._replace(model=model),
    )
    return model


def test_a_repeated_comparison_is_served_from_the_cache_without_a_network_call(client, counting):
    first = list(client.submit(40, 11, "fixed_small", api_name="/compare"))
    calls = counting.calls
    assert calls >= 40  # at least one forward pass per step
    again = list(client.submit(40, 11, "fixed_small", api_name="/compare"))
    assert counting.calls == calls  # not one more forward pass
    assert len(again) == 1 and np.array_equal(pixels(again[0][1]), pixels(first[-1][1]))
    list(client.submit(40, 12, "fixed_small", api_name="/compare"))  # another seed is computed
    assert counting.calls == 2 * calls


def test_identical_comparisons_at_once_join_one_computation(client, counting):
    list(client.submit(30, 21, "fixed_small", api_name="/compare"))  # the cost of one chain
    one = counting.calls
    jobs = [client.submit(30, 22, "fixed_small", api_name="/compare") for _ in range(4)]
    finals = [list(job)[-1] for job in jobs]
    assert counting.calls == 2 * one  # four requests, one more chain
    assert all(np.array_equal(pixels(f[1]), pixels(finals[0][1])) for f in finals)
    assert all("done" in f[4] for f in finals)


def test_the_page_gets_every_step_of_the_chains_for_its_player():
    async def frames():
        chains = reverse_stream.compare_in_page(default_digit(), 12, 4, "fixed_small", False, True)
        return [f async for f in chains]

    *streamed, final = asyncio.run(frames())
    player = final.player
    assert player["times"] == list(range(12, -1, -1)) and player["start"] == 12
    series = {s["name"]: frames_of(s)[:13] for s in player["series"]}  # the sheet pads its last block
    assert set(series) == set(reverse_stream.PLAYER_SERIES + reverse_stream.TRUTH_SERIES)
    ranges = {s["name"]: s["range"] for s in player["series"]}
    assert ranges.pop(reverse_stream.PLAYER_SERIES[3]) == [-widgets.NOISE_RANGE, widgets.NOISE_RANGE]  # ε̂
    assert all(r == [-1.0, 1.0] for r in ranges.values())
    exact, learned = series[reverse_stream.PLAYER_SERIES[0]], series[reverse_stream.PLAYER_SERIES[1]]
    assert exact.shape == (13, 28, 28)
    assert np.array_equal(exact[-1], default_digit())  # the exact chain ends at x_0 (display of x_0)
    # every frame is the chain's x_t: the streamed 112×112 frames are the same pixels, 4× larger
    shown = pixels(final.learned) if not isinstance(final.learned, np.ndarray) else final.learned
    assert np.array_equal(upscale(learned[-1], 8), shown)
    assert all(isinstance(f.player, type(gr.skip())) for f in streamed)
    assert np.array_equal(exact[0], learned[0])  # both start from the same x_t
    # the third chain, the true reverse of the training set: the same start, a training digit at the end
    truth, pasts = series[reverse_stream.TRUTH_SERIES[0]], series[reverse_stream.TRUTH_SERIES[1]]
    assert np.array_equal(truth[0], exact[0])
    landed = int(final.truth_text.split("landed on training digit #")[1].split("*")[0].replace(",", ""))
    assert np.array_equal(truth[-1], training_digits().images[landed].numpy())
    assert pasts.shape == (13, 3 * 36, 3 * 30 - 2) and np.array_equal(pasts[-2][:28, :28], truth[-1])


def test_the_read_out_ends_at_t0_with_the_learned_x0s_reading(monkeypatch):
    drawn = []

    def plot(ts, probs, T, title=""):
        drawn.append((list(ts), [p.clone() for p in probs]))
        return np.zeros((4, 4, 3), np.uint8)

    monkeypatch.setattr(reverse_stream, "class_probability_plot", plot)

    async def frames():
        chains = reverse_stream.compare_in_page(default_digit(), 6, 2, "fixed_small")
        return [f async for f in chains]

    *_, final = asyncio.run(frames())
    ts, probs = drawn[-1]
    assert ts == [6, 5, 4, 3, 2, 1, 0]  # down to t = 1 while it ran, then x_0 itself
    # the last point is the classifier's reading of the learned chain's x_0, the final image
    shown = pixels(final.learned)
    learned_x0 = shown[:: shown.shape[0] // 28, :: shown.shape[1] // 28]  # the final frame is enlarged
    reading = class_probabilities(
        classifier(), to_model_range(torch.from_numpy(learned_x0.copy()))[None, None]
    )
    assert torch.allclose(probs[-1], reading, atol=0.02)  # the image is x_0 rounded to grey levels
    assert min(drawn[0][0]) >= 1  # while the chains run, the read-out stops at the shown step


def test_the_page_gets_the_generation_at_a_stride_for_its_player():
    async def frames():
        return [f async for f in generate_view.generate_in_page(4, "ddim", 10, 0.0, 77)]

    *streamed, final = asyncio.run(frames())
    player = final[5]
    # each kept frame is x_prev of a DDIM step: the paper's t of the next timestep down, then 0
    ddim = ddim_timesteps(runtime().diffusion.num_timesteps - 1, 10)  # 0-based t
    assert player["times"] == [t + 1 for t in ddim[1:]] + [0] and player["start"] == 9
    x_t = frames_of(player["series"][0])[:10]
    shown = pixels(final[0])  # the final grid, a file about FINAL_WIDTH wide
    scale = shown.shape[1] // x_t.shape[2]
    assert np.array_equal(upscale(x_t[-1], scale), shown)
    assert len(streamed) >= 1 and all(len(f) == 6 for f in streamed)


@pytest.mark.parametrize("t", [0, 1, 250, 999, 1000])
def test_the_schedule_plots_palette_png_is_the_plot_with_its_marker(t):
    """/forward's plot (a palette PNG, for speed) shows what the RGB plot shows: the marker's pixels
    exactly, the rest within the palette's rounding."""
    from ddpm.serve.runtime import diffusion_cpu
    from ddpm.views.kit.plots import MARKER, schedule_plot

    plot = schedule_plot(diffusion_cpu())
    decoded = np.asarray(Image.open(io.BytesIO(plot.png_at(t))).convert("RGB")).astype(int)
    exact = plot.at(t).astype(int)
    assert decoded.shape == exact.shape
    marker = (exact == MARKER).all(axis=-1) & ~(plot.base == MARKER).all(axis=-1)
    assert marker.sum() >= 3 * (plot.bottom - plot.top) - 3  # a 3-pixel wide line over the axes
    assert (decoded[marker] == MARKER).all()
    error = np.abs(decoded - exact)
    assert error.mean() < 0.2 and np.percentile(error, 99.9) < 8


def test_the_page_is_sent_from_the_cache_as_gradio_builds_it(client):
    """Every visitor gets the page Gradio would build for them (one with credentials bypasses the
    cache), compressed when the browser accepts it."""
    with httpx.Client(base_url=client.src, trust_env=False) as http:
        built = http.get("/", headers={"authorization": "Basic eDp5", "accept-encoding": "identity"})
        plain = http.get("/?view=reverse&digit=2&t=500", headers={"accept-encoding": "identity"})
        packed = http.get("/", headers={"accept-encoding": "gzip, deflate, br, zstd"})
    assert built.status_code == plain.status_code == packed.status_code == 200
    assert plain.content == built.content == packed.content and b"window.gradio_config" in plain.content
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 3


def test_the_reverse_views_curves_draw_both_panels():
    """The KL and RMS panels of a comparison told the class (two curves each) are drawn on one width."""
    from types import SimpleNamespace

    from ddpm.views.kit.plots import KL_TITLE, MEAN_GAP_TITLE, X0_ERROR_TITLE, ChainCurves

    told = (0.05, 0.02, 0.1)
    steps = [SimpleNamespace(t=t, kl_bpd=0.1 * t, mean_gap=0.01 * t, x0_error=0.5 / t, conditioned=told,
                             truth=None) for t in (3, 2, 1)]  # fmt: skip
    kl, mean, x0 = comparison_curves(steps)
    a = ChainCurves((KL_TITLE,), 3).draw((kl,))
    b = ChainCurves((MEAN_GAP_TITLE, X0_ERROR_TITLE), 3).draw((mean, x0))
    assert a.dtype == np.uint8 and a.ndim == 3 and b.shape[1] == a.shape[1]
    assert (a != 255).any(axis=-1).mean() > 0.02  # something is drawn


def test_a_seed_gives_the_same_digits_in_the_page_and_in_the_library():
    """The Generate view and ddpm.inference.generate (the CLI's) draw labels and noise alike from a
    seed: the page's final grid is the library's digits, pixel for pixel."""
    from ddpm.images import make_grid
    from ddpm.inference import generate

    async def frames():
        return [f async for f in generate_view.generate_in_page(4, "dpm-solver", 8, 0.0, 31)]

    *_, final = asyncio.run(frames())
    rt = runtime()
    digits = generate(rt.model, rt.diffusion, 4, "dpm-solver", 8, seed=31)  # uint8 [4, 28, 28], class prior
    expected = make_grid(digits, nrow=2, padding=2, pad_value=96)
    shown = pixels(final[0])
    factor = shown.shape[1] // expected.shape[1]
    assert factor > 1 and np.array_equal(shown, upscale(expected, factor))


def test_training_on_drawn_points_streams_its_progress_then_the_network(client, monkeypatch):
    from ddpm.views.lessons import plane as plane_lesson

    monkeypatch.setattr(plane_lesson, "STEPS", 300)  # the page's 12,000 steps take about 30 s
    monkeypatch.setattr(plane_lesson, "TRAIN_EVERY", 100)
    points = [[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, -0.5]]
    frames = list(client.submit(points, 3, api_name="/plane_train"))
    steps = [frame["training"]["step"] for frame in frames]
    assert steps == [100, 200, 300] and frames[-1]["training"]["done"]
    assert all("network" not in frame for frame in frames[:-1]) and "network" in frames[-1]
    assert frames[-1]["points"] == points and len(frames[-1]["training"]["losses"]) == 3
    with pytest.raises(AppError, match="inside"):
        client.predict([[0.0, 0.0], [5.0, 0.0]], 0, api_name="/plane_train")
    with pytest.raises(AppError, match="2 ≤ N"):
        client.predict([[0.0, 0.0]], 0, api_name="/plane_train")
    value = client.predict("circle", api_name="/plane_data")  # still serving
    assert (value[0] if isinstance(value, tuple) else value)["name"] == "circle"
