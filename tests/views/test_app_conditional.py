"""The app on a class-conditional, learned-variance checkpoint (DDPM_CHECKPOINT), through its API.

The network is a randomised tiny one: these tests check what the views ask of it and show, not
the quality of its digits.
"""

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from tiny import tiny_checkpoint

from ddpm.bench.local import free_port
from ddpm.guidance import DEFAULT_GUIDANCE
from ddpm.serve import settings
from ddpm.views.page import build_demo


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tiny_checkpoint(
        tmp_path_factory.mktemp("conditional"), timesteps=40, num_classes=10, learn_sigma=True
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("DDPM_CHECKPOINT", str(folder))
    patch.setattr(settings, "FRAME_SECONDS", 0.0)
    demo = build_demo()
    demo.queue(max_size=16)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    c = Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("d")))
    yield c
    c.close()
    demo.close()
    patch.undo()


def test_generate_asks_for_a_digit_with_guidance(client):
    frames = list(client.submit(4, "ddim", 5, 0.0, 0, "3", 1.5, api_name="/generate"))
    assert all("digit **3**, w = 1.5" in frame[2] for frame in frames)
    assert "done" in frames[-1][2] and "digit3_w1.5" in frames[-1][3]
    # the defaults: any digit, labels from the class prior, at w = 0 (the API sends no w)
    plain = list(client.submit(4, "ddim", 5, 0.0, 0, api_name="/generate"))
    assert "done" in plain[-1][2] and "class prior), w = 0" in plain[-1][2] and "prior_w0" in plain[-1][3]
    # a named digit without w gets the one default weight, as in the CLI
    seven = list(client.submit(4, "dpm-solver", 5, 0.0, 0, "7", api_name="/generate"))
    assert f"digit **7**, w = {DEFAULT_GUIDANCE:g}" in seven[-1][2]
    blank = list(client.submit(4, "ddim", 5, 0.0, 0, "none", api_name="/generate"))
    assert "no label" in blank[-1][2]


@pytest.mark.parametrize(
    ("digit", "guidance", "message"),
    [("12", 2.0, "12"), ("3", 50.0, "50.0"), ("3", -1, "-1"), ("none", 1.0, "needs digits")],
)
def test_bad_class_requests_are_named(client, digit, guidance, message):
    with pytest.raises(AppError, match=message):
        client.predict(4, "ddim", 5, 0.0, 0, digit, guidance, api_name="/generate")


def test_the_comparison_told_the_class_shows_both_curves(client):
    frames = list(client.submit(20, 0, "learned_range", True, api_name="/compare"))
    final = frames[-1]
    assert "told the digit's class y = 7, its label" in final[4] and "done" in final[4]
    assert str(final[5]).endswith(".png") and str(final[6]).endswith(".png")  # the curves, as plots
    blind = list(client.submit(20, 0, "learned_range", False, api_name="/compare"))[-1]
    assert "told the digit's class" not in blind[4] and "not told the digit" in blind[4]


def test_pasts_told_the_class_and_the_bound_under_both_variances(client):
    *_, text = client.predict(20, 3, 0, True, api_name="/many_pasts")
    assert "told the digit's class y = 7" in text
    *_, table = client.predict(api_name="/bits_per_dim")
    header, _, *rows = [line for line in table.splitlines() if line.startswith("|")]
    assert "σ² = β̃ₜ instead" in header and len(rows) == 3
    assert all(len(row.strip("|").split("|")) == 6 for row in rows)
