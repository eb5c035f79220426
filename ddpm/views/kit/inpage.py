"""What every in-page player is made of: its script, its icons and the arrays it is sent.

A player is a ``gr.HTML`` whose ``js_on_load`` draws on canvases (the chain player here in the kit,
the forward player beside :mod:`ddpm.views.forward`, the 2-D world's beside
:mod:`ddpm.views.lessons.plane`). Its script is ``static/common.js`` (the helpers every player
shares: base64 arrays, grey levels, fullscreen) followed by the player's own files; its buttons
draw SVG icons (no icon font to fetch); numbers travel as base64 little-endian arrays, which
``common.js`` reads back (``float32s``, ``float64s``).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import torch

STATIC = Path(__file__).with_name("static")
COMMON_JS = STATIC / "common.js"
"""The helpers every player's script starts with."""


def player_script(*files: Path) -> str:
    """A player's ``js_on_load``: :data:`COMMON_JS`, then ``files`` in order, joined by newlines.

    The files are the body of one function (``element``, ``props`` and ``watch`` in scope), so a
    file may use what an earlier one declares: put the maths before the drawing that calls it.
    """
    return "\n".join(path.read_text() for path in (COMMON_JS, *files))


def base64_array(array: np.ndarray | torch.Tensor, dtype: str) -> str:
    """An array's values as base64 of little-endian ``dtype`` (``"<f4"`` or ``"<f8"``), flattened.

    The page reads them with ``float32s`` / ``float64s`` (``common.js``): the core's float32 tables
    and weights arrive bit for bit.
    """
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


ICONS = {  # 16×16 SVG paths: no icon font to fetch
    "first": "M2 2h2.5v12H2zM14 2v12L5 8z",
    "prev": "M12 2v12L3 8z",
    "play": "M4 2v12l10-6z",
    "pause": "M3 2h3.5v12H3zM9.5 2H13v12H9.5z",
    "next": "M4 2v12l9-6z",
    "last": "M11.5 2H14v12h-2.5zM2 2v12l9-6z",
    "fullscreen": "M1 1h5v2H3v3H1zM10 1h5v5h-2V3h-3zM1 10h2v3h3v2H1zM13 10h2v5h-5v-2h3z",
}
"""The players' button icons, by name."""


def icon(name: str, css_class: str = "") -> str:
    """The SVG of the icon ``name`` (a key of :data:`ICONS`), 16×16, filled with the text colour
    by ``players.css``; ``css_class`` lets a button show one of two icons (play / pause)."""
    return f'<svg viewBox="0 0 16 16" class="{css_class}" aria-hidden="true"><path d="{ICONS[name]}"/></svg>'
