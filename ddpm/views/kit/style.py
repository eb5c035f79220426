"""Everything the page looks like, in one place: the theme, all CSS and the page's own JavaScript.

The files are in ``static/``: ``app.css`` (the layout), ``lecture.css`` (the large layout for a
projector, from :data:`NARROW_PX` wide), ``narrow.css`` (the narrow layout for a phone, below it),
``players.css`` (the in-page players, each player's ``css_template``) and ``page.js``
(← / → step the visible timestep slider, Shift: 10; the layout: ``body.narrow`` on a narrow
window, else ``body.lecture`` when the large layout is asked for, by ``?lecture=1`` or its
switch). Nothing is fetched from the internet: the fonts are the theme's local ones.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

STATIC = Path(__file__).with_name("static")

FONT_FLOOR_PX = 17
"""In the large layout no text on the page is smaller than this (a browser test checks it)."""

THEME = gr.themes.Base(
    primary_hue="blue",
    neutral_hue="slate",
    text_size=gr.themes.Size(xxs="11px", xs="13px", sm="15px", md="17px", lg="20px", xl="24px", xxl="30px"),
).set(body_text_color="#111111", block_label_text_size="*text_md", block_title_text_size="*text_md")

NARROW_PX = 600
"""Below this width (CSS px) the page takes its narrow layout, a phone's; the large layout, a
projector's, applies only from this width up."""
NARROW = f"(max-width: {NARROW_PX - 0.02}px)"
"""The narrow layout's media query: static/page.js sets ``body.narrow`` while it holds (Gradio
rewrites the selectors inside a custom stylesheet's ``@media`` rules, so the layouts are classes)."""

LECTURE_CSS = (STATIC / "lecture.css").read_text().replace("FONT_FLOOR_PX", f"{FONT_FLOOR_PX}px")
NARROW_CSS = (STATIC / "narrow.css").read_text().replace("NARROW_PX", f"{NARROW_PX} px")
CSS = (STATIC / "app.css").read_text() + LECTURE_CSS + NARROW_CSS
"""The page's CSS (``demo.launch(css=...)``)."""
PLAYERS_CSS = (STATIC / "players.css").read_text()
"""The players' CSS (their ``css_template``)."""
JS = (STATIC / "page.js").read_text().replace("NARROW_QUERY", repr(NARROW))
"""The page's JavaScript (``demo.launch(js=...)``): keyboard control of t, and the layout (narrow
below :data:`NARROW_PX`, else large when asked: ``window.ddpmLayout(large)``)."""
