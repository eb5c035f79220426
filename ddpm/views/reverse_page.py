"""View 2's comparison computed in the page: what the page's engine needs of the view to make the
same pictures and say the same words as :mod:`.reverse_stream` (``static/engine/compare_task.js``
computes, ``view_compare.js`` draws).

The true reverse of the training set stays on the server (60,000 digits): a comparison with it
ticked runs there.
"""

from __future__ import annotations

from ..serve.runtime import diffusion_cpu, learned_config, model_config
from ..serve.settings import FRAME_SECONDS
from ..teaching.reverse import filmstrip_times
from .kit.players import DISPLAY_RANGE
from .kit.plots import CLASS_COLOURS, CURVE_COLOURS, DPI, TEXT_PT, TEXT_PX
from .kit.widgets import SCALE
from .kit.words import network_words
from .reverse_stream import PLAYER_SERIES, RANGES, READOUT_TITLE, STRIP_ROWS

SOURCES = {"label": "its label", "reading": "the classifier's reading of x₀ (this digit has no label)"}
"""Where the class a network is told comes from, as the status says it (plain text: the page's
status is not Markdown)."""
TITLES = {
    "kl": "KL(q(xₜ₋₁ | xₜ, x₀) ‖ p_θ(xₜ₋₁ | xₜ)) per step, bits/dim",
    "mean_gap": "‖μ̃ₜ − μ_θ‖ (RMS)",
    "x0_error": "‖x̂₀ − x₀‖ (RMS)",
    "readout": READOUT_TITLE,
}
"""The in-page curves' titles: :mod:`.kit.plots`' KL_TITLE, MEAN_GAP_TITLE and X0_ERROR_TITLE in
plain text (a canvas draws no LaTeX), and the read-out's."""
PLOTS = (
    ("kl", "KL per step"),
    ("gaps", "RMS gaps"),
    ("filmstrip", "Filmstrip: both chains from the start t down to 0"),
    ("readout", "Classifier read-out"),
)
"""The in-page figures' canvases (name, caption), as the server's three plots and its filmstrip."""
IMAGES = (
    ("exact", "exact q: xₜ"),
    ("learned", "learned p_θ: xₜ"),
    ("x0_hat", "learned: x̂₀"),
    ("eps_hat", "learned: ε̂"),
)
"""The in-page panel's four images (name, caption), as the server's four streamed images."""


def network_names() -> dict:
    """What the status calls the learned chain's network (:func:`.kit.words.network_words`): not
    told the digit, or told class y, by the label or by the classifier's reading."""
    told = {}
    if model_config().num_classes:
        told = {
            str(y): {
                key: network_words(learned_config(True), True, y, source) for key, source in SOURCES.items()
            }
            for y in range(model_config().num_classes)
        }
    return {"untold": network_words(learned_config(False)), "told": told}


def in_page_settings() -> dict:
    """The view's constants for the page's engine: the player's series and their grey scales, the
    filmstrip's times, rows, scale and text sizes, the final images' scale, the pace of the frames, the
    networks' words, and the curves' colours, titles and sizes (about :mod:`.kit.plots`' figures,
    6.4 × 3.4 and 9.6 × 3.5 inches at 100 dpi, with their text size; two curves' figures side by
    side in the page's width at 1366 × 768)."""
    return {
        "series": list(PLAYER_SERIES),
        "ranges": {name: list(RANGES.get(name, DISPLAY_RANGE)) for name in PLAYER_SERIES},
        "strip_times": filmstrip_times(diffusion_cpu().num_timesteps),
        "strip_rows": list(STRIP_ROWS[:2]),
        "strip_scale": 2,
        "film": {"title_px": round((TEXT_PT + 1) * DPI / 72), "text_px": round(TEXT_PX)},
        "final_scale": SCALE,
        "frame_seconds": FRAME_SECONDS,
        "networks": network_names(),
        "colours": list(CURVE_COLOURS),
        "class_colours": list(CLASS_COLOURS),
        "titles": TITLES,
        "plot": {
            "curves": {"width": 600, "height": 340, "font": round(TEXT_PX)},
            "readout": {"width": 960, "height": 350, "font": round(TEXT_PX)},
        },
    }
