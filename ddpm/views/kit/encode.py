"""The one PNG encoder of the views, and PNG data URLs.

Every image the page receives is a PNG: streamed frames and plots inline as data URLs, final
results as files, a chain player's sprite sheets and the forward view's schedule plot as data URLs
too. They differ only in zlib's level (fast for frames, smaller for the sheets that a player keeps)
and in whether the image is a palette image (the schedule plot: 255 colours and a marker).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

FAST = 1
"""zlib's level for frames and plots: they are small and made often."""


def png_bytes(image: np.ndarray, level: int = FAST, palette: Sequence[int] | None = None) -> bytes:
    """uint8 [H, W] (grey, or palette indices when ``palette`` is given) or [H, W, 3] (RGB) as PNG.

    Args:
        image: the pixels; 0 = black for grey images.
        level: zlib's compression level, 0 … 9.
        palette: for a palette image, up to 256 RGB triples flattened ([r0, g0, b0, r1, …]).
    """
    picture = Image.fromarray(np.ascontiguousarray(image), mode="P" if palette is not None else None)
    if palette is not None:
        picture.putpalette(list(palette))
    buffer = io.BytesIO()
    picture.save(buffer, format="png", compress_level=level)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,…`` URL (an image inside a message, no file)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def save_png(image: np.ndarray, path: str | Path) -> str:
    """Save uint8 [H, W] or [H, W, 3] as a PNG file; returns the path (for a file output)."""
    Path(path).write_bytes(png_bytes(image))
    return str(path)


def save_pngs(images: Iterable[np.ndarray], names: Iterable[str], folder: str | Path) -> list[str]:
    """Save each image as ``folder/<name>.png`` (a stream's last frame, as files to download)."""
    return [save_png(image, Path(folder) / f"{name}.png") for image, name in zip(images, names, strict=True)]
